"""Time of failure from the inverse velocity of an accelerating slope.

Fukuzono, T. (1985), "A new method for predicting the failure time of a
slope", Proc. 4th International Conference and Field Workshop on Landslides,
Tokyo, 145-150; Voight, B. (1988), "A method for prediction of volcanic
eruptions", Nature 332, 125-130; smoothing after Carlà, T., Intrieri, E.,
Di Traglia, F., Nolesini, T., Gigli, G. and Casagli, N. (2017), "Guidelines on
the use of inverse velocity method as a tool for setting alarm thresholds and
forecasting landslides and structure collapses", Landslides 14, 517-534.

Voight's law of accelerating creep, dv/dt = A v^α, with α = 2 makes the
inverse velocity linear in time:

    1/v(t) = A (α - 1) (t_f - t)          [day/mm], t in days, v in mm/day

so a least-squares line 1/v = a t + b through the recent accelerating part
crosses zero at the time of failure t_f = -b / a (a < 0). The interval of
t_f is Fieller's confidence interval for the zero crossing of a regression
line (Fieller, E. C. (1954), "Some problems in interval estimation",
J. R. Stat. Soc. B 16(2), 175-185), reported only when the slope is
significantly negative at ``confidence``, which keeps it finite.

Velocities are smoothed before inversion by a short and a long simple moving
average (SMA over ``sma_samples``, LMA over ``lma_samples`` samples, as in
Carlà et al. 2017); the fit uses one of them (``fit_on``). Each average is
placed at the mean time of the samples it averages, which removes the
half-window lag a trailing average would add to t_f.

The fit uses the smoothed points of the last ``fit_window_days`` that lie in
the current accelerating part: after the last sample whose tangent angle was
below ``accelerating_angle_deg``. Points are weighted by v² by default
(``weighting="relative"``: velocity errors proportional to velocity, so 1/v
errors proportional to 1/v); ``"none"`` is Fukuzono's ordinary least squares.
A forecast is made at a sample only when its tangent angle has reached
``gate_angle_deg`` (80° by default: mid acceleration in Xu et al. 2009), the
fit has ``min_fit_samples`` points and the slope is significantly negative.
Levels: red when the time left to failure is shorter than ``red_lead_hours``,
orange when shorter than ``orange_lead_hours``, otherwise none (the tangent
angle covers the rest).
Everything is causal: the forecast at a sample uses that sample and earlier
ones only.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator
from scipy import stats

from warning_models.kinematics import SECONDS_PER_DAY, Kinematics
from warning_models.levels import Level
from warning_models.quality import as_seconds, event_seconds
from warning_models.tangent_angle import TangentAngleResult

MODEL_NAME = "inverse_velocity"
MODEL_VERSION = "inverse_velocity-1.0"
REQUIRES_INPUTS = ("time_s", "velocity_mm_per_day", "tangent_angle_deg")
CITATION = ("Fukuzono (1985) Proc. 4th Int. Conf. Field Workshop on Landslides, Tokyo, "
            "145-150; Voight (1988) Nature 332:125-130; Carlà et al. (2017) Landslides "
            "14:517-534; Fieller (1954) J. R. Stat. Soc. B 16:175-185")


class InverseVelocityParams(BaseModel):
    """Smoothing, fit window, gate and lead times of the inverse-velocity forecast."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sma_samples: int = Field(3, ge=1, le=1000, description="short moving average, samples")
    lma_samples: int = Field(7, ge=1, le=10_000, description="long moving average, samples")
    fit_on: Literal["sma", "lma"] = "sma"
    fit_window_days: float = Field(5.0, gt=0, le=365, description="fit the last days only")
    accelerating_angle_deg: float = Field(
        55.0, ge=0, lt=90, description="the accelerating part: tangent angle at least this")
    min_fit_samples: int = Field(6, ge=3, le=100_000)
    gate_angle_deg: float = Field(80.0, ge=0, lt=90, description="forecast from this angle on")
    confidence: float = Field(0.95, gt=0.5, lt=1.0)
    red_lead_hours: float = Field(48.0, gt=0, le=24 * 365)
    orange_lead_hours: float = Field(168.0, gt=0, le=24 * 365)
    weighting: Literal["relative", "none"] = Field(
        "relative", description="relative: weights v² (velocity errors proportional to v)")
    lead_from: Literal["estimate", "lower_bound"] = Field(
        "estimate", description="compare the lead with t_f or with its lower bound")
    min_velocity_mm_per_day: float = Field(
        1e-6, gt=0, description="slower (or negative) smoothed velocities are not inverted")

    @model_validator(mode="after")
    def _check(self) -> InverseVelocityParams:
        if self.lma_samples < self.sma_samples:
            raise ValueError("lma_samples must be at least sma_samples")
        if self.accelerating_angle_deg > self.gate_angle_deg:
            raise ValueError("accelerating_angle_deg cannot exceed gate_angle_deg")
        if self.orange_lead_hours <= self.red_lead_hours:
            raise ValueError("orange_lead_hours must be longer than red_lead_hours")
        return self


@dataclass(frozen=True)
class InverseVelocityFit:
    """Least-squares line 1/v = slope * t + intercept (t in days, 1/v in day/mm).

    ``t_f``, ``lower`` and ``upper`` are in the same days as the input; they
    are 0 and ``valid`` False unless the slope is significantly negative.
    """

    slope: float
    intercept: float
    t_f: float
    lower: float
    upper: float
    n: int
    r2: float
    residual_sd: float
    valid: bool

    @classmethod
    def invalid(cls, n: int = 0) -> InverseVelocityFit:
        return cls(0.0, 0.0, 0.0, 0.0, 0.0, n, 0.0, 0.0, False)


@lru_cache(maxsize=1024)
def _student_t_quantile(confidence: float, dof: int) -> float:
    """Two-sided Student-t quantile for ``confidence`` with ``dof`` degrees of freedom."""
    return float(stats.t.ppf(0.5 + 0.5 * confidence, dof))


def fit_inverse_velocity(t_days: object, inverse_velocity: object, confidence: float = 0.95,
                         weights: object | None = None) -> InverseVelocityFit:
    """Fit 1/v = a t + b and return t_f = -b/a with Fieller's interval (Fukuzono 1985).

    ``t_days`` in days (any origin), ``inverse_velocity`` in day/mm.
    ``weights`` are relative precisions (var(1/v_i) = σ² / w_i); None gives
    ordinary least squares. The interval is the set of times where the
    fitted line is not significantly different from zero (Fieller 1954).
    """
    x = np.asarray(t_days, dtype=float).ravel()
    y = np.asarray(inverse_velocity, dtype=float).ravel()
    n = x.size
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=float).ravel()
    if (n < 3 or y.size != n or w.size != n
            or not (np.all(np.isfinite(x)) and np.all(np.isfinite(y)) and np.all(np.isfinite(w)))
            or np.any(w <= 0)):
        return InverseVelocityFit.invalid(n)
    w = w / w.sum()
    total = float(w.sum())
    x_mean, y_mean = float(np.dot(w, x)) / total, float(np.dot(w, y)) / total
    dx, dy = x - x_mean, y - y_mean
    sxx = float(np.dot(w, dx * dx))
    if not sxx > 0:
        return InverseVelocityFit.invalid(n)
    slope = float(np.dot(w, dx * dy)) / sxx
    residual = dy - slope * dx
    ss_res = float(np.dot(w, residual * residual))
    ss_tot = float(np.dot(w, dy * dy))
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else 1.0
    variance = ss_res / (n - 2)
    intercept = y_mean - slope * x_mean
    if not slope < 0:
        return InverseVelocityFit(slope, intercept, 0.0, 0.0, 0.0, n, r2, np.sqrt(variance), False)
    q = _student_t_quantile(confidence, n - 2)
    spread = q * q * variance
    quad = slope**2 - spread / sxx                      # > 0: slope significantly non-zero
    if not quad > 0:
        return InverseVelocityFit(slope, intercept, 0.0, 0.0, 0.0, n, r2, np.sqrt(variance), False)
    disc = max((slope * y_mean) ** 2 - quad * (y_mean**2 - spread / total), 0.0)
    roots = (-slope * y_mean + np.array([-1.0, 1.0]) * np.sqrt(disc)) / quad
    t_f = x_mean - y_mean / slope
    lower, upper = x_mean + float(roots.min()), x_mean + float(roots.max())
    values = np.array([slope, intercept, t_f, lower, upper, r2, variance])
    if not np.all(np.isfinite(values)):
        return InverseVelocityFit.invalid(n)
    return InverseVelocityFit(slope, intercept, t_f, min(lower, t_f), max(upper, t_f), n, r2,
                              float(np.sqrt(variance)), True)


def moving_average(values: object, times: object, valid: object, n: int,
                   segment: object | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Trailing mean of the last ``n`` valid values (same segment), placed at their mean time.

    Returns ``(average, time, ok)`` per sample; ``ok`` is False where fewer
    than ``n`` valid values of the sample's segment end at it.
    """
    v = np.asarray(values, dtype=float).ravel()
    tt = np.asarray(times, dtype=float).ravel()
    ok_in = np.asarray(valid, bool).ravel() & np.isfinite(v) & np.isfinite(tt)
    size = v.size
    seg = np.zeros(size, np.int64) if segment is None else np.asarray(segment).ravel()
    average, when, ok = np.zeros(size), tt.copy(), np.zeros(size, bool)
    idx = np.flatnonzero(ok_in)
    if idx.size < n:
        return average, when, ok
    origin = tt[idx[0]]
    last = idx[n - 1:]
    same = seg[idx[: idx.size - n + 1]] == seg[last]
    if n == 1:
        mean_v, mean_t = v[idx], tt[idx] - origin
    else:
        sum_v = np.cumsum(np.r_[0.0, v[idx]])
        sum_t = np.cumsum(np.r_[0.0, tt[idx] - origin])
        mean_v = (sum_v[n:] - sum_v[:-n]) / n
        mean_t = (sum_t[n:] - sum_t[:-n]) / n
    good = same & np.isfinite(mean_v) & np.isfinite(mean_t)
    average[last] = np.where(good, mean_v, 0.0)
    when[last] = np.where(good, origin + mean_t, tt[last])
    ok[last] = good
    return average, when, ok


@dataclass(frozen=True)
class FailureForecast:
    """Per-sample forecast; times in s (event time), lead in hours, 0 where not reported.

    slope: (day/mm)/day; intercept: 1/v at the sample's time, day/mm.
    sma/lma: smoothed velocities (mm/day) and their validity.
    """

    t: np.ndarray
    reported: np.ndarray
    t_f: np.ndarray
    t_f_lower: np.ndarray
    t_f_upper: np.ndarray
    hours_to_failure: np.ndarray
    slope: np.ndarray
    intercept: np.ndarray
    n_fit: np.ndarray
    r2: np.ndarray
    level: np.ndarray
    sma: np.ndarray
    sma_valid: np.ndarray
    lma: np.ndarray
    lma_valid: np.ndarray
    params: InverseVelocityParams


def forecast_levels(hours_to_failure: object, reported: object,
                    params: InverseVelocityParams) -> np.ndarray:
    """Red below ``red_lead_hours``, orange below ``orange_lead_hours`` (int8 levels)."""
    hours = np.asarray(hours_to_failure, dtype=float)
    level = np.where(hours < params.red_lead_hours, Level.RED,
                     np.where(hours < params.orange_lead_hours, Level.ORANGE, Level.NONE))
    return np.where(np.asarray(reported, bool), level, Level.NONE).astype(np.int8)


def forecast_failure(t: object, velocity: object, *, angle: object,
                     params: InverseVelocityParams | None = None, valid: object | None = None,
                     angle_valid: object | None = None, velocity_time: object | None = None,
                     segment: object | None = None,
                     evaluate_from: object | None = None) -> FailureForecast:
    """Inverse-velocity time of failure at every sample whose tangent angle passed the gate.

    ``t``: sample event times (s or datetime64), ascending; ``velocity``:
    mm/day per sample, observed at ``velocity_time`` (default ``t``);
    ``angle``: tangent angle per sample (degrees). ``evaluate_from`` limits
    the forecasts to samples at or after that event time.
    """
    with np.errstate(all="ignore"):  # extreme inputs end in validity masks, not warnings
        params = params or InverseVelocityParams()
        ts = as_seconds(t).ravel()
        v = np.asarray(velocity, dtype=float).ravel()
        size = ts.size
        vt = ts if velocity_time is None else as_seconds(velocity_time).ravel()
        ok_v = np.isfinite(v) if valid is None else np.asarray(valid, bool).ravel() & np.isfinite(v)
        alpha = np.asarray(angle, dtype=float).ravel()
        ok_a = np.isfinite(alpha) if angle_valid is None else (
            np.asarray(angle_valid, bool).ravel() & np.isfinite(alpha))
        sma, sma_t, sma_ok = moving_average(v, vt, ok_v, params.sma_samples, segment)
        lma, lma_t, lma_ok = moving_average(v, vt, ok_v, params.lma_samples, segment)
        series, series_t, series_ok = (sma, sma_t, sma_ok) if params.fit_on == "sma" else (
            lma, lma_t, lma_ok)
        usable = series_ok & (series > params.min_velocity_mm_per_day)
        inverse = np.where(usable, 1.0 / np.where(usable, series, 1.0), 0.0)
        c_idx = np.flatnonzero(usable)
        c_t = series_t[c_idx]

        out = {name: np.zeros(size) for name in
               ("t_f", "t_f_lower", "t_f_upper", "hours", "slope", "intercept", "r2")}
        n_fit = np.zeros(size, np.int64)
        reported = np.zeros(size, bool)
        gate = ok_a & (alpha >= params.gate_angle_deg)
        if evaluate_from is not None:
            gate &= ts >= event_seconds(evaluate_from)
        window_s = params.fit_window_days * SECONDS_PER_DAY
        # the accelerating part ends the last time the angle was below accelerating_angle_deg
        below = ok_a & (alpha < params.accelerating_angle_deg)
        last_below = np.maximum.accumulate(np.where(below, np.arange(size), -1)) if size else below
        for i in np.flatnonzero(gate):
            start = ts[i] - window_s
            if last_below[i] >= 0:
                start = max(start, ts[last_below[i]])
            hi = int(np.searchsorted(c_idx, i, side="right"))
            lo = int(np.searchsorted(c_t[:hi], start, side="right"))
            if hi - lo < params.min_fit_samples:
                continue
            sel = c_idx[lo:hi]
            weights = None if params.weighting == "none" else series[sel] ** 2
            fit = fit_inverse_velocity((series_t[sel] - ts[i]) / SECONDS_PER_DAY, inverse[sel],
                                       params.confidence, weights)
            n_fit[i] = fit.n
            if not fit.valid:
                continue
            reported[i] = True
            out["t_f"][i] = ts[i] + fit.t_f * SECONDS_PER_DAY
            out["t_f_lower"][i] = ts[i] + fit.lower * SECONDS_PER_DAY
            out["t_f_upper"][i] = ts[i] + fit.upper * SECONDS_PER_DAY
            lead_t = fit.t_f if params.lead_from == "estimate" else fit.lower
            out["hours"][i] = lead_t * 24.0
            out["slope"][i], out["intercept"][i], out["r2"][i] = fit.slope, fit.intercept, fit.r2
        level = forecast_levels(out["hours"], reported, params)
        return FailureForecast(t=ts, reported=reported, t_f=out["t_f"], t_f_lower=out["t_f_lower"],
                               t_f_upper=out["t_f_upper"], hours_to_failure=out["hours"],
                               slope=out["slope"], intercept=out["intercept"], n_fit=n_fit,
                               r2=out["r2"], level=level, sma=sma, sma_valid=sma_ok, lma=lma,
                               lma_valid=lma_ok, params=params)


def forecast_from_kinematics(kin: Kinematics, angle: TangentAngleResult,
                             params: InverseVelocityParams | None = None, *,
                             evaluate_from: object | None = None) -> FailureForecast:
    """``forecast_failure`` on the interval velocities of ``kin``, gated by ``angle``."""
    return forecast_failure(kin.t, kin.interval_velocity, angle=angle.angle, params=params,
                            valid=kin.valid_interval, angle_valid=angle.valid,
                            velocity_time=kin.interval_time, segment=kin.segment,
                            evaluate_from=evaluate_from)
