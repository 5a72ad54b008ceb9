"""The history worker: its pure core, its exactly-once write (SQLite and PostgreSQL),
and the whole loop against a real broker (Tansu)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import numpy as np
import orjson
import pytest
from kafka import KafkaProducer
from kafka.consumer.fetcher import ConsumerRecord
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import sessionmaker

from store.db import make_engine, session_factory, session_scope
from store.history import read_offsets
from store.migrate import upgrade
from store.points import upsert_points
from store.progress import read_progress
from store.tables import LevelTimelineRow, PointStatusRow, ReadingAggregateRow
from streams.codec import ReadingDecoder, datetime_to_ns
from streams.history import HistoryWorker, aggregate_readings, apply_batch, decode_batch
from streams.kafka_config import KafkaConfig
from streams.schemas import Assessment, Indicator
from streams.topics import Topics, ensure_topics
from tests.store.conftest import assess, make_point

T0 = datetime(2026, 7, 1, 8, 0, tzinfo=UTC)
READINGS, ASSESSMENTS = "geowarn.readings", "geowarn.assessments"
KNOWN = {"P1": "landslide", "P2": "landslide"}


def reading(point: str, sensor: str, minutes: float, value: float, **extra) -> bytes:
    return orjson.dumps({"point_id": point, "sensor_id": sensor, "kind": "gnss",
                         "observed_at": (T0 + timedelta(minutes=minutes)).isoformat(),
                         "value": value, "unit": "mm", **extra})


def record(topic: str, partition: int, offset: int, value: bytes | None) -> ConsumerRecord:
    return ConsumerRecord(topic, partition, -1, offset, 0, 0, b"P1", value, [], None, 2,
                          -1 if value is None else len(value), -1)


def test_aggregates_by_series_and_bucket_match_the_numbers_computed_by_hand():
    keys = [("P1", "G1", "gnss"), ("P1", "G2", "gnss")]
    minutes = np.array([1, 3, 2, 9, 12, 5, 3])
    rows = aggregate_readings(
        keys, series=np.array([0, 0, 0, 0, 0, 1, 0]),
        observed_ns=np.array([datetime_to_ns(T0 + timedelta(minutes=int(m))) for m in minutes]),
        value=np.array([2.0, 5.0, -1.0, 4.0, 7.5, 1.0, 6.0]), arrival=np.arange(7),
        bucket_seconds=600)
    summary = [(r.sensor_id, r.bucket_start, r.n, r.total, r.min_value, r.max_value, r.last_value,
                r.last_at) for r in rows]
    # G1 08:00-08:10: 2.0 @1, 5.0 @3, -1.0 @2, 4.0 @9, 6.0 @3 (arrives after 5.0 @3).
    assert summary == [
        ("G1", T0, 5, 16.0, -1.0, 6.0, 4.0, T0 + timedelta(minutes=9)),
        ("G1", T0 + timedelta(minutes=10), 1, 7.5, 7.5, 7.5, 7.5, T0 + timedelta(minutes=12)),
        ("G2", T0, 1, 1.0, 1.0, 1.0, 1.0, T0 + timedelta(minutes=5)),
    ]


def test_bad_messages_are_skipped_and_counted_never_dead_lettered():
    records = [
        record(READINGS, 0, 0, reading("P1", "G1", 1, 1.0)),
        record(READINGS, 0, 1, b"{not json"),
        record(READINGS, 0, 2, reading("P1", "G1", 2, 1.0, unit="furlong")),
        record(READINGS, 1, 0, reading("NOPE", "G1", 2, 1.0)),
        record(READINGS, 1, 1, None),
        record(ASSESSMENTS, 0, 0, orjson.dumps(assess("P1", "red", 0).model_dump(mode="json"))),
        record(ASSESSMENTS, 0, 1, b'{"level": "purple"}'),
    ]
    batch = decode_batch(records, ReadingDecoder(KNOWN), ASSESSMENTS)
    assert dict(batch.skipped) == {"invalid_reading": 3, "unknown_point": 1,
                                   "invalid_assessment": 1}
    assert (batch.series.size, len(batch.assessments), batch.records) == (1, 1, 7)
    assert {(tp.topic, tp.partition): o for tp, o in batch.next_offsets.items()} == {
        (READINGS, 0): 3, (READINGS, 1): 2, (ASSESSMENTS, 0): 2}
    assert not hasattr(HistoryWorker, "create_producer")


def test_the_worker_does_not_decode_before_it_has_loaded_the_registry():
    answers = [OperationalError("SELECT", {}, Exception("database away")), KNOWN,
               OperationalError("SELECT", {}, Exception("database away"))]

    def known_points():
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    worker = HistoryWorker(KafkaConfig("127.0.0.1:9"), Topics(), sessionmaker(),
                           known_points=known_points, refresh_s=0.0)
    assert worker._refresh_registry() is False  # run_once backs off instead of polling
    assert worker._refresh_registry() is True
    assert worker._refresh_registry() is True  # a stale registry is better than none
    assert answers == []


@pytest.fixture
def sessions(database_url):
    upgrade(database_url)
    engine = make_engine(database_url)
    yield session_factory(engine)
    engine.dispose()


def totals(sessions) -> tuple[int, float, int]:
    """(readings, sum of values, levels) held by the database."""
    with session_scope(sessions) as session:
        n, total = session.execute(select(func.coalesce(func.sum(ReadingAggregateRow.n), 0),
                                          func.coalesce(func.sum(ReadingAggregateRow.total), 0))).one()
        levels = session.scalar(select(func.count()).select_from(LevelTimelineRow))
    return int(n), float(total), int(levels)


def apply(sessions, records, **options):
    batch = decode_batch(records, ReadingDecoder(KNOWN), ASSESSMENTS)
    with session_scope(sessions, write_lock=True) as session:
        return apply_batch(session, "g", batch, bucket_seconds=600, **options)


def test_a_redelivered_batch_changes_nothing_and_an_overlapping_one_only_adds_the_new(sessions):
    first = [record(READINGS, 0, k, reading("P1", "G1", k, float(k))) for k in range(10)]
    first.append(record(ASSESSMENTS, 2, 0, orjson.dumps(assess("P1", "red", 0).model_dump(mode="json"))))
    applied = apply(sessions, first)
    assert (applied.readings, applied.buckets, applied.levels, applied.duplicates) == (10, 1, 1, 0)
    assert totals(sessions) == (10, 45.0, 1)

    again = apply(sessions, first)  # crash after the database commit, before the Kafka commit
    assert (again.readings, again.levels, again.duplicates) == (0, 0, 11)
    assert totals(sessions) == (10, 45.0, 1)

    overlap = [record(READINGS, 0, k, reading("P1", "G1", k, float(k))) for k in range(5, 15)]
    applied = apply(sessions, overlap)
    assert (applied.readings, applied.duplicates) == (5, 5)
    assert totals(sessions) == (15, 105.0, 1)
    with session_scope(sessions) as session:
        assert read_offsets(session, "g") == {(READINGS, 0): 15, (ASSESSMENTS, 2): 1}


def test_readings_older_than_the_retention_are_counted_not_written(sessions):
    records = [record(READINGS, 0, k, reading("P1", "G1", 10 * k, 1.0)) for k in range(4)]
    applied = apply(sessions, records, expire_before=T0 + timedelta(minutes=20))
    assert (applied.readings, applied.expired, applied.buckets) == (2, 2, 2)
    assert totals(sessions)[0] == 2


# --- against the real broker --------------------------------------------------------------

def drive_until(condition: Callable[[], bool], step: Callable[[], object],
                timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        step()


@pytest.fixture
def setup(broker, topic_prefix, sessions):
    kafka = KafkaConfig(broker.bootstrap, session_timeout_ms=6000)
    topics = Topics.with_prefix(topic_prefix)
    ensure_topics(broker.bootstrap, partitions=3, replication=1, retention_ms=3_600_000,
                  topics=topics)
    with session_scope(sessions) as session:
        upsert_points(session, [make_point(p) for p in ("P1", "P2", "P3")])
    producer = KafkaProducer(**kafka.producer())
    workers: list[HistoryWorker] = []

    def worker(**options) -> HistoryWorker:
        made = HistoryWorker(kafka, topics, sessions, group_id=f"{topic_prefix}history",
                             clock=lambda: T0 + timedelta(days=1), **options)
        workers.append(made)
        return made

    def send(topic: str, key: str, values: list[bytes]) -> None:
        for value in values:
            producer.send(topic, value, key=key.encode())
        producer.flush()

    yield topics, worker, send
    for made in workers:
        made.close()
    producer.close()


@pytest.mark.kafka
@pytest.mark.slow
def test_the_worker_writes_history_once_across_a_crash_before_the_kafka_commit(setup, sessions):
    topics, worker, send = setup
    # P1-s0: 0.0, 1.0, ... 11.0 every 5 minutes (two buckets); P2-s1: 3.0 and 4.0.
    send(topics.readings, "P1", [reading("P1", "P1-s0", 5 * k, float(k)) for k in range(12)])
    send(topics.readings, "P2", [reading("P2", "P2-s1", 1, 3.0), reading("P2", "P2-s1", 2, 4.0),
                                 reading("P2", "P2-s1", 3, 5.0, unit="parsec"),
                                 reading("P9", "P9-s0", 3, 5.0)])
    send(topics.assessments, "P1", [orjson.dumps(assess("P1", "yellow", 30).model_dump(mode="json")),
                                    b"not an assessment"])

    crashing = worker()
    crashing._commit = lambda batch: None  # dies after the database commit, every time
    drive_until(lambda: crashing.counts["readings"] == 14 and crashing.counts["levels"] == 1,
                crashing.run_once)
    crashing.close()
    assert totals(sessions) == (14, 66.0 + 7.0, 1)
    assert (crashing.counts["invalid_reading"], crashing.counts["unknown_point"],
            crashing.counts["invalid_assessment"]) == (1, 1, 1)
    with session_scope(sessions) as session:
        rows = session.execute(select(ReadingAggregateRow.sensor_id, ReadingAggregateRow.n,
                                      ReadingAggregateRow.total, ReadingAggregateRow.last_value)
                               .order_by(ReadingAggregateRow.sensor_id,
                                         ReadingAggregateRow.bucket_start)).all()
        assert [tuple(row) for row in rows] == [("P1-s0", 2, 1.0, 1.0), ("P1-s0", 2, 5.0, 3.0),
                                                ("P1-s0", 2, 9.0, 5.0), ("P1-s0", 2, 13.0, 7.0),
                                                ("P1-s0", 2, 17.0, 9.0), ("P1-s0", 2, 21.0, 11.0),
                                                ("P2-s1", 2, 7.0, 4.0)]
        assert {p.worker for p in read_progress(session)} == {"history"}

    # Nothing was committed to Kafka. A member that ignores the stored offsets re-reads
    # everything from the start; the database recognises every record and adds nothing.
    rereading = worker()
    rereading.seek_to_applied = lambda partitions: None
    rereading._commit = lambda batch: None
    drive_until(lambda: rereading.counts["duplicates"] == 17, rereading.run_once)
    assert totals(sessions) == (14, 73.0, 1)

    # Still nothing committed to Kafka: a normal member resumes at the offsets stored in the
    # database (no duplicate read) and applies only the new record.
    send(topics.readings, "P1", [reading("P1", "P1-s0", 61, 100.0)])
    rereading.close()
    resumed = worker()
    drive_until(lambda: resumed.counts["readings"] == 1, resumed.run_once)
    assert resumed.counts["duplicates"] == 0
    assert totals(sessions) == (15, 173.0, 1)


def silent_sensor(point: str, sensor: str, minutes: float) -> bytes:
    """A calm assessment (level none) whose evidence reports ``sensor`` silent, as the scorer does."""
    observed = T0 + timedelta(minutes=minutes)
    offline = Indicator(sensor_id=sensor, kind="gnss", name="sensor_offline", value=7.5, unit="h",
                        level="none", valid=False, status="offline", observed_at=T0,
                        rule="silent for 7.50 h (event time), more than 6 expected intervals")
    return Assessment(assessment_id=Assessment.make_id(point, observed, "none", "1"),
                      point_id=point, level="none", observed_at=observed, model="site",
                      model_version="1", evidence=[offline], status="degraded").model_dump_json(
                      ).encode()


@pytest.mark.kafka
@pytest.mark.slow
def test_the_worker_keeps_the_sensor_health_of_the_newest_assessment(setup, sessions):
    topics, worker, send = setup
    newest = silent_sensor("P3", "P3-s1", 60)
    # The newest first, then an older calm one (a late delivery): the offline sensor stays.
    send(topics.assessments, "P3", [newest, orjson.dumps(assess("P3", "none", 30).model_dump(
        mode="json"))])
    running = worker()
    drive_until(lambda: running.counts["levels"] == 2, running.run_once)
    with session_scope(sessions) as session:
        row = session.scalars(select(PointStatusRow)).one()
        levels = session.scalar(select(func.count()).select_from(LevelTimelineRow))
    assert (row.point_id, row.status, row.offline_sensors, row.stuck_sensors, row.observed_at) == (
        "P3", "degraded", ["P3-s1"], [], T0 + timedelta(minutes=60))
    assert row.assessment_id == orjson.loads(newest)["assessment_id"] and levels == 2
