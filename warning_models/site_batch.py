"""Vectorised site models: rates, improved tangent angle and absolute levels of many series.

The reference models (``kinematics``, ``tangent_angle``, ``velocity``) judge
one series at a time from its raw samples, about a millisecond each. The
scorer cannot afford that per reading for 50,000 points, so it keeps for each
series only sums of powers of time and value (``PowerSums``), per time bin
(sums over disjoint samples add up), and this module turns the sums of many
series into the same quantities at once, one row per series:

- ``fit_rates``: the local least-squares polynomial of ``kinematics``
  (degree 1 or 2, Savitzky & Golay 1964 generalised to irregular samples,
  Cleveland & Devlin 1988) fitted to the samples of each row's window and
  differentiated at the row's newest sample: velocity (mm/day), acceleration
  (mm/day²), the standard error of the velocity, and the linear slope of the
  window. On the same samples it equals ``kinematics.local_polynomial_rates``
  to rounding.
- ``baseline_v_bar``: v̄, the least-squares velocity of the uniform-creep
  baseline window (``tangent_angle.baseline_velocity``), with its standard
  error.
- ``tangent_angles``: α = arctan(v / v̄) (Xu et al. 2009), and the angles of
  the velocity's one-sided confidence bounds.
- ``absolute_levels``: a value against per-row ascending bounds.

Levels are judged on one-sided confidence bounds (``judge_quantile``): a
noisy velocity whose interval still reaches zero raises nothing, which keeps
noisy GNSS and steady creep from crying wolf. ``hysteresis_levels`` keeps a
level while the value stays within a dead band below its bound, so a value
that hovers at a bound does not flap. With a quantile of 0 and no dead band (confidence 0.5) the judged values are the estimates
and the results are the reference models'.

Conventions: times in days relative to each row's newest sample (so all
are ≤ 0), values relative to a per-series reference value; no NaN leaves a
function: where a number cannot be estimated its mask is False and its value
0. Level arrays are int8 ``Level`` values with ``NO_LEVEL`` (-1) where the
model cannot tell ("insufficient data").

References:
    Savitzky, A., Golay, M.J.E. (1964). Anal. Chem. 36(8), 1627-1639.
    Cleveland, W.S., Devlin, S.J. (1988). J. Am. Stat. Assoc. 83(403), 596-610.
    Xu, Q., Zeng, Y., Qian, J., Wang, C., He, C. (2009). Geological Bulletin
        of China 28(4), 501-505.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.special import stdtrit

MODEL_NAME = "deformation-site"
CITATION = ("Savitzky & Golay (1964); Cleveland & Devlin (1988); Xu et al. (2009) "
            "Geological Bulletin of China 28(4):501-505")

NO_LEVEL = -1
_MIN_HADAMARD = 1e-10          # as kinematics: a nearly singular normal matrix is no fit
_T_TABLE_SIZE = 4096


@dataclass(frozen=True)
class PowerSums:
    """Per-row sums over a set of samples: times t (days) and values y.

    n: samples; t1..t4: Σt, Σt², Σt³, Σt⁴; y0, y1, y2: Σy, Σty, Σt²y;
    yy: Σy²; t_min, t_max: oldest and newest sample time (inf/-inf if none).
    """

    n: np.ndarray
    t1: np.ndarray
    t2: np.ndarray
    t3: np.ndarray
    t4: np.ndarray
    y0: np.ndarray
    y1: np.ndarray
    y2: np.ndarray
    yy: np.ndarray
    t_min: np.ndarray
    t_max: np.ndarray


SUM_FIELDS = ("t1", "t2", "t3", "t4", "y0", "y1", "y2", "yy")
"""The additive float fields of ``PowerSums`` (besides the count)."""


def sample_powers(t_days: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    """Each sample's contribution to the sums (add them up, e.g. with ``np.add.reduceat``)."""
    t = np.asarray(t_days, dtype=float)
    v = np.asarray(y, dtype=float)
    t2 = t * t
    return {"t1": t, "t2": t2, "t3": t2 * t, "t4": t2 * t2, "y0": v, "y1": t * v,
            "y2": t2 * v, "yy": v * v}


STACK_FIELDS = ("n", *SUM_FIELDS)
"""Columns of a stacked cell array: the count, then the sums (see ``stacked_sums``)."""


def stacked_sums(cells: np.ndarray, offset: np.ndarray, use: np.ndarray, t_min: np.ndarray,
                 t_max: np.ndarray) -> PowerSums:
    """Add up cells (rows, k, 9; columns ``STACK_FIELDS``) whose times are relative to
    their own origin, shifted by ``offset`` (rows, k: days from each cell's origin to the
    row's reference time), over ``use`` (rows, k).

    Sums of (t + c)^j follow from the binomial expansion, so every cell keeps small,
    well-conditioned numbers and only the window's own sums are ever formed: one
    batched product of the weights w·c^p (p = 0..4) with the cells gives every term.
    """
    c = np.where(use, offset, 0.0)
    w = use.astype(float)
    powers = np.empty((c.shape[0], 5, c.shape[1]))
    powers[:, 0] = w
    for p in range(1, 5):
        powers[:, p] = powers[:, p - 1] * c
    m = np.matmul(powers, cells)                    # m[r, p, j] = Σ_cells w c^p column_j
    n_, t1, t2, t3, t4, y0, y1, y2, yy = range(9)
    return PowerSums(
        n=m[:, 0, n_], t1=m[:, 0, t1] + m[:, 1, n_],
        t2=m[:, 0, t2] + 2 * m[:, 1, t1] + m[:, 2, n_],
        t3=m[:, 0, t3] + 3 * m[:, 1, t2] + 3 * m[:, 2, t1] + m[:, 3, n_],
        t4=m[:, 0, t4] + 4 * m[:, 1, t3] + 6 * m[:, 2, t2] + 4 * m[:, 3, t1] + m[:, 4, n_],
        y0=m[:, 0, y0], y1=m[:, 0, y1] + m[:, 1, y0],
        y2=m[:, 0, y2] + 2 * m[:, 1, y1] + m[:, 2, y0], yy=m[:, 0, yy],
        t_min=np.where(use, t_min + c, np.inf).min(axis=1, initial=np.inf),
        t_max=np.where(use, t_max + c, -np.inf).max(axis=1, initial=-np.inf))


@lru_cache(maxsize=64)
def _t_table(confidence: float) -> np.ndarray:
    dof = np.arange(_T_TABLE_SIZE, dtype=float)
    table = stdtrit(np.maximum(dof, 1.0), confidence)
    table[0] = table[1]
    return table


def judge_quantile(confidence: float, dof: np.ndarray) -> np.ndarray:
    """One-sided Student-t quantile per row (0 for confidence 0.5: judge the estimate)."""
    if confidence <= 0.5:
        return np.zeros(np.shape(dof))
    d = np.minimum(np.maximum(np.asarray(dof, dtype=np.int64), 1), _T_TABLE_SIZE - 1)
    return _t_table(float(confidence))[d]


@dataclass(frozen=True)
class RateFit:
    """Rates of each row at its newest sample (mm/day, mm/day²; times in days).

    ``velocity``/``velocity_se``: derivative at t = 0 of the chosen polynomial
    and its standard error; ``curved``: the quadratic was chosen.
    ``acceleration``: twice the quadratic coefficient (0 where no quadratic
    fit). ``level``, ``c1``, ``c2``: the chosen curve y ≈ level + c1 t + c2 t²
    (t days relative to the newest sample), used to predict the next reading.
    ``slope``/``slope_se``: the straight-line slope of the window and its
    standard error. ``resid_sd``: residual standard deviation and ``dof`` its
    degrees of freedom, of the chosen fit.
    """

    velocity: np.ndarray
    acceleration: np.ndarray
    velocity_se: np.ndarray
    curved: np.ndarray
    slope: np.ndarray
    slope_se: np.ndarray
    level: np.ndarray
    c1: np.ndarray
    c2: np.ndarray
    resid_sd: np.ndarray
    n: np.ndarray
    span_days: np.ndarray
    dof: np.ndarray
    ok: np.ndarray
    ok_linear: np.ndarray


def fit_rates(s: PowerSums, *, degree: np.ndarray, window_days: np.ndarray,
              min_samples: np.ndarray, min_span_fraction: np.ndarray,
              confidence: float = 0.5) -> RateFit:
    """Local polynomial at each row's newest sample (t = 0): degree 1, or 2 where allowed.

    Time is scaled by the window (u = t / window) as in
    ``kinematics.local_polynomial_rates``; a row is ``ok`` with at least
    ``min_samples`` samples spanning ``min_span_fraction`` of the window, a
    well-conditioned normal matrix and a residual degree of freedom.

    Rows of degree 2 keep the quadratic only where its curvature is
    significant (|β₂| above the ``confidence`` quantile of its standard
    error; always at 0.5, as the reference): the end-point derivative of a
    quadratic has about four times the standard error of a straight line's
    slope, so on a series that does not accelerate measurably the line gives
    the same velocity with far less noise, and under real acceleration the
    quadratic removes the line's half-window lag.
    """
    with np.errstate(all="ignore"):
        w = np.asarray(window_days, dtype=float)
        n = np.asarray(s.n, dtype=float)
        deg = np.asarray(degree, dtype=np.int64)
        safe_n = np.where(n > 0, n, 1.0)
        u1, u2, u3, u4 = s.t1 / w, s.t2 / w**2, s.t3 / w**3, s.t4 / w**4
        ybar = s.y0 / safe_n
        r1 = s.y1 / w - u1 * ybar            # Σu (y - ȳ)
        r2 = s.y2 / w**2 - u2 * ybar         # Σu² (y - ȳ)
        syy = np.maximum(s.yy - s.y0 * ybar, 0.0)
        span = np.where(n > 0, s.t_max - s.t_min, 0.0)
        enough = (n >= min_samples) & (span >= min_span_fraction * w)

        # straight line, closed form
        sxx = u2 - u1 * u1 / safe_n
        lin_ok = enough & (n >= 3) & (sxx > 0) & (n * u2 > 0)
        lin_ok &= sxx / np.where(u2 > 0, u2, 1.0) > _MIN_HADAMARD
        b_lin = r1 / np.where(lin_ok, sxx, 1.0)
        rss_lin = np.maximum(syy - b_lin * r1, 0.0)
        var_lin = rss_lin / np.maximum(n - 2, 1)
        se_lin = np.sqrt(var_lin / np.where(lin_ok, sxx, 1.0))
        level_lin = ybar - b_lin * u1 / safe_n

        # quadratic: normal matrix [[n, u1, u2], [u1, u2, u3], [u2, u3, u4]] of centred
        # values, solved in closed form from its cofactors
        a, b, c, d, e, f = n, u1, u2, u2, u3, u4
        k00, k01, k02 = d * f - e * e, c * e - b * f, b * e - c * d
        k11, k12, k22 = a * f - c * c, b * c - a * e, a * d - b * b
        det = a * k00 + b * k01 + c * k02
        diag = a * d * f
        quad_ok = enough & (deg >= 2) & (n > 3) & (diag > 0)
        quad_ok &= det / np.where(diag > 0, diag, 1.0) > _MIN_HADAMARD
        inv_det = 1.0 / np.where(quad_ok, det, 1.0)
        beta0 = (k01 * r1 + k02 * r2) * inv_det
        beta1 = (k11 * r1 + k12 * r2) * inv_det
        beta2 = (k12 * r1 + k22 * r2) * inv_det
        var_q = np.maximum(syy - (beta1 * r1 + beta2 * r2), 0.0) / np.maximum(n - 3, 1)
        se_b1 = np.sqrt(np.maximum(var_q * k11 * inv_det, 0.0))
        se_b2 = np.sqrt(np.maximum(var_q * k22 * inv_det, 0.0))
        quad_ok &= np.isfinite(beta0) & np.isfinite(beta1) & np.isfinite(beta2)
        quad_ok &= np.isfinite(se_b1) & np.isfinite(se_b2)
        lin_ok &= np.isfinite(b_lin) & np.isfinite(se_lin) & np.isfinite(level_lin)
        q = judge_quantile(confidence, np.maximum(n - 3, 1))
        curved = quad_ok & ((np.abs(beta2) > q * se_b2) | ~lin_ok)
        ok = curved | lin_ok

        def pick(quadratic: np.ndarray, linear: np.ndarray) -> np.ndarray:
            return np.where(curved, quadratic, np.where(lin_ok, linear, 0.0))

        velocity = pick(beta1, b_lin) / w
        acceleration = np.where(quad_ok, 2.0 * beta2 / w**2, 0.0)
        return RateFit(velocity=velocity, acceleration=acceleration,
                       velocity_se=pick(se_b1, se_lin) / w, curved=curved,
                       slope=np.where(lin_ok, b_lin / w, 0.0),
                       slope_se=np.where(lin_ok, se_lin / w, 0.0),
                       level=pick(beta0 + ybar, level_lin), c1=velocity,
                       c2=np.where(curved, beta2 / w**2, 0.0),
                       resid_sd=np.sqrt(pick(var_q, var_lin)), n=n.astype(np.int64),
                       span_days=span,
                       dof=np.where(ok, np.where(curved, n - 3, n - 2), 0).astype(np.int64),
                       ok=ok, ok_linear=lin_ok)


@dataclass(frozen=True)
class Baseline:
    """v̄ (mm/day) per row, its standard error, samples used and validity."""

    v_bar: np.ndarray
    se: np.ndarray
    n: np.ndarray
    ok: np.ndarray


def baseline_v_bar(s: PowerSums, *, window_days: np.ndarray, min_samples: np.ndarray,
                   min_coverage: np.ndarray, min_v_bar: np.ndarray,
                   quantile: np.ndarray) -> Baseline:
    """Least-squares slope of the baseline window (``tangent_angle.baseline_velocity``).

    Invalid with fewer than ``min_samples`` samples, when they span less than
    ``min_coverage`` of the window, when the slope is below ``min_v_bar``, or
    when it is not significantly positive (slope - quantile · se ≤ 0): the
    tangent angle of a slope that does not creep measurably is undefined.
    """
    with np.errstate(all="ignore"):
        n = np.asarray(s.n, dtype=float)
        safe_n = np.where(n > 0, n, 1.0)
        sxx = s.t2 - s.t1 * s.t1 / safe_n
        sxy = s.y1 - s.t1 * s.y0 / safe_n
        syy = np.maximum(s.yy - s.y0 * s.y0 / safe_n, 0.0)
        span = np.where(n > 0, s.t_max - s.t_min, 0.0)
        ok = (n >= np.maximum(min_samples, 2)) & (span >= min_coverage * window_days) & (sxx > 0)
        slope = sxy / np.where(ok, sxx, 1.0)
        se = np.sqrt(np.maximum(syy - slope * sxy, 0.0) / np.maximum(n - 2, 1)
                     / np.where(ok, sxx, 1.0))
        ok &= np.isfinite(slope) & np.isfinite(se) & (slope >= min_v_bar)
        ok &= slope - quantile * se > 0
        return Baseline(np.where(ok, slope, 0.0), np.where(ok, se, 0.0), n.astype(np.int64), ok)


def tangent_angles(velocity: np.ndarray, velocity_se: np.ndarray, v_bar: np.ndarray,
                   quantile: np.ndarray, ok: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """α = arctan(v / v̄) and the angles of v's bounds v ∓ quantile · se (degrees).

    All 0 where ``ok`` is False (no fit or no usable v̄).
    """
    with np.errstate(all="ignore"):
        safe = np.where(ok & (v_bar > 0), v_bar, 1.0)
        margin = quantile * velocity_se
        angles = [np.degrees(np.arctan2(v, safe))
                  for v in (velocity, velocity - margin, velocity + margin)]
        good = ok & np.all([np.isfinite(a) for a in angles], axis=0)
        return tuple(np.where(good, a, 0.0) for a in angles)  # type: ignore[return-value]


def hysteresis_levels(value: np.ndarray, previous: np.ndarray, bounds: np.ndarray,
                      stay_bounds: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Levels with a dead band: a level is entered at its bound and kept while the
    value stays at or above its (lower) stay bound.

    Without it a slope creeping steadily at a bound (α ≈ 45° is the very
    definition of uniform creep) would flip between two levels on every wobble
    of the noise. ``previous``: the series' last level (-1 for none). -1 where
    not ok.
    """
    v = np.asarray(value, dtype=float)[:, None]
    enter = (v >= np.asarray(bounds, dtype=float)).sum(axis=1)
    stay = (v >= np.asarray(stay_bounds, dtype=float)).sum(axis=1)
    level = np.maximum(enter, np.minimum(np.maximum(previous, 0), stay))
    good = np.asarray(ok, bool) & np.isfinite(v[:, 0])
    return np.where(good, level, NO_LEVEL).astype(np.int8)


def absolute_levels(value: np.ndarray, bounds: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Level of each row's value against its ascending bounds (rows, 4); -1 where not ok."""
    v = np.asarray(value, dtype=float)
    level = (v[:, None] >= np.asarray(bounds, dtype=float)).sum(axis=1)
    return np.where(np.asarray(ok, bool) & np.isfinite(v), level, NO_LEVEL).astype(np.int8)


def confirmed_level(last: np.ndarray, previous: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The smaller of a gauge's newest two values (``velocity.confirmed_level``) and validity."""
    ok = np.isfinite(last) & np.isfinite(previous)
    return np.where(ok, np.minimum(last, previous), 0.0), ok


def lower_magnitude(value: np.ndarray, se: np.ndarray, quantile: np.ndarray) -> np.ndarray:
    """|value| reduced by quantile · se, never below 0: what an absolute threshold judges."""
    return np.maximum(np.abs(value) - quantile * se, 0.0)
