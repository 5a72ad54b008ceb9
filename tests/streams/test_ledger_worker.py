"""The ledger worker against a real broker (Tansu) and SQLite / PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from store.db import make_engine, session_factory, session_scope
from store.ledger import apply_assessments, unpublished_events
from store.migrate import upgrade
from store.points import upsert_points
from store.progress import read_progress
from streams.kafka_config import KafkaConfig
from streams.ledger import LedgerWorker
from streams.schemas import Assessment, DeadLetter, WarningEvent
from streams.topics import Topics, ensure_topics
from tests.store.conftest import assess, make_point

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


def read_topic(kafka: KafkaConfig, topic: str, until: Callable[[list], bool], *,
               drive: Callable[[], object] = lambda: None, settle_s: float = 0.0,
               timeout_s: float = 60.0) -> list:
    """Records of ``topic`` from the beginning, calling ``drive`` until ``until`` holds,
    then reading on for ``settle_s`` to catch any extra record.

    Reads with its own group-less consumer from the earliest offsets: the
    embedded broker's end offsets cannot be trusted.
    """
    reader = KafkaConsumer(**kafka.consumer(None))
    try:
        deadline = time.monotonic() + timeout_s
        while not (partitions := reader.partitions_for_topic(topic)):
            assert time.monotonic() < deadline, f"no metadata for {topic}"
            time.sleep(0.1)
        reader.assign([TopicPartition(topic, p) for p in partitions])
        records: list = []
        while not until(records):
            assert time.monotonic() < deadline, f"gave up on {topic} with {len(records)} records"
            drive()
            for batch in reader.poll(timeout_ms=200).values():
                records.extend(batch)
        settled = time.monotonic() + settle_s
        while time.monotonic() < settled:
            for batch in reader.poll(timeout_ms=200).values():
                records.extend(batch)
        return records
    finally:
        reader.close()


# Drive the worker with polls of a second: a group join on the embedded broker takes a few
# seconds, and kafka-python 3 restarts a join that outlasts a shorter poll, again and again.
def drive_until(condition: Callable[[], bool], step: Callable[[], object],
                timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        step()


@pytest.fixture
def setup(broker, topic_prefix, database_url):
    kafka = KafkaConfig(broker.bootstrap, session_timeout_ms=6000)
    topics = Topics.with_prefix(topic_prefix)
    ensure_topics(broker.bootstrap, partitions=3, replication=1, retention_ms=3_600_000,
                  topics=topics)
    upgrade(database_url)
    engine = make_engine(database_url)
    sessions = session_factory(engine)
    with session_scope(sessions) as session:
        upsert_points(session, [make_point(p) for p in ("P1", "P2", "P3")])
    worker = LedgerWorker(kafka, topics, sessions, group_id=f"{topic_prefix}ledger")
    yield kafka, topics, sessions, worker
    worker.close()
    engine.dispose()


def produce(kafka: KafkaConfig, topic: str, messages: list[tuple[bytes, bytes]]) -> list:
    producer = KafkaProducer(**kafka.producer())
    try:
        futures = [producer.send(topic, key=key, value=value) for key, value in messages]
        producer.flush(10)
        return [future.get(timeout=10) for future in futures]
    finally:
        producer.close()


def encoded(assessment: Assessment) -> tuple[bytes, bytes]:
    return assessment.point_id.encode(), orjson.dumps(assessment.model_dump(mode="json"))


def test_worker_records_publishes_dead_letters_and_ignores_a_replay(setup):
    kafka, topics, sessions, worker = setup
    valid = [assess("P1", "blue", 0), assess("P1", "red", 10), assess("P2", "orange", 0),
             assess("P2", "none", 10), assess("P3", "yellow", 5)]
    bad = [(b"P1", b"{not json"), encoded(assess("NOPE", "red", 0))]
    sent = produce(kafka, topics.assessments, [encoded(a) for a in valid] + bad)

    events = read_topic(kafka, topics.warning_events, lambda r: len(r) >= 5,
                        drive=lambda: worker.run_once(timeout_ms=1000))
    letters = read_topic(kafka, topics.deadletter, lambda r: len(r) >= 2,
                         drive=lambda: worker.run_once(timeout_ms=1000))

    decoded = [WarningEvent.model_validate(orjson.loads(r.value)) for r in events]
    assert all(r.key == e.point_id.encode() for r, e in zip(events, decoded, strict=True))
    by_point = {p: [(e.transition, e.to_level, e.tier) for e in decoded if e.point_id == p]
                for p in ("P1", "P2", "P3")}
    assert by_point == {"P1": [("opened", "blue", "IV"), ("escalated", "red", "I")],
                        "P2": [("opened", "orange", "II"), ("lifted", "none", None)],
                        "P3": [("opened", "yellow", "III")]}
    dead = {d.value_b64: d for d in (DeadLetter.model_validate(orjson.loads(r.value))
                                     for r in letters)}
    malformed = next(d for d in dead.values() if d.original_value() == b"{not json")
    assert malformed.reason.startswith("invalid JSON")
    assert (malformed.stage, malformed.source_topic) == ("ledger", topics.assessments)
    assert (malformed.source_partition, malformed.source_offset) == (sent[5].partition,
                                                                     sent[5].offset)
    unknown = next(d for d in dead.values() if d is not malformed)
    assert "unknown risk point 'NOPE'" in unknown.reason
    assert unknown.source_offset == sent[6].offset

    # The same assessments again: consumed and committed, but no new event.
    resent = produce(kafka, topics.assessments, [encoded(a) for a in valid])
    wanted = {(m.partition, m.offset + 1) for m in resent}

    def caught_up() -> bool:
        with session_scope(sessions) as session:
            committed = {p.partition: p.committed_offset for p in read_progress(session, "ledger")}
        return all(committed.get(partition, -1) >= offset for partition, offset in wanted)

    drive_until(caught_up, lambda: worker.run_once(timeout_ms=1000))
    # The worker flushes before it commits: had the replay produced events, they would be there.
    assert len(read_topic(kafka, topics.warning_events, lambda r: len(r) >= 5, settle_s=1.0)) == 5


def test_worker_publishes_the_outbox_left_by_a_crash_on_start(setup):
    kafka, topics, sessions, worker = setup
    # A previous run applied assessments and committed the database but died before publishing.
    with session_scope(sessions) as session:
        applied = apply_assessments(session, [assess("P1", "orange", 0)],
                                    recorded_at=datetime.now(UTC) - timedelta(minutes=1))
    assert worker.start()
    events = read_topic(kafka, topics.warning_events, lambda r: len(r) >= 1)
    assert [orjson.loads(r.value)["event_id"] for r in events] == [applied.transitions[0].id]
    with session_scope(sessions) as session:
        assert unpublished_events(session) == []
