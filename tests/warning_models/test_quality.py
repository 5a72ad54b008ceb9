"""Data quality: duplicates, spikes, stuck sensors, gaps, offline sensors, no data."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from pydantic import ValidationError

from warning_models.quality import (
    QualityFlag,
    QualityParams,
    SpikeParams,
    as_seconds,
    assess_series,
    hampel_spikes,
    point_status,
    prepare_series,
    sensor_health,
    split_segments,
    stuck_mask,
)

T0 = 1_780_000_000.0
HOUR = 3600.0


def test_prepare_series_sorts_merges_and_drops() -> None:
    prepared = prepare_series([30.0, 10.0, 20.0, 20.0, np.nan, 40.0, 20.0, 20.0],
                              [3.0, 1.0, 9.0, 2.0, 5.0, np.inf, 4.0, 1.0])
    assert_array_equal(prepared.t, [10.0, 20.0, 30.0])
    assert_array_equal(prepared.x, [1.0, 3.0, 3.0])   # median of 1, 2, 4, 9 is 3
    assert_array_equal(prepared.multiplicity, [1, 4, 1])
    assert prepared.n_dropped == 2 and prepared.n_input == 8


def test_as_seconds_reads_datetime64_and_aware_datetimes() -> None:
    stamp = datetime(2026, 6, 1, tzinfo=UTC)
    assert_array_equal(as_seconds(np.array(["2026-06-01"], dtype="datetime64[D]")),
                       [stamp.timestamp()])
    assert_array_equal(as_seconds(np.array([stamp], dtype=object)), [stamp.timestamp()])
    with pytest.raises(ValueError, match="time zone"):
        as_seconds(np.array([datetime(2026, 6, 1)], dtype=object))


def test_hampel_finds_isolated_spikes_and_leaves_a_trend_alone() -> None:
    x = np.linspace(0.0, 50.0, 200)
    assert not hampel_spikes(x).any()
    x[[0, 57, 58, 199]] += [20.0, -15.0, -15.0, 30.0]
    assert_array_equal(np.flatnonzero(hampel_spikes(x)), [0, 57, 58, 199])


def test_hampel_minimum_deviation_and_segments() -> None:
    x = np.zeros(30)
    x[10] = 0.05
    assert hampel_spikes(x)[10]
    assert not hampel_spikes(x, SpikeParams(min_deviation=0.1)).any()
    # a window never reaches into another segment: a level shift at a gap is no spike
    y = np.r_[np.zeros(15), np.full(15, 9.0)]
    segment, _ = split_segments(np.r_[np.arange(15.0), 100.0 + np.arange(15.0)], max_gap_s=10)
    assert not hampel_spikes(y, segment=segment).any()


def test_stuck_by_sample_count_and_by_span() -> None:
    t = T0 + HOUR * np.arange(100)
    x = np.r_[np.linspace(0, 1, 40), np.full(50, 1.0), np.linspace(1.1, 2, 10)]
    by_count = stuck_mask(t, x, QualityParams(stuck_min_samples=48))
    assert_array_equal(np.flatnonzero(by_count), np.arange(39, 90))
    short = stuck_mask(t, x, QualityParams(stuck_min_samples=60))
    assert not short.any()
    by_span = stuck_mask(t, x, QualityParams(stuck_min_samples=None, stuck_min_span_s=24 * HOUR))
    assert_array_equal(by_span, by_count)


def test_changes_within_epsilon_count_as_the_same_value() -> None:
    t = T0 + HOUR * np.arange(60)
    x = 5.0 + 1e-4 * (np.arange(60) % 2)
    assert stuck_mask(t, x, QualityParams(stuck_epsilon=1e-3)).all()
    assert not stuck_mask(t, x, QualityParams(stuck_epsilon=1e-5)).any()


def test_assess_series_flags_and_reasons_do_not_depend_on_order() -> None:
    t = T0 + HOUR * np.r_[np.arange(50), np.arange(60, 120)]
    x = 0.2 * np.arange(t.size, dtype=float)
    x[20] += 50.0
    t = np.r_[t, t[5]]
    x = np.r_[x, x[5] + 0.1]
    report = assess_series(t, x)
    order = np.random.default_rng(0).permutation(t.size)
    shuffled = assess_series(t[order], x[order])
    assert_array_equal(report.flags, shuffled.flags)
    assert report.reasons == shuffled.reasons
    assert report.count(QualityFlag.SPIKE) == 1 and report.flags[20] & QualityFlag.SPIKE
    assert report.count(QualityFlag.DUPLICATE) == 1
    assert report.count(QualityFlag.GAP_BEFORE) == 1 and report.gaps.shape == (1, 2)
    assert len(report.reasons) == 3


def test_offline_after_n_missed_intervals_of_event_time() -> None:
    params = QualityParams(missed_intervals=3)
    now = T0 + 10 * HOUR
    health = sensor_health(["a", "b", "c", "d"],
                           [now - 3 * HOUR, now - 3 * HOUR - 1, None, now], HOUR, now, params,
                           stuck={"d"})
    assert [h.status for h in health] == ["online", "offline", "never_reported", "stuck"]
    assert health[1].silence_s == 3 * HOUR + 1
    assert point_status(health) == "degraded"


def test_sensor_health_uses_the_given_event_time_not_the_wall_clock() -> None:
    # readings from 1970: against the wall clock every sensor would be offline
    health = sensor_health(["a"], [100.0], 60.0, 130.0)
    assert health[0].status == "online"
    late = sensor_health(["a"], [np.datetime64("1970-01-01T00:01:40")], 60.0,
                         datetime(1970, 1, 1, 0, 10, tzinfo=UTC))
    assert late[0].status == "offline"


def test_per_sensor_intervals() -> None:
    health = sensor_health(["fast", "slow"], [T0, T0], [60.0, 3600.0], T0 + 600.0)
    assert [h.status for h in health] == ["offline", "online"]


def test_no_data_when_every_sensor_is_silent() -> None:
    silent = sensor_health(["a", "b"], [T0, None], HOUR, T0 + 10 * HOUR)
    assert point_status(silent) == "no_data"
    assert point_status(()) == "no_data"
    fine = sensor_health(["a", "b"], [T0, T0], HOUR, T0 + HOUR)
    assert point_status(fine) == "ok"


def test_bad_sensor_health_arguments() -> None:
    with pytest.raises(ValueError, match="positive"):
        sensor_health(["a"], [T0], 0.0, T0)
    with pytest.raises(ValueError, match="sensor ids"):
        sensor_health(["a", "b"], [T0], 60.0, T0)


@pytest.mark.parametrize("bad", [
    {"stuck_min_samples": None, "stuck_min_span_s": None},
    {"missed_intervals": 0},
    {"spikes": {"k": 0}},
    {"gap_s": 0},
    {"stuck_epsilon": -1},
])
def test_bad_quality_parameters_fail_when_loaded(bad: dict) -> None:
    with pytest.raises(ValidationError):
        QualityParams.model_validate(bad)
