"""Data quality of sensor series: duplicates, spikes, stuck sensors, gaps, offline sensors.

Every function here is pure: arrays in, flags and reasons out. Time is event
time (float seconds since 1970-01-01T00:00:00Z, or ``datetime64``), never the
wall clock: whoever asks whether a sensor is offline passes ``now``, the event
time of the newest data seen across the stream, so a replay of last year's
data flags the same sensors as the live run did.

Methods
-------
- Spikes: Hampel identifier, a centred rolling median and its median absolute
  deviation (MAD) over ``window`` samples; a sample is a spike when
  ``|x - median| > max(k * 1.4826 * MAD, min_deviation)``.
  Hampel, F. R. (1974), "The influence curve and its role in robust
  estimation", J. Am. Stat. Assoc. 69(346), 383-393; Pearson, R. K. (2002),
  "Outliers in process modeling and identification", IEEE Trans. Control
  Syst. Technol. 10(1), 55-63. The window is centred, so the flags of the
  newest ``window // 2`` samples are provisional: they use fewer neighbours
  until later samples arrive.
- Stuck sensor: a run of consecutive samples whose successive changes are all
  within ``stuck_epsilon`` (sensor units), lasting ``stuck_min_samples``
  samples or ``stuck_min_span_s`` seconds (either criterion, when set).
- Offline sensor: silent for more than ``missed_intervals`` expected
  reporting intervals before ``now`` (event time). A sensor that never
  reported is its own status. A point whose sensors are all silent has
  "no data", which is not the same as level "none".

Units: the value unit of a series is the sensor's canonical unit (mm for
displacement kinds); ``stuck_epsilon`` and ``min_deviation`` are in that unit.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from enum import IntFlag
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

MODEL_NAME = "quality"
MODEL_VERSION = "quality-1.0"
REQUIRES_INPUTS = ("time_s", "value")
CITATION = ("Hampel (1974) J. Am. Stat. Assoc. 69:383-393; "
            "Pearson (2002) IEEE Trans. Control Syst. Technol. 10:55-63")

MAD_TO_SIGMA = 1.4826
"""Scale factor from the MAD to the standard deviation of a normal distribution."""


class QualityFlag(IntFlag):
    """Per-sample quality flags (bits of a uint8 array)."""

    OK = 0
    DUPLICATE = 1    # several readings had this exact time; their median was kept
    SPIKE = 2        # Hampel outlier, excluded from rates
    STUCK = 4        # part of a run of unchanged values
    GAP_BEFORE = 8   # the previous sample is more than ``gap_s`` earlier


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SpikeParams(_Params):
    """Hampel identifier settings."""

    window: int = Field(9, ge=3, le=101, description="samples in the centred window (odd)")
    k: float = Field(3.5, gt=0, le=50, description="threshold in robust standard deviations")
    min_deviation: float = Field(
        0.0, ge=0, description="never call a deviation smaller than this a spike (sensor units)")
    min_window_samples: int = Field(
        5, ge=3, description="samples a window needs before anything in it is judged")

    @model_validator(mode="after")
    def _check(self) -> SpikeParams:
        if self.window % 2 == 0:
            raise ValueError(f"spike window must be odd, got {self.window}")
        if self.min_window_samples > self.window:
            raise ValueError("min_window_samples cannot exceed window")
        return self


class QualityParams(_Params):
    """Quality thresholds of one sensor (or sensor type)."""

    spikes: SpikeParams = SpikeParams()
    stuck_epsilon: float = Field(1e-6, ge=0, description="largest change still 'the same value'")
    stuck_min_samples: int | None = Field(48, ge=2, description="run length that counts as stuck")
    stuck_min_span_s: float | None = Field(None, gt=0,
                                           description="run duration that counts as stuck")
    gap_s: float = Field(6 * 3600.0, gt=0, description="a longer silence between samples is a gap")
    missed_intervals: int = Field(3, ge=1, le=10_000,
                                  description="missed reporting intervals before 'offline'")

    @model_validator(mode="after")
    def _check(self) -> QualityParams:
        if self.stuck_min_samples is None and self.stuck_min_span_s is None:
            raise ValueError("set stuck_min_samples or stuck_min_span_s (or both)")
        return self


# --------------------------------------------------------------------------- time


def _scalar_seconds(value: object) -> float:
    if value is None:
        return float("nan")
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None:
            raise ValueError(f"event time {value!r} must carry a time zone (UTC)")
        return value.timestamp()
    if isinstance(value, np.datetime64):
        return float(as_seconds(np.asarray([value]))[0])
    if isinstance(value, str):
        raise TypeError(f"event time {value!r}: pass seconds, datetime64 or an aware datetime")
    return float(value)  # type: ignore[arg-type]


def as_seconds(t: object) -> np.ndarray:
    """Event times as float seconds since 1970-01-01T00:00:00Z (a new array).

    Accepts numbers (already seconds), ``datetime64`` of any unit (NaT becomes
    NaN, which callers drop), or time-zone-aware ``datetime`` objects.
    """
    arr = np.asarray(t)
    if arr.dtype.kind == "M":
        ns = arr.astype("datetime64[ns]")
        out = ns.astype(np.int64).astype(float) / 1e9
        return np.where(np.isnat(ns), np.nan, out)
    if arr.dtype.kind == "O":
        flat = [_scalar_seconds(v) for v in arr.ravel()]
        return np.asarray(flat, dtype=float).reshape(arr.shape)
    return np.array(arr, dtype=float)


def event_seconds(value: object) -> float:
    """One event time (number, ``datetime64`` or aware ``datetime``) as float seconds."""
    return _scalar_seconds(value)


# --------------------------------------------------------------------------- series


@dataclass(frozen=True)
class PreparedSeries:
    """A series sorted by time with one value per time.

    ``multiplicity[i]`` is how many input readings had time ``t[i]`` (their
    median is ``x[i]``); ``n_dropped`` counts readings with a non-finite time
    or value.
    """

    t: np.ndarray
    x: np.ndarray
    multiplicity: np.ndarray
    n_input: int
    n_dropped: int


def prepare_series(t: object, x: object) -> PreparedSeries:
    """Sort by event time, drop non-finite readings, merge equal times by their median.

    The result does not depend on the order of the input: ties are broken by
    value before the median is taken.
    """
    ts = as_seconds(t).ravel()
    xs = np.array(x, dtype=float).ravel()
    if ts.shape != xs.shape:
        raise ValueError(f"time and value differ in length: {ts.size} != {xs.size}")
    finite = np.isfinite(ts) & np.isfinite(xs)
    ts, xs = ts[finite], xs[finite]
    order = np.lexsort((xs, ts))
    ts, xs = ts[order], xs[order]
    if ts.size == 0:
        empty = np.zeros(0)
        return PreparedSeries(empty, empty.copy(), np.zeros(0, dtype=np.int64),
                              int(finite.size), int(finite.size))
    starts = np.flatnonzero(np.r_[True, np.diff(ts) != 0])
    counts = np.diff(np.r_[starts, ts.size])
    median = 0.5 * xs[starts + (counts - 1) // 2] + 0.5 * xs[starts + counts // 2]
    return PreparedSeries(ts[starts], median, counts, int(finite.size),
                          int(finite.size - finite.sum()))


def split_segments(t: np.ndarray, max_gap_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Segment id per sample of a sorted time array, and the gaps as ``(k, 2)`` [start, end] s.

    A gap is a step between consecutive samples longer than ``max_gap_s``.
    """
    t = np.asarray(t, dtype=float)
    if t.size == 0:
        return np.zeros(0, dtype=np.int64), np.zeros((0, 2))
    breaks = np.diff(t) > max_gap_s
    segment = np.r_[0, np.cumsum(breaks)].astype(np.int64)
    where = np.flatnonzero(breaks)
    gaps = np.column_stack([t[where], t[where + 1]]) if where.size else np.zeros((0, 2))
    return segment, gaps


def _row_median(values: np.ndarray, count: np.ndarray) -> np.ndarray:
    """Median of the first ``count`` entries of each row of a NaN-padded, row-sorted array."""
    rows = np.arange(values.shape[0])
    lo = np.maximum((count - 1) // 2, 0)
    hi = np.maximum(count // 2, 0)
    return 0.5 * values[rows, lo] + 0.5 * values[rows, hi]


def hampel_spikes(x: object, params: SpikeParams | None = None,
                  segment: object | None = None) -> np.ndarray:
    """Boolean spike mask of a time-sorted series (Hampel 1974; Pearson 2002).

    The centred window of ``params.window`` samples never crosses a segment
    boundary (a gap). Windows with fewer than ``min_window_samples`` samples
    judge nothing. For a monotone series the window median is the centre
    value, so a steady trend is never mistaken for spikes.
    """
    params = params or SpikeParams()
    xs = np.asarray(x, dtype=float).ravel()
    n = xs.size
    if n == 0:
        return np.zeros(0, dtype=bool)
    seg = np.zeros(n, dtype=np.int64) if segment is None else np.asarray(segment).ravel()
    half = params.window // 2
    idx = np.arange(n)[:, None] + np.arange(-half, half + 1)[None, :]
    inside = (idx >= 0) & (idx < n)
    clipped = np.clip(idx, 0, n - 1)
    inside &= seg[clipped] == seg[:, None]
    window = np.sort(np.where(inside, xs[clipped], np.nan), axis=1)
    count = inside.sum(axis=1)
    median = _row_median(window, count)
    deviation = np.sort(np.abs(window - median[:, None]), axis=1)
    mad = _row_median(deviation, count)
    limit = np.maximum(params.k * MAD_TO_SIGMA * mad, params.min_deviation)
    return (count >= params.min_window_samples) & (np.abs(xs - median) > limit)


def stuck_mask(t: object, x: object, params: QualityParams | None = None) -> np.ndarray:
    """Samples that belong to a run of unchanged values (time-sorted input).

    A run is a maximal sequence whose successive changes are all at most
    ``stuck_epsilon``; it is stuck when it has ``stuck_min_samples`` samples
    or lasts ``stuck_min_span_s`` seconds (whichever criteria are set).
    """
    params = params or QualityParams()
    ts = as_seconds(t).ravel()
    xs = np.asarray(x, dtype=float).ravel()
    if xs.size < 2:
        return np.zeros(xs.size, dtype=bool)
    same = np.abs(np.diff(xs)) <= params.stuck_epsilon
    run = np.r_[0, np.cumsum(~same)]                  # run id per sample
    first = np.flatnonzero(np.r_[True, run[1:] != run[:-1]])
    last = np.r_[first[1:] - 1, xs.size - 1]
    length = last - first + 1
    span = ts[last] - ts[first]
    stuck = np.zeros(first.size, dtype=bool)
    if params.stuck_min_samples is not None:
        stuck |= length >= params.stuck_min_samples
    if params.stuck_min_span_s is not None:
        stuck |= (span >= params.stuck_min_span_s) & (length >= 2)
    return stuck[run]


@dataclass(frozen=True)
class SeriesQuality:
    """Quality of one sensor series: per-sample flags (``QualityFlag`` bits) and reasons."""

    t: np.ndarray
    x: np.ndarray
    flags: np.ndarray
    reasons: tuple[str, ...]
    n_input: int
    n_dropped: int
    gaps: np.ndarray

    def count(self, flag: QualityFlag) -> int:
        return int(np.count_nonzero(self.flags & int(flag)))

    @property
    def stuck_now(self) -> bool:
        """Whether the newest sample belongs to a stuck run."""
        return bool(self.flags.size and self.flags[-1] & QualityFlag.STUCK)


def assess_series(t: object, x: object, params: QualityParams | None = None) -> SeriesQuality:
    """Flag duplicates, spikes, stuck runs and gaps of one sensor's series.

    Input may be unsorted and contain duplicates; the result is the same for
    any order of the input.
    """
    with np.errstate(all="ignore"):  # extreme inputs end in validity masks, not warnings
        params = params or QualityParams()
        prepared = prepare_series(t, x)
        segment, gaps = split_segments(prepared.t, params.gap_s)
        flags = np.zeros(prepared.t.size, dtype=np.uint8)
        flags |= np.where(prepared.multiplicity > 1, QualityFlag.DUPLICATE, 0).astype(np.uint8)
        spikes = hampel_spikes(prepared.x, params.spikes, segment)
        flags |= np.where(spikes, QualityFlag.SPIKE, 0).astype(np.uint8)
        stuck = stuck_mask(prepared.t, prepared.x, params)
        flags |= np.where(stuck, QualityFlag.STUCK, 0).astype(np.uint8)
        gap_before = np.r_[False, np.diff(segment) > 0] if segment.size else np.zeros(0, bool)
        flags |= np.where(gap_before, QualityFlag.GAP_BEFORE, 0).astype(np.uint8)

        reasons: list[str] = []
        if prepared.n_dropped:
            reasons.append(f"{prepared.n_dropped} reading(s) with a non-finite time or value "
                       "dropped")
        merged = int(np.sum(prepared.multiplicity[prepared.multiplicity > 1] - 1))
        if merged:
            reasons.append(f"{merged} duplicate reading(s) merged into their time's median")
        if spikes.any():
            reasons.append(f"{int(spikes.sum())} spike(s) (Hampel, window {params.spikes.window}, "
                           f"k {params.spikes.k:g})")
        if stuck.any():
            reasons.append(f"{int(stuck.sum())} sample(s) in stuck runs (changes <= "
                           f"{params.stuck_epsilon:g})")
        if gaps.shape[0]:
            longest = float(np.max(gaps[:, 1] - gaps[:, 0]))
            reasons.append(f"{gaps.shape[0]} gap(s) longer than {params.gap_s:g} s "
                           f"(longest {longest:g} s)")
        return SeriesQuality(prepared.t, prepared.x, flags, tuple(reasons),
                             prepared.n_input, prepared.n_dropped, gaps)


# --------------------------------------------------------------------------- sensors

SensorStatus = Literal["online", "offline", "never_reported", "stuck"]
PointDataStatus = Literal["ok", "degraded", "no_data"]
SILENT: frozenset[str] = frozenset({"offline", "never_reported"})


@dataclass(frozen=True)
class SensorHealth:
    """Health of one sensor at event time ``now``. Times are seconds; ``None`` when unknown."""

    sensor_id: str
    status: SensorStatus
    last_seen: float | None
    silence_s: float | None
    expected_interval_s: float
    reason: str

    @property
    def silent(self) -> bool:
        return self.status in SILENT


def sensor_health(sensor_ids: list[str] | tuple[str, ...], last_seen: object,
                  expected_interval_s: object, now: object,
                  params: QualityParams | None = None,
                  stuck: frozenset[str] | set[str] | tuple[str, ...] = (),
                  ) -> tuple[SensorHealth, ...]:
    """Online / offline / never-reported / stuck status of each sensor of a point.

    ``last_seen`` holds the event time of each sensor's newest reading (NaN or
    None when it never reported); ``expected_interval_s`` its reporting
    interval (scalar or per sensor); ``now`` the event time of the newest data
    across the stream, never the wall clock. A sensor is offline when
    ``now - last_seen > missed_intervals * expected_interval_s``. Sensors in
    ``stuck`` (e.g. ``SeriesQuality.stuck_now``) are reported as stuck.
    """
    params = params or QualityParams()
    ids = list(sensor_ids)
    if isinstance(last_seen, np.ndarray) and last_seen.dtype.kind in "Mfiu":
        seen = as_seconds(last_seen).ravel()
    else:
        seen = np.asarray([_scalar_seconds(v) for v in list(last_seen)],  # type: ignore[call-overload]
                          dtype=float)
    interval = np.broadcast_to(np.asarray(expected_interval_s, dtype=float), seen.shape)
    if seen.size != len(ids):
        raise ValueError(f"{len(ids)} sensor ids but {seen.size} last-seen times")
    if np.any(~np.isfinite(interval) | (interval <= 0)):
        raise ValueError("expected_interval_s must be positive and finite")
    clock = event_seconds(now)
    out = []
    stuck_ids = set(stuck)
    for sid, last, step in zip(ids, seen, interval, strict=True):
        limit = params.missed_intervals * float(step)
        if not np.isfinite(last):
            out.append(SensorHealth(sid, "never_reported", None, None, float(step),
                                    "no reading received"))
            continue
        silence = max(clock - float(last), 0.0)
        if silence > limit:
            reason = (f"silent for {silence:g} s, more than {params.missed_intervals} "
                      f"expected intervals of {float(step):g} s")
            out.append(SensorHealth(sid, "offline", float(last), silence, float(step), reason))
        elif sid in stuck_ids:
            out.append(SensorHealth(sid, "stuck", float(last), silence, float(step),
                                    f"values unchanged within {params.stuck_epsilon:g}"))
        else:
            out.append(SensorHealth(sid, "online", float(last), silence, float(step), "reporting"))
    return tuple(out)


def point_status(health: tuple[SensorHealth, ...] | list[SensorHealth]) -> PointDataStatus:
    """"no_data" when every sensor is silent (or there are none), "degraded" when some
    are silent or stuck, else "ok"."""
    if not health or all(h.silent for h in health):
        return "no_data"
    if any(h.status != "online" for h in health):
        return "degraded"
    return "ok"
