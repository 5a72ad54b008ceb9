"""The scorer's rain state (``streams.scorer_rain.RainSeriesState``) on hand-made readings:
where a reading's rain lands in hours and rain days, in event time.

A reading is the mean intensity (mm/h) over the interval ending at its event time, so its
rain belongs to the hours counted back from it and to the rain day that interval ends in.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from streams.scorer_index import SeriesIndex
from streams.scorer_rain import HOUR_NS, RainSeriesState
from warning_models.rainfall_fusion import RainfallFusionParams, RainfallScoringConfig

MM_ATOL = 1e-9                 # sums of a few exact products
T0_NS = 1_780_012_800 * 10**9   # 2026-05-29 00:00 UTC, 08:00 Beijing time: a whole hour
BEIJING_MIDNIGHT_NS = T0_NS + 16 * HOUR_NS       # 2026-05-30 00:00 at UTC+8


def state_with(sensor: str, config: RainfallScoringConfig | None = None
               ) -> tuple[RainSeriesState, np.ndarray]:
    index = SeriesIndex()
    index.set_known_points({"P": "landslide"})
    slot = index.register(("P", sensor, "rain_gauge"))
    state = RainSeriesState(config)
    return state, state.rows(np.array([slot]), index, create=True)


def add(state: RainSeriesState, rows: np.ndarray, t_ns: int, mm_per_h: float) -> None:
    state.add(rows, np.array([t_ns], dtype=np.int64), np.array([mm_per_h]))


def test_an_hourly_report_at_local_midnight_is_rain_of_the_day_that_ends() -> None:
    # Reports at 23:00 and 00:00 Beijing time: both are rain of the evening before midnight.
    state, rows = state_with("RG1")
    add(state, rows, BEIJING_MIDNIGHT_NS - HOUR_NS, 4.0)
    add(state, rows, BEIJING_MIDNIGHT_NS, 6.0)
    days = state.daily(rows, np.array([BEIJING_MIDNIGHT_NS]), 1)
    assert_allclose(days, [[10.0]], atol=MM_ATOL)
    # one hour later the new day holds only the rain of its first hour
    add(state, rows, BEIJING_MIDNIGHT_NS + HOUR_NS, 2.0)
    days = state.daily(rows, np.array([BEIJING_MIDNIGHT_NS + HOUR_NS]), 2)
    assert_allclose(days, [[2.0, 10.0]], atol=MM_ATOL)


def test_a_grid_reading_covers_the_grid_interval_hour_by_hour() -> None:
    # A 3-hourly rainfall grid: 10 mm/h over 3 h is 30 mm, 10 mm in each of the three hours
    # (not 30 mm in the last one, which would read as 30 mm/h over 1 h).
    config = RainfallScoringConfig(fusion=RainfallFusionParams(grid_interval_hours=3.0))
    state, rows = state_with("grid:rainfall_observed", config)
    for k in (1, 2):
        add(state, rows, T0_NS + 3 * k * HOUR_NS, 10.0)
    hours = state.hourly(rows, np.array([T0_NS + 6 * HOUR_NS]), 6)
    assert_allclose(hours, [[10.0] * 6], atol=MM_ATOL)


@pytest.mark.parametrize(("max_interval_h", "mm_per_h", "expected"), [
    # the report at 6 h stands for its last 3 h: 2 mm in each
    (3.0, 2.0, [1.0, 0.0, 0.0, 2.0, 2.0, 2.0]),
    # for its last 2.5 h, 10 mm: 4 mm in each of the last two hours, 2 mm in the one before
    (2.5, 4.0, [1.0, 0.0, 0.0, 2.0, 4.0, 4.0]),
])
def test_a_gauge_report_after_a_long_gap_is_spread_over_its_capped_interval(
        max_interval_h: float, mm_per_h: float, expected: list[float]) -> None:
    config = RainfallScoringConfig(
        fusion=RainfallFusionParams(max_report_interval_hours=max_interval_h))
    state, rows = state_with("RG1", config)
    add(state, rows, T0_NS + HOUR_NS, 1.0)
    add(state, rows, T0_NS + 6 * HOUR_NS, mm_per_h)
    hours = state.hourly(rows, np.array([T0_NS + 6 * HOUR_NS]), 6)
    assert_allclose(hours, [expected], atol=MM_ATOL)


def test_history_added_at_once_counts_from_its_oldest_reading() -> None:
    # A preload adds many readings of a series in one call: the series' data starts at the
    # oldest one, so the 3 h window is complete.
    state, rows = state_with("RG1")
    times = T0_NS + HOUR_NS * np.arange(1, 4)
    state.add(np.repeat(rows, 3), times, np.array([1.0, 2.0, 3.0]))
    assert_allclose(state.hourly(rows, times[-1:], 3), [[1.0, 2.0, 3.0]], atol=MM_ATOL)
