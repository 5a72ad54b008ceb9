"""Velocity and acceleration from irregular, noisy displacement series."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from pydantic import ValidationError

from warning_models.kinematics import (
    KinematicsParams,
    estimate_kinematics,
    interval_velocity,
    local_polynomial_rates,
)

DAY = 86_400.0
T0 = 1_780_000_000.0          # 2026-05-28, event time origin of the synthetic series
EXACT_VELOCITY_RTOL = 1e-9    # local quadratic fit of an exact quadratic
EXACT_ACCELERATION_RTOL = 1e-8
SPIKE_VELOCITY_RTOL = 1e-9    # rejected spikes leave a linear series exact


def irregular_times(n: int, seed: int = 0) -> np.ndarray:
    """Sample times (s) with steps between 0.3 h and 1.7 h."""
    rng = np.random.default_rng(seed)
    return T0 + np.cumsum(rng.uniform(0.3, 1.7, n)) * 3600.0


def test_quadratic_displacement_gives_exact_rates_on_irregular_samples() -> None:
    t = irregular_times(400)
    days = (t - T0) / DAY
    s = 2.0 + 0.7 * days + 0.05 * days**2          # mm; v = 0.7 + 0.1 d, a = 0.1 mm/day²
    kin = estimate_kinematics(t, s)
    ok = kin.valid_velocity
    assert ok.sum() > 350
    assert_allclose(kin.velocity[ok], 0.7 + 0.1 * days[ok], rtol=EXACT_VELOCITY_RTOL)
    assert_allclose(kin.acceleration[ok], 0.1, rtol=EXACT_ACCELERATION_RTOL)
    assert_array_equal(kin.valid_acceleration, ok)


def test_centred_window_is_exact_too() -> None:
    t = irregular_times(200, seed=1)
    days = (t - T0) / DAY
    s = 1.0 - 0.3 * days + 0.2 * days**2
    kin = estimate_kinematics(t, s, KinematicsParams(alignment="centred", window_hours=12))
    ok = kin.valid_velocity
    assert ok.sum() > 150
    assert_allclose(kin.velocity[ok], -0.3 + 0.4 * days[ok], rtol=EXACT_VELOCITY_RTOL, atol=1e-9)


@pytest.mark.parametrize(("alignment", "changes"), [("centred", True), ("trailing", False)])
def test_only_the_centred_window_looks_at_later_samples(alignment: str, changes: bool) -> None:
    t = T0 + np.arange(0, 4 * DAY, 3600.0)
    s = 0.5 * (t - T0) / DAY
    later = s.copy()
    later[61:] += 0.2 * (t[61:] - t[61]) / DAY        # the slope changes after sample 60
    params = KinematicsParams(alignment=alignment)
    a = estimate_kinematics(t, s, params)
    b = estimate_kinematics(t, later, params)
    assert (a.velocity[60] != b.velocity[60]) == changes


def test_degree_one_gives_velocity_and_no_acceleration() -> None:
    t = irregular_times(100)
    s = 3.0 + 1.5 * (t - T0) / DAY
    kin = estimate_kinematics(t, s, KinematicsParams(degree=1, min_samples=3))
    assert_allclose(kin.velocity[kin.valid_velocity], 1.5, rtol=EXACT_VELOCITY_RTOL)
    assert not kin.valid_acceleration.any()
    assert_array_equal(kin.acceleration, 0.0)


def test_duplicate_times_keep_the_median_value() -> None:
    t = np.array([0.0, 3600.0, 3600.0, 3600.0, 7200.0, 7200.0]) + T0
    s = np.array([1.0, 5.0, 2.0, 3.0, 4.0, 6.0])
    kin = estimate_kinematics(t, s)
    assert_array_equal(kin.t, T0 + np.array([0.0, 3600.0, 7200.0]))
    assert_array_equal(kin.displacement, [1.0, 3.0, 5.0])
    assert_array_equal(kin.multiplicity, [1, 3, 2])


def test_order_of_arrival_does_not_change_anything() -> None:
    t = irregular_times(300, seed=2)
    rng = np.random.default_rng(3)
    s = 0.5 * (t - T0) / DAY + rng.normal(0, 0.05, t.size)
    s[[40, 41, 200]] += [30.0, -25.0, 40.0]
    t = np.r_[t, t[:20]]                        # duplicates with other values
    s = np.r_[s, s[:20] + 0.01]
    order = rng.permutation(t.size)
    a = estimate_kinematics(t, s)
    b = estimate_kinematics(t[order], s[order])
    for name in ("t", "displacement", "velocity", "acceleration", "valid_velocity",
                 "interval_velocity", "valid_interval", "spike", "multiplicity", "segment"):
        assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


def test_spikes_are_flagged_and_do_not_bend_the_rates() -> None:
    t = T0 + np.arange(0, 10 * DAY, 3600.0)
    s = 0.8 * (t - T0) / DAY
    spiked = s.copy()
    where = np.array([30, 31, 100, 170])
    spiked[where] += np.array([50.0, 48.0, -40.0, 25.0])
    kin = estimate_kinematics(t, spiked)
    assert_array_equal(np.flatnonzero(kin.spike), where)
    assert_allclose(kin.velocity[kin.valid_velocity], 0.8, rtol=SPIKE_VELOCITY_RTOL)
    assert_allclose(kin.interval_velocity[kin.valid_interval], 0.8, rtol=SPIKE_VELOCITY_RTOL)
    assert not kin.valid_interval[where].any()


def test_gaps_are_reported_and_never_bridged() -> None:
    t = np.r_[np.arange(0, 3 * DAY, 3600.0), np.arange(5 * DAY, 8 * DAY, 3600.0)] + T0
    s = np.where(t < T0 + 4 * DAY, 1.0, 2.0) * (t - T0) / DAY    # rate changes in the gap
    kin = estimate_kinematics(t, s, KinematicsParams(max_gap_hours=6))
    assert_array_equal(kin.gaps, [[T0 + 3 * DAY - 3600.0, T0 + 5 * DAY]])
    assert_array_equal(np.unique(kin.segment), [0, 1])
    after = kin.segment == 1
    first_after = np.flatnonzero(after)[0]
    assert not kin.valid_interval[first_after]
    assert not kin.valid_velocity[first_after]         # not enough span after the gap yet
    assert_allclose(kin.velocity[after & kin.valid_velocity], 2.0, rtol=EXACT_VELOCITY_RTOL)
    assert_allclose(kin.velocity[~after & kin.valid_velocity], 1.0, rtol=EXACT_VELOCITY_RTOL)


def test_datetime64_and_seconds_give_the_same_result() -> None:
    t = irregular_times(80)
    s = 0.1 * ((t - T0) / DAY) ** 2
    stamps = (t * 1e9).astype("int64").astype("datetime64[ns]")
    a = estimate_kinematics(t, s)
    b = estimate_kinematics(stamps, s)
    assert_allclose(b.t, a.t, rtol=0, atol=1e-6)
    assert_allclose(b.velocity, a.velocity, rtol=1e-6, atol=1e-9)


def test_non_finite_readings_and_nat_are_dropped() -> None:
    t = np.array(["2026-06-01T00", "NaT", "2026-06-01T02", "2026-06-01T03"], dtype="datetime64[s]")
    kin = estimate_kinematics(t, [1.0, 2.0, np.nan, 4.0])
    assert kin.n == 2 and kin.n_dropped == 2 and kin.n_input == 4
    assert np.all(np.isfinite(kin.velocity))


def test_inputs_are_not_modified() -> None:
    t = irregular_times(50)[::-1].copy()
    s = np.linspace(0, 5, 50)
    t_before, s_before = t.copy(), s.copy()
    estimate_kinematics(t, s)
    assert_array_equal(t, t_before)
    assert_array_equal(s, s_before)


@pytest.mark.parametrize("n", [0, 1, 2, 3])
def test_tiny_series_are_insufficient_not_nan(n: int) -> None:
    kin = estimate_kinematics(T0 + 3600.0 * np.arange(n), np.arange(n, dtype=float))
    assert kin.n == n
    assert not kin.valid_velocity.any() and not kin.valid_acceleration.any()
    assert np.all(np.isfinite(kin.velocity)) and np.all(np.isfinite(kin.acceleration))


def test_trailing_estimates_do_not_change_when_later_data_arrives() -> None:
    t = irregular_times(240, seed=4)
    rng = np.random.default_rng(5)
    s = np.cumsum(rng.uniform(0.0, 0.1, t.size))
    full = estimate_kinematics(t, s)
    early = estimate_kinematics(t[:150], s[:150])
    # spike flags of the newest window // 2 samples are provisional (centred Hampel window)
    settled = slice(0, 150 - KinematicsParams().spikes.window)
    assert_array_equal(early.velocity[settled], full.velocity[settled])
    assert_array_equal(early.valid_velocity[settled], full.valid_velocity[settled])


def test_evaluate_from_computes_only_the_newest_samples() -> None:
    t = irregular_times(120, seed=6)
    s = 0.3 * (t - T0) / DAY + 0.01 * ((t - T0) / DAY) ** 2
    full = estimate_kinematics(t, s)
    newest = estimate_kinematics(t, s, evaluate_from=t[-5])
    assert_array_equal(newest.velocity[-5:], full.velocity[-5:])
    assert not newest.valid_velocity[:-5].any()


def test_interval_velocity_skips_unusable_samples() -> None:
    t = np.array([0.0, 1.0, 2.0, 4.0]) * DAY
    y = np.array([0.0, 99.0, 2.0, 6.0])
    v, mid, ok = interval_velocity(t, y, usable=[True, False, True, True])
    assert_array_equal(ok, [False, False, True, True])
    assert_allclose(v[ok], [1.0, 2.0])
    assert_allclose(mid[ok], [1.0 * DAY, 3.0 * DAY])


def test_local_fit_needs_enough_samples_and_span() -> None:
    t = np.array([0.0, 600.0, 1200.0, 1800.0, 2400.0, 86_400.0])
    y = np.arange(6, dtype=float)
    _, _, ok_v, _ = local_polynomial_rates(t, y, window_s=DAY, min_samples=5)
    # five samples in 40 minutes do not span half a day; the sixth closes the window
    assert_array_equal(ok_v, [False, False, False, False, False, True])


@pytest.mark.parametrize("bad", [
    {"window_hours": 0},
    {"degree": 3},
    {"min_samples": 3, "degree": 2},
    {"spikes": {"window": 8}},
    {"spikes": {"window": 5, "min_window_samples": 7}},
    {"max_gap_hours": -1},
    {"unknown": 1},
])
def test_bad_parameters_fail_when_loaded(bad: dict) -> None:
    with pytest.raises(ValidationError):
        KinematicsParams.model_validate(bad)


def test_parameters_load_from_a_plain_dict() -> None:
    params = KinematicsParams.model_validate(
        {"window_hours": 12, "alignment": "centred", "spikes": {"k": 4.0}})
    assert params.window_hours == 12 and params.spikes.k == 4.0 and params.degree == 2
