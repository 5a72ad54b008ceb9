"""How a point's rainfall level meets its deformation level, and where its rain comes from.

Pure numpy over many points at once; levels are ``Level`` values (int8).

Source of the rain (``select_sources``). A point may have rain gauges of its
own and the sample of the observed rainfall grid (derived readings, sensor
``grid:rainfall_observed``). A gauge measures the rain that falls on the
slope; a 0.01 degree grid cell (about 1 km) smooths convective cells that a
gauge sees, so a *fresh* gauge (its newest reading at most
``gauge_fresh_hours`` before the judgement) wins and the grid sample is set
aside (it then counts as a valid "none", so it neither raises the point nor
blocks a downgrade). The grid fills in when the point has no gauge or its
gauges are stale or silent. Several fresh gauges: the highest level counts
(a partial gauge network must not hide the wettest one).

Rainfall against deformation (``rainfall_contribution``). An intensity-
duration exceedance says that rain capable of triggering failures is
falling; it does not say that *this* slope moves. So:

1. alone, rainfall raises a point at most to ``alone_cap`` (yellow by
   default: "relatively high risk", the level of China's regional
   meteorological warnings), or to a per-hazard cap: debris flows are
   triggered by the rain itself and are warned on rainfall in practice, so
   ``debris_flow`` may reach orange by default;
2. a slope already moving (deformation at blue or above) under rain at or
   above ``escalate_from`` (yellow) is raised one level above its
   deformation level, to at most ``escalate_cap`` (orange): rain infiltration
   accelerating a creeping slope is the classic path to failure (e.g. the
   2017 Xinmo and 2019 Shuicheng landslides), and evacuation of the
   threatened points is the proportionate answer;
3. rainfall never lowers a level and never gives red: red stays with the
   site's own evidence (tangent angle, inverse velocity) and its
   corroboration rules; a dry spell does not make a moving slope safe.

The scorer applies the result as the level of the selected rain series, so
the fusion's hold times and downgrade rules apply to rain as to any
indicator.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from warning_models.levels import Level
from warning_models.rainfall import RainfallParameters

GRID_SENSOR_PREFIX = "grid:"
"""Sensor ids of readings derived from rasters start with this."""

ROLE_NONE, ROLE_SELECTED, ROLE_SUPERSEDED = 0, 1, 2
ROLES: tuple[str, ...] = ("no_data", "selected", "superseded_by_gauge")


def _level(value: Any) -> int:
    return int(Level.parse(value))


class RainfallFusionParams(BaseModel):
    """The rules of the module docstring, validated when loaded.

    alone_cap / hazard_alone_caps: highest level rainfall alone gives (per
        hazard type where listed); never red.
    escalate_from: rain level from which a moving slope is raised one level.
    escalate_cap: highest level that raise gives; never red.
    gauge_fresh_hours: a gauge whose newest reading is older than this (event
        time) is stale and the grid sample takes over.
    report_interval_hours: hours of rain a reading stands for when the
        interval since the series' previous reading is unknown (its first
        reading, a late reading); readings further apart than
        ``max_report_interval_hours`` stand for that many hours (the rest of
        the gap counts as dry, as for a tipping-bucket gauge).
    grid_interval_hours: hours of rain a reading derived from the rainfall
        grid stands for: the raster's interval (the service sets it from the
        setting ``rainfall_interval_hours``, so both always agree).
    day_offset_hours: rain days (for the antecedent rainfall) start at UTC
        midnight plus this (8: Beijing time).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    alone_cap: int = Field(Level.YELLOW, ge=Level.NONE, le=Level.ORANGE)
    hazard_alone_caps: dict[str, int] = Field(
        default_factory=lambda: {"debris_flow": int(Level.ORANGE)})
    escalate_from: int = Field(Level.YELLOW, ge=Level.BLUE, le=Level.RED)
    escalate_cap: int = Field(Level.ORANGE, ge=Level.BLUE, le=Level.ORANGE)
    gauge_fresh_hours: float = Field(2.0, gt=0, le=72)
    report_interval_hours: float = Field(1.0, gt=0, le=24)
    max_report_interval_hours: float = Field(1.0, gt=0, le=24)
    grid_interval_hours: float = Field(1.0, gt=0, le=24 * 31)
    day_offset_hours: float = Field(8.0, ge=-12, le=14)

    @field_validator("alone_cap", "escalate_from", "escalate_cap", mode="before")
    @classmethod
    def _parse_level(cls, value: Any) -> int:
        return _level(value)

    @field_validator("hazard_alone_caps", mode="before")
    @classmethod
    def _parse_caps(cls, value: Any) -> Any:
        if not isinstance(value, Mapping):
            return value
        caps = {str(k): _level(v) for k, v in value.items()}
        too_high = [k for k, v in caps.items() if v > Level.ORANGE]
        if too_high:
            raise ValueError(f"rainfall alone cannot give red (hazard types {too_high})")
        return caps


class RainfallScoringConfig(BaseModel):
    """The rainfall model of the scorer: thresholds per region, and the fusion rules.

    default: the national model (Caine 1980 by default; see
        ``warning_models.rainfall.RainfallParameters``).
    regions: regional models by county or province adcode; a point takes its
        county's, else its province's, else the default (e.g. a calibrated
        ``{threshold: {name: sichuan, alpha: 5.9, beta: 0.41, ...}}``).
    fusion: ``RainfallFusionParams``.

    Loaded from a YAML/JSON mapping with these three keys.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    default: RainfallParameters = RainfallParameters()
    regions: dict[str, RainfallParameters] = Field(default_factory=dict)
    fusion: RainfallFusionParams = RainfallFusionParams()

    def models(self) -> list[RainfallParameters]:
        """Distinct models: index 0 is the default, then the regions' in key order."""
        return [self.default, *(self.regions[k] for k in sorted(self.regions))]

    def model_index(self, regions: Sequence[str]) -> int:
        """Index in ``models()`` for a point with these region codes (most specific first
        is not required: the longest matching code, a county, wins)."""
        keys = sorted(self.regions)
        matches = [r for r in regions if r in self.regions]
        if not matches:
            return 0
        return 1 + keys.index(max(matches, key=len))

    def max_window_hours(self) -> int:
        return int(max(max(m.windows_h) for m in self.models()))

    def max_days(self) -> int:
        return max(m.antecedent.days for m in self.models())

    def digest(self) -> str:
        payload = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:8]


def rainfall_config_from_mapping(data: Mapping[str, Any] | None) -> RainfallScoringConfig:
    """A ``RainfallScoringConfig`` from a parsed file; TypeError when not a mapping."""
    if data is None:
        return RainfallScoringConfig()
    if not isinstance(data, Mapping):
        raise TypeError("expected a mapping with 'default', 'regions' and/or 'fusion'")
    return RainfallScoringConfig.model_validate(dict(data))


def select_sources(row: np.ndarray, is_grid: np.ndarray, level: np.ndarray,
                   age_h: np.ndarray, silent: np.ndarray, rows: int,
                   fresh_hours: float) -> np.ndarray:
    """Role of each rain series of ``rows`` points (``ROLE_*``, int8).

    row: the point (0..rows-1) of each series; is_grid: derived from a raster;
    level: the series' rainfall level (-1 = no data); age_h: hours since its
    newest reading (event time); silent: its sensor is offline.
    A fresh gauge (online, with a level, age <= ``fresh_hours``) makes every
    grid series of its point superseded; otherwise series with a level are
    selected.
    """
    row = np.asarray(row, dtype=np.int64)
    usable = ~np.asarray(silent, dtype=bool) & (np.asarray(level) >= 0)
    gauge_fresh = usable & ~is_grid & (np.asarray(age_h, dtype=float) <= fresh_hours)
    has_gauge = np.zeros(rows, dtype=bool)
    has_gauge[row[gauge_fresh]] = True
    superseded = is_grid & has_gauge[row]
    role = np.where(superseded, ROLE_SUPERSEDED,
                    np.where(usable & (gauge_fresh | is_grid), ROLE_SELECTED, ROLE_NONE))
    return role.astype(np.int8)


def rainfall_contribution(deformation: np.ndarray, rainfall: np.ndarray, alone_cap: np.ndarray,
                          params: RainfallFusionParams) -> np.ndarray:
    """The level a point's rainfall stands for next to its deformation (module docstring).

    deformation: the point's deformation level before rainfall (-1 or 0 = none);
    rainfall: the rain level of the selected source (-1 = no data);
    alone_cap: the cap of rainfall alone for each point's hazard type.
    Returns int8 levels (-1 where rainfall is -1); the fused level is the
    maximum of this and the deformation level, so rainfall never lowers one.
    """
    deform = np.asarray(deformation, dtype=np.int64)
    rain = np.asarray(rainfall, dtype=np.int64)
    alone = np.minimum(rain, np.asarray(alone_cap, dtype=np.int64))
    moving = deform >= Level.BLUE
    raised = np.where(moving & (rain >= params.escalate_from),
                      np.minimum(deform + 1, params.escalate_cap), 0)
    out = np.maximum(alone, raised)
    return np.where(rain < 0, -1, np.minimum(out, Level.ORANGE)).astype(np.int8)


def alone_caps(hazard_names: Sequence[str], params: RainfallFusionParams) -> np.ndarray:
    """Cap of rainfall alone per hazard code (index into ``hazard_names``)."""
    return np.asarray([params.hazard_alone_caps.get(h, params.alone_cap) for h in hazard_names]
                      or [params.alone_cap], dtype=np.int8)


__all__ = ["GRID_SENSOR_PREFIX", "ROLES", "ROLE_NONE", "ROLE_SELECTED", "ROLE_SUPERSEDED",
           "RainfallFusionParams", "RainfallScoringConfig", "alone_caps",
           "rainfall_config_from_mapping", "rainfall_contribution", "select_sources"]
