"""From rainfall state and susceptibility to a nowcast run: level grid and county summaries.

Glue, not science: the antecedent index comes from ``RainState`` (the
effective antecedent rainfall of warning_models.rainfall), the levels from
warning_models.nowcast (susceptibility x rainfall relative to a percentile,
as in LHASA), and the per-county numbers from geo.zonal. The climatological
percentile of P_e is a grid when one is supplied (``Climatology``, e.g. the
local 95th percentile computed from decades of a rain product, regridded
onto the rain grid); cells it leaves without a positive value, and every
cell without one, take the single configured value. ``evidence`` records
which, with every other parameter.

``compute_nowcast`` holds the whole grid; ``BlockNowcast`` gives the same run
for a grid above the memory budget, one block of rain state at a time.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from affine import Affine
from pydantic import BaseModel, ConfigDict, Field

from geo.boundaries import Boundaries
from geo.rasters.level_blocks import LevelBlockWriter
from geo.zonal import SHARE_COLUMNS, county_summaries
from geo.zonal_chunked import CountySummaryAccumulator
from store.rasters import CountySummary, NowcastRun
from streams.raster_state import GridRef, RainState, regrid
from streams.schemas import GEOWARN_NAMESPACE
from warning_models.levels import Level
from warning_models.nowcast import MODEL_VERSION, NowcastParams, nowcast
from warning_models.rainfall import AntecedentParameters, effective_antecedent_rainfall


class NowcastConfig(BaseModel):
    """How rain becomes a regional level; validated when the worker starts."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    params: NowcastParams = NowcastParams()
    antecedent: AntecedentParameters = AntecedentParameters()
    percentile_mm: float = Field(
        100.0, gt=0, le=5000,
        description="climatological high percentile of P_e (mm) the index divides by")
    day_offset_hours: float = Field(8.0, ge=-12, le=14, description="days counted at UTC+this")
    rainfall_interval_hours: float = Field(
        1.0, gt=0, le=24 * 31, description="hours of rain one observed or forecast raster covers")


@dataclass(frozen=True)
class PointArrays:
    """The registry as columns, for vectorised sampling and counting."""

    ids: list[str]
    lon: np.ndarray
    lat: np.ndarray
    population: np.ndarray

    @classmethod
    def empty(cls) -> PointArrays:
        return cls([], np.zeros(0), np.zeros(0), np.zeros(0, np.int64))


@dataclass(frozen=True)
class Susceptibility:
    """The current susceptibility grid (0..1) and where it came from."""

    data: np.ndarray
    grid: GridRef
    source: str


@dataclass(frozen=True, eq=False)
class Climatology:
    """The local high percentile of P_e (mm) per cell, and where it came from."""

    data: np.ndarray
    grid: GridRef
    source: str


def percentile_grid(value_mm: float, climatology: Climatology | None,
                    target: GridRef) -> tuple[np.ndarray, int]:
    """The percentile (mm) of every cell of ``target`` and how many cells came from the grid."""
    fallback = np.full(target.shape, value_mm)
    if climatology is None:
        return fallback, 0
    local = regrid(climatology.data, climatology.grid, target).astype(np.float64)
    usable = np.isfinite(local) & (local > 0)
    return np.where(usable, local, fallback), int(usable.sum())


@dataclass(frozen=True, eq=False)
class NowcastProduct:
    run: NowcastRun
    counties: list[CountySummary]
    levels: np.ndarray        # int8, 0..4, -1 without data
    grid: GridRef


def run_id(kind: str, location: str, valid_at: datetime) -> str:
    """Deterministic: the same raster announced twice gives the same run."""
    return str(uuid.uuid5(GEOWARN_NAMESPACE, f"nowcast|{kind}|{location}|{valid_at.isoformat()}"))


def compute_nowcast(*, kind: str, product: str, location: str, valid_at: datetime,
                    state: RainState, has_data: np.ndarray, susceptibility: Susceptibility,
                    config: NowcastConfig, points: PointArrays, boundaries: Boundaries,
                    now: datetime, climatology: Climatology | None = None) -> NowcastProduct:
    """The nowcast of ``state`` on its grid; cells where ``has_data`` is False get no level.

    ``climatology``: the per-cell percentile of P_e; None: ``config.percentile_mm`` everywhere.
    """
    susc = regrid(susceptibility.data, susceptibility.grid, state.grid)
    antecedent = state.antecedent_mm(config.antecedent.k)
    antecedent = np.where(has_data, antecedent, np.nan)
    percentile, from_grid = percentile_grid(config.percentile_mm, climatology, state.grid)
    result = nowcast(susc, antecedent, percentile, config.params)
    table = county_summaries(result.levels, state.grid.transform, state.grid.crs, boundaries,
                             point_lon=points.lon, point_lat=points.lat,
                             point_population=points.population, min_level=Level.BLUE)
    counties = county_rows(table, boundaries)
    evidence = {**result.evidence(),
                **_evidence(config, state.days, _finite_max(antecedent), from_grid, climatology,
                            susceptibility, location, counties)}
    run = NowcastRun(id=run_id(kind, location, valid_at), kind=kind, product=product,
                     location=location, valid_at=valid_at, created_at=now,
                     model_version=MODEL_VERSION, evidence=evidence)
    return NowcastProduct(run=run, counties=counties, levels=result.levels, grid=state.grid)


def county_rows(table: pd.DataFrame, boundaries: Boundaries) -> list[CountySummary]:
    """The rows of a ``geo.zonal`` county table as the records the store keeps."""
    province_names = dict(zip(boundaries.provinces.adcode, boundaries.provinces.name,
                              strict=True))
    return [CountySummary(
        adcode=str(row.adcode), name=str(row.name), province=province_names.get(row.province_adcode),
        province_adcode=str(row.province_adcode), max_level=int(row.max_level),
        shares={column.removeprefix("share_"): float(getattr(row, column))
                for column in SHARE_COLUMNS},
        data_coverage=float(row.data_coverage), data_area_m2=float(row.data_area_m2),
        county_area_m2=float(row.county_area_m2), points_at_or_above=int(row.points_at_or_above),
        threatened_population=int(row.threatened_population))
        for row in table.itertuples(index=False)]


def _evidence(config: NowcastConfig, days: int, max_mm: float | None, from_grid: int,
              climatology: Climatology | None, susceptibility: Susceptibility, location: str,
              counties: list[CountySummary]) -> dict[str, Any]:
    """The run's evidence besides the model's own (inputs, sources, county totals)."""
    return {
        "antecedent": {"k": config.antecedent.k, "days": days,
                       "index": "effective antecedent rainfall P_e = sum K^i P_i (mm)",
                       "max_mm": max_mm},
        "percentile_mm": config.percentile_mm,
        "percentile_source": (f"{climatology.source} ({from_grid} cells; elsewhere "
                              f"{config.percentile_mm:g} mm)" if climatology is not None
                              else "configured value"),
        "percentile_cells_from_grid": from_grid,
        "susceptibility_source": susceptibility.source,
        "rainfall_location": location,
        "counties": len(counties),
        "counties_at_or_above_blue": sum(c.max_level >= Level.BLUE for c in counties),
        "threatened_population": sum(c.threatened_population for c in counties),
    }


@dataclass(frozen=True, eq=False)
class BlockNowcastRun:
    """A nowcast computed block by block: its run and counties; the levels are in a file."""

    run: NowcastRun
    counties: list[CountySummary]
    blocks: int


class BlockNowcast:
    """The nowcast of a grid above the memory budget, fed one block of rain state at a time.

    Each block gives the same levels as the whole-grid ``compute_nowcast``
    would on its cells (susceptibility and percentile are resampled onto the
    block's own window of the grid); the levels go to ``levels`` (a
    ``LevelBlockWriter``), the county sums to a ``CountySummaryAccumulator``
    and the cell counts of the evidence are summed, so memory stays at one
    block.
    """

    def __init__(self, *, grid: GridRef, days: int, susceptibility: Susceptibility,
                 config: NowcastConfig, points: PointArrays, boundaries: Boundaries,
                 levels: LevelBlockWriter, climatology: Climatology | None = None) -> None:
        self.grid, self.days, self.config = grid, days, config
        self.susceptibility, self.climatology = susceptibility, climatology
        self.boundaries, self.levels = boundaries, levels
        self.counties = CountySummaryAccumulator(
            grid.transform, grid.crs, grid.shape, boundaries, point_lon=points.lon,
            point_lat=points.lat, point_population=points.population, min_level=Level.BLUE)
        self._cells = np.zeros(len(Level), dtype=np.int64)
        self._without_data = 0
        self._max_index: float | None = None
        self._max_mm: float | None = None
        self._from_grid = 0
        self._blocks = 0
        self._model: dict[str, Any] = {}

    def add(self, daily_mm: np.ndarray, has_data: np.ndarray, row0: int, col0: int) -> None:
        """Fold in the block of daily rain (days, rows, cols; newest first) at (row0, col0)."""
        days, rows, cols = daily_mm.shape
        block = GridRef(self.grid.transform @ Affine.translation(col0, row0), self.grid.crs,
                        (rows, cols))
        window = (slice(row0, row0 + rows), slice(col0, col0 + cols))
        susc = _on_block(self.susceptibility.data, self.susceptibility.grid, self.grid, block,
                         window)
        cells = np.asarray(daily_mm, dtype=np.float32).reshape(days, -1).T
        antecedent = effective_antecedent_rainfall(cells, self.config.antecedent.k)
        antecedent = np.where(has_data, antecedent.reshape(rows, cols), np.nan)
        percentile = np.full((rows, cols), self.config.percentile_mm)
        if self.climatology is not None:
            local = _on_block(self.climatology.data, self.climatology.grid, self.grid, block,
                              window).astype(np.float64)
            usable = np.isfinite(local) & (local > 0)
            percentile = np.where(usable, local, percentile)
            self._from_grid += int(usable.sum())
        result = nowcast(susc, antecedent, percentile, self.config.params)
        model = result.evidence()
        self._cells += np.asarray(list(model["cells_by_level"].values()), dtype=np.int64)
        self._without_data += model["cells_without_data"]
        self._max_index = _larger(self._max_index, model["max_rainfall_index"])
        self._max_mm = _larger(self._max_mm, _finite_max(antecedent))
        self._model = model
        self.levels.write(result.levels, row0, col0)
        self.counties.add(result.levels, row0, col0)
        self._blocks += 1

    def finish(self, *, kind: str, product: str, location: str, valid_at: datetime,
               now: datetime) -> BlockNowcastRun:
        """The run record (the evidence of the whole grid) and the county summaries."""
        counties = county_rows(self.counties.table(), self.boundaries)
        model = {**self._model,
                 "cells_by_level": {Level(i).label: int(n) for i, n in enumerate(self._cells)},
                 "cells_without_data": int(self._without_data),
                 "max_rainfall_index": self._max_index}
        evidence = {**model,
                    **_evidence(self.config, self.days, self._max_mm, self._from_grid,
                                self.climatology, self.susceptibility, location, counties),
                    "computed_in_blocks": self._blocks}
        run = NowcastRun(id=run_id(kind, location, valid_at), kind=kind, product=product,
                         location=location, valid_at=valid_at, created_at=now,
                         model_version=MODEL_VERSION, evidence=evidence)
        return BlockNowcastRun(run=run, counties=counties, blocks=self._blocks)


def _on_block(data: np.ndarray, source: GridRef, whole: GridRef, block: GridRef,
              window: tuple[slice, slice]) -> np.ndarray:
    """``data`` (on ``source``) on the block: a slice when it shares the whole grid."""
    if source.matches(whole):
        return np.asarray(data[window], dtype=np.float32)
    return regrid(data, source, block)


def _larger(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else max(a, b)


def _finite_max(values: np.ndarray) -> float | None:
    finite = values[np.isfinite(values)]
    return float(finite.max()) if finite.size else None
