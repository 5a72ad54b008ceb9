"""Velocity and acceleration from noisy, irregularly sampled cumulative displacement.

Inputs: event time (float seconds since 1970-01-01T00:00:00Z, or
``datetime64``) and cumulative displacement in mm, in any order, possibly
with duplicate times, spikes and gaps. Outputs, per unique sample time:
velocity in mm/day, acceleration in mm/day², each with a validity mask, the
interval velocity between consecutive clean samples (mm/day), spike flags,
segments and gaps. Nothing is interpolated and no NaN is returned: where a
rate cannot be estimated its mask is False and its value 0.

Steps
-----
1. Sort by time, drop non-finite readings, merge equal times by their median
   (``quality.prepare_series``).
2. Split into segments at gaps longer than ``max_gap_hours``; nothing is
   smoothed, differenced or interpolated across a gap, and the gaps are
   reported.
3. Reject spikes with a Hampel identifier inside each segment
   (``quality.hampel_spikes``).
4. Fit a local polynomial of ``degree`` 1 or 2 by least squares to the clean
   samples inside a time window of ``window_hours`` around (``centred``) or
   ending at (``trailing``) each sample, and differentiate it at the sample:
   velocity = c1, acceleration = 2 c2 (time in days, displacement in mm).
   This is the Savitzky-Golay filter (Savitzky & Golay 1964, "Smoothing and
   differentiation of data by simplified least squares procedures", Anal.
   Chem. 36(8), 1627-1639) generalised to irregular samples, i.e. local
   polynomial regression (Cleveland & Devlin 1988, J. Am. Stat. Assoc.
   83(403), 596-610) with a uniform kernel.

The default window is ``trailing``: the estimate at a sample uses only that
sample and earlier ones, so it never changes when later data arrives and a
replay gives the values the live run gave.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from warning_models.quality import (
    SpikeParams,
    event_seconds,
    hampel_spikes,
    prepare_series,
    split_segments,
)

MODEL_NAME = "kinematics"
MODEL_VERSION = "kinematics-1.0"
REQUIRES_INPUTS = ("time_s", "displacement_mm")
CITATION = ("Savitzky & Golay (1964) Anal. Chem. 36:1627-1639; "
            "Cleveland & Devlin (1988) J. Am. Stat. Assoc. 83:596-610")

SECONDS_PER_DAY = 86_400.0
_MIN_HADAMARD = 1e-10
_CHUNK_ELEMENTS = 2_000_000


class KinematicsParams(BaseModel):
    """Smoothing and cleaning settings for displacement series."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    window_hours: float = Field(24.0, gt=0, le=24 * 365, description="smoothing window length")
    alignment: Literal["trailing", "centred"] = "trailing"
    degree: Literal[1, 2] = Field(2, description="local polynomial degree (2 gives acceleration)")
    min_samples: int = Field(5, ge=3, le=100_000, description="clean samples a window needs")
    min_span_fraction: float = Field(
        0.5, gt=0, le=1, description="the window's samples must span this fraction of it")
    max_gap_hours: float = Field(6.0, gt=0, le=24 * 365, description="longer silences are gaps")
    spikes: SpikeParams = SpikeParams()

    @model_validator(mode="after")
    def _check(self) -> KinematicsParams:
        if self.min_samples < self.degree + 2:
            raise ValueError(f"min_samples must be at least degree + 2 = {self.degree + 2}")
        return self


@dataclass(frozen=True)
class Kinematics:
    """Per-sample rates of one displacement series (arrays share one length).

    t: s; displacement: mm (duplicates merged, spikes kept but flagged);
    velocity: mm/day; acceleration: mm/day²; interval_velocity: mm/day over
    the step from the previous clean sample of the same segment, placed at
    ``interval_time`` (the step's midpoint, s); gaps: (k, 2) [start, end] s.
    """

    t: np.ndarray
    displacement: np.ndarray
    velocity: np.ndarray
    acceleration: np.ndarray
    valid_velocity: np.ndarray
    valid_acceleration: np.ndarray
    interval_velocity: np.ndarray
    interval_time: np.ndarray
    valid_interval: np.ndarray
    spike: np.ndarray
    multiplicity: np.ndarray
    segment: np.ndarray
    gaps: np.ndarray
    n_input: int
    n_dropped: int
    params: KinematicsParams

    @property
    def n(self) -> int:
        return int(self.t.size)


def _window_bounds(t: np.ndarray, segment: np.ndarray, eval_idx: np.ndarray, window_s: float,
                   alignment: str) -> tuple[np.ndarray, np.ndarray]:
    """Index range [lo, hi) of each evaluated sample's window, clipped to its segment."""
    te = t[eval_idx]
    if alignment == "trailing":
        lo = np.searchsorted(t, te - window_s, side="left")
        hi = eval_idx + 1
    else:
        lo = np.searchsorted(t, te - 0.5 * window_s, side="left")
        hi = np.searchsorted(t, te + 0.5 * window_s, side="right")
    seg_first = np.searchsorted(segment, segment[eval_idx], side="left")
    seg_end = np.searchsorted(segment, segment[eval_idx], side="right")
    return np.maximum(lo, seg_first), np.minimum(hi, seg_end)


def local_polynomial_rates(t_s: object, y: object, *, usable: object | None = None,
                           segment: object | None = None, window_s: float,
                           alignment: Literal["trailing", "centred"] = "trailing",
                           degree: int = 2, min_samples: int = 5,
                           min_span_fraction: float = 0.5,
                           eval_idx: object | None = None) -> tuple[np.ndarray, ...]:
    """First and second derivative of a local least-squares polynomial at each sample.

    ``t_s`` sorted times (s), ``y`` values (mm), ``usable`` the samples that
    may enter a fit, ``segment`` ids (windows never cross segments). Returns
    ``(velocity mm/day, acceleration mm/day², valid_velocity,
    valid_acceleration)`` over all samples; samples not in ``eval_idx``
    (default: all) are returned invalid. A fit is valid with at least
    ``min_samples`` usable samples spanning ``min_span_fraction`` of the
    window and a well-conditioned normal matrix.
    """
    t = np.asarray(t_s, dtype=float).ravel()
    ys = np.asarray(y, dtype=float).ravel()
    n = t.size
    ok_in = np.ones(n, bool) if usable is None else np.asarray(usable, bool).ravel()
    seg = np.zeros(n, np.int64) if segment is None else np.asarray(segment).ravel()
    idx_all = np.arange(n) if eval_idx is None else np.asarray(eval_idx, dtype=np.int64).ravel()
    velocity, acceleration = np.zeros(n), np.zeros(n)
    valid_v, valid_a = np.zeros(n, bool), np.zeros(n, bool)
    if n == 0 or idx_all.size == 0:
        return velocity, acceleration, valid_v, valid_a
    window_days = window_s / SECONDS_PER_DAY
    p = int(degree)
    lo_all, hi_all = _window_bounds(t, seg, idx_all, window_s, alignment)
    counts_all = hi_all - lo_all
    # chunk the evaluated samples so that the gathered windows stay small
    cum = np.cumsum(counts_all)
    chunk_id = (cum - counts_all) // _CHUNK_ELEMENTS
    edges = np.r_[0, np.flatnonzero(np.diff(chunk_id)) + 1, idx_all.size]
    for first, last in itertools.pairwise(edges):
        idx, lo, counts = idx_all[first:last], lo_all[first:last], counts_all[first:last]
        starts = np.cumsum(counts) - counts
        flat = np.arange(counts.sum()) - np.repeat(starts, counts) + np.repeat(lo, counts)
        owner = np.repeat(idx, counts)
        use = ok_in[flat]
        u = (t[flat] - t[owner]) / window_s           # window-scaled time, |u| <= 1
        dy = np.where(use, ys[flat] - ys[owner], 0.0)
        weighted = use[:, None] * u[:, None] ** np.arange(2 * p + 1)
        moments = np.add.reduceat(weighted, starts, axis=0)
        rhs = np.add.reduceat(weighted[:, :p + 1] * dy[:, None], starts, axis=0)
        n_ok = moments[:, 0]
        u_max = np.maximum.reduceat(np.where(use, u, -np.inf), starts)
        u_min = np.minimum.reduceat(np.where(use, u, np.inf), starts)
        span = np.where(n_ok > 0, u_max - u_min, 0.0)
        normal = moments[:, np.arange(p + 1)[:, None] + np.arange(p + 1)[None, :]]
        # Hadamard ratio det / prod(diagonal) in (0, 1]: near 0 means nearly singular
        with np.errstate(all="ignore"):
            ratio = np.linalg.det(normal) / np.prod(moments[:, 0:2 * p + 1:2], axis=1)
        good = (n_ok >= min_samples) & (span >= min_span_fraction) & (ratio > _MIN_HADAMARD)
        normal = np.where(good[:, None, None], normal, np.eye(p + 1))
        coef = np.linalg.solve(normal, np.where(good[:, None], rhs, 0.0)[..., None])[..., 0]
        vel = coef[:, 1] / window_days
        acc = 2.0 * coef[:, 2] / window_days**2 if p >= 2 else np.zeros(idx.size)
        good &= np.isfinite(vel) & np.isfinite(acc)
        velocity[idx] = np.where(good, vel, 0.0)
        acceleration[idx] = np.where(good & (p >= 2), acc, 0.0)
        valid_v[idx] = good
        valid_a[idx] = good & (p >= 2)
    return velocity, acceleration, valid_v, valid_a


def interval_velocity(t_s: object, y: object, *, usable: object | None = None,
                      segment: object | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Velocity (mm/day) over the step from the previous usable sample of the same segment.

    Returns ``(velocity, midpoint time s, valid)``; a sample is invalid when it
    is not usable or has no usable predecessor in its segment.
    """
    t = np.asarray(t_s, dtype=float).ravel()
    ys = np.asarray(y, dtype=float).ravel()
    n = t.size
    if n == 0:
        return np.zeros(0), np.zeros(0), np.zeros(0, bool)
    ok = np.ones(n, bool) if usable is None else np.asarray(usable, bool).ravel()
    seg = np.zeros(n, np.int64) if segment is None else np.asarray(segment).ravel()
    last_ok = np.maximum.accumulate(np.where(ok, np.arange(n), -1))
    prev = np.r_[-1, last_ok[:-1]]
    j = np.maximum(prev, 0)
    dt = t - t[j]
    valid = ok & (prev >= 0) & (seg == seg[j]) & (dt > 0)
    with np.errstate(all="ignore"):
        v = (ys - ys[j]) / (dt / SECONDS_PER_DAY)
    valid &= np.isfinite(v)
    mid = np.where(valid, 0.5 * (t + t[j]), t)
    return np.where(valid, v, 0.0), mid, valid


def estimate_kinematics(t: object, displacement: object, params: KinematicsParams | None = None,
                        *, evaluate_from: object | None = None) -> Kinematics:
    """Clean a cumulative displacement series (mm) and estimate its rates.

    ``t``: event times (s or ``datetime64``), any order. ``evaluate_from``
    (event time) limits the smoothing fits to samples at or after it, which
    is all a live scorer needs for its newest readings; earlier samples are
    returned with invalid velocity and acceleration. Interval velocities and
    spike flags are always computed for the whole series.
    """
    with np.errstate(all="ignore"):  # extreme inputs end in validity masks, not warnings
        params = params or KinematicsParams()
        prepared = prepare_series(t, displacement)
        ts, s = prepared.t, prepared.x
        segment, gaps = split_segments(ts, params.max_gap_hours * 3600.0)
        spike = hampel_spikes(s, params.spikes, segment)
        usable = ~spike
        if evaluate_from is None:
            eval_idx = np.arange(ts.size)
        else:
            eval_idx = np.flatnonzero(ts >= event_seconds(evaluate_from))
        vel, acc, ok_v, ok_a = local_polynomial_rates(
            ts, s, usable=usable, segment=segment, window_s=params.window_hours * 3600.0,
            alignment=params.alignment, degree=params.degree, min_samples=params.min_samples,
            min_span_fraction=params.min_span_fraction, eval_idx=eval_idx)
        iv, mid, ok_i = interval_velocity(ts, s, usable=usable, segment=segment)
        return Kinematics(t=ts, displacement=s, velocity=vel, acceleration=acc, valid_velocity=ok_v,
                          valid_acceleration=ok_a, interval_velocity=iv, interval_time=mid,
                          valid_interval=ok_i, spike=spike, multiplicity=prepared.multiplicity,
                          segment=segment, gaps=gaps, n_input=prepared.n_input,
                          n_dropped=prepared.n_dropped, params=params)
