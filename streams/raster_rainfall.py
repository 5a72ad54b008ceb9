"""Rainfall rasters: derived readings at every risk point, the rain state, the nowcast.

An observed rainfall grid (e.g. a merged gauge-radar-satellite product every
hour) becomes, in one vectorised step, one ``rain_gauge`` reading per risk
point with a value (sensor ``grid:rainfall_observed``, mm/h, observed at the
raster's valid time), so the scorer treats gridded rain like a gauge. Its
rain is added to the per-cell daily state, and when a susceptibility grid
exists the nowcast is computed. A forecast grid is added to a copy of the
state only: it yields a forecast nowcast and never a reading.

Units: the announced units say what a cell holds: a rate (mm/h, mm/min,
mm/d, ...) over the raster's interval (``rainfall_interval_hours``), or
``mm``, the amount fallen over that interval. Negative values are treated as
no data (undeclared fill values such as -9999 are common in rain products).

A grid above the in-memory budget arrives as a dask array
(``geo.rasters.chunked``): the readings are then sampled chunk by chunk, and
one pass over the chunks updates the rain state kept on disk
(``streams.raster_rain_chunked``) and computes the nowcast block by block
(``streams.raster_nowcast.BlockNowcast``), with the results of the
in-memory path and memory of one chunk.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import dask.array as da
import numpy as np
import orjson

from geo.boundaries import Boundaries
from geo.rasters import RasterGrid, sample_points
from geo.rasters.chunked import is_lazy
from geo.rasters.level_blocks import LevelBlockWriter
from geo.tiles import write_cog
from store.rasters import save_nowcast_run
from streams.raster_files import NowcastPaths, Plan
from streams.raster_nowcast import (
    BlockNowcast,
    BlockNowcastRun,
    Climatology,
    NowcastConfig,
    NowcastProduct,
    PointArrays,
    Susceptibility,
    compute_nowcast,
)
from streams.raster_rain_chunked import pass_blocks, stage_update
from streams.raster_state import GridRef, RainState, day_number, regrid, to_ns
from streams.schemas import RasterAnnouncement
from streams.units import SensorKind, UnitError, unit_factor
from streams.worker import Outbound

log = logging.getLogger(__name__)

DERIVED_SENSOR = "grid:rainfall_observed"
DERIVED_KIND = SensorKind.RAIN_GAUGE.value
AMOUNT_UNITS = frozenset({"mm", "millimetre", "millimeter", "millimetres", "millimeters"})


class RainfallUnitsError(ValueError):
    """The announced units are neither a rain rate nor an amount in mm."""


def rain_rates(values: np.ndarray, units: str, interval_h: float) -> tuple[np.ndarray, np.ndarray]:
    """(intensity mm/h, amount mm over the interval) of a grid in ``units``; NaN for no data.

    A dask array (a grid above the memory budget) stays lazy.
    """
    data = (values.astype(np.float64) if hasattr(values, "dask")
            else np.asarray(values, dtype=np.float64))
    with np.errstate(invalid="ignore"):
        data = np.where(data < 0, np.nan, data)
    key = units.strip().lower()
    if key in AMOUNT_UNITS:
        return data / interval_h, data
    try:
        factor = unit_factor(SensorKind.RAIN_GAUGE, units)
    except UnitError as exc:
        raise RainfallUnitsError(f"rainfall units {units!r} are not understood: give a rate "
                                 f"(mm/h, mm/min, mm/d) or an amount (mm); {exc}") from None
    intensity = data * factor
    return intensity, intensity * interval_h


def derived_readings(points: PointArrays, intensity: RasterGrid, observed_at: datetime,
                     topic: str) -> list[Outbound]:
    """One reading per point whose cell has a value, keyed by point id."""
    values = sample_points(intensity, points.lon, points.lat)
    stamp = observed_at.isoformat().replace("+00:00", "Z")
    dumps = orjson.dumps
    out = []
    for index in np.flatnonzero(np.isfinite(values)).tolist():
        point_id = points.ids[index]
        out.append(Outbound(topic, point_id.encode(), dumps({
            "schema_version": 1, "point_id": point_id, "sensor_id": DERIVED_SENSOR,
            "kind": DERIVED_KIND, "observed_at": stamp, "value": float(values[index]),
            "unit": "mm/h"})))
    return out


@dataclass(frozen=True)
class RainfallContext:
    """What the rainfall steps read besides the raster."""

    config: NowcastConfig
    paths: NowcastPaths
    points: PointArrays
    boundaries: Boundaries
    readings_topic: str
    state: RainState | None
    susceptibility: Susceptibility | None
    now: datetime
    climatology: Climatology | None = None


def plan_observed(ann: RasterAnnouncement, grid: RasterGrid, location: str,
                  ctx: RainfallContext) -> Plan:
    """Readings, the updated rain state and (with susceptibility) the observed nowcast."""
    intensity, amount = rain_rates(grid.data, ann.units, ctx.config.rainfall_interval_hours)
    intensity_grid = RasterGrid(intensity, grid.transform, grid.crs, "mm/h", ann.valid_at)
    plan = Plan(summary="")
    plan.outputs = derived_readings(ctx.points, intensity_grid, ann.valid_at, ctx.readings_topic)
    if is_lazy(amount):
        return _observed_in_blocks(ann, grid, amount, location, ctx, plan)

    ref, valid_ns = GridRef.of(grid), to_ns(ann.valid_at)
    day = day_number(valid_ns, ctx.config.day_offset_hours)
    days = ctx.config.antecedent.days
    state = _same_grid(ctx.state, ref, days, location)
    state = state or RainState.empty(ref, days, day)
    newest = state.newest_ns is None or valid_ns >= state.newest_ns
    if state.holds(valid_ns):
        log.info("%s: rain of %s already accumulated", location, ann.valid_at.isoformat())
    elif not state.within(day):
        log.warning("%s: valid at %s, older than the %d-day window; not accumulated",
                    location, ann.valid_at.isoformat(), days)
    else:
        state = state.add(amount, valid_ns, day)
        plan.files.save_arrays(ctx.paths.rain_state, state.to_arrays())
    notes = [f"{len(plan.outputs)} derived readings"]
    if not newest:
        notes.append("older than the newest raster held: nowcast not recomputed")
    elif ctx.susceptibility is None:
        notes.append("no susceptibility grid yet: nowcast not computed")
    else:
        product = _nowcast("observed", ann, location, state, np.isfinite(amount), ctx)
        _stage_nowcast(plan, product, ctx.paths.observed_cog)
        notes.append(_describe(product))
    plan.summary = "; ".join(notes)
    return plan


def _same_grid(state: RainState | None, ref: GridRef, days: int,
               location: str) -> RainState | None:
    """``state`` if it is kept on ``ref`` over ``days`` days, else None (start again)."""
    if state is not None and (not state.grid.matches(ref) or state.days != days):
        log.warning("%s: the rainfall grid (or the window) changed; the antecedent rainfall "
                    "starts again from this raster", location)
        return None
    return state


def _observed_in_blocks(ann: RasterAnnouncement, grid: RasterGrid, amount: da.Array,
                        location: str, ctx: RainfallContext, plan: Plan) -> Plan:
    """``plan_observed`` for a grid above the memory budget: state and nowcast block by block.

    ``ctx.state`` is the on-disk state (``streams.raster_rain_chunked``). One
    pass over the raster's chunks updates the state and computes the nowcast;
    the levels go to a temporary tiled GeoTIFF that becomes the staged COG.
    Whatever fails, the staged files are removed and nothing is applied.
    """
    ref, valid_ns = GridRef.of(grid), to_ns(ann.valid_at)
    day = day_number(valid_ns, ctx.config.day_offset_hours)
    days = ctx.config.antecedent.days
    chunks = amount.numblocks[0] * amount.numblocks[1]
    notes = [f"{len(plan.outputs)} derived readings, sampled in {chunks} chunks"]
    state = _same_grid(ctx.state, ref, days, location)
    newest = state is None or state.newest_ns is None or valid_ns >= state.newest_ns
    accumulate = True
    if state is not None and state.holds(valid_ns):
        log.info("%s: rain of %s already accumulated", location, ann.valid_at.isoformat())
        accumulate = False
    elif state is not None and not state.within(day):
        log.warning("%s: valid at %s, older than the %d-day window; not accumulated",
                    location, ann.valid_at.isoformat(), days)
        accumulate = False
    skipped = ("older than the newest raster held: nowcast not recomputed" if not newest else
               "no susceptibility grid yet: nowcast not computed"
               if ctx.susceptibility is None else None)
    levels_path = ctx.paths.observed_cog.with_name(
        f".{ctx.paths.observed_cog.stem}.{uuid.uuid4().hex[:12]}.blocks.tif")
    levels: LevelBlockWriter | None = None
    try:
        block_nowcast = None
        if newest and ctx.susceptibility is not None:
            ctx.paths.observed_cog.parent.mkdir(parents=True, exist_ok=True)
            levels = LevelBlockWriter(levels_path, ref.transform, ref.crs, ref.shape)
            block_nowcast = BlockNowcast(
                grid=ref, days=days, susceptibility=ctx.susceptibility, config=ctx.config,
                points=ctx.points, boundaries=ctx.boundaries, levels=levels,
                climatology=ctx.climatology)
        sink = None if block_nowcast is None else block_nowcast.add
        if accumulate:
            stage_update(plan.files, ctx.paths, state, ref, days, amount, valid_ns, day, sink)
            notes.append(f"rain state updated in {chunks} blocks")
        elif sink is not None:
            pass_blocks(amount, state, days, sink)
        if block_nowcast is not None and levels is not None:
            result = block_nowcast.finish(kind="observed", product=ann.product,
                                          location=location, valid_at=ann.valid_at, now=ctx.now)
            plan.files.write_with(ctx.paths.observed_cog, levels.to_cog)
            plan.writes.append(lambda session: save_nowcast_run(session, result.run,
                                                                result.counties))
            notes.append(f"{_describe(result)} (in {result.blocks} blocks)")
        if skipped:
            notes.append(skipped)
    except BaseException:
        plan.files.discard()
        raise
    finally:
        if levels is not None:
            levels.close()
        levels_path.unlink(missing_ok=True)
    plan.summary = "; ".join(notes)
    return plan


def plan_forecast(ann: RasterAnnouncement, grid: RasterGrid, location: str,
                  ctx: RainfallContext) -> Plan:
    """The forecast nowcast: the forecast rain added to a copy of the observed state."""
    _, amount = rain_rates(grid.data, ann.units, ctx.config.rainfall_interval_hours)
    if ctx.susceptibility is None:
        return Plan(summary="no susceptibility grid yet: forecast nowcast not computed")
    ref, valid_ns = GridRef.of(grid), to_ns(ann.valid_at)
    day = day_number(valid_ns, ctx.config.day_offset_hours)
    state = ctx.state
    if state is None or state.days != ctx.config.antecedent.days:
        state = RainState.empty(ref, ctx.config.antecedent.days, day)
    else:
        amount = regrid(amount, ref, state.grid).astype(np.float64)
    if not state.within(day):
        raise ValueError(f"forecast valid at {ann.valid_at.isoformat()} is older than the "
                         f"{state.days}-day window of observed rain")
    hypothetical = state.add(amount, valid_ns, day)
    product = _nowcast("forecast", ann, location, hypothetical, np.isfinite(amount), ctx)
    plan = Plan(summary=_describe(product))
    _stage_nowcast(plan, product, ctx.paths.forecast_cog)
    return plan


def _nowcast(kind: str, ann: RasterAnnouncement, location: str, state: RainState,
             has_data: np.ndarray, ctx: RainfallContext) -> NowcastProduct:
    assert ctx.susceptibility is not None
    return compute_nowcast(kind=kind, product=ann.product, location=location,
                           valid_at=ann.valid_at, state=state, has_data=has_data,
                           susceptibility=ctx.susceptibility, config=ctx.config,
                           points=ctx.points, boundaries=ctx.boundaries, now=ctx.now,
                           climatology=ctx.climatology)


def _stage_nowcast(plan: Plan, product: NowcastProduct, cog_path: Path) -> None:
    grid = product.grid
    plan.files.write_with(cog_path, lambda path: write_cog(product.levels, grid.transform,
                                                           grid.crs, path))
    plan.writes.append(lambda session: save_nowcast_run(session, product.run, product.counties))


def _describe(product: NowcastProduct | BlockNowcastRun) -> str:
    cells = product.run.evidence.get("cells_by_level", {})
    shown = ", ".join(f"{label} {count}" for label, count in cells.items() if count)
    return (f"{product.run.kind} nowcast {product.run.id}: cells {shown or 'none'}; "
            f"{len(product.counties)} counties")
