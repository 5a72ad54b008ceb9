"""Inverse-velocity time of failure (Fukuzono 1985; Voight 1988; Carlà et al. 2017)."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from pydantic import ValidationError

from warning_models.inverse_velocity import (
    InverseVelocityParams,
    fit_inverse_velocity,
    forecast_failure,
    forecast_from_kinematics,
    forecast_levels,
    moving_average,
)
from warning_models.kinematics import estimate_kinematics
from warning_models.levels import Level
from warning_models.tangent_angle import TangentAngleParams, assess_tangent_angle

DAY = 86_400.0
T0 = 1_780_000_000.0
EXACT_TF_RTOL = 1e-9          # noise-free linear inverse velocity
EXACT_BOUNDS_RTOL = 1e-6      # the interval's half-width goes with the residuals' square root,
                              # so rounding error ~1e-16 widens it to ~1e-8, not to zero
VOIGHT_TF_RTOL = 0.10         # of the remaining time, 5 % noise, once α ≥ 85°
COVERAGE_95_RANGE = (0.90, 0.99)  # empirical coverage of a 95 % Fieller interval, 400 fits


def voight_series(seed: int, *, t_f: float = 60.0, onset: float = 30.0, v_bar: float = 1.0,
                  end_before: float = 0.25) -> tuple[np.ndarray, np.ndarray]:
    """Uniform creep at v_bar, then Voight's law with α = 2 from ``onset`` to failure at t_f.

    v = 1 / (A (α - 1) (t_f - t)) with A = 1 / (v_bar (t_f - onset)), so the
    velocity is continuous at the onset. Displacement is the exact integral
    over each hourly step times (1 + 0.05 ε), ε standard normal (seeded).
    Returns event times (s) and cumulative displacement (mm), up to
    ``end_before`` days before failure.
    """
    rng = np.random.default_rng(seed)
    t = np.arange(0.0, t_f - end_before, 1.0 / 24.0)
    big_a = 1.0 / (v_bar * (t_f - onset))
    after = np.maximum(t, onset)
    exact = v_bar * np.minimum(t, onset) + np.log((t_f - onset) / (t_f - after)) / big_a
    increments = np.diff(exact) * (1.0 + 0.05 * rng.standard_normal(t.size - 1))
    return T0 + t * DAY, np.r_[0.0, np.cumsum(increments)]


def test_exact_linear_inverse_velocity_recovers_the_failure_time() -> None:
    t = np.linspace(-3.0, -0.5, 40)             # days before an arbitrary origin
    inverse = 0.04 * (1.7 - t)                   # 1/v = 0 at t_f = 1.7 days
    fit = fit_inverse_velocity(t, inverse)
    assert fit.valid
    assert_allclose(fit.t_f, 1.7, rtol=EXACT_TF_RTOL)
    assert_allclose([fit.lower, fit.upper], 1.7, rtol=EXACT_BOUNDS_RTOL)
    assert_allclose(fit.slope, -0.04, rtol=EXACT_TF_RTOL)
    assert_allclose(fit.r2, 1.0, rtol=EXACT_TF_RTOL)


def test_forecast_on_exact_velocities_recovers_the_failure_time() -> None:
    t_f = T0 + 10.0 * DAY
    t = T0 + np.arange(0.0, 9.5 * DAY, 3600.0)
    v = 3.0 / ((t_f - t) / DAY)                   # mm/day
    params = InverseVelocityParams(sma_samples=1, lma_samples=1)
    forecast = forecast_failure(t, v, angle=np.full(t.size, 89.0), params=params)
    assert forecast.reported.sum() > 200
    assert_allclose(forecast.t_f[forecast.reported] - T0, 10.0 * DAY, rtol=EXACT_TF_RTOL)
    hours_left = (t_f - t[forecast.reported]) / 3600.0
    assert_allclose(forecast.hours_to_failure[forecast.reported], hours_left, rtol=EXACT_TF_RTOL)


@pytest.mark.parametrize("weighting", ["relative", "none"])
def test_fieller_interval_covers_the_true_failure_time(weighting: str) -> None:
    rng = np.random.default_rng(11)
    t = np.linspace(-4.0, 0.0, 48)
    true_inverse = (2.0 - t) / 30.0
    hits = 0
    for _ in range(400):
        noise = 1.0 + 0.05 * rng.standard_normal(t.size)   # multiplicative velocity noise
        inverse = true_inverse / noise
        weights = None if weighting == "none" else (1.0 / inverse) ** 2
        fit = fit_inverse_velocity(t, inverse, 0.95, weights)
        hits += fit.valid and fit.lower <= 2.0 <= fit.upper
    assert COVERAGE_95_RANGE[0] <= hits / 400 <= COVERAGE_95_RANGE[1]


def test_no_forecast_without_a_significantly_falling_inverse_velocity() -> None:
    t = np.linspace(0.0, 3.0, 30)
    assert not fit_inverse_velocity(t, 0.1 + 0.01 * t).valid        # decelerating
    assert not fit_inverse_velocity(t, np.full(30, 0.1)).valid      # uniform
    noisy = 0.1 + np.random.default_rng(0).normal(0, 0.05, 30) - 1e-4 * t
    assert not fit_inverse_velocity(t, noisy).valid                 # slope lost in noise
    assert not fit_inverse_velocity(t[:2], 0.1 - t[:2]).valid       # too few points


def test_the_tangent_angle_gates_the_forecast() -> None:
    t = T0 + np.arange(0.0, 4 * DAY, 3600.0)
    v = 3.0 / ((T0 + 5 * DAY - t) / DAY)
    angle = np.where(np.arange(t.size) < 80, 79.99, 80.0)
    forecast = forecast_failure(t, v, angle=angle)
    assert not forecast.reported[:80].any()
    assert forecast.reported[80:].all()


def test_the_fit_stays_inside_the_accelerating_part() -> None:
    t = T0 + np.arange(0.0, 6 * DAY, 3600.0)
    v = 3.0 / ((T0 + 7 * DAY - t) / DAY)
    v[:48] = 50.0                          # fast but not accelerating before day 2 ...
    angle = np.where(np.arange(t.size) == 47, 30.0, 85.0)   # ... and the angle dropped there
    params = InverseVelocityParams(sma_samples=1, lma_samples=1)
    forecast = forecast_failure(t, v, angle=angle, params=params)
    assert_allclose(forecast.t_f[forecast.reported] - T0, 7 * DAY, rtol=EXACT_TF_RTOL)


def test_moving_average_is_placed_at_the_mean_time_and_never_spans_segments() -> None:
    values = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    times = np.array([0.0, 1.0, 2.0, 3.0, 10.0, 11.0])
    valid = np.array([True, True, False, True, True, True])
    segment = np.array([0, 0, 0, 0, 1, 1])
    average, when, ok = moving_average(values, times, valid, 2, segment)
    assert_array_equal(ok, [False, True, False, True, False, True])
    assert_allclose(average[ok], [1.5, 3.0, 5.5])
    assert_allclose(when[ok], [0.5, 2.0, 10.5])


@pytest.mark.parametrize(("hours", "lead_level"), [
    (-1.0, Level.RED), (0.0, Level.RED), (47.9, Level.RED), (48.0, Level.ORANGE),
    (167.9, Level.ORANGE), (168.0, Level.NONE),
])
def test_lead_time_levels(hours: float, lead_level: Level) -> None:
    assert forecast_levels([hours], [True], InverseVelocityParams())[0] == lead_level
    assert forecast_levels([hours], [False], InverseVelocityParams())[0] == Level.NONE


def test_lead_from_lower_bound_is_more_cautious() -> None:
    t, s = voight_series(seed=5)
    kin = estimate_kinematics(t, s)
    angle = assess_tangent_angle(kin, TangentAngleParams(v_bar_mm_per_day=1.0))
    estimate = forecast_from_kinematics(kin, angle)
    cautious = forecast_from_kinematics(kin, angle, InverseVelocityParams(lead_from="lower_bound"))
    both = estimate.reported & cautious.reported
    assert both.sum() > 50
    assert np.all(cautious.hours_to_failure[both] <= estimate.hours_to_failure[both])
    assert np.all(cautious.level[both] >= estimate.level[both])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_voight_failure_time_within_10_percent_of_the_remaining_time(seed: int) -> None:
    t_f = T0 + 60.0 * DAY
    t, s = voight_series(seed)
    kin = estimate_kinematics(t, s)
    angle = assess_tangent_angle(kin, TangentAngleParams(v_bar_mm_per_day=1.0))
    forecast = forecast_from_kinematics(kin, angle)
    critical = angle.valid & (angle.angle >= 85.0)
    assert critical.sum() > 40
    assert forecast.reported[critical].all()
    remaining = t_f - kin.t[critical]
    error = np.abs(forecast.t_f[critical] - t_f)
    assert np.all(error <= VOIGHT_TF_RTOL * remaining), np.max(error / remaining)
    assert not forecast.reported[angle.angle < 80.0].any()


@pytest.mark.parametrize("bad", [
    {"sma_samples": 5, "lma_samples": 3},
    {"red_lead_hours": 48, "orange_lead_hours": 48},
    {"gate_angle_deg": 90},
    {"accelerating_angle_deg": 81},
    {"confidence": 0.4},
    {"fit_window_days": 0},
    {"min_fit_samples": 2},
])
def test_bad_inverse_velocity_parameters_fail_when_loaded(bad: dict) -> None:
    with pytest.raises(ValidationError):
        InverseVelocityParams.model_validate(bad)
