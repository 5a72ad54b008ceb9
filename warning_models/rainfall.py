"""Rainfall models: accumulations, effective antecedent rainfall, intensity-duration thresholds.

Pure numpy over many points at once: a series is one row of a 2-D array
(points x hours, or points x days). Units: rainfall in mm, intensity in
mm/h, durations in hours, event time in hours (any common origin) or
numpy datetime64.

Levels. An intensity-duration (ID) threshold I = alpha * D^-beta gives the
mean intensity above which landslides or debris flows have been triggered
over a duration D. For each accumulation window D the observed mean
intensity A_D / D is divided by the threshold intensity at the same D; the
largest ratio over the windows inside the threshold's valid range (the
"critical duration") is mapped to a level by ``LevelBounds``. The defaults
(blue 0.7, yellow 1.0, orange 1.5, red 2.5) read: blue when rain approaches
the threshold (attention), yellow when it reaches the intensity at which
landslides have been recorded, orange and red when it exceeds it by half and
by one and a half times, where the catalogues of Caine (1980) and Guzzetti
et al. (2008) show widespread rather than isolated failures. They are a
national default, to be replaced by regional calibration. Optionally the
effective antecedent rainfall P_e gets its own bounds in mm (as Chinese
provincial warning practice grades effective rainfall) and the point takes
the higher of the two levels.

Effective antecedent rainfall P_e = sum_{i=0}^{n-1} K^i P_i (mm), with P_i
the rainfall i days before the reference day (i = 0 is the reference day,
weight 1) and K in (0, 1) the daily decay of the soil's water storage. This
is the "effective rainfall" of Chinese regional warning practice (K = 0.8 to
0.9 over 10 to 20 days; default 0.8 over 15 days): the reference day's rain
plus the antecedent daily rainfall index of Crozier (1999) and Glade et al.
(2000), r_a = sum_{i>=1} K^i P_i, whose sum starts at the day before (their
day 1 weighs K, not 1).

NaN means "no data" and is documented where it can leave a function.

References:
    Caine, N. (1980). The rainfall intensity-duration control of shallow
        landslides and debris flows. Geografiska Annaler A 62(1-2), 23-27.
    Guzzetti, F., Peruccacci, S., Rossi, M., Stark, C.P. (2008). The rainfall
        intensity-duration control of shallow landslides and debris flows:
        an update. Landslides 5(1), 3-17.
    Crozier, M.J. (1999). Prediction of rainfall-triggered landslides: a test
        of the antecedent water status model. Earth Surface Processes and
        Landforms 24(9), 825-833.
    Glade, T., Crozier, M., Smith, P. (2000). Applying probability
        determination to refine landslide-triggering rainfall thresholds
        using an empirical "Antecedent Daily Rainfall Model". Pure and
        Applied Geophysics 157, 1059-1079.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from typing import Annotated

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from warning_models.levels import Level

MODEL_NAME = "rainfall_id"
MODEL_VERSION = "rainfall-id-1.0"
REQUIRES_INPUTS = ("rainfall_mm_hourly", "rainfall_mm_daily")
ACCUMULATION_WINDOWS_H: tuple[float, ...] = (1.0, 3.0, 6.0, 12.0, 24.0, 72.0)

Positive = Annotated[float, Field(gt=0, allow_inf_nan=False)]


class IDThreshold(BaseModel):
    """I = alpha * D^-beta (I in mm/h, D in h), valid for min_duration_h <= D <= max_duration_h."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=64)
    alpha: float = Field(gt=0, le=1000, allow_inf_nan=False)
    beta: float = Field(ge=0, le=2, allow_inf_nan=False)
    min_duration_h: Positive
    max_duration_h: Positive
    reference: str = ""

    @model_validator(mode="after")
    def _range(self) -> IDThreshold:
        if not self.min_duration_h < self.max_duration_h:
            raise ValueError(f"min_duration_h ({self.min_duration_h}) must be below "
                             f"max_duration_h ({self.max_duration_h})")
        return self


CAINE_1980 = IDThreshold(name="caine_1980", alpha=14.82, beta=0.39, min_duration_h=10 / 60,
                         max_duration_h=240.0, reference="Caine (1980), global, 10 min to 10 days")
GUZZETTI_2008 = IDThreshold(name="guzzetti_2008", alpha=2.20, beta=0.44, min_duration_h=0.1,
                            max_duration_h=1000.0,
                            reference="Guzzetti et al. (2008), global minimum, 0.1 to 1000 h")
PUBLISHED_THRESHOLDS: dict[str, IDThreshold] = {t.name: t for t in (CAINE_1980, GUZZETTI_2008)}

# Level of each number of bounds reached (0..4), in the order of LevelBounds.
_LEVELS = np.array([Level.NONE, Level.BLUE, Level.YELLOW, Level.ORANGE, Level.RED], dtype=np.int8)


class LevelBounds(BaseModel):
    """Lower bounds of blue, yellow, orange and red (a ratio, or mm for P_e); strictly increasing."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    blue: Positive
    yellow: Positive
    orange: Positive
    red: Positive

    @model_validator(mode="after")
    def _increasing(self) -> LevelBounds:
        if not self.blue < self.yellow < self.orange < self.red:
            raise ValueError(f"bounds must increase: blue ({self.blue}) < yellow ({self.yellow}) "
                             f"< orange ({self.orange}) < red ({self.red})")
        return self

    def as_array(self) -> np.ndarray:
        return np.array([self.blue, self.yellow, self.orange, self.red], dtype=float)


class AntecedentParameters(BaseModel):
    """k: daily decay coefficient K (dimensionless); days: how many days P_e sums."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    k: float = Field(0.8, gt=0, lt=1, allow_inf_nan=False)
    days: int = Field(15, ge=1, le=90)


class RainfallParameters(BaseModel):
    """Everything the rainfall model is configured by; validated when loaded.

    threshold: a published name ("caine_1980", "guzzetti_2008") or a regional
        mapping {name, alpha, beta, min_duration_h, max_duration_h}.
    windows_h: accumulation windows (h), whole hours >= 1, increasing.
    ratio_bounds: observed / threshold intensity that starts each level.
    effective_rainfall_mm: optional bounds on P_e (mm) for a second level.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    threshold: IDThreshold = CAINE_1980
    windows_h: tuple[Positive, ...] = ACCUMULATION_WINDOWS_H
    ratio_bounds: LevelBounds = LevelBounds(blue=0.7, yellow=1.0, orange=1.5, red=2.5)
    antecedent: AntecedentParameters = AntecedentParameters()
    effective_rainfall_mm: LevelBounds | None = None

    @field_validator("threshold", mode="before")
    @classmethod
    def _published(cls, value: object) -> object:
        if isinstance(value, str):
            if value not in PUBLISHED_THRESHOLDS:
                raise ValueError(f"unknown threshold {value!r}; use one of "
                                 f"{', '.join(PUBLISHED_THRESHOLDS)} or give alpha/beta/range")
            return PUBLISHED_THRESHOLDS[value]
        return value

    @field_validator("windows_h")
    @classmethod
    def _windows(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if not value or any(b <= a for a, b in pairwise(value)):
            raise ValueError(f"windows_h must be non-empty and increasing, got {value}")
        if any(w < 1 or w != round(w) for w in value):
            # accumulations are sums of hourly totals: refused here, not during a storm
            raise ValueError(f"windows_h must be whole hours >= 1, got {value}")
        return value


@dataclass(frozen=True)
class RainfallAssessment:
    """Levels and evidence per point.

    level: ``Level`` values (int8), the higher of ``level_id`` and ``level_pe``.
    ratio: largest observed/threshold intensity ratio over the valid windows
        (dimensionless); NaN = no data (no window with data in the valid range).
    duration_h: the window giving ``ratio`` (h); NaN with it.
    intensity_mm_h, threshold_mm_h: observed and threshold intensity at that
        window (mm/h); NaN with it.
    effective_rainfall_mm: P_e (mm) when daily rainfall was given, else NaN.
    """

    level: np.ndarray
    level_id: np.ndarray
    level_pe: np.ndarray
    ratio: np.ndarray
    duration_h: np.ndarray
    intensity_mm_h: np.ndarray
    threshold_mm_h: np.ndarray
    effective_rainfall_mm: np.ndarray


# -- accumulations -----------------------------------------------------------


def hourly_totals(event_time: np.ndarray, amount_mm: np.ndarray, end: float | np.datetime64,
                  hours: int) -> np.ndarray:
    """Irregular rain reports binned into the ``hours`` hourly totals ending at ``end`` (mm).

    event_time, amount_mm: (points, reports), NaN-padded; each amount is the
    rain of the interval ending at its event time (a gauge's report), so a
    report at t falls in the hour (h - 1, h] holding t. Reports outside the
    span, and NaN amounts, are ignored; hours without a report hold 0 mm (a
    tipping-bucket gauge reports only when it rains). Times are hours (float)
    or datetime64, ``end`` likewise. Returns (points, hours), oldest first.
    """
    amount = np.atleast_2d(np.asarray(amount_mm, dtype=float))
    before_h = _hours_before_end(np.atleast_2d(np.asarray(event_time)), end)
    if amount.shape != before_h.shape:
        raise ValueError(f"event_time and amount_mm differ in shape ({before_h.shape}, {amount.shape})")
    if np.any(amount < 0):
        raise ValueError("rainfall amounts must be >= 0 mm")
    # Hour bin counted back from the end: (end-1, end] is bin hours-1.
    with np.errstate(invalid="ignore"):
        back = np.floor(-before_h)
        keep = np.isfinite(amount) & np.isfinite(back) & (back >= 0) & (back < hours)
    rows = np.broadcast_to(np.arange(amount.shape[0])[:, None], amount.shape)[keep]
    bins = hours - 1 - back[keep].astype(np.int64)
    flat = np.bincount(rows * hours + bins, weights=amount[keep], minlength=amount.shape[0] * hours)
    return flat.reshape(amount.shape[0], hours)


def rolling_accumulations(hourly_mm: np.ndarray,
                          windows_h: tuple[float, ...] = ACCUMULATION_WINDOWS_H) -> np.ndarray:
    """Trailing sums (mm) of each window ending at every hour: (points, windows, hours).

    hourly_mm: (points, hours) or (hours,), oldest first, mm per hour. NaN
    (no data) where the window reaches before the first hour or holds a
    missing (NaN) hour.
    """
    rain = _check_rain(np.atleast_2d(np.asarray(hourly_mm, dtype=float)))
    widths = _integer_hours(windows_h)
    points, hours = rain.shape
    total = np.concatenate([np.zeros((points, 1)), np.cumsum(np.nan_to_num(rain), axis=1)], axis=1)
    gaps = np.concatenate([np.zeros((points, 1)), np.cumsum(np.isnan(rain), axis=1)], axis=1)
    out = np.full((points, widths.size, hours), np.nan)
    for j, w in enumerate(widths):
        if w <= hours:
            sums = total[:, w:] - total[:, :-w]
            missing = (gaps[:, w:] - gaps[:, :-w]) > 0
            out[:, j, w - 1:] = np.where(missing, np.nan, sums)
    return out


def latest_accumulations(hourly_mm: np.ndarray,
                         windows_h: tuple[float, ...] = ACCUMULATION_WINDOWS_H) -> np.ndarray:
    """Sums (mm) over the last w hours of each series: (points, windows).

    Same rules as ``rolling_accumulations`` at the last hour (NaN = no data),
    without computing the other hours.
    """
    rain = _check_rain(np.atleast_2d(np.asarray(hourly_mm, dtype=float)))
    widths = _integer_hours(windows_h)
    tail = rain[:, ::-1][:, : int(widths.max())]          # newest first
    total = np.cumsum(np.nan_to_num(tail), axis=1)
    gaps = np.cumsum(np.isnan(tail), axis=1)
    out = np.full((rain.shape[0], widths.size), np.nan)
    fits = widths <= tail.shape[1]
    idx = widths[fits] - 1
    out[:, fits] = np.where(gaps[:, idx] > 0, np.nan, total[:, idx])
    return out


def effective_antecedent_rainfall(daily_mm: np.ndarray, k: float = 0.8) -> np.ndarray:
    """P_e = sum_{i>=0} K^i P_i (mm) per point: the reference day's rain plus the antecedent
    daily rainfall index of Crozier (1999) and Glade et al. (2000) (module docstring).

    daily_mm: (points, days) or (days,); column i holds the rainfall i days
    before the reference day (column 0 = the reference day, weight 1).
    k: decay per day, 0 < K < 1. NaN (no data) where any day is missing.
    """
    if not 0 < k < 1:
        raise ValueError(f"K must lie in (0, 1), got {k}")
    rain = _check_rain(np.atleast_2d(np.asarray(daily_mm, dtype=float)))
    weights = k ** np.arange(rain.shape[1], dtype=float)
    return rain @ weights


# -- thresholds and levels ---------------------------------------------------


def threshold_intensity(threshold: IDThreshold, duration_h: np.ndarray) -> np.ndarray:
    """Threshold mean intensity I = alpha * D^-beta (mm/h) at durations D (h).

    NaN outside the threshold's valid duration range: the published curve
    says nothing there, and extrapolating it would invent a threshold.
    """
    d = np.asarray(duration_h, dtype=float)
    valid = (d >= threshold.min_duration_h) & (d <= threshold.max_duration_h)
    safe = np.where(valid, d, 1.0)
    return np.where(valid, threshold.alpha * safe ** -threshold.beta, np.nan)


def levels_from_ratio(ratio: np.ndarray, bounds: LevelBounds) -> np.ndarray:
    """Level (int8) of each ratio: the highest level whose lower bound it reaches; NaN -> NONE."""
    r = np.asarray(ratio, dtype=float)
    index = np.searchsorted(bounds.as_array(), np.nan_to_num(r, nan=-np.inf), side="right")
    return _LEVELS[index]


def assess_rainfall(accumulations_mm: np.ndarray, durations_h: np.ndarray,
                    params: RainfallParameters,
                    effective_rainfall_mm: np.ndarray | None = None) -> RainfallAssessment:
    """Levels from accumulations (mm) over ``durations_h`` (h): (points, windows) and (windows,).

    The ratio is taken at each window inside the threshold's valid range and
    the largest wins (see the module docstring). NaN accumulations are no
    data for that window; a point with no window of data gets Level.NONE and
    NaN evidence. ``effective_rainfall_mm`` (points,) adds the P_e level when
    ``params.effective_rainfall_mm`` is configured.
    """
    acc = _check_rain(np.atleast_2d(np.asarray(accumulations_mm, dtype=float)))
    durations = np.asarray(durations_h, dtype=float).ravel()
    if acc.shape[1] != durations.size or np.any(durations <= 0):
        raise ValueError(f"need one positive duration per column: {acc.shape[1]} columns, "
                         f"durations {durations}")
    threshold = threshold_intensity(params.threshold, durations)       # (windows,)
    intensity = acc / durations
    ratio = intensity / np.where(np.isnan(threshold), np.inf, threshold)
    ratio = np.where(np.isnan(threshold) | np.isnan(acc), -np.inf, ratio)
    best = np.argmax(ratio, axis=1)
    rows = np.arange(acc.shape[0])
    has_data = np.isfinite(ratio[rows, best])

    def pick(values: np.ndarray) -> np.ndarray:
        return np.where(has_data, values, np.nan)

    best_ratio = pick(ratio[rows, best])
    level_id = levels_from_ratio(best_ratio, params.ratio_bounds)
    if effective_rainfall_mm is None:
        p_e = np.full(acc.shape[0], np.nan)
    else:
        p_e = np.broadcast_to(np.asarray(effective_rainfall_mm, dtype=float), (acc.shape[0],))
    bounds = params.effective_rainfall_mm
    level_pe = (levels_from_ratio(p_e, bounds) if bounds is not None
                else np.zeros(acc.shape[0], dtype=np.int8))
    return RainfallAssessment(
        level=np.maximum(level_id, level_pe), level_id=level_id, level_pe=level_pe,
        ratio=best_ratio, duration_h=pick(durations[best]),
        intensity_mm_h=pick(intensity[rows, best]), threshold_mm_h=pick(threshold[best]),
        effective_rainfall_mm=p_e.copy())


def assess_hourly(hourly_mm: np.ndarray, params: RainfallParameters,
                  daily_mm: np.ndarray | None = None) -> RainfallAssessment:
    """``assess_rainfall`` on the latest accumulations of hourly series (points, hours), mm.

    daily_mm (points, days; column 0 = today) adds P_e over ``params.antecedent``.
    """
    acc = latest_accumulations(hourly_mm, params.windows_h)
    p_e = None
    if daily_mm is not None:
        days = np.atleast_2d(np.asarray(daily_mm, dtype=float))[:, : params.antecedent.days]
        p_e = effective_antecedent_rainfall(days, params.antecedent.k)
    return assess_rainfall(acc, np.asarray(params.windows_h), params, p_e)


# -- helpers -----------------------------------------------------------------


def _check_rain(rain: np.ndarray) -> np.ndarray:
    if rain.ndim != 2:
        raise ValueError(f"expected (points, steps), got shape {rain.shape}")
    if np.any(rain < 0):
        raise ValueError("rainfall must be >= 0 mm (NaN marks missing data)")
    return rain


def _integer_hours(windows_h: tuple[float, ...]) -> np.ndarray:
    widths = np.asarray(windows_h, dtype=float)
    if widths.size == 0 or np.any(widths < 1) or np.any(widths != np.round(widths)):
        raise ValueError(f"windows over an hourly series must be whole hours >= 1, got {windows_h}")
    return widths.astype(np.int64)


def _hours_before_end(event_time: np.ndarray, end: float | np.datetime64) -> np.ndarray:
    """event_time - end in hours (<= 0 before the end); NaT/NaN stay NaN."""
    if np.issubdtype(event_time.dtype, np.datetime64):
        delta = (event_time - np.datetime64(end)) / np.timedelta64(1, "h")
        return np.asarray(delta, dtype=float)
    return event_time.astype(float) - float(end)


__all__ = [
    "ACCUMULATION_WINDOWS_H", "CAINE_1980", "GUZZETTI_2008", "MODEL_NAME",
    "MODEL_VERSION", "PUBLISHED_THRESHOLDS", "REQUIRES_INPUTS", "AntecedentParameters",
    "IDThreshold", "LevelBounds", "RainfallAssessment", "RainfallParameters", "assess_hourly",
    "assess_rainfall", "effective_antecedent_rainfall", "hourly_totals", "latest_accumulations",
    "levels_from_ratio", "rolling_accumulations", "threshold_intensity",
]
