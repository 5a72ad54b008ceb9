"""The velocity-over-a-window model and its thresholds."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose
from pydantic import ValidationError

from warning_models.levels import Level
from warning_models.thresholds import (
    LevelThresholds,
    VelocityParameters,
)
from warning_models.velocity import (
    NO_LEVEL,
    VelocityModel,
    classify,
    confirmed_level,
    point_levels,
    windowed_slope,
)

EXACT = 1e-6        # rtol for noise-free lines
HOURS = 1.0 / 24.0  # one hour in days


def line(slopes_mm_day, n=25, span_days=1.0, offset=1000.0):
    """Rows of samples on exact lines, times from 0 to span_days."""
    t = np.tile(np.linspace(0.0, span_days, n), (len(slopes_mm_day), 1)) + 20_000.0
    x = offset + np.asarray(slopes_mm_day)[:, None] * (t - t[:, :1])
    return t, x, np.ones_like(t, dtype=bool)


def test_slope_of_exact_lines_many_sensors_at_once():
    slopes = np.array([0.0, 0.5, 3.0, -12.0, 250.0])
    t, x, valid = line(slopes)
    fit = windowed_slope(t, x, valid, window_hours=24.0)
    assert_allclose(fit.slope, slopes, rtol=EXACT, atol=1e-9)
    assert fit.sufficient.all()
    assert (fit.samples == 25).all()


def test_order_of_cells_does_not_matter_and_inputs_are_not_mutated():
    t, x, valid = line([7.0, -2.0])
    rng = np.random.default_rng(1)
    perm = rng.permutation(t.shape[1])
    t_copy, x_copy = t.copy(), x.copy()
    a = windowed_slope(t, x, valid, window_hours=24.0).slope
    b = windowed_slope(t[:, perm], x[:, perm], valid[:, perm], window_hours=24.0).slope
    assert_allclose(a, b, rtol=EXACT)
    np.testing.assert_array_equal(t, t_copy)
    np.testing.assert_array_equal(x, x_copy)


def test_only_samples_within_the_window_count():
    # 48 h of data: the first day at 100 mm/day, the second at 2 mm/day; window 24 h.
    t = np.linspace(0.0, 2.0, 97)[None, :]
    x = np.where(t <= 1.0, 100.0 * t, 100.0 + 2.0 * (t - 1.0))
    fit = windowed_slope(t, x, np.ones_like(t, dtype=bool), window_hours=24.0)
    assert_allclose(fit.slope, [2.0], rtol=EXACT)
    assert fit.samples[0] == 49


def test_noisy_series_within_three_standard_errors():
    # 5 mm/day, GNSS-like noise sigma 1 mm, one sample every 10 min over a day:
    # standard error of the slope = sigma / sqrt(sum (t - mean t)^2) = 0.29 mm/day.
    rng = np.random.default_rng(42)
    t = np.linspace(0.0, 1.0, 145)[None, :]
    x = 5.0 * t + rng.normal(0.0, 1.0, t.shape)
    fit = windowed_slope(t, x, np.ones_like(t, dtype=bool), window_hours=24.0)
    stderr = 1.0 / np.sqrt(((t - t.mean()) ** 2).sum())
    assert abs(fit.slope[0] - 5.0) < 3 * stderr


def test_insufficient_data_gives_no_level():
    model = VelocityModel()
    t = np.array([[0.0, 2 * HOURS, np.nan, np.nan],       # two samples only
                  [0.0, 0.5 * HOURS, 1 * HOURS, np.nan],   # three within one hour of 24
                  [0.0, 3 * HOURS, 6 * HOURS, np.nan]])    # three over a quarter of the window
    x = np.array([[0.0, 10.0, 0, 0], [0.0, 10.0, 20.0, 0], [0.0, 30.0, 60.0, 0]])
    valid = ~np.isnan(t)
    result = model.evaluate_samples("gnss", np.nan_to_num(t), x, valid)
    assert result.levels.tolist() == [NO_LEVEL, NO_LEVEL, Level.RED]
    assert np.isnan(result.value[:2]).all()
    assert_allclose(result.value[2], 240.0, rtol=EXACT)


def test_levels_follow_the_thresholds_of_each_kind():
    model = VelocityModel()
    gnss = model.thresholds.gnss
    above = 1.001  # just above a bound (a fitted slope is exact only to rounding)
    velocities = [0.5 * gnss.blue, gnss.blue * above, gnss.yellow * above, gnss.orange * above,
                  gnss.red * 2, -gnss.orange * above]
    t, x, valid = line(velocities)
    levels = model.evaluate_samples("gnss", t, x, valid).levels
    assert levels.tolist() == [Level.NONE, Level.BLUE, Level.YELLOW, Level.ORANGE, Level.RED,
                               Level.ORANGE]


def test_pore_pressure_rise_over_the_window_and_no_warning_for_a_fall():
    model = VelocityModel()
    t, x, valid = line([30.0, -30.0])  # kPa/day over a 24 h window: +30 and -30 kPa
    result = model.evaluate_samples("pore_pressure", t, x, valid)
    assert_allclose(result.value, [30.0, -30.0], rtol=EXACT)
    assert result.levels.tolist() == [Level.ORANGE, Level.NONE]
    assert result.unit == "kPa"


def test_mud_level_needs_confirmation_by_the_next_reading():
    assert_allclose(confirmed_level(np.array([3500.0, 100.0, 2500.0]),
                                    np.array([100.0, 3500.0, np.nan]))[:2], [100.0, 100.0])
    assert np.isnan(confirmed_level(np.array([2500.0]), np.array([np.nan])))[0]
    model = VelocityModel()
    t = np.array([[0.0, 0.01, 0.02]])
    result = model.evaluate_samples("mud_level", t, np.array([[500.0, 2200.0, 3100.0]]),
                                    np.ones_like(t, dtype=bool))
    assert result.levels.tolist() == [Level.ORANGE]


def test_rain_gauges_are_not_scored_by_this_model():
    t, x, valid = line([1.0])
    with pytest.raises(ValueError, match="rain_gauge"):
        VelocityModel().evaluate_samples("rain_gauge", t, x, valid)


def test_classify_and_point_levels():
    bounds = np.array([1.0, 2.0, 3.0, 4.0])
    assert classify(np.array([0.99, 1.0, 3.5, 4.0, np.nan]), bounds).tolist() == [0, 1, 3, 4, -1]
    levels = point_levels(np.array([1, 3, -1, 0, -1]), np.array([0, 0, 1, 2, 3]), 4)
    assert levels.tolist() == [3, -1, 0, -1]


def test_thresholds_must_increase_and_be_positive():
    with pytest.raises(ValidationError, match="must increase"):
        LevelThresholds(blue=5, yellow=5, orange=20, red=50)
    with pytest.raises(ValidationError, match="greater than 0"):
        LevelThresholds(blue=0, yellow=5, orange=20, red=50)
    with pytest.raises(ValidationError):
        VelocityParameters(min_samples=2)


def test_model_version_changes_with_the_configuration():
    a = VelocityModel()
    b = VelocityModel(parameters=VelocityParameters(window_hours=12))
    assert a.version == VelocityModel().version
    assert a.version != b.version
