"""The scorer worker against a real broker (Tansu): readings in, assessments and dead letters out."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from confluent_kafka import Producer as ConfluentProducer
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from streams.kafka_config import KafkaConfig
from streams.scorer import scorer_worker
from streams.topics import Topics, ensure_topics

pytestmark = [pytest.mark.kafka]

START = datetime(2026, 7, 1, tzinfo=UTC)
KNOWN = {"ACC": "landslide", "STABLE": "landslide", "CONFLUENT": "landslide"}


def reading(point: str, hours: float, mm: float) -> bytes:
    observed = (START + timedelta(hours=hours)).isoformat().replace("+00:00", "Z")
    return orjson.dumps({"schema_version": 1, "point_id": point, "sensor_id": "G1", "kind": "gnss",
                         "observed_at": observed, "value": mm, "unit": "mm"})


def read_all(bootstrap: str, topic: str, expect, timeout: float = 20.0) -> list:
    """Read a topic from the beginning with our own consumer until ``expect(messages)``."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                             auto_offset_reset="earliest", fetch_max_wait_ms=100)
    consumer.assign([TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or [0]])
    messages = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and not expect(messages):
            for records in consumer.poll(timeout_ms=200).values():
                messages.extend(records)
        return messages
    finally:
        consumer.close()


@pytest.fixture
def running(broker, topic_prefix, tmp_path):
    topics = Topics.with_prefix(topic_prefix)
    ensure_topics(broker.bootstrap, partitions=3, replication=1, retention_ms=3_600_000,
                  topics=topics)
    config = KafkaConfig(broker.bootstrap, session_timeout_ms=6000)
    progress = []
    stop = threading.Event()
    worker = scorer_worker(config=config, topics=topics, known_points=lambda: dict(KNOWN),
                           group=f"{topic_prefix}scorer", stop=stop,
                           progress_callback=lambda *args: progress.append(args),
                           checkpoint_dir=tmp_path / "checkpoints", refresh_seconds=1.0)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        yield topics, worker, progress
    finally:
        stop.set()
        thread.join(20)
        assert not thread.is_alive(), "the worker did not stop"


def accelerating(hours: float) -> float:
    return 400.0 * (1.0 / (60.0 - hours) - 1.0 / 60.0) * 60.0


def test_readings_in_assessments_and_dead_letters_out(broker, running):
    topics, worker, progress = running
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=5)
    sent = 0
    for index, hours in enumerate(h * 0.5 for h in range(40)):
        producer.send(topics.readings, key=b"ACC", value=reading("ACC", hours, accelerating(hours)))
        producer.send(topics.readings, key=b"STABLE",
                      value=reading("STABLE", hours, 5.0 + 0.02 * (index % 5 - 2)))
        sent += 2
        if index == 20:
            producer.send(topics.readings, key=b"ACC", value=b"{not json")
            sent += 1
    producer.flush()
    producer.close()

    assessments = [orjson.loads(m.value) for m in read_all(
        broker.bootstrap, topics.assessments,
        lambda ms: {orjson.loads(m.value)["point_id"] for m in ms} >= {"ACC", "STABLE"})]
    by_point = {a["point_id"]: a["level"] for a in assessments}
    assert by_point["ACC"] == "red" and by_point["STABLE"] == "none"
    letters = [orjson.loads(m.value) for m in read_all(broker.bootstrap, topics.deadletter,
                                                       lambda ms: len(ms) >= 1)]
    assert len(letters) == 1
    assert letters[0]["reason"].startswith("invalid JSON")
    assert letters[0]["source_topic"] == topics.readings and letters[0]["source_offset"] >= 0

    # Every reading was committed, and only after its outputs were flushed (see the worker
    # unit test for the order): the committed offsets add up to what was sent.
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and sum(worker.committed.values()) < sent:
        time.sleep(0.2)
    assert sum(worker.committed.values()) == sent
    assert progress and progress[0][0] == "scorer"


def test_a_reading_from_confluent_kafka_is_scored_like_one_from_kafka_python(broker, running):
    topics, worker, _ = running
    confluent = ConfluentProducer({"bootstrap.servers": broker.bootstrap})
    python = KafkaProducer(bootstrap_servers=broker.bootstrap)
    for hours in (h * 0.5 for h in range(40)):   # a velocity needs 12 h of data, red 6 h more
        value = accelerating(hours)
        confluent.produce(topics.readings, key=b"CONFLUENT", value=reading("CONFLUENT", hours, value))
        python.send(topics.readings, key=b"ACC", value=reading("ACC", hours, value))
    confluent.flush(10)
    python.flush()
    python.close()
    assessments = [orjson.loads(m.value) for m in read_all(
        broker.bootstrap, topics.assessments,
        lambda ms: {orjson.loads(m.value)["point_id"] for m in ms} >= {"ACC", "CONFLUENT"})]
    last = {a["point_id"]: a for a in assessments}
    assert last["CONFLUENT"]["level"] == last["ACC"]["level"] == "red"
    assert last["CONFLUENT"]["evidence"][0]["value"] == last["ACC"]["evidence"][0]["value"]
    assert last["CONFLUENT"]["observed_at"] == last["ACC"]["observed_at"]
    assert worker.handler.dead_letters_out == 0
