"""The ledger worker without a broker: decoding, offsets, encoding, and the commit order."""

from __future__ import annotations

from datetime import UTC, datetime
from unittest.mock import create_autospec

import orjson
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import KafkaTimeoutError
from kafka.future import Future
from kafka.structs import OffsetAndMetadata

from store.db import make_engine, session_factory, session_scope
from store.ledger import unpublished_events
from store.migrate import upgrade
from store.points import upsert_points
from store.progress import read_progress
from streams.kafka_config import KafkaConfig
from streams.ledger import LedgerWorker, decode_batch, encode_event, next_offsets
from streams.schemas import Assessment, WarningEvent
from streams.topics import ASSESSMENTS, DEADLETTER, WARNING_EVENTS, Topics
from tests.store.conftest import make_point

T0 = datetime(2026, 7, 1, 8, 0, tzinfo=UTC)


def record(value: bytes | None, offset: int, partition: int = 0, key: bytes | None = b"P1"):
    return ConsumerRecord("assessments", partition, -1, offset, 0, 0, key, value, [], None,
                          len(key or b""), len(value or b""), 0)


def assessment_bytes(point_id: str = "P1", level: str = "red") -> bytes:
    assessment = Assessment(assessment_id=Assessment.make_id(point_id, T0, level, "1"),
                            point_id=point_id, level=level, observed_at=T0, model="m",
                            model_version="1")
    return orjson.dumps(assessment.model_dump(mode="json"))


def test_decode_batch_separates_assessments_from_dead_letters():
    records = [record(assessment_bytes(), 0), record(b"{not json", 1), record(None, 2),
               record(orjson.dumps({"point_id": "P1", "level": "purple"}), 3),
               record(assessment_bytes("P2", "blue"), 4, partition=1)]
    decoded = decode_batch(records)
    assert [a.point_id for a in decoded.assessments] == ["P1", "P2"]
    assert [r.offset for r in decoded.sources] == [0, 4]
    reasons = {letter.source_offset: letter.reason for _, letter in decoded.letters}
    assert reasons[1].startswith("invalid JSON")
    assert reasons[2] == "empty message value (tombstone)"
    assert reasons[3].startswith("invalid assessment") and "level" in reasons[3]
    assert decoded.letters[0][1].original_value() == b"{not json"


def test_next_offsets_are_one_past_the_last_record_per_partition():
    records = [record(b"", 7), record(b"", 5), record(b"", 3, partition=2)]
    assert next_offsets(records) == {TopicPartition("assessments", 0): 8,
                                     TopicPartition("assessments", 2): 4}


def test_events_are_keyed_by_point_and_round_trip():
    event = WarningEvent(event_id="e", warning_id="w", point_id="P1", transition="opened",
                         from_level="none", to_level="orange", tier="II", hazard_type="landslide",
                         point_name="Slope", province=None, county=None, lon=103.1, lat=30.2,
                         threatened_people=5, households=1, observed_at=T0, issued_at=T0,
                         model="m", model_version="1")
    key, value = encode_event(event)
    assert key == b"P1"
    assert WarningEvent.model_validate(orjson.loads(value)) == event


# --- the commit order, with spec_set clients and a real SQLite database -------------------

class ScriptedWorker(LedgerWorker):
    """A LedgerWorker whose Kafka clients are spec_set mocks."""

    def __init__(self, sessions, consumer, producer):
        super().__init__(KafkaConfig("unused:9092"), Topics(), sessions, backoff_s=(0.0, 0.0))
        self.consumer, self.producer = consumer, producer

    def create_consumer(self):
        return self.consumer

    def create_producer(self):
        return self.producer


def sent_ok(*_args, **_kwargs) -> Future:
    return Future().success(None)


def test_a_failed_flush_holds_the_batch_and_commits_only_after_a_retry(sqlite_url):
    upgrade(sqlite_url)
    sessions = session_factory(make_engine(sqlite_url))
    with session_scope(sessions) as session:
        upsert_points(session, [make_point("P1")])
    records = [ConsumerRecord(ASSESSMENTS, 0, -1, 41, 0, 0, b"P1", assessment_bytes(), [], None,
                              2, 10, 0),
               ConsumerRecord(ASSESSMENTS, 0, -1, 42, 0, 0, b"P1", b"garbage", [], None,
                              2, 7, 0)]
    consumer = create_autospec(KafkaConsumer, instance=True, spec_set=True)
    consumer.poll.side_effect = [{TopicPartition(ASSESSMENTS, 0): records}, {}]
    consumer.highwater.return_value = 43
    producer = create_autospec(KafkaProducer, instance=True, spec_set=True)
    producer.send.side_effect = sent_ok
    producer.flush.side_effect = [KafkaTimeoutError("broker away"), None]
    worker = ScriptedWorker(sessions, consumer, producer)

    failed = worker.run_once()
    assert (failed.completed, failed.transitions) == (False, 1)
    consumer.commit.assert_not_called()
    with session_scope(sessions) as session:
        assert len(unpublished_events(session)) == 1  # in the outbox, not lost

    done = worker.run_once()
    assert (done.completed, done.events_published, done.dead_letters) == (True, 1, 1)
    assert consumer.poll.call_count == 1  # the held batch was retried, not re-polled
    consumer.commit.assert_called_once_with(
        {TopicPartition(ASSESSMENTS, 0): OffsetAndMetadata(43, "", -1)})
    topics_sent = [call.args[0] for call in producer.send.call_args_list]
    assert topics_sent.count(DEADLETTER) == 2  # once per attempt: at least once
    assert topics_sent.count(WARNING_EVENTS) == 2
    with session_scope(sessions) as session:
        assert unpublished_events(session) == []
        [progress] = read_progress(session)
    assert (progress.committed_offset, progress.highwater) == (43, 43)
