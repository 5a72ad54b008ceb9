"""From rainfall state and susceptibility to a nowcast run: level grid and county summaries.

Glue, not science: the antecedent index comes from ``RainState`` (the
effective antecedent rainfall of warning_models.rainfall), the levels from
warning_models.nowcast (susceptibility x rainfall relative to a percentile,
as in LHASA), and the per-county numbers from geo.zonal. The climatological
percentile is one configured value for every cell until a climatology grid
is supplied; ``evidence`` records it with every other parameter.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from geo.boundaries import Boundaries
from geo.zonal import SHARE_COLUMNS, county_summaries
from store.rasters import CountySummary, NowcastRun
from streams.raster_state import GridRef, RainState, regrid
from streams.schemas import GEOWARN_NAMESPACE
from warning_models.levels import Level
from warning_models.nowcast import MODEL_VERSION, NowcastParams, nowcast
from warning_models.rainfall import AntecedentParameters


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
                    now: datetime) -> NowcastProduct:
    """The nowcast of ``state`` on its grid; cells where ``has_data`` is False get no level."""
    susc = regrid(susceptibility.data, susceptibility.grid, state.grid)
    antecedent = state.antecedent_mm(config.antecedent.k)
    antecedent = np.where(has_data, antecedent, np.nan)
    percentile = np.full(state.grid.shape, config.percentile_mm)
    result = nowcast(susc, antecedent, percentile, config.params)
    table = county_summaries(result.levels, state.grid.transform, state.grid.crs, boundaries,
                             point_lon=points.lon, point_lat=points.lat,
                             point_population=points.population, min_level=Level.BLUE)
    province_names = dict(zip(boundaries.provinces.adcode, boundaries.provinces.name,
                              strict=True))
    counties = [CountySummary(
        adcode=str(row.adcode), name=str(row.name), province=province_names.get(row.province_adcode),
        province_adcode=str(row.province_adcode), max_level=int(row.max_level),
        shares={column.removeprefix("share_"): float(getattr(row, column))
                for column in SHARE_COLUMNS},
        data_coverage=float(row.data_coverage), data_area_m2=float(row.data_area_m2),
        county_area_m2=float(row.county_area_m2), points_at_or_above=int(row.points_at_or_above),
        threatened_population=int(row.threatened_population))
        for row in table.itertuples(index=False)]
    evidence = {
        **result.evidence(),
        "antecedent": {"k": config.antecedent.k, "days": state.days,
                       "index": "effective antecedent rainfall P_e = sum K^i P_i (mm)",
                       "max_mm": _finite_max(antecedent)},
        "percentile_mm": config.percentile_mm,
        "susceptibility_source": susceptibility.source,
        "rainfall_location": location,
        "counties": len(counties),
        "counties_at_or_above_blue": sum(c.max_level >= Level.BLUE for c in counties),
        "threatened_population": sum(c.threatened_population for c in counties),
    }
    run = NowcastRun(id=run_id(kind, location, valid_at), kind=kind, product=product,
                     location=location, valid_at=valid_at, created_at=now,
                     model_version=MODEL_VERSION, evidence=evidence)
    return NowcastProduct(run=run, counties=counties, levels=result.levels, grid=state.grid)


def _finite_max(values: np.ndarray) -> float | None:
    finite = values[np.isfinite(values)]
    return float(finite.max()) if finite.size else None
