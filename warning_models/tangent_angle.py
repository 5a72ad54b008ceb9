"""Improved tangent angle of a displacement curve and its warning levels.

Xu Qiang, Zeng Yuping, Qian Jiangpeng, Wang Chengjun and He Chaoyang (2009),
"Study on a improved tangential angle and the corresponding landslide
pre-warning criteria" (改进的切线角及对应的滑坡预警判据), Geological Bulletin of
China 28(4), 501-505; Xu Qiang, Tang Minggao, Xu Kaixiang and Huang Xiaobing
(2008), "Research on space-time evolution laws and early warning-prediction of
landslides" (滑坡时空演化规律及预警预报研究), Chinese Journal of Rock Mechanics
and Engineering 27(6), 1104-1112.

The cumulative displacement S (mm) is divided by the mean velocity v̄ (mm/day)
of the uniform-creep stage so that both axes of the S-t curve are in days:

    T(i) = S(i) / v̄                                     [day]
    α(i) = arctan((T(i) - T(i-1)) / (t(i) - t(i-1)))      [degree], t in days
         = arctan(v(i) / v̄)

α ≈ 45° marks uniform (steady) deformation, α > 45° acceleration, α → 90°
imminent failure. Warning levels (thresholds are configuration, ascending):

| level  | default α      | stage (Xu et al. 2009)                               |
|--------|----------------|------------------------------------------------------|
| none   | α < 45°        | decelerating or slower than the uniform stage        |
| blue   | 45° ≤ α < 55°  | uniform deformation, attention                       |
| yellow | 55° ≤ α < 80°  | early acceleration, caution                          |
| orange | 80° ≤ α < 85°  | mid acceleration, warning                            |
| red    | α ≥ 85°        | critical acceleration, imminent failure              |

The yellow boundary is a choice of this implementation: the criterion puts
early acceleration just above 45°, but a steady creep measured with noise
scatters around 45°, so yellow starts at a margin above it (55° by default,
i.e. 1.43 v̄) instead of flipping between blue and yellow on noise.

v̄ comes from configuration (per point) or from a least-squares line through
the displacement of a baseline window of the uniform stage: an explicit event
time window, or the first ``baseline_days`` of the supplied series (a
fallback; a live buffer moves, so configure v̄ or the window in production).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from warning_models.kinematics import SECONDS_PER_DAY, Kinematics
from warning_models.levels import Level

MODEL_NAME = "tangent_angle"
MODEL_VERSION = "tangent_angle-1.0"
REQUIRES_INPUTS = ("time_s", "velocity_mm_per_day", "v_bar_mm_per_day")
CITATION = ("Xu Q., Zeng Y., Qian J., Wang C., He C. (2009) Geological Bulletin of China "
            "28(4):501-505; Xu Q., Tang M., Xu K., Huang X. (2008) Chinese Journal of Rock "
            "Mechanics and Engineering 27(6):1104-1112")

LEVEL_NAMES = ("blue", "yellow", "orange", "red")


class TangentAngleThresholds(BaseModel):
    """Lower bound (degrees) of each level; strictly ascending, below 90°."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    blue: float = Field(45.0, ge=0, lt=90)
    yellow: float = Field(55.0, ge=0, lt=90)
    orange: float = Field(80.0, ge=0, lt=90)
    red: float = Field(85.0, ge=0, lt=90)

    @model_validator(mode="after")
    def _ascending(self) -> TangentAngleThresholds:
        values = self.as_array()
        if np.any(np.diff(values) <= 0):
            raise ValueError(f"tangent-angle thresholds must ascend blue < yellow < orange < red, "
                             f"got {dict(zip(LEVEL_NAMES, values.tolist(), strict=True))}")
        return self

    def as_array(self) -> np.ndarray:
        return np.array([self.blue, self.yellow, self.orange, self.red], dtype=float)


class TangentAngleParams(BaseModel):
    """Where v̄ comes from and which angles raise which level."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    thresholds: TangentAngleThresholds = TangentAngleThresholds()
    v_bar_mm_per_day: float | None = Field(
        None, gt=0, le=1e5, description="mean velocity of the uniform stage, if known")
    baseline_start: AwareDatetime | None = None
    baseline_end: AwareDatetime | None = None
    baseline_days: float = Field(30.0, gt=0, le=3650,
                                 description="fallback: the first days of the series")
    min_baseline_samples: int = Field(10, ge=2)
    min_baseline_coverage: float = Field(
        0.5, gt=0, le=1, description="baseline samples must span this fraction of the window")
    min_v_bar_mm_per_day: float = Field(
        1e-3, gt=0, description="an estimated v̄ below this is unusable (configure v̄)")

    @model_validator(mode="after")
    def _window(self) -> TangentAngleParams:
        if (self.baseline_start is None) != (self.baseline_end is None):
            raise ValueError("set both baseline_start and baseline_end, or neither")
        if self.baseline_start is not None and self.baseline_end <= self.baseline_start:
            raise ValueError("baseline_end must be after baseline_start")
        return self


def _positive(v_bar_mm_per_day: object) -> np.ndarray:
    v_bar = np.asarray(v_bar_mm_per_day, dtype=float)
    if not np.all(np.isfinite(v_bar) & (v_bar > 0)):
        raise ValueError("v̄ must be positive and finite (mm/day)")
    return v_bar


def normalised_displacement(s_mm: object, v_bar_mm_per_day: object) -> np.ndarray:
    """T = S / v̄ in days (Xu et al. 2009): displacement rescaled to the time axis."""
    return np.asarray(s_mm, dtype=float) / _positive(v_bar_mm_per_day)


def tangent_angle(v_mm_per_day: object, v_bar_mm_per_day: object) -> np.ndarray:
    """α = arctan(v / v̄) in degrees, in (-90°, 90°); v̄ must be positive."""
    v = np.asarray(v_mm_per_day, dtype=float)
    return np.degrees(np.arctan2(v, _positive(v_bar_mm_per_day)))


def tangent_angle_series(t_days: object, s_mm: object,
                         v_bar_mm_per_day: float) -> tuple[np.ndarray, np.ndarray]:
    """α(i) = arctan((T(i) - T(i-1)) / (t(i) - t(i-1))) in degrees, from the T-t curve.

    ``t_days`` ascending. Returns ``(alpha, valid)``; the first sample and
    non-increasing time steps are invalid (α = 0 there).
    """
    t = np.asarray(t_days, dtype=float).ravel()
    big_t = normalised_displacement(np.asarray(s_mm, dtype=float).ravel(), v_bar_mm_per_day)
    if t.size == 0:
        return np.zeros(0), np.zeros(0, bool)
    dt = np.r_[0.0, np.diff(t)]
    d_big_t = np.r_[0.0, np.diff(big_t)]
    valid = np.r_[False, dt[1:] > 0]
    alpha = np.degrees(np.arctan2(d_big_t, np.where(valid, dt, 1.0)))
    valid &= np.isfinite(alpha)
    return np.where(valid, alpha, 0.0), valid


def angle_levels(alpha_deg: object, thresholds: TangentAngleThresholds | None = None,
                 valid: object | None = None) -> np.ndarray:
    """Level (``Level`` values, int8) of each angle; invalid angles get ``Level.NONE``."""
    thresholds = thresholds or TangentAngleThresholds()
    alpha = np.asarray(alpha_deg, dtype=float)
    levels = np.searchsorted(thresholds.as_array(), alpha, side="right").astype(np.int8)
    ok = np.isfinite(alpha) if valid is None else np.asarray(valid, bool) & np.isfinite(alpha)
    return np.where(ok, levels, np.int8(Level.NONE)).astype(np.int8)


def baseline_velocity(t_s: object, s_mm: object, start_s: float, end_s: float, *,
                      usable: object | None = None, min_samples: int = 10,
                      min_coverage: float = 0.5) -> tuple[float, int, bool]:
    """Least-squares slope (mm/day) of displacement over the window [start_s, end_s].

    Returns ``(v_bar, samples used, valid)``; invalid (v̄ = 0) with fewer than
    ``min_samples`` samples or when they span less than ``min_coverage`` of
    the window.
    """
    t = np.asarray(t_s, dtype=float).ravel()
    s = np.asarray(s_mm, dtype=float).ravel()
    ok = np.ones(t.size, bool) if usable is None else np.asarray(usable, bool).ravel()
    inside = ok & (t >= start_s) & (t <= end_s) & np.isfinite(t) & np.isfinite(s)
    n = int(inside.sum())
    if n < max(min_samples, 2):
        return 0.0, n, False
    tw = (t[inside] - start_s) / SECONDS_PER_DAY
    sw = s[inside]
    if tw.max() - tw.min() < min_coverage * (end_s - start_s) / SECONDS_PER_DAY:
        return 0.0, n, False
    dt = tw - tw.mean()
    sxx = float(np.dot(dt, dt))
    if not sxx > 0:
        return 0.0, n, False
    slope = float(np.dot(dt, sw - sw.mean()) / sxx)
    return (slope, n, True) if np.isfinite(slope) else (0.0, n, False)


VBarSource = Literal["configured", "argument", "baseline_window", "first_days", "insufficient"]


@dataclass(frozen=True)
class TangentAngleResult:
    """Per-sample tangent angle (degrees) and level; v̄ in mm/day and where it came from."""

    t: np.ndarray
    angle: np.ndarray
    level: np.ndarray
    valid: np.ndarray
    velocity: np.ndarray
    v_bar: float
    v_bar_source: VBarSource
    v_bar_samples: int
    thresholds: TangentAngleThresholds


def resolve_v_bar(kin: Kinematics, params: TangentAngleParams,
                  v_bar: float | None = None) -> tuple[float, VBarSource, int]:
    """v̄ (mm/day) from the argument, the configuration or the baseline window."""
    if v_bar is not None and np.isfinite(v_bar) and v_bar > 0:
        return float(v_bar), "argument", 0
    if params.v_bar_mm_per_day is not None:
        return params.v_bar_mm_per_day, "configured", 0
    if kin.n == 0:
        return 0.0, "insufficient", 0
    if params.baseline_start is not None and params.baseline_end is not None:
        start, end = params.baseline_start.timestamp(), params.baseline_end.timestamp()
        source: VBarSource = "baseline_window"
    else:
        start = float(kin.t[0])
        end = start + params.baseline_days * SECONDS_PER_DAY
        source = "first_days"
    value, n, ok = baseline_velocity(kin.t, kin.displacement, start, end, usable=~kin.spike,
                                     min_samples=params.min_baseline_samples,
                                     min_coverage=params.min_baseline_coverage)
    if not ok or value < params.min_v_bar_mm_per_day:
        return 0.0, "insufficient", n
    return value, source, n


def assess_tangent_angle(kin: Kinematics, params: TangentAngleParams | None = None,
                         *, v_bar: float | None = None) -> TangentAngleResult:
    """Tangent angle α = arctan(v / v̄) and its level at every sample of ``kin``.

    Velocity is the smoothed velocity of ``kin`` (mm/day); samples where it or
    v̄ is unavailable are invalid, level none.
    """
    with np.errstate(all="ignore"):  # extreme inputs end in validity masks, not warnings
        params = params or TangentAngleParams()
        value, source, n = resolve_v_bar(kin, params, v_bar)
        usable = source != "insufficient"
        alpha = tangent_angle(kin.velocity, value if usable else 1.0)
        valid = kin.valid_velocity & usable & np.isfinite(alpha)
        alpha = np.where(valid, alpha, 0.0)
        level = angle_levels(alpha, params.thresholds, valid)
        return TangentAngleResult(t=kin.t, angle=alpha, level=level, valid=valid,
                                  velocity=kin.velocity, v_bar=value, v_bar_source=source,
                                  v_bar_samples=n, thresholds=params.thresholds)
