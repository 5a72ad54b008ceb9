"""The notifier end to end: real broker (Tansu), SQLite / PostgreSQL, a real HTTP
receiver verifying signatures and a real SMTP server.

A warning 1 km from the Yunnan border, opened by the ledger, notifies Sichuan
and Yunnan; its missed acknowledgement deadline re-notifies both and reaches the
national centre; a second pass over the topic and a duplicated event notify
nobody again. A warning event published straight onto the topic is delivered by
the running worker, and a bad message goes to the dead-letter topic.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from geo.boundaries import Boundaries
from geo.registry import RiskPoint
from store.db import make_engine, session_factory, session_scope
from store.jurisdictions import JurisdictionResolver
from store.ledger import apply_assessments
from store.lifecycle import LifecycleRules
from store.migrate import upgrade
from store.notifications import RetryPolicy, create_subscription, deliveries_of
from store.points import upsert_points
from store.tables import NotificationDeliveryRow
from streams.kafka_config import KafkaConfig
from streams.ledger import LedgerWorker
from streams.notifier import NotifierWorker
from streams.notify_delivery import Dispatcher
from streams.notify_email import EmailSender
from streams.notify_webhook import WebhookSender
from streams.outbox import encode_event
from streams.schemas import WarningEvent
from streams.topics import Topics, ensure_topics
from tests.store.conftest import T0, assess, make_point
from tests.store.test_lifecycle_jurisdictions import BORDER_POINT
from tests.streams.test_ledger_deadlines import Clock
from tests.streams.test_ledger_worker import produce, read_topic
from tests.streams.test_notifier_receivers import LINK, SmtpReceiver, WebhookReceiver

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

ISSUED = T0 + timedelta(hours=1)
RULES = LifecycleRules(ack_minutes=15)
POLICY = RetryPolicy(max_attempts=3, first_delay_s=0.2, max_delay_s=1, lease_s=30)


@pytest.fixture
def setup(broker, topic_prefix, database_url):
    kafka = KafkaConfig(broker.bootstrap, session_timeout_ms=6000)
    topics = Topics.with_prefix(topic_prefix)
    ensure_topics(broker.bootstrap, partitions=3, replication=1, retention_ms=3_600_000,
                  topics=topics)
    upgrade(database_url)
    engine = make_engine(database_url)
    sessions = session_factory(engine)
    lon, lat = BORDER_POINT
    with session_scope(sessions) as session:
        upsert_points(session, [make_point("P2"), RiskPoint(
            id="B1", name="Renhe border slope", hazard_type="landslide", lon=lon, lat=lat,
            geometry={"type": "Point", "coordinates": [lon, lat]}, province="四川省",
            province_adcode="510000", county="仁和区", county_adcode="510411",
            threatened_people=240, households=61)])
    with WebhookReceiver() as webhook, SmtpReceiver() as smtp:
        yield kafka, topics, sessions, webhook, smtp
    engine.dispose()


def subscribe(sessions, webhook: WebhookReceiver, created_at: datetime) -> dict[str, str]:
    """Sichuan and the national centre by webhook, Yunnan by e-mail; name -> id."""
    ids = {}
    with session_scope(sessions) as session:
        for name, adcode, channel, target in (
                ("sichuan", "510000", "webhook", webhook.url),
                ("national", "100000", "webhook", webhook.url),
                ("yunnan", "530000", "email", "duty@yn.example.cn")):
            view, secret = create_subscription(
                session, name=name, adcode=adcode, min_level="orange", channel=channel,
                target=target, created_by="national", now=created_at)
            ids[name] = view.id
            if secret:
                webhook.secrets[view.id] = secret
    return ids


def dispatcher(sessions, smtp: SmtpReceiver, clock) -> Dispatcher:
    return Dispatcher(sessions, {"webhook": WebhookSender(timeout_s=5, link=LINK),
                                 "email": EmailSender(smtp.config(), link=LINK)},
                      policy=POLICY, clock=clock, concurrency=2)


def consume(worker: NotifierWorker, events: int, timeout_s: float = 30.0) -> tuple[int, int]:
    """run_once until ``events`` warning events were taken through the commit order (or the
    time is up): (events, new deliveries logged). Waiting for the events, not for the
    deliveries, lets "no new delivery" mean that the events were read and logged nothing."""
    deadline, seen, logged = time.monotonic() + timeout_s, 0, 0
    while seen < events and time.monotonic() < deadline:
        report = worker.run_once(timeout_ms=1000)
        if report.completed:
            seen, logged = seen + report.events, logged + report.deliveries
    return seen, logged


def send_due(sending: Dispatcher) -> dict[str, str]:
    """Rounds until nothing is due; delivery id -> status."""
    sent: dict[str, str] = {}
    while result := sending.run_once():
        sent |= result
    return sent


def test_a_border_warning_and_its_missed_deadline_reach_both_provinces_and_the_centre(setup):
    kafka, topics, sessions, webhook, smtp = setup
    ids = subscribe(sessions, webhook, created_at=T0)
    with session_scope(sessions, write_lock=True) as session:
        apply_assessments(session, [assess("B1", "orange", 0)], recorded_at=ISSUED, rules=RULES,
                          jurisdictions=JurisdictionResolver(Boundaries.load(), 5.0))
    clock = Clock(ISSUED)
    ledger = LedgerWorker(kafka, topics, sessions, group_id=f"{topics.warning_events}-ledger",
                          clock=clock, rules=RULES)
    notifier = NotifierWorker(kafka, topics, sessions, group_id=f"{topics.warning_events}-n1",
                              clock=clock)
    sending = dispatcher(sessions, smtp, clock)
    try:
        assert ledger.start()  # publishes the opening
        clock.now = ISSUED + timedelta(minutes=16)
        assert ledger.check_deadlines() == 2  # renotified + escalated_to_national
        assert consume(notifier, 3) == (3, 6)  # opened to 3, renotified to 2, escalated to 1
        assert sorted(send_due(sending).values()) == ["delivered"] * 6
        # A redelivery: the same event again on the topic, and a second pass over it all.
        with session_scope(sessions) as session:
            opened = next(d for d in deliveries_of(session, ids["sichuan"])
                          if d.transition == "opened")
        event = WarningEvent.model_validate(opened_payload(sessions, ids["sichuan"], opened.id))
        produce(kafka, topics.warning_events, [encode_event(event)])
        assert consume(notifier, 1) == (1, 0)
        again = NotifierWorker(kafka, topics, sessions,
                               group_id=f"{topics.warning_events}-n2", clock=clock)
        assert consume(again, 4) == (4, 0)  # the whole topic again, the repeat included
        again.close()
        assert sending.run_once() == {}
    finally:
        ledger.close()
        notifier.close()
        sending.close()

    by_subscription = {}
    for request in webhook.requests:
        assert request.verified
        by_subscription.setdefault(request.body["subscription"]["id"], []).append(
            request.body["event"]["transition"])
    assert sorted(by_subscription[ids["sichuan"]]) == ["opened", "renotified"]
    assert sorted(by_subscription[ids["national"]]) == ["escalated_to_national", "opened"]
    subjects = sorted(message["Subject"] for message in smtp.messages)
    assert len(subjects) == 2 and all("Renhe border slope" in s for s in subjects)
    assert any("REMINDER: warning not acknowledged in time" in s for s in subjects)
    with session_scope(sessions) as session:
        yunnan = deliveries_of(session, ids["yunnan"])
    assert sorted((d.transition, d.status, d.attempts) for d in yunnan) == [
        ("opened", "delivered", 1), ("renotified", "delivered", 1)]


def opened_payload(sessions, subscription_id: str, delivery_id: str) -> dict:
    with session_scope(sessions) as session:
        row = session.get(NotificationDeliveryRow, delivery_id)
        assert row.subscription_id == subscription_id
        return dict(row.payload)


def test_the_running_worker_delivers_an_event_from_the_topic_and_dead_letters_garbage(setup):
    kafka, topics, sessions, webhook, smtp = setup
    now = datetime.now(UTC)
    ids = subscribe(sessions, webhook, created_at=now - timedelta(minutes=1))
    event = WarningEvent(
        event_id="E-direct-1", warning_id="W-direct", point_id="P2", transition="opened",
        from_level="none", to_level="red", tier="I", hazard_type="landslide",
        point_name="Slope P2", province="Sichuan", county="Wenchuan", lon=103.2, lat=30.5,
        threatened_people=120, households=30, observed_at=now, issued_at=now,
        model="deformation", model_version="1")
    stop = threading.Event()
    worker = NotifierWorker(kafka, topics, sessions, group_id=f"{topics.warning_events}-run",
                            stop_event=stop, dispatcher=dispatcher(sessions, smtp,
                                                                   lambda: datetime.now(UTC)),
                            delivery_interval_s=0.2)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        produce(kafka, topics.warning_events, [encode_event(event), (b"P2", b"{not json")])
        deadline = time.monotonic() + 30
        while len(webhook.requests) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        letters = read_topic(kafka, topics.deadletter, lambda r: len(r) >= 1)
    finally:
        stop.set()
        thread.join(30)
    assert not thread.is_alive()
    assert sorted(r.body["subscription"]["id"] for r in webhook.requests) == sorted(
        [ids["sichuan"], ids["national"]])
    assert all(r.verified and r.body["event"]["event_id"] == "E-direct-1"
               for r in webhook.requests)
    assert smtp.messages == []  # Yunnan is not concerned by a warning in Wenchuan
    [letter] = [orjson.loads(r.value) for r in letters]
    assert letter["stage"] == "notifier" and letter["reason"].startswith("invalid JSON")
