"""Vectorised inverse-velocity time of failure for many series at once.

The same method and rules as ``inverse_velocity`` (Fukuzono 1985; Voight
1988 with α = 2; smoothing after Carlà et al. 2017; Fieller 1954 interval),
computed over rows of short rings instead of one raw series:

- each series keeps a ring of coarse time cells holding the count, the sum
  of times and the sum of values of its readings; the centroid of a cell
  (mean time, mean displacement) is the reading of that cell, so the
  velocity between consecutive centroids is the reference's interval
  velocity at the cell resolution (one reading per cell reproduces it
  exactly), and a cell full of minute readings is already averaged;
- a trailing simple moving average over ``smooth`` consecutive velocities,
  placed at the mean of their times (``inverse_velocity.moving_average``);
  no velocity or average spans a gap longer than ``max_gap_days``;
- the fit uses the averages of the last ``fit_window_days`` that lie in the
  accelerating part (after the last average whose tangent angle
  arctan(v/v̄) was below ``accelerating_angle``), weighted by v²
  (``relative``) or not, and needs ``min_fit_samples`` of them; a forecast
  is reported only when the slope of 1/v is significantly negative, with
  Fieller's interval; the caller gates rows by the current tangent angle.

Units: times in days relative to each row's newest sample, velocities in
mm/day, 1/v in day/mm; ``hours`` is the time left to the failure time (or
its lower bound). Everything is causal: the ring ends at the newest sample.
Levels: red below ``red_lead_hours``, orange below ``orange_lead_hours``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.special import stdtrit

from warning_models.levels import Level

CITATION = ("Fukuzono (1985); Voight (1988) Nature 332:125-130; Carlà et al. (2017) "
            "Landslides 14:517-534; Fieller (1954) J. R. Stat. Soc. B 16:175-185")


@dataclass(frozen=True)
class CellSeries:
    """Centroids of each row's occupied cells, oldest first (rows, k); ``ok`` marks them."""

    t: np.ndarray
    x: np.ndarray
    ok: np.ndarray


def cell_centroids(start_days: np.ndarray, n: np.ndarray, t_sum: np.ndarray,
                   x_sum: np.ndarray, use: np.ndarray) -> CellSeries:
    """Centroids (mean time in days, mean value) of the used cells, sorted by time.

    ``start_days``: each cell's start relative to the row's reference time;
    ``t_sum``: Σ (t - cell start) in days; ``x_sum``: Σ values.
    """
    with np.errstate(all="ignore"):
        ok = use & (n > 0)
        safe = np.where(ok, n, 1)
        t = np.where(ok, start_days + t_sum / safe, np.inf)
        order = np.argsort(t, axis=1, kind="stable")
        t = np.take_along_axis(t, order, axis=1)
        x = np.take_along_axis(np.where(ok, x_sum / safe, 0.0), order, axis=1)
        ok = np.take_along_axis(ok, order, axis=1)
        return CellSeries(np.where(ok, t, 0.0), x, ok)


@dataclass(frozen=True)
class Smoothed:
    """Moving averages of the centroid velocities (rows, k-1), placed at their mean time."""

    v: np.ndarray
    t: np.ndarray
    ok: np.ndarray


def smoothed_velocities(cells: CellSeries, smooth: np.ndarray, max_gap_days: np.ndarray
                        ) -> Smoothed:
    """Interval velocities between consecutive centroids and their trailing mean of
    ``smooth`` (per row) values; gaps longer than ``max_gap_days`` break both."""
    with np.errstate(all="ignore"):
        dt = np.diff(cells.t, axis=1)
        pair = cells.ok[:, 1:] & cells.ok[:, :-1] & (dt > 0) & (dt <= max_gap_days[:, None])
        v = np.where(pair, np.diff(cells.x, axis=1) / np.where(pair, dt, 1.0), 0.0)
        mid = np.where(pair, 0.5 * (cells.t[:, 1:] + cells.t[:, :-1]), 0.0)
        pair &= np.isfinite(v)
        k = v.shape[1]
        zero = np.zeros((v.shape[0], 1))
        cs_v = np.concatenate([zero, np.cumsum(np.where(pair, v, 0.0), axis=1)], axis=1)
        cs_t = np.concatenate([zero, np.cumsum(mid, axis=1)], axis=1)
        cs_ok = np.concatenate([zero, np.cumsum(pair, axis=1)], axis=1)
        m = np.asarray(smooth, dtype=np.int64)[:, None]
        hi = np.arange(1, k + 1)[None, :]
        lo = np.maximum(hi - m, 0)
        rows = np.arange(v.shape[0])[:, None]
        count = cs_ok[rows, hi] - cs_ok[rows, lo]
        ok = (hi >= m) & (count == m)
        mean_v = (cs_v[rows, hi] - cs_v[rows, lo]) / m
        mean_t = (cs_t[rows, hi] - cs_t[rows, lo]) / m
        ok &= np.isfinite(mean_v) & np.isfinite(mean_t)
        return Smoothed(np.where(ok, mean_v, 0.0), np.where(ok, mean_t, 0.0), ok)


@lru_cache(maxsize=64)
def _two_sided_table(confidence: float) -> np.ndarray:
    dof = np.maximum(np.arange(4096, dtype=float), 1.0)
    return stdtrit(dof, 0.5 + 0.5 * confidence)


def _two_sided(confidence: np.ndarray, dof: np.ndarray) -> np.ndarray:
    out = np.zeros(dof.shape)
    d = np.clip(dof, 1, 4095)
    for value in np.unique(confidence).tolist():
        rows = confidence == value
        out[rows] = _two_sided_table(float(value))[d[rows]]
    return out


@dataclass(frozen=True)
class Forecast:
    """Per row: reported, failure time and interval (days from the newest sample), hours
    to failure, fit numbers and the level (int8; ``Level.NONE`` when not reported)."""

    reported: np.ndarray
    t_f: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    hours: np.ndarray
    slope: np.ndarray
    intercept: np.ndarray
    n_fit: np.ndarray
    r2: np.ndarray
    level: np.ndarray
    smoothed_v: np.ndarray


def forecast_rows(sm: Smoothed, *, v_bar: np.ndarray, fit_window_days: np.ndarray,
                  accelerating_angle: np.ndarray, min_fit_samples: np.ndarray,
                  min_velocity: np.ndarray, relative_weights: np.ndarray,
                  confidence: np.ndarray, lead_from_lower: np.ndarray,
                  red_lead_hours: np.ndarray, orange_lead_hours: np.ndarray) -> Forecast:
    """Fit 1/v = a t + b over each row's accelerating part; t_f = -b/a with Fieller's
    interval (``inverse_velocity.fit_inverse_velocity``, row by row in one pass)."""
    with np.errstate(all="ignore"):
        k = sm.v.shape[1]
        idx = np.arange(k)[None, :]
        alpha = np.degrees(np.arctan2(sm.v, np.where(v_bar > 0, v_bar, 1.0)[:, None]))
        below = sm.ok & (alpha < accelerating_angle[:, None])
        last_below = np.max(np.where(below, idx, -1), axis=1)
        start = np.where(last_below >= 0,
                         np.take_along_axis(sm.t, np.maximum(last_below, 0)[:, None], 1)[:, 0],
                         -np.inf)
        start = np.maximum(start, -fit_window_days)
        use = sm.ok & (sm.v > min_velocity[:, None]) & (sm.t > start[:, None])
        use &= idx > last_below[:, None]
        x = sm.t
        y = np.where(use, 1.0 / np.where(use, sm.v, 1.0), 0.0)
        w = np.where(use, np.where(relative_weights[:, None], sm.v**2, 1.0), 0.0)
        n = use.sum(axis=1)
        total = w.sum(axis=1)
        w = w / np.where(total > 0, total, 1.0)[:, None]
        x_mean = (w * x).sum(axis=1)
        y_mean = (w * y).sum(axis=1)
        dx = np.where(use, x - x_mean[:, None], 0.0)
        dy = np.where(use, y - y_mean[:, None], 0.0)
        sxx = (w * dx * dx).sum(axis=1)
        slope = (w * dx * dy).sum(axis=1) / np.where(sxx > 0, sxx, 1.0)
        resid = dy - slope[:, None] * dx
        ss_res = (w * resid * resid).sum(axis=1)
        ss_tot = (w * dy * dy).sum(axis=1)
        r2 = np.where(ss_tot > 0, 1.0 - ss_res / np.where(ss_tot > 0, ss_tot, 1.0), 1.0)
        variance = ss_res / np.maximum(n - 2, 1)
        intercept = y_mean - slope * x_mean
        q = _two_sided(confidence, np.maximum(n - 2, 1))
        spread = q * q * variance
        quad = slope**2 - spread / np.where(sxx > 0, sxx, 1.0)
        disc = np.maximum((slope * y_mean) ** 2 - quad * (y_mean**2 - spread), 0.0)
        root = np.sqrt(disc)
        safe_quad = np.where(quad > 0, quad, 1.0)
        r_lo = (-slope * y_mean - root) / safe_quad
        r_hi = (-slope * y_mean + root) / safe_quad
        t_f = x_mean - y_mean / np.where(slope < 0, slope, -1.0)
        lower = np.minimum(x_mean + np.minimum(r_lo, r_hi), t_f)
        upper = np.maximum(x_mean + np.maximum(r_lo, r_hi), t_f)
        valid = (n >= np.maximum(min_fit_samples, 3)) & (sxx > 0) & (slope < 0) & (quad > 0)
        valid &= np.all([np.isfinite(a) for a in (slope, intercept, t_f, lower, upper, r2,
                                                    variance)], axis=0)
        hours = np.where(lead_from_lower, lower, t_f) * 24.0
        level = np.where(hours < red_lead_hours, Level.RED,
                         np.where(hours < orange_lead_hours, Level.ORANGE, Level.NONE))
        newest = np.max(np.where(sm.ok, idx, -1), axis=1)
        last_v = np.where(newest >= 0,
                          np.take_along_axis(sm.v, np.maximum(newest, 0)[:, None], 1)[:, 0], 0.0)

        def clean(a: np.ndarray) -> np.ndarray:
            return np.where(valid, a, 0.0)

        return Forecast(reported=valid, t_f=clean(t_f), lower=clean(lower), upper=clean(upper),
                        hours=clean(hours), slope=clean(slope), intercept=clean(intercept),
                        n_fit=n.astype(np.int64), r2=clean(r2),
                        level=np.where(valid, level, Level.NONE).astype(np.int8),
                        smoothed_v=last_v)
