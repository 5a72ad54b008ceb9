"""First deformation model: velocity over a window against per-kind thresholds.

Pure numpy over many sensors at once. A sensor's recent samples are one row
of 2-D arrays ``t_days`` (event time, days, any common origin), ``values``
(canonical unit) and ``valid`` (which cells hold a sample); the order of the
cells in a row does not matter. The window of a row is every valid sample
within ``window_hours`` of the row's newest sample.

Velocity is the ordinary least-squares slope of cumulative displacement
against time over the window (mm/day), the estimator used for GNSS and crack
meter series before the tangent-angle criterion is applied (Xu et al. 2009,
who compute the tangent angle from this velocity divided by the uniform
creep velocity). A row with fewer than ``min_samples`` samples in the window,
or whose samples span less than ``min_span_fraction`` of the window, is
"insufficient": it gets ``NO_LEVEL`` (-1) rather than a level.

Every model has the same contract (``DeformationModel``): it declares the
sensor kinds it scores (``KINDS``), takes one kind's rows at a time and
returns levels (``warning_models.levels.Level`` values, ``NO_LEVEL`` when it
cannot tell) plus the numbers for the evidence.

The scorer now runs the site model (``warning_models.site_batch``,
``site_forecast``, ``site_fusion``): the same per-kind thresholds
(``warning_models.thresholds``, now also per hazard type) judged on
confidence bounds of the velocity, beside the improved tangent angle and
the inverse-velocity forecast (Fukuzono 1985 / Voight 1988). This module
stays the plain "velocity over a window" model and the helpers it shares.

References:
    Xu, Q., Zeng, Y., Qian, J., Wang, C., He, C. (2009). Study on a improved
        tangential angle and the corresponding landslide pre-warning
        criteria. Geological Bulletin of China 28(4), 501-505.
    Fukuzono, T. (1985). A new method for predicting the failure time of a
        slope. Proc. 4th Int. Conf. and Field Workshop on Landslides, Tokyo, 145-150.
    Voight, B. (1988). A method for prediction of volcanic eruptions.
        Nature 332, 125-130.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from warning_models.levels import Level
from warning_models.thresholds import LevelThresholds, VelocityParameters, VelocityThresholds

NO_LEVEL = -1
"""Level value of a sensor whose data cannot support a judgement ("insufficient")."""

HOURS_PER_DAY = 24.0


@dataclass(frozen=True)
class WindowSlope:
    """Least-squares slope over each row's window.

    slope: unit of the values per day; NaN where insufficient.
    samples: samples in the window.
    span_days: time between the oldest and newest sample in the window (days).
    sufficient: enough samples over a long enough span.
    """

    slope: np.ndarray
    samples: np.ndarray
    span_days: np.ndarray
    sufficient: np.ndarray


@dataclass(frozen=True)
class Moments:
    """Sufficient statistics of each row's window, times in days relative to a row origin.

    n: samples; st, sv: sums of t and of the values; stt, stv: sums of t*t and
    t*value; t_min, t_max: oldest and newest sample time (days). Sums over
    disjoint sets of samples add up, so a caller can keep them per time bin
    and add the bins of a window (``streams.scorer_state`` does).
    """

    n: np.ndarray
    st: np.ndarray
    sv: np.ndarray
    stt: np.ndarray
    stv: np.ndarray
    t_min: np.ndarray
    t_max: np.ndarray


@dataclass(frozen=True)
class SeriesWindow:
    """What a model sees of each sensor (one row per sensor).

    moments: the window's sufficient statistics (for least-squares fits).
    last_value, previous_value: the newest sample and the one before it
        (NaN when there is none), in the kind's canonical unit.
    """

    moments: Moments
    last_value: np.ndarray
    previous_value: np.ndarray


def window_mask(t_days: np.ndarray, valid: np.ndarray, window_hours: float) -> np.ndarray:
    """Cells that lie within ``window_hours`` of their row's newest valid sample."""
    t = np.asarray(t_days, dtype=float)
    ok = np.asarray(valid, dtype=bool)
    newest = np.max(np.where(ok, t, -np.inf), axis=1, keepdims=True)
    return ok & (t >= newest - window_hours / HOURS_PER_DAY)


def window_moments(t_days: np.ndarray, values: np.ndarray, valid: np.ndarray, *,
                   window_hours: float) -> Moments:
    """Moments of the samples within ``window_hours`` of each row's newest sample.

    Args:
        t_days: (n, k) event times in days (any common origin).
        values: (n, k) observations.
        valid: (n, k) True where a cell holds a sample.
    Times are taken relative to each row's newest sample, so times since 1970
    lose no precision.
    """
    t = np.asarray(t_days, dtype=float)
    x = np.asarray(values, dtype=float)
    inside = window_mask(t, valid, window_hours)
    newest = np.max(np.where(inside, t, -np.inf), axis=1, keepdims=True)
    rel = np.where(inside, t - np.where(np.isfinite(newest), newest, 0.0), 0.0)
    x_in = np.where(inside, x, 0.0)
    return Moments(n=inside.sum(axis=1), st=rel.sum(axis=1), sv=x_in.sum(axis=1),
                   stt=(rel * rel).sum(axis=1), stv=(rel * x_in).sum(axis=1),
                   t_min=np.min(np.where(inside, rel, np.inf), axis=1, initial=np.inf),
                   t_max=np.max(np.where(inside, rel, -np.inf), axis=1, initial=-np.inf))


def slope_from_moments(m: Moments, *, window_hours: float, min_samples: int = 3,
                       min_span_fraction: float = 0.25) -> WindowSlope:
    """Ordinary least-squares slope (value unit per day) from window moments.

    slope = (n Σtv - Σt Σv) / (n Σtt - (Σt)²). Rows with fewer than
    ``min_samples`` samples, or spanning less than ``min_span_fraction`` of
    ``window_hours``, are insufficient (slope NaN).
    """
    n = np.asarray(m.n, dtype=float)
    st = np.asarray(m.st, dtype=float)
    sxx = n * np.asarray(m.stt, dtype=float) - st * st
    sxy = n * np.asarray(m.stv, dtype=float) - st * np.asarray(m.sv, dtype=float)
    span = np.where(n > 0, np.asarray(m.t_max, dtype=float) - np.asarray(m.t_min, dtype=float), 0.0)
    sufficient = (n >= min_samples) & (span >= min_span_fraction * window_hours / HOURS_PER_DAY)
    sufficient &= sxx > 0
    slope = np.where(sufficient, sxy / np.where(sxx > 0, sxx, 1.0), np.nan)
    return WindowSlope(slope=slope, samples=np.asarray(m.n), span_days=span, sufficient=sufficient)


def windowed_slope(t_days: np.ndarray, values: np.ndarray, valid: np.ndarray, *,
                   window_hours: float, min_samples: int = 3,
                   min_span_fraction: float = 0.25) -> WindowSlope:
    """Least-squares slope of ``values`` on ``t_days`` over each row's window.

    Args:
        t_days: (n, k) event times in days (any common origin); order within a row is free.
        values: (n, k) observations; the slope is in their unit per day.
        valid: (n, k) True where a cell holds a sample.
        window_hours: window length ending at each row's newest sample (h).
        min_samples: fewer samples in the window are insufficient.
        min_span_fraction: the window's samples must span at least this
            fraction of ``window_hours``.
    """
    moments = window_moments(t_days, values, valid, window_hours=window_hours)
    return slope_from_moments(moments, window_hours=window_hours, min_samples=min_samples,
                              min_span_fraction=min_span_fraction)


def confirmed_level(last_value: np.ndarray, previous_value: np.ndarray) -> np.ndarray:
    """The smaller of a gauge's newest two values, so one spike raises no warning.

    NaN where there is no previous value.
    """
    last = np.asarray(last_value, dtype=float)
    previous = np.asarray(previous_value, dtype=float)
    return np.where(np.isnan(previous) | np.isnan(last), np.nan, np.minimum(last, previous))


def series_window(t_days: np.ndarray, values: np.ndarray, valid: np.ndarray, *,
                  window_hours: float) -> SeriesWindow:
    """A ``SeriesWindow`` from raw (n, k) samples, e.g. for tests and offline scoring."""
    t = np.asarray(t_days, dtype=float)
    x = np.asarray(values, dtype=float)
    ok = np.asarray(valid, dtype=bool)
    moments = window_moments(t, x, ok, window_hours=window_hours)
    if t.shape[0] == 0 or t.shape[1] == 0:
        empty = np.full(t.shape[0], np.nan)
        return SeriesWindow(moments, empty, empty)
    order = np.argsort(np.where(ok, t, -np.inf), axis=1)
    count = ok.sum(axis=1)
    last = np.take_along_axis(x, order[:, -1:], axis=1)[:, 0]
    prev = np.take_along_axis(x, order[:, -2:-1], axis=1)[:, 0] if t.shape[1] > 1 else last
    return SeriesWindow(moments, np.where(count >= 1, last, np.nan),
                        np.where(count >= 2, prev, np.nan))


def classify(indicator: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Level (0 none .. 4 red) of each indicator value against ascending bounds.

    Args:
        indicator: (n,) values in the thresholds' unit; NaN gives ``NO_LEVEL``.
        thresholds: (4,) lower bounds of blue, yellow, orange, red.
    """
    v = np.asarray(indicator, dtype=float)
    bounds = np.asarray(thresholds, dtype=float)
    level = (v[:, None] >= bounds[None, :]).sum(axis=1).astype(np.int8)
    return np.where(np.isnan(v), np.int8(NO_LEVEL), level).astype(np.int8)


@dataclass(frozen=True)
class KindResult:
    """One kind's rows judged by a model.

    levels: int8, ``Level`` values, ``NO_LEVEL`` (-1) where insufficient.
    value: the indicator (signed, in ``unit``); NaN where insufficient.
    samples: samples in each row's window.
    name, unit: what ``value`` is.
    thresholds: the bounds that judged it, in ``unit``.
    window_hours: the window.
    """

    levels: np.ndarray
    value: np.ndarray
    samples: np.ndarray
    name: str
    unit: str
    thresholds: dict[str, float]
    window_hours: float


class DeformationModel(Protocol):
    """The contract of every point-sensor model the scorer runs."""

    name: str
    version: str
    KINDS: frozenset[str]
    window_hours: float

    def evaluate(self, kind: str, window: SeriesWindow) -> KindResult: ...


@dataclass(frozen=True)
class _Indicator:
    name: str
    unit: str


_DISPLACEMENT = _Indicator("velocity", "mm/d")
INDICATORS: dict[str, _Indicator] = {
    "gnss": _DISPLACEMENT,
    "crack": _DISPLACEMENT,
    "inclinometer": _DISPLACEMENT,
    "extensometer": _DISPLACEMENT,
    "tilt": _Indicator("tilt_rate", "degrees/d"),
    "pore_pressure": _Indicator("pore_pressure_rise", "kPa"),
    "mud_level": _Indicator("mud_level", "mm"),
}


class VelocityModel:
    """Velocity (rate) over a window against per-kind thresholds.

    - displacement kinds: |least-squares velocity| in mm/day;
    - tilt: |least-squares tilt rate| in degrees/day;
    - pore_pressure: rise over the window, least-squares slope (kPa/day)
      times the window length in days; a falling pressure gives no warning;
    - mud_level: the smaller of the two newest levels (mm): a level counts once
      the next reading confirms it.

    rain_gauge and soil_moisture are not scored (rainfall models come later).
    ``version`` changes with the parameters and thresholds, so assessment ids
    of a recalibrated model differ from the old ones.
    """

    name = "deformation-velocity"
    KINDS = frozenset(INDICATORS)

    def __init__(self, thresholds: VelocityThresholds | None = None,
                 parameters: VelocityParameters | None = None) -> None:
        self.thresholds = thresholds or VelocityThresholds()
        self.parameters = parameters or VelocityParameters()
        digest = hashlib.sha256(json.dumps(
            {"thresholds": self.thresholds.digest_payload(),
             "parameters": self.parameters.model_dump()},
            sort_keys=True).encode()).hexdigest()[:10]
        self.version = f"1+{digest}"

    @property
    def window_hours(self) -> float:
        return self.parameters.window_hours

    def evaluate(self, kind: str, window: SeriesWindow) -> KindResult:
        """Judge one kind's rows; see the class docstring for the indicator of each kind."""
        bounds: LevelThresholds | None = self.thresholds.for_kind(kind)
        if bounds is None or kind not in INDICATORS:
            raise ValueError(f"the {self.name} model does not score {kind!r} sensors")
        p = self.parameters
        spec = INDICATORS[kind]
        samples = np.asarray(window.moments.n)
        if kind == "mud_level":
            value = confirmed_level(window.last_value, window.previous_value)
            judged = value
        else:
            fit = slope_from_moments(window.moments, window_hours=p.window_hours,
                                     min_samples=p.min_samples,
                                     min_span_fraction=p.min_span_fraction)
            if kind == "pore_pressure":
                value = fit.slope * (p.window_hours / HOURS_PER_DAY)
                judged = np.where(np.isnan(value), np.nan, np.clip(value, 0.0, None))
            else:
                value = fit.slope
                judged = np.abs(value)
        return KindResult(levels=classify(judged, bounds.as_array()), value=value, samples=samples,
                          name=spec.name, unit=spec.unit, thresholds=bounds.as_dict(),
                          window_hours=p.window_hours)

    def evaluate_samples(self, kind: str, t_days: np.ndarray, values: np.ndarray,
                         valid: np.ndarray) -> KindResult:
        """``evaluate`` on raw (n, k) samples (times in days, any order within a row)."""
        return self.evaluate(kind, series_window(t_days, values, valid,
                                                 window_hours=self.parameters.window_hours))


def point_levels(sensor_levels: np.ndarray, sensor_point: np.ndarray, n_points: int) -> np.ndarray:
    """Per-point level: the maximum over the point's sensors (``NO_LEVEL`` if none can tell)."""
    levels = np.asarray(sensor_levels, dtype=np.int8)
    out = np.full(n_points, NO_LEVEL, dtype=np.int8)
    np.maximum.at(out, np.asarray(sensor_point, dtype=np.int64), levels)
    return out


__all__ = ["NO_LEVEL", "DeformationModel", "KindResult", "Level", "Moments", "SeriesWindow",
           "VelocityModel", "WindowSlope", "classify", "confirmed_level", "point_levels",
           "series_window", "slope_from_moments", "window_mask", "window_moments",
           "windowed_slope"]
