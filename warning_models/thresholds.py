"""Per-sensor-kind (and per-hazard-type) absolute thresholds of the deformation models.

The "velocity over a window" model (``warning_models.velocity``) and the
scorer's site model (``warning_models.site_batch``) judge against them.

Every threshold is the lower bound of a level: a rate at or above ``blue``
(and below ``yellow``) is blue, and so on; below ``blue`` is "none". Bounds
are validated when loaded (``gt=0`` and ``blue < yellow < orange < red``), so
a bad configuration fails at start, never during a storm.

Indicators and units (canonical units of ``streams.units``):

| kind                                  | indicator           | unit        |
|---------------------------------------|---------------------|-------------|
| gnss, crack, inclinometer, extensometer | velocity (abs)    | mm/day      |
| tilt                                  | tilt rate (abs)     | degrees/day |
| pore_pressure                         | rise over window    | kPa         |
| mud_level                             | level above bed     | mm          |
| rain_gauge, soil_moisture             | no level yet (rainfall models come later) | |

Each kind's bounds may differ per hazard type (``hazard_types``): a crack
meter on a collapse-prone cliff or a mud-level gauge in a debris-flow
channel is judged against its own table, e.g.
``{"hazard_types": {"debris_flow": {"mud_level": {...}}}}``; kinds an
override leaves out keep the national default.

Where the defaults come from. They are round numbers for a national default
and **must be replaced by regional calibration** (each province fits its own
per slope type and sensor installation):

- Displacement velocity. Xu Qiang's three-stage creep model (Xu et al. 2008;
  Xu, Zeng et al. 2009, improved tangent angle) puts steady "uniform"
  deformation of active slopes at a few mm/day and the accelerating stages
  that precede failure at tens to hundreds of mm/day; Chinese monitoring
  practice therefore raises blue on sustained creep of a few mm/day and
  orange/red at tens of mm/day. Cruden & Varnes (1996) put the boundary of
  "very slow" and "slow" landslides at 1.6 m/year (about 4.4 mm/day) and of
  "slow" and "moderate" at 13 m/month (about 430 mm/day). Crack meters and
  inclinometers measure locally and react earlier than GNSS on the whole
  body, hence lower defaults.
- Tilt rate: surface tiltmeters on unstable slopes show changes of hundredths
  of a degree per day during creep and tenths to degrees per day before
  failure (same stage reasoning as above).
- Pore pressure: a rise of tens of kPa within a day (metres of water head)
  marks a rapidly rising groundwater table (Iverson 2000, "Landslide
  triggering by rain infiltration").
- Mud level: debris-flow channel level gauges warn at flow depths of about
  0.5 m (blue) to 3 m (red) above the channel bed; channel geometry makes
  this the most site-specific of all defaults.

References:
    Cruden, D.M., Varnes, D.J. (1996). Landslide types and processes. In:
        Landslides: Investigation and Mitigation, TRB Special Report 247, 36-75.
    Xu, Q., Tang, M., Xu, K., Huang, X. (2008). Research on space-time
        evolution laws and early warning-prediction of landslides. Chinese
        Journal of Rock Mechanics and Engineering 27(6), 1104-1112.
    Xu, Q., Zeng, Y., Qian, J., Wang, C., He, C. (2009). Study on a improved
        tangential angle and the corresponding landslide pre-warning
        criteria. Geological Bulletin of China 28(4), 501-505.
    Iverson, R.M. (2000). Landslide triggering by rain infiltration. Water
        Resources Research 36(7), 1897-1910.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

LEVEL_NAMES = ("blue", "yellow", "orange", "red")


class LevelThresholds(BaseModel):
    """Lower bounds of blue, yellow, orange and red in one unit; strictly increasing."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    blue: float = Field(..., gt=0, allow_inf_nan=False)
    yellow: float = Field(..., gt=0, allow_inf_nan=False)
    orange: float = Field(..., gt=0, allow_inf_nan=False)
    red: float = Field(..., gt=0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _increasing(self) -> LevelThresholds:
        if not self.blue < self.yellow < self.orange < self.red:
            raise ValueError(f"thresholds must increase: blue ({self.blue}) < yellow ({self.yellow}) "
                             f"< orange ({self.orange}) < red ({self.red})")
        return self

    def as_array(self) -> np.ndarray:
        """``[blue, yellow, orange, red]`` as float64."""
        return np.array([self.blue, self.yellow, self.orange, self.red], dtype=float)

    def as_dict(self) -> dict[str, float]:
        return {name: float(getattr(self, name)) for name in LEVEL_NAMES}


def _mm_per_day(blue: float, yellow: float, orange: float, red: float) -> LevelThresholds:
    return LevelThresholds(blue=blue, yellow=yellow, orange=orange, red=red)


KIND_NAMES = ("gnss", "crack", "inclinometer", "extensometer", "tilt", "pore_pressure",
              "mud_level")
"""Sensor kinds that have absolute thresholds."""


class KindOverrides(BaseModel):
    """Bounds of some kinds at one hazard type, e.g. mud level at debris-flow points.

    Kinds left out keep the national default of the kind.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    gnss: LevelThresholds | None = None
    crack: LevelThresholds | None = None
    inclinometer: LevelThresholds | None = None
    extensometer: LevelThresholds | None = None
    tilt: LevelThresholds | None = None
    pore_pressure: LevelThresholds | None = None
    mud_level: LevelThresholds | None = None


class VelocityThresholds(BaseModel):
    """Thresholds of every sensor kind that the velocity model scores.

    Displacement kinds in mm/day, tilt in degrees/day, pore pressure in kPa
    rise over the window, mud level in mm above the channel bed. Defaults:
    see the module docstring (national defaults, replace by regional
    calibration).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    gnss: LevelThresholds = _mm_per_day(2.0, 5.0, 20.0, 50.0)
    crack: LevelThresholds = _mm_per_day(1.0, 3.0, 10.0, 30.0)
    inclinometer: LevelThresholds = _mm_per_day(1.0, 3.0, 10.0, 30.0)
    extensometer: LevelThresholds = _mm_per_day(2.0, 5.0, 20.0, 50.0)
    tilt: LevelThresholds = LevelThresholds(blue=0.05, yellow=0.1, orange=0.5, red=1.0)
    pore_pressure: LevelThresholds = LevelThresholds(blue=5.0, yellow=10.0, orange=20.0, red=40.0)
    mud_level: LevelThresholds = LevelThresholds(blue=500.0, yellow=1000.0, orange=2000.0,
                                                 red=3000.0)

    hazard_types: dict[str, KindOverrides] = Field(
        default_factory=dict,
        description="per hazard type (landslide, debris_flow, ...): kinds whose bounds differ")

    def for_kind(self, kind: str, hazard_type: str | None = None) -> LevelThresholds | None:
        """The thresholds of a sensor kind (at a hazard type), None for kinds without a level.

        A hazard type's override of the kind wins over the kind's national default.
        """
        kind = str(kind)
        if kind not in KIND_NAMES:
            return None
        override = self.hazard_types.get(str(hazard_type)) if hazard_type is not None else None
        chosen = getattr(override, kind, None) if override is not None else None
        return chosen if chosen is not None else getattr(self, kind)

    def digest_payload(self) -> dict[str, Any]:
        """What identifies these thresholds (no empty override table, so that adding the
        hazard-type field did not change the version of an unchanged configuration)."""
        return self.model_dump(exclude={"hazard_types"} if not self.hazard_types else set())


class VelocityParameters(BaseModel):
    """Window and data-sufficiency rules of the velocity model.

    window_hours: samples within this many hours of a sensor's newest sample
        are used (hours).
    min_samples: fewer samples in the window give no level ("insufficient").
    min_span_fraction: the samples must span at least this fraction of the
        window (a slope over ten minutes of a one-day window is noise).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    window_hours: float = Field(24.0, gt=0, le=24 * 30)
    min_samples: int = Field(3, ge=3, le=1000)
    min_span_fraction: float = Field(0.25, gt=0, le=1)


def thresholds_from_mapping(data: Mapping[str, Any] | None) -> VelocityThresholds:
    """Thresholds from configuration (a parsed YAML/JSON mapping), defaults for the rest.

    The mapping sends sensor kinds to their four bounds; kinds it omits keep
    their defaults, e.g. ``{"gnss": {"blue": 3, "yellow": 8, "orange": 25,
    "red": 60}}`` (optionally nested under a top-level ``thresholds`` key),
    plus optional per-hazard-type overrides under ``hazard_types``.
    Raises pydantic.ValidationError for unknown kinds, missing or
    non-positive bounds or bounds that do not increase, TypeError when
    ``data`` is not a mapping.
    """
    if data is None:
        return VelocityThresholds()
    if not isinstance(data, Mapping):
        raise TypeError("expected a mapping of sensor kinds to thresholds")
    if set(data) == {"thresholds"}:
        data = data["thresholds"] or {}
    defaults = VelocityThresholds().model_dump()
    return VelocityThresholds.model_validate({**defaults, **data})
