"""The vectorised site models against the reference per-series models, on the same samples.

Where both see exactly the same samples the vectorised functions must give
the reference numbers to rounding (``SAME_RTOL``); the scorer-level
agreement on whole constructed series, where the two differ in what they see
(bins, causal spike screening), is in tests/streams/test_scorer_equivalence.py.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from warning_models.inverse_velocity import InverseVelocityParams, fit_inverse_velocity
from warning_models.kinematics import local_polynomial_rates
from warning_models.levels import Level
from warning_models.site_batch import (
    NO_LEVEL,
    STACK_FIELDS,
    PowerSums,
    baseline_v_bar,
    fit_rates,
    hysteresis_levels,
    judge_quantile,
    sample_powers,
    stacked_sums,
    tangent_angles,
)
from warning_models.site_forecast import cell_centroids, forecast_rows, smoothed_velocities
from warning_models.tangent_angle import angle_levels, baseline_velocity, tangent_angle

SAME_RTOL = 1e-7          # same samples, different summation order
DAY = 86_400.0
T0 = 1_780_000_000.0


def direct_sums(t_days: np.ndarray, y: np.ndarray) -> PowerSums:
    """Sums of one row of samples (times relative to the row's newest sample)."""
    p = sample_powers(t_days, y)
    return PowerSums(n=np.array([float(t_days.size)]),
                     **{k: np.array([v.sum()]) for k, v in p.items()},
                     t_min=np.array([t_days.min()]), t_max=np.array([t_days.max()]))


def binned_sums(t_days: np.ndarray, y: np.ndarray, width: float) -> PowerSums:
    """The same sums assembled from bins holding times relative to their own start."""
    bins = np.floor(t_days / width).astype(int)
    ids = np.unique(bins)
    cells = np.zeros((1, ids.size, len(STACK_FIELDS)))
    t_min, t_max = np.zeros((1, ids.size)), np.zeros((1, ids.size))
    for j, b in enumerate(ids):
        inside = bins == b
        rel = t_days[inside] - b * width
        powers = sample_powers(rel, y[inside])
        cells[0, j] = [inside.sum(), *(powers[k].sum() for k in STACK_FIELDS[1:])]
        t_min[0, j], t_max[0, j] = rel.min(), rel.max()
    return stacked_sums(cells, (ids * width)[None, :], np.ones((1, ids.size), bool),
                        t_min, t_max)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_binned_sums_equal_the_direct_sums(seed: int) -> None:
    rng = np.random.default_rng(seed)
    t = -np.sort(rng.uniform(0.0, 1.0, 60))
    y = 5.0 + 3.0 * t + rng.normal(0, 0.2, t.size)
    direct, binned = direct_sums(t, y), binned_sums(t, y, 1.0 / 31.0)
    for name in ("n", "t1", "t2", "t3", "t4", "y0", "y1", "y2", "yy", "t_min", "t_max"):
        assert_allclose(getattr(binned, name), getattr(direct, name), rtol=SAME_RTOL,
                        atol=1e-12, err_msg=name)


@pytest.mark.parametrize("degree", [1, 2])
@pytest.mark.parametrize("seed", [3, 4, 5])
def test_rates_equal_the_reference_local_polynomial(degree: int, seed: int) -> None:
    """Same samples: the newest sample's velocity and acceleration of ``kinematics``."""
    rng = np.random.default_rng(seed)
    t_s = T0 + np.sort(rng.uniform(0.0, DAY, 40))
    x = 100.0 + 2.0 * (t_s - T0) / DAY + 4.0 * ((t_s - T0) / DAY) ** 2 + rng.normal(0, 0.3, 40)
    window_s = (t_s[-1] - t_s[0]) * 1.0001        # every sample is in the newest one's window
    v_ref, a_ref, ok_v, _ = local_polynomial_rates(
        t_s, x, window_s=window_s, degree=degree, min_samples=5, min_span_fraction=0.5,
        eval_idx=[t_s.size - 1])
    rel = (t_s - t_s[-1]) / DAY
    fit = fit_rates(binned_sums(rel, x - x[0], 1.0 / 31.0), degree=np.array([degree]),
                    window_days=np.array([window_s / DAY]), min_samples=np.array([5]),
                    min_span_fraction=np.array([0.5]))
    assert fit.ok[0] and ok_v[-1]
    assert_allclose(fit.velocity[0], v_ref[-1], rtol=SAME_RTOL)
    if degree == 2:
        assert_allclose(fit.acceleration[0], a_ref[-1], rtol=SAME_RTOL)
    # the standard error: ordinary least squares on the same design
    design = np.vander(rel, degree + 1, increasing=True)
    beta, rss, *_ = np.linalg.lstsq(design, x, rcond=None)
    cov = rss[0] / (t_s.size - degree - 1) * np.linalg.inv(design.T @ design)
    assert_allclose(fit.velocity_se[0], np.sqrt(cov[1, 1]), rtol=1e-6)
    assert_allclose(fit.level[0] + x[0], beta[0], rtol=SAME_RTOL)


def test_rates_of_insufficient_rows_are_masked_not_nan() -> None:
    t = np.array([0.0, -0.01, -0.02])                   # too few samples, too short a span
    fit = fit_rates(direct_sums(t, np.array([1.0, 2.0, 3.0])), degree=np.array([2]),
                    window_days=np.array([1.0]), min_samples=np.array([5]),
                    min_span_fraction=np.array([0.5]))
    assert not fit.ok[0]
    for name in ("velocity", "acceleration", "velocity_se", "level", "resid_sd"):
        assert getattr(fit, name)[0] == 0.0


def test_baseline_v_bar_equals_the_reference_baseline() -> None:
    rng = np.random.default_rng(8)
    t_s = T0 + np.sort(rng.uniform(0.0, 30 * DAY, 500))
    x = 0.7 * (t_s - T0) / DAY + rng.normal(0, 0.5, t_s.size)
    expected, n, ok = baseline_velocity(t_s, x, T0, T0 + 30 * DAY)
    rel = (t_s - T0) / DAY
    base = baseline_v_bar(direct_sums(rel, x), window_days=np.array([30.0]),
                          min_samples=np.array([10]), min_coverage=np.array([0.5]),
                          min_v_bar=np.array([1e-3]), quantile=np.array([0.0]))
    assert ok and base.ok[0] and base.n[0] == n
    assert_allclose(base.v_bar[0], expected, rtol=SAME_RTOL)


def test_a_baseline_that_does_not_creep_measurably_gives_no_v_bar() -> None:
    rng = np.random.default_rng(9)
    rel = np.sort(rng.uniform(0.0, 30.0, 500))
    x = 0.002 * rel + rng.normal(0, 2.0, rel.size)    # 2 mm of noise hides 0.002 mm/day
    args = {"window_days": np.array([30.0]), "min_samples": np.array([10]),
            "min_coverage": np.array([0.5]), "min_v_bar": np.array([1e-3])}
    estimate = baseline_v_bar(direct_sums(rel, x), quantile=np.array([0.0]), **args)
    judged = baseline_v_bar(direct_sums(rel, x), quantile=judge_quantile(0.99, np.array([498])),
                            **args)
    assert not judged.ok[0] and judged.v_bar[0] == 0.0
    assert estimate.ok[0] or estimate.v_bar[0] == 0.0   # the bare estimate may pass: that is why


def test_tangent_angles_equal_the_reference_and_bound_the_estimate() -> None:
    v = np.array([-3.0, 0.0, 0.4, 1.0, 5.67, 11.43, 200.0])
    v_bar = np.full(v.size, 1.0)
    ok = np.ones(v.size, bool)
    alpha, low, high = tangent_angles(v, np.zeros(v.size), v_bar, np.zeros(v.size), ok)
    assert_allclose(alpha, tangent_angle(v, 1.0), rtol=1e-12)
    assert_array_equal(low, alpha)
    _, low, high = tangent_angles(v, np.full(v.size, 0.5), v_bar, np.full(v.size, 2.0), ok)
    assert np.all(low < alpha) and np.all(high > alpha)
    assert_allclose(low, tangent_angle(v - 1.0, 1.0), rtol=1e-12)


def test_levels_without_a_dead_band_are_the_reference_levels() -> None:
    alpha = np.linspace(-10.0, 89.9, 400)
    bounds = np.tile([45.0, 55.0, 80.0, 85.0], (alpha.size, 1))
    levels = hysteresis_levels(alpha, np.full(alpha.size, 4), bounds, bounds,
                               np.ones(alpha.size, bool))
    assert_array_equal(levels, angle_levels(alpha))


def test_a_dead_band_keeps_a_level_until_the_value_leaves_it() -> None:
    bounds = np.array([[45.0, 55.0, 80.0, 85.0]])
    stay = bounds - 5.0
    level = np.array([NO_LEVEL])
    seen = []
    for alpha in (44.0, 45.2, 44.1, 41.0, 39.9, 56.0, 50.5, 49.9):
        level = hysteresis_levels(np.array([alpha]), level, bounds, stay, np.array([True]))
        seen.append(int(level[0]))
    assert seen == [Level.NONE, Level.BLUE, Level.BLUE, Level.BLUE, Level.NONE, Level.YELLOW,
                    Level.YELLOW, Level.BLUE]


def reference_forecast(t_days: np.ndarray, x: np.ndarray, params: InverseVelocityParams):
    """The reference method at the last sample of a series that accelerates throughout."""
    v = np.diff(x) / np.diff(t_days)
    mid = 0.5 * (t_days[1:] + t_days[:-1])
    m = params.sma_samples
    sma = np.convolve(v, np.ones(m) / m, "valid")
    when = np.convolve(mid, np.ones(m) / m, "valid")
    use = when > t_days[-1] - params.fit_window_days
    return fit_inverse_velocity(when[use] - t_days[-1], 1.0 / sma[use], params.confidence,
                                sma[use] ** 2)


@pytest.mark.parametrize("seed", [11, 12])
def test_forecast_on_one_reading_per_cell_equals_the_reference_fit(seed: int) -> None:
    rng = np.random.default_rng(seed)
    params = InverseVelocityParams()
    t = np.arange(0.0, 3.0, 1.0 / 24.0)                     # days; failure at day 3.5
    x = -np.log(3.5 - t) * 10.0
    x[1:] += np.cumsum(rng.normal(0, 0.002, t.size - 1))
    expected = reference_forecast(t, x, params)
    rel = t - t[-1]
    cells = cell_centroids(rel[None, :], np.ones((1, t.size)), np.zeros((1, t.size)),
                           x[None, :], np.ones((1, t.size), bool))
    smooth = smoothed_velocities(cells, np.array([params.sma_samples]), np.array([1.0]))
    fc = forecast_rows(smooth, v_bar=np.array([0.1]), fit_window_days=np.array([5.0]),
                       accelerating_angle=np.array([55.0]), min_fit_samples=np.array([6]),
                       min_velocity=np.array([1e-6]), relative_weights=np.array([True]),
                       confidence=np.array([0.95]), lead_from_lower=np.array([False]),
                       red_lead_hours=np.array([48.0]), orange_lead_hours=np.array([168.0]))
    assert expected.valid and fc.reported[0]
    assert fc.n_fit[0] == expected.n
    assert_allclose([fc.t_f[0], fc.lower[0], fc.upper[0]],
                    [expected.t_f, expected.lower, expected.upper], rtol=SAME_RTOL)
    assert_allclose(fc.hours[0], expected.t_f * 24.0, rtol=SAME_RTOL)
    assert fc.level[0] == Level.RED                         # about 12 h left


def test_no_forecast_for_a_steady_or_decelerating_series() -> None:
    t = np.arange(0.0, 3.0, 1.0 / 24.0)
    rows = np.stack([2.0 * t, 10.0 * np.sqrt(t + 0.1)])     # uniform, decelerating
    n = t.size
    cells = cell_centroids(np.tile(t - t[-1], (2, 1)), np.ones((2, n)), np.zeros((2, n)),
                           rows, np.ones((2, n), bool))
    smooth = smoothed_velocities(cells, np.array([3, 3]), np.array([1.0, 1.0]))
    ones = np.ones(2)
    fc = forecast_rows(smooth, v_bar=0.1 * ones, fit_window_days=5 * ones,
                       accelerating_angle=0 * ones, min_fit_samples=np.array([6, 6]),
                       min_velocity=1e-6 * ones, relative_weights=np.array([True, True]),
                       confidence=0.95 * ones, lead_from_lower=np.array([False, False]),
                       red_lead_hours=48 * ones, orange_lead_hours=168 * ones)
    assert not fc.reported.any()
    assert_array_equal(fc.level, [Level.NONE, Level.NONE])
    for name in ("t_f", "lower", "upper", "hours"):
        assert np.all(np.isfinite(getattr(fc, name)))
