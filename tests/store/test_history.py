"""Chart history in the database (SQLite and PostgreSQL): bucket merges, offsets,
level timeline, retention and downsampled reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sqlalchemy import func, select

from store.db import session_scope
from store.history import (
    Aggregate,
    advance_offsets,
    bucket_start,
    clear_history,
    lock_offsets,
    prune,
    read_offsets,
    read_series,
    record_levels,
    record_point_status,
    sample_width,
    upsert_aggregates,
)
from store.tables import LevelTimelineRow, PointStatusRow, ReadingAggregateRow
from streams.schemas import Assessment, Indicator
from tests.store.conftest import assess

T0 = datetime(2026, 7, 1, 8, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def agg(minutes: float, values: list[float], *, sensor: str = "G1", point: str = "P1",
        kind: str = "gnss", last_minutes: float | None = None) -> Aggregate:
    """The aggregate of ``values`` read in the bucket holding T0 + ``minutes``, the last one
    observed at T0 + ``last_minutes`` (default: ``minutes``)."""
    at = T0 + minutes * MINUTE
    return Aggregate(point, sensor, kind, bucket_start(at), len(values), sum(values), min(values),
                     max(values), values[-1], T0 + (last_minutes or minutes) * MINUTE)


def stored(sessions) -> list[ReadingAggregateRow]:
    with session_scope(sessions) as session:
        return list(session.scalars(select(ReadingAggregateRow).order_by(
            ReadingAggregateRow.sensor_id, ReadingAggregateRow.bucket_start)))


def test_buckets_are_aligned_on_the_epoch():
    assert bucket_start(datetime(2026, 7, 1, 8, 9, 59, tzinfo=UTC)) == T0
    assert bucket_start(datetime(2026, 7, 1, 16, 5, tzinfo=UTC).astimezone()) == T0 + 480 * MINUTE
    assert bucket_start(T0 + 7 * MINUTE, bucket_seconds=3600) == T0


def test_partial_buckets_merge_into_the_numbers_computed_by_hand(sessions):
    # Bucket 08:00-08:10 of G1, in three batches (the third one late in event time):
    # 08:01 2.0, 08:03 5.0 | 08:02 -1.0, 08:09 4.0 | 08:05 3.0
    # -> n 5, sum 13.0, mean 2.6, min -1.0, max 5.0, last 4.0 at 08:09.
    with session_scope(sessions) as session:
        assert upsert_aggregates(session, [agg(1, [2.0, 5.0], last_minutes=3),
                                           agg(12, [7.5], sensor="G2")]) == 2
    with session_scope(sessions) as session:
        upsert_aggregates(session, [agg(2, [-1.0, 4.0], last_minutes=9)])
    with session_scope(sessions) as session:
        upsert_aggregates(session, [agg(5, [3.0])])
    g1, g2 = stored(sessions)
    assert (g1.sensor_id, g1.bucket_start, g1.n) == ("G1", T0, 5)
    assert (g1.total, g1.min_value, g1.max_value) == (13.0, -1.0, 5.0)
    assert (g1.last_value, g1.last_at) == (4.0, T0 + 9 * MINUTE)
    assert (g2.bucket_start, g2.n, g2.total, g2.last_value) == (T0 + 10 * MINUTE, 1, 7.5, 7.5)


def test_rows_of_one_bucket_in_one_call_are_merged_before_writing(sessions):
    with session_scope(sessions) as session:
        written = upsert_aggregates(session, [agg(1, [1.0]), agg(4, [9.0]), agg(2, [-3.0])])
    assert written == 1
    (row,) = stored(sessions)
    assert (row.n, row.total, row.min_value, row.max_value, row.last_value) == (3, 7.0, -3.0, 9.0, 9.0)


def test_on_equal_event_times_the_incoming_reading_is_the_last(sessions):
    with session_scope(sessions) as session:
        upsert_aggregates(session, [agg(3, [1.0])])
    with session_scope(sessions) as session:
        upsert_aggregates(session, [agg(3, [2.0])])
    (row,) = stored(sessions)
    assert (row.last_value, row.last_at) == (2.0, T0 + 3 * MINUTE)


def test_offsets_start_at_zero_only_move_forward_and_are_per_group(sessions):
    tp0, tp1 = ("readings", 0), ("readings", 1)
    with session_scope(sessions, write_lock=True) as session:
        assert lock_offsets(session, "g", [tp0, tp1]) == {tp0: 0, tp1: 0}
        advance_offsets(session, "g", {tp0: 10, tp1: 4})
    with session_scope(sessions, write_lock=True) as session:
        assert lock_offsets(session, "g", [tp0]) == {tp0: 10}
        advance_offsets(session, "g", {tp0: 7})  # a stale writer cannot move it back
    with session_scope(sessions) as session:
        assert read_offsets(session, "g") == {tp0: 10, tp1: 4}
        assert read_offsets(session, "other") == {}


def test_a_rolled_back_batch_leaves_neither_buckets_nor_offsets(sessions):
    with pytest.raises(RuntimeError), session_scope(sessions, write_lock=True) as session:
        lock_offsets(session, "g", [("readings", 0)])
        upsert_aggregates(session, [agg(1, [1.0])])
        advance_offsets(session, "g", {("readings", 0): 5})
        raise RuntimeError("crash before commit")
    assert stored(sessions) == []
    with session_scope(sessions) as session:
        assert read_offsets(session, "g") == {}


def test_levels_are_recorded_once_per_assessment(sessions):
    levels = [assess("P1", "blue", 0), assess("P1", "red", 30), assess("P2", "yellow", 5)]
    with session_scope(sessions) as session:
        record_levels(session, levels)
    with session_scope(sessions) as session:
        record_levels(session, levels[1:])
        count = session.scalar(select(func.count()).select_from(LevelTimelineRow))
    assert count == 3


def health(point_id: str, minutes: float, *, offline: tuple[str, ...] = (),
           stuck: tuple[str, ...] = (), status: str | None = "degraded",
           level: str = "none") -> Assessment:
    """An assessment of ``point_id`` at T0 + ``minutes`` naming silent and stuck sensors."""
    observed = T0 + minutes * MINUTE
    faults = [Indicator(sensor_id=s, kind="gnss", name="sensor_offline", value=7.5, unit="h",
                        level="none", status="offline", valid=False) for s in offline]
    faults += [Indicator(sensor_id=s, kind="gnss", name="sensor_stuck", value=30.0,
                         unit="readings", level="none", status="stuck", valid=False)
               for s in stuck]
    return Assessment(assessment_id=Assessment.make_id(point_id, observed, level, "1"),
                      point_id=point_id, level=level, observed_at=observed, model="deformation",
                      model_version="1", evidence=faults, status=status)


def statuses(sessions) -> dict[str, tuple]:
    with session_scope(sessions) as session:
        rows = session.execute(select(PointStatusRow).order_by(PointStatusRow.point_id)).scalars()
        return {r.point_id: (r.status, r.offline_sensors, r.stuck_sensors, r.observed_at,
                             r.assessment_id) for r in rows}


def test_the_point_status_follows_the_newest_assessment_only(sessions):
    first = health("P1", 10, offline=("P1-s1", "P1-s0"), stuck=("P1-s2",))
    calm = health("P2", 10, status="ok")
    with session_scope(sessions) as session:
        assert record_point_status(session, [first, calm]) == 2
    assert statuses(sessions) == {
        "P1": ("degraded", ["P1-s0", "P1-s1"], ["P1-s2"], T0 + 10 * MINUTE, first.assessment_id),
        "P2": ("ok", [], [], T0 + 10 * MINUTE, calm.assessment_id)}

    recovered = health("P1", 20, status="ok")
    late = health("P1", 15, offline=("P1-s0",), status="no_data")  # delivered after `recovered`
    with session_scope(sessions) as session:
        record_point_status(session, [recovered])
    with session_scope(sessions) as session:
        record_point_status(session, [late, first])  # older ones, and a replay
    assert statuses(sessions)["P1"] == ("ok", [], [], T0 + 20 * MINUTE, recovered.assessment_id)

    # In one batch the newest per point wins whatever the order; a replay of it changes nothing.
    silent = health("P2", 30, offline=("P2-s0", "P2-s1"), status="no_data")
    batch = [silent, health("P2", 25, stuck=("P2-s0",))]
    for _ in range(2):
        with session_scope(sessions) as session:
            record_point_status(session, batch)
        assert statuses(sessions)["P2"] == ("no_data", ["P2-s0", "P2-s1"], [],
                                            T0 + 30 * MINUTE, silent.assessment_id)


def test_on_equal_event_times_the_greater_assessment_id_holds_the_status(sessions):
    pair = sorted([health("P1", 5, offline=("P1-s0",), level="blue"),
                   health("P1", 5, status="ok", level="red")], key=lambda a: a.assessment_id)
    with session_scope(sessions) as session:
        record_point_status(session, [pair[1]])
    with session_scope(sessions) as session:
        record_point_status(session, [pair[0]])
    assert statuses(sessions)["P1"][4] == pair[1].assessment_id


def test_an_assessment_without_a_status_is_degraded_by_its_faults(sessions):
    with session_scope(sessions) as session:
        record_point_status(session, [health("P1", 1, offline=("P1-s0",), status=None),
                                      health("P2", 1, status=None)])
    assert [row[0] for row in statuses(sessions).values()] == ["degraded", "ok"]


def test_prune_deletes_buckets_and_levels_before_the_cutoff(sessions):
    with session_scope(sessions) as session:
        upsert_aggregates(session, [agg(minutes, [1.0]) for minutes in (0, 10, 20, 30)])
        record_levels(session, [assess("P1", "blue", 5), assess("P1", "red", 25)])
    with session_scope(sessions) as session:
        pruned = prune(session, T0 + 20 * MINUTE)
    assert (pruned.aggregates, pruned.levels) == (2, 1)
    assert [row.bucket_start for row in stored(sessions)] == [T0 + 20 * MINUTE, T0 + 30 * MINUTE]
    with session_scope(sessions) as session:
        assert session.scalars(select(LevelTimelineRow.level)).all() == ["red"]
        record_point_status(session, [health("P1", 40, offline=("P1-s0",))])
    with session_scope(sessions) as session:
        clear_history(session)
    assert stored(sessions) == [] and statuses(sessions) == {}


@pytest.mark.parametrize(("span", "samples", "width"), [
    (timedelta(days=1), 500, 300), (timedelta(days=1), 25, 3600), (timedelta(days=1), 2, 86_400),
    (timedelta(days=90), 500, 21_600), (timedelta(days=90), 5000, 1800),
    (timedelta(days=400), 2, 400 * 86_400), (timedelta(0), 10, 60),
])
def test_sample_width_is_a_round_width_that_bounds_the_samples(span, samples, width):
    assert sample_width(span, samples) == width
    assert span.total_seconds() / width <= samples - 1


def fill_day(sessions) -> None:
    """144 ten-minute buckets of G1 and G2 on 2026-07-01; bucket k holds 2 readings, k and k + 1."""
    day = datetime(2026, 7, 1, tzinfo=UTC)
    rows = [Aggregate("P1", sensor, "gnss", day + 10 * k * MINUTE, 2, 2.0 * k + 1, float(k),
                      float(k + 1), float(k + 1), day + (10 * k + 7) * MINUTE)
            for sensor in ("G1", "G2") for k in range(144)]
    with session_scope(sessions) as session:
        upsert_aggregates(session, rows)


@pytest.mark.parametrize("max_samples", [1, 2, 7, 25, 143, 144, 5000])
def test_read_series_returns_at_most_max_samples_and_keeps_every_reading(sessions, max_samples):
    fill_day(sessions)
    day = datetime(2026, 7, 1, tzinfo=UTC)
    with session_scope(sessions) as session:
        series = read_series(session, "P1", "gnss", day, day + timedelta(days=1), max_samples)
    assert [s.sensor_id for s in series.sensors] == ["G1", "G2"]
    for samples in series.sensors:
        assert 1 <= len(samples) <= max_samples
        assert samples.n.sum() == 288
        assert np.all(np.diff(samples.t) > 0)
    assert series.sensors[0].min[0] == 0.0 and series.sensors[0].last[-1] == 144.0


def test_read_series_merges_buckets_into_hourly_samples_by_hand(sessions):
    fill_day(sessions)
    day = datetime(2026, 7, 1, tzinfo=UTC)
    with session_scope(sessions) as session:
        series = read_series(session, "P1", "gnss", day, day + timedelta(days=1), 25)
    g1 = series.sensors[0]
    assert series.width_s == 3600 and len(g1) == 24
    # Hour 0 holds buckets k = 0..5: 12 readings 0,1,1,2,...,5,6 -> sum 36, mean 3, min 0, max 6,
    # last 6 at 00:57.
    assert (g1.n[0], g1.mean[0], g1.min[0], g1.max[0], g1.last[0]) == (12, 3.0, 0.0, 6.0, 6.0)
    assert g1.t[0] == day.timestamp() and g1.last_at[0] == (day + 57 * MINUTE).timestamp()
    assert_allclose(g1.mean, 6 * np.arange(24) + 3.0, rtol=1e-12)


def test_read_series_keeps_to_the_range_kind_and_point(sessions):
    fill_day(sessions)
    with session_scope(sessions) as session:
        upsert_aggregates(session, [agg(0, [1.0], kind="tilt"), agg(0, [1.0], point="P2")])
        record_levels(session, [assess("P1", "blue", -60), assess("P1", "yellow", 0),
                                assess("P1", "red", 50), assess("P1", "none", 120),
                                assess("P2", "red", 10)])
    with session_scope(sessions) as session:
        series = read_series(session, "P1", "gnss", T0, T0 + 60 * MINUTE, 500)
    assert [len(s) for s in series.sensors] == [7, 7]  # buckets starting 08:00 .. 09:00
    assert [(c.observed_at, c.level) for c in series.levels] == [(T0, "yellow"),
                                                                 (T0 + 50 * MINUTE, "red")]
    assert (series.level_before.observed_at, series.level_before.level) == (T0 - 60 * MINUTE, "blue")


def test_read_series_rejects_an_inverted_range_and_no_samples(sessions):
    with session_scope(sessions) as session, pytest.raises(ValueError, match="after end"):
        read_series(session, "P1", "gnss", T0, T0 - MINUTE, 10)
    with session_scope(sessions) as session, pytest.raises(ValueError, match="at least 1"):
        read_series(session, "P1", "gnss", T0, T0, 0)
