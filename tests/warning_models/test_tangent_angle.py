"""Improved tangent angle (Xu et al. 2009): reference angles, levels, v̄, thresholds."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from pydantic import ValidationError

from warning_models.kinematics import estimate_kinematics
from warning_models.levels import Level
from warning_models.tangent_angle import (
    TangentAngleParams,
    TangentAngleThresholds,
    angle_levels,
    assess_tangent_angle,
    baseline_velocity,
    normalised_displacement,
    tangent_angle,
    tangent_angle_series,
)

DAY = 86_400.0
T0 = 1_780_000_000.0
ANGLE_RTOL = 1e-12            # closed-form angles
BASELINE_RTOL = 1e-12         # least-squares slope of an exact line
NOISY_V_BAR_RTOL = 0.02       # v̄ estimated from 30 days of 5 % noisy creep


def noisy_creep(days: float, v_bar: float, seed: int,
                step_h: float = 1.0) -> tuple[np.ndarray, ...]:
    """Steady creep at v_bar mm/day, each increment with 5 % multiplicative noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(0.0, days, step_h / 24.0)
    increments = v_bar * np.diff(t) * (1.0 + 0.05 * rng.standard_normal(t.size - 1))
    return T0 + t * DAY, np.r_[0.0, np.cumsum(increments)]


@pytest.mark.parametrize(("ratio", "expected"), [
    (1.0, 45.0),
    (np.tan(np.radians(80.0)), 80.0),
    (np.tan(np.radians(85.0)), 85.0),
    (0.0, 0.0),
    (-1.0, -45.0),
])
def test_reference_angles(ratio: float, expected: float) -> None:
    v_bar = 0.37
    assert_allclose(tangent_angle(ratio * v_bar, v_bar), expected, rtol=ANGLE_RTOL, atol=1e-12)


def test_uniform_velocity_is_exactly_45_degrees() -> None:
    assert tangent_angle(2.5, 2.5) == 45.0


@pytest.mark.parametrize("v_bar", [0.0, -1.0, float("nan")])
def test_a_non_positive_v_bar_is_refused_not_turned_into_nan(v_bar: float) -> None:
    with pytest.raises(ValueError, match="positive"):
        tangent_angle(1.0, v_bar)
    with pytest.raises(ValueError, match="positive"):
        normalised_displacement([1.0], v_bar)


def test_series_definition_equals_velocity_form() -> None:
    """arctan(ΔT/Δt) with T = S/v̄ equals arctan(v/v̄) on each linear piece."""
    t_days = np.array([0.0, 1.0, 2.5, 3.0, 5.0])
    velocities = np.array([0.8, 2.0, 6.0, 30.0])
    s = np.r_[0.0, np.cumsum(velocities * np.diff(t_days))]
    alpha, valid = tangent_angle_series(t_days, s, 0.8)
    assert_array_equal(valid, [False, True, True, True, True])
    assert_allclose(alpha[1:], tangent_angle(velocities, 0.8), rtol=ANGLE_RTOL)
    assert_allclose(normalised_displacement(s, 0.8), s / 0.8, rtol=ANGLE_RTOL)


@pytest.mark.parametrize(("alpha", "level"), [
    (-10.0, Level.NONE), (44.999, Level.NONE), (45.0, Level.BLUE), (54.999, Level.BLUE),
    (55.0, Level.YELLOW), (79.999, Level.YELLOW), (80.0, Level.ORANGE), (84.999, Level.ORANGE),
    (85.0, Level.RED), (89.9, Level.RED),
])
def test_default_level_boundaries(alpha: float, level: Level) -> None:
    assert angle_levels(np.array([alpha]))[0] == level


def test_invalid_angles_have_no_level() -> None:
    assert_array_equal(angle_levels([88.0, 88.0], valid=[True, False]), [Level.RED, Level.NONE])


def test_thresholds_load_from_dicts_and_must_ascend() -> None:
    custom = TangentAngleThresholds.model_validate(
        {"blue": 40, "yellow": 60, "orange": 78, "red": 86})
    assert angle_levels([59.0, 60.0, 86.0], custom).tolist() == [1, 2, 4]
    for bad in ({"yellow": 45}, {"orange": 90}, {"red": 79}, {"blue": -1}, {"purple": 3}):
        with pytest.raises(ValidationError):
            TangentAngleThresholds.model_validate(bad)


def test_baseline_velocity_of_an_exact_line() -> None:
    t = T0 + np.arange(0, 40 * DAY, 6 * 3600.0)
    s = 12.0 + 0.65 * (t - T0) / DAY
    v, n, ok = baseline_velocity(t, s, T0, T0 + 30 * DAY)
    assert ok and n == 121
    assert_allclose(v, 0.65, rtol=BASELINE_RTOL)


def test_baseline_needs_samples_and_coverage() -> None:
    t = T0 + np.arange(0, 5 * DAY, 3600.0)
    s = (t - T0) / DAY
    assert baseline_velocity(t, s, T0, T0 + 30 * DAY)[2] is False          # 5 of 30 days
    assert baseline_velocity(t[:5], s[:5], T0, T0 + 4 * 3600.0)[2] is False  # 5 < 10 samples


def test_v_bar_sources() -> None:
    t, s = noisy_creep(40.0, 0.5, seed=1)
    kin = estimate_kinematics(t, s)
    first = assess_tangent_angle(kin, TangentAngleParams(baseline_days=30))
    assert first.v_bar_source == "first_days"
    assert_allclose(first.v_bar, 0.5, rtol=NOISY_V_BAR_RTOL)
    window = assess_tangent_angle(kin, TangentAngleParams.model_validate(
        {"baseline_start": "2026-06-01T00:00:00Z", "baseline_end": "2026-06-20T00:00:00Z"}))
    assert window.v_bar_source == "baseline_window"
    assert_allclose(window.v_bar, 0.5, rtol=NOISY_V_BAR_RTOL)
    configured = assess_tangent_angle(kin, TangentAngleParams(v_bar_mm_per_day=0.25))
    assert configured.v_bar_source == "configured" and configured.v_bar == 0.25
    assert assess_tangent_angle(kin, v_bar=2.0).v_bar_source == "argument"


def test_without_a_usable_v_bar_nothing_is_judged() -> None:
    t = T0 + np.arange(0, 40 * DAY, 3600.0)
    flat = np.zeros(t.size)                          # v̄ = 0: the angle is undefined
    result = assess_tangent_angle(estimate_kinematics(t, flat))
    assert result.v_bar_source == "insufficient"
    assert not result.valid.any()
    assert_array_equal(result.level, Level.NONE)
    assert np.all(np.isfinite(result.angle))


def test_steady_creep_for_60_days_never_exceeds_blue() -> None:
    t, s = noisy_creep(60.0, 1.0, seed=7)
    result = assess_tangent_angle(estimate_kinematics(t, s), TangentAngleParams(baseline_days=20))
    assert result.valid.sum() > 1300
    assert result.level.max() == Level.BLUE
    assert_allclose(np.median(result.angle[result.valid]), 45.0, atol=1.0)


@pytest.mark.parametrize("bad", [
    {"baseline_start": "2026-06-01T00:00:00Z"},
    {"baseline_start": "2026-06-02T00:00:00Z", "baseline_end": "2026-06-01T00:00:00Z"},
    {"baseline_start": "2026-06-01T00:00:00", "baseline_end": "2026-06-02T00:00:00"},
    {"v_bar_mm_per_day": 0},
    {"thresholds": {"blue": 50, "yellow": 50}},
])
def test_bad_tangent_parameters_fail_when_loaded(bad: dict) -> None:
    with pytest.raises(ValidationError):
        TangentAngleParams.model_validate(bad)


def test_baseline_window_times_are_utc() -> None:
    params = TangentAngleParams.model_validate(
        {"baseline_start": "2026-06-01T08:00:00+08:00", "baseline_end": "2026-06-02T00:00:00Z"})
    assert params.baseline_start == datetime(2026, 6, 1, tzinfo=UTC)
