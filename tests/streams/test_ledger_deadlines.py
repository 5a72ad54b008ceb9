"""The ledger worker's periodic check, against the real broker and SQLite / PostgreSQL:
a missed acknowledgement deadline (injected wall clock) becomes "renotified" and
"escalated_to_national" events, and an officer's row an API process left in the
outbox is swept onto the topic."""

from __future__ import annotations

import threading
from datetime import timedelta

import orjson
import pytest
from sqlalchemy import select

from store.actions import ActionRequest, act
from store.db import make_engine, session_factory, session_scope
from store.ledger import apply_assessments
from store.lifecycle import LifecycleRules
from store.migrate import upgrade
from store.points import upsert_points
from store.tables import WarningRow
from streams.kafka_config import KafkaConfig
from streams.ledger import LedgerWorker
from streams.topics import Topics, ensure_topics
from tests.store.conftest import T0, assess, make_point
from tests.streams.test_ledger_worker import encoded, produce, read_topic

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

ISSUED = T0 + timedelta(hours=1)
RULES = LifecycleRules(ack_minutes=15)


class Clock:
    """The worker's wall clock, moved by the test."""

    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now


@pytest.fixture
def setup(broker, topic_prefix, database_url):
    kafka = KafkaConfig(broker.bootstrap, session_timeout_ms=6000)
    topics = Topics.with_prefix(topic_prefix)
    ensure_topics(broker.bootstrap, partitions=3, replication=1, retention_ms=3_600_000,
                  topics=topics)
    upgrade(database_url)
    engine = make_engine(database_url)
    sessions = session_factory(engine)
    with session_scope(sessions, write_lock=True) as session:
        upsert_points(session, [make_point("P1"), make_point("P2")])
        apply_assessments(session, [assess("P1", "red", 0), assess("P2", "orange", 0)],
                          recorded_at=ISSUED, rules=RULES)
    clock = Clock(ISSUED)
    worker = LedgerWorker(kafka, topics, sessions, group_id=f"{topic_prefix}ledger", clock=clock,
                          rules=RULES, sweep_grace_s=10)
    yield topics, sessions, worker, clock, kafka
    worker.close()
    engine.dispose()


def test_a_missed_deadline_is_escalated_and_published(setup):
    topics, sessions, worker, clock, kafka = setup
    assert worker.start()  # publishes the two openings
    with session_scope(sessions, write_lock=True) as session:
        p2 = session.scalar(select(WarningRow.id).where(WarningRow.point_id == "P2"))
        request = ActionRequest(p2, "acknowledge", "on it", 1, "ack-p2")
        act(session, request, actor="officer-a", now=ISSUED + timedelta(minutes=5), rules=RULES)

    clock.now = ISSUED + timedelta(minutes=14)
    assert worker.check_deadlines() == 1  # only the officer's row, swept: nothing is due yet
    clock.now = ISSUED + timedelta(minutes=16)
    assert worker.check_deadlines() == 2
    assert worker.check_deadlines() == 0

    records = read_topic(kafka, topics.warning_events, lambda r: len(r) >= 5, settle_s=0.5)
    events = [orjson.loads(r.value) for r in records]
    assert sorted((e["point_id"], e["transition"], e["actor"]) for e in events) == [
        ("P1", "escalated_to_national", "system:lifecycle"), ("P1", "opened", "system:scorer"),
        ("P1", "renotified", "system:lifecycle"), ("P2", "acknowledged", "officer-a"),
        ("P2", "opened", "system:scorer")]
    national = next(e for e in events if e["transition"] == "escalated_to_national")
    assert national["to_level"] == "red" and "15 min after issue" in national["reason"]
    with session_scope(sessions) as session:
        w = session.scalars(select(WarningRow).where(WarningRow.point_id == "P1")).one()
    assert (w.state, w.version, w.national_at) == ("issued", 3, ISSUED + timedelta(minutes=16))


def test_the_run_loop_applies_batches_and_checks_deadlines_between_them(
        broker, topic_prefix, database_url):
    kafka = KafkaConfig(broker.bootstrap, session_timeout_ms=6000)
    topics = Topics.with_prefix(topic_prefix)
    ensure_topics(broker.bootstrap, partitions=3, replication=1, retention_ms=3_600_000,
                  topics=topics)
    upgrade(database_url)
    engine = make_engine(database_url)
    sessions = session_factory(engine)
    with session_scope(sessions) as session:
        upsert_points(session, [make_point("P1")])
    clock = Clock(ISSUED)
    stop = threading.Event()
    worker = LedgerWorker(kafka, topics, sessions, group_id=f"{topic_prefix}ledger", clock=clock,
                          stop_event=stop, rules=RULES, deadline_check_s=0.1)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        produce(kafka, topics.assessments, [encoded(assess("P1", "orange", 0))])
        records = read_topic(kafka, topics.warning_events, lambda r: len(r) >= 1)
        assert orjson.loads(records[0].value)["transition"] == "opened"
        clock.now = ISSUED + timedelta(minutes=16)
        records = read_topic(kafka, topics.warning_events, lambda r: len(r) >= 3)
        assert [orjson.loads(r.value)["transition"] for r in records] == [
            "opened", "renotified", "escalated_to_national"]
    finally:
        stop.set()
        thread.join(30)
        engine.dispose()
    assert not thread.is_alive()
