"""Rainfall models against reference numbers computed by hand or published."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from pydantic import ValidationError

from warning_models.levels import Level
from warning_models.rainfall import (
    CAINE_1980,
    GUZZETTI_2008,
    IDThreshold,
    LevelBounds,
    RainfallParameters,
    assess_hourly,
    assess_rainfall,
    effective_antecedent_rainfall,
    hourly_totals,
    latest_accumulations,
    levels_from_ratio,
    rolling_accumulations,
    threshold_intensity,
)

PUBLISHED_RTOL = 1e-4     # reference intensities below are given to 5 significant figures
EXACT_ATOL = 1e-9         # sums of a few decimal numbers

# Caine (1980): I = 14.82 D^-0.39 -> 14.82 * 10^-0.39 = 6.0374, 14.82 * 24^-0.39 = 4.2911 mm/h.
CAINE_REFERENCE = {1.0: 14.82, 10.0: 6.0374, 24.0: 4.2911}
# Guzzetti et al. (2008): I = 2.20 D^-0.44 -> 0.79877 at 10 h, 0.54341 at 24 h.
GUZZETTI_REFERENCE = {1.0: 2.20, 10.0: 0.79877, 24.0: 0.54341}

# Hourly series 1, 2, ..., 72 mm: the last w hours sum to w*(145 - w)/2.
RAMP = np.arange(1.0, 73.0)
RAMP_LATEST = {1: 72.0, 3: 213.0, 6: 417.0, 12: 798.0, 24: 1452.0, 72: 2628.0}


def test_caine_1980_threshold() -> None:
    durations = np.array(list(CAINE_REFERENCE))
    assert_allclose(threshold_intensity(CAINE_1980, durations), list(CAINE_REFERENCE.values()),
                    rtol=PUBLISHED_RTOL)


def test_guzzetti_2008_threshold() -> None:
    durations = np.array(list(GUZZETTI_REFERENCE))
    assert_allclose(threshold_intensity(GUZZETTI_2008, durations),
                    list(GUZZETTI_REFERENCE.values()), rtol=PUBLISHED_RTOL)


def test_threshold_is_undefined_outside_its_duration_range() -> None:
    # Caine: 10 minutes to 10 days.
    values = threshold_intensity(CAINE_1980, np.array([0.1, 1 / 6, 240.0, 241.0]))
    assert np.isnan(values[[0, 3]]).all()
    assert np.isfinite(values[[1, 2]]).all()


def test_latest_accumulations_of_a_ramp() -> None:
    got = latest_accumulations(RAMP[None, :])
    assert_allclose(got[0], list(RAMP_LATEST.values()), atol=EXACT_ATOL)


def test_rolling_accumulations_of_a_ramp() -> None:
    got = rolling_accumulations(RAMP)                    # (1 point, 6 windows, 72 hours)
    assert got.shape == (1, 6, 72)
    assert_allclose(got[0, :, -1], list(RAMP_LATEST.values()), atol=EXACT_ATOL)
    # 3-hour sum ending at hour index 9 (values 8, 9, 10); undefined before 3 hours exist.
    assert got[0, 1, 9] == pytest.approx(27.0, abs=EXACT_ATOL)
    assert np.isnan(got[0, 1, :2]).all() and np.isfinite(got[0, 1, 2:]).all()
    assert_allclose(got[0, 0], RAMP, atol=EXACT_ATOL)                  # 1 h = the series


def test_missing_hour_makes_only_the_windows_holding_it_no_data() -> None:
    rain = np.vstack([RAMP, RAMP])
    rain[1, 68] = np.nan                                  # the hour before the last three
    got = latest_accumulations(rain)
    assert_allclose(got[0], list(RAMP_LATEST.values()), atol=EXACT_ATOL)
    assert_allclose(got[1, :2], [72.0, 213.0], atol=EXACT_ATOL)       # 1 h and 3 h still whole
    assert np.isnan(got[1, 2:]).all()
    rolling = rolling_accumulations(rain)[1, 1]           # 3-hour sums of the second point
    assert np.isnan(rolling[68:71]).all() and np.isfinite(rolling[[67, 71]]).all()


def test_short_series_has_no_long_windows() -> None:
    got = latest_accumulations(np.ones((2, 10)))
    assert_allclose(got[:, :3], [[1.0, 3.0, 6.0]] * 2, atol=EXACT_ATOL)
    assert np.isnan(got[:, 3:]).all()


def test_hourly_totals_from_irregular_reports() -> None:
    # Hours (7, 8], (8, 9], (9, 10] ending at t = 10 h; a report counts in the hour it closes.
    times = np.array([[7.0, 7.5, 8.0, 9.99, 10.0, 10.5],
                      [9.2, 9.4, np.nan, np.nan, np.nan, np.nan]])
    amounts = np.array([[1.0, 2.0, 4.0, 8.0, 16.0, 32.0],
                        [0.5, 0.5, np.nan, np.nan, np.nan, np.nan]])
    got = hourly_totals(times, amounts, end=10.0, hours=3)
    assert_allclose(got, [[6.0, 0.0, 24.0], [0.0, 0.0, 1.0]], atol=EXACT_ATOL)


def test_hourly_totals_accept_datetime64() -> None:
    start = np.datetime64("2026-07-01T00:00")
    times = start + np.array([[30, 90, 150]], dtype="timedelta64[m]")
    got = hourly_totals(times, np.array([[1.0, 2.0, 3.0]]), end=start + np.timedelta64(3, "h"),
                        hours=3)
    assert_allclose(got, [[1.0, 2.0, 3.0]], atol=EXACT_ATOL)


def test_effective_antecedent_rainfall_by_hand() -> None:
    daily = np.array([[10.0, 0.0, 20.0, 5.0],     # 10 + 0.8*0 + 0.64*20 + 0.512*5 = 25.36
                      [0.0, 30.0, 30.0, 0.0]])    # 0.8*30 + 0.64*30 = 43.2
    assert_allclose(effective_antecedent_rainfall(daily, k=0.8), [25.36, 43.2], atol=EXACT_ATOL)
    # K = 0.9: 0.9*30 + 0.81*30 = 51.3
    assert effective_antecedent_rainfall(np.array([0.0, 30.0, 30.0]), k=0.9)[0] == \
        pytest.approx(51.3, abs=EXACT_ATOL)
    assert np.isnan(effective_antecedent_rainfall(np.array([[1.0, np.nan]])))[0]


def test_levels_from_ratio_bounds() -> None:
    bounds = LevelBounds(blue=0.7, yellow=1.0, orange=1.5, red=2.5)
    got = levels_from_ratio(np.array([0.0, 0.69, 0.7, 1.0, 1.49, 1.5, 2.5, 9.0, np.nan]), bounds)
    assert_array_equal(got, [Level.NONE, Level.NONE, Level.BLUE, Level.YELLOW, Level.YELLOW,
                             Level.ORANGE, Level.RED, Level.RED, Level.NONE])


def test_assessment_takes_the_critical_duration() -> None:
    # I_thr = 10 D^-0.5: 10 mm/h at 1 h, 5 at 4 h, 2 at 25 h; 0.5 h is outside the range.
    params = RainfallParameters(threshold={"name": "test", "alpha": 10, "beta": 0.5,
                                           "min_duration_h": 1, "max_duration_h": 100})
    durations = np.array([0.5, 1.0, 4.0, 25.0])
    acc = np.array([[50.0, 5.0, 10.0, 25.0],        # ratios 0.5, 0.5, 0.5 -> none
                    [50.0, 12.0, 30.0, 50.0],       # 1.2, 1.5, 1.0 -> orange at 4 h
                    [np.nan, np.nan, np.nan, np.nan],
                    [0.0, 30.0, np.nan, 0.0]])      # 3.0 at 1 h -> red
    snapshot = acc.copy()
    got = assess_rainfall(acc, durations, params)
    assert_array_equal(acc, snapshot)
    assert_array_equal(got.level, [Level.NONE, Level.ORANGE, Level.NONE, Level.RED])
    assert_allclose(got.ratio, [0.5, 1.5, np.nan, 3.0], atol=EXACT_ATOL)
    assert_allclose(got.duration_h[[1, 3]], [4.0, 1.0])
    assert_allclose(got.intensity_mm_h[[1, 3]], [7.5, 30.0], atol=EXACT_ATOL)
    assert_allclose(got.threshold_mm_h[[1, 3]], [5.0, 10.0], atol=EXACT_ATOL)
    assert np.isnan([got.duration_h[2], got.intensity_mm_h[2], got.threshold_mm_h[2]]).all()
    assert got.level.dtype == np.int8


def test_effective_rainfall_bounds_raise_the_level() -> None:
    params = RainfallParameters(effective_rainfall_mm={"blue": 50, "yellow": 100, "orange": 150,
                                                       "red": 200})
    hourly = np.zeros((2, 72))
    daily = np.array([[120.0] + [0.0] * 14, [10.0] + [0.0] * 14])
    got = assess_hourly(hourly, params, daily)
    assert_array_equal(got.level, [Level.YELLOW, Level.NONE])
    assert_array_equal(got.level_id, [Level.NONE, Level.NONE])
    assert_allclose(got.effective_rainfall_mm, [120.0, 10.0])


def test_caine_storm_reaches_yellow_at_24_hours() -> None:
    # 24 h at exactly Caine's threshold intensity (4.2911 mm/h) gives ratio 1.0 -> yellow.
    hourly = np.zeros((1, 72))
    hourly[0, -24:] = CAINE_REFERENCE[24.0]
    got = assess_hourly(hourly, RainfallParameters())
    assert got.ratio[0] == pytest.approx(1.0, rel=PUBLISHED_RTOL)
    assert got.duration_h[0] == 24.0


def test_parameters_from_configuration() -> None:
    assert RainfallParameters.model_validate({"threshold": "guzzetti_2008"}).threshold == \
        GUZZETTI_2008
    regional = RainfallParameters.model_validate({
        "threshold": {"name": "sichuan", "alpha": 18.2, "beta": 0.5, "min_duration_h": 1,
                      "max_duration_h": 72},
        "antecedent": {"k": 0.85, "days": 10}})
    assert regional.threshold.alpha == 18.2 and regional.antecedent.k == 0.85
    assert RainfallParameters().threshold == CAINE_1980


@pytest.mark.parametrize("bad", [
    {"threshold": "nobody_2020"},
    {"threshold": {"name": "x", "alpha": 10, "beta": 0.5, "min_duration_h": 10,
                   "max_duration_h": 1}},
    {"threshold": {"name": "x", "alpha": -1, "beta": 0.5, "min_duration_h": 1,
                   "max_duration_h": 10}},
    {"ratio_bounds": {"blue": 1.0, "yellow": 0.9, "orange": 1.5, "red": 2.0}},
    {"antecedent": {"k": 1.0}},
    {"windows_h": [24, 6]},
    {"windows_h": [1.5, 3]},        # the scorer's series are hourly: windows are whole hours
    {"windows_h": [0.5, 3]},
])
def test_bad_configuration_fails_when_loaded(bad: dict) -> None:
    with pytest.raises(ValidationError):
        RainfallParameters.model_validate(bad)


def test_negative_rain_is_refused() -> None:
    with pytest.raises(ValueError, match=">= 0"):
        latest_accumulations(np.array([[1.0, -0.1]]))
    with pytest.raises(ValueError, match=">= 0"):
        effective_antecedent_rainfall(np.array([-1.0]))


def test_threshold_model_is_frozen() -> None:
    with pytest.raises(ValidationError):
        CAINE_1980.alpha = 1.0  # type: ignore[misc]
    assert isinstance(CAINE_1980, IDThreshold)
