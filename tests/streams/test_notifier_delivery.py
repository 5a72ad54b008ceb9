"""The delivery loop against real receivers (HTTP server, SMTP server) and SQLite /
PostgreSQL: retries with backoff, failures, e-mail, durability across a restart."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from store.db import make_engine, session_factory, session_scope
from store.migrate import upgrade
from store.notifications import (
    DELIVERED,
    FAILED,
    DueDelivery,
    NewDelivery,
    Outcome,
    RetryPolicy,
    claim_due,
    create_subscription,
    deliveries_of,
    enqueue_deliveries,
)
from store.tables import NotificationDeliveryRow
from streams.notify_delivery import Dispatcher
from streams.notify_email import EmailSender
from streams.notify_webhook import WebhookSender
from tests.store.conftest import T0
from tests.streams.test_ledger_deadlines import Clock
from tests.streams.test_notifier_receivers import (
    LINK,
    SmtpReceiver,
    WebhookReceiver,
    delivery,
)

POLICY = RetryPolicy(max_attempts=4, first_delay_s=5, max_delay_s=60, lease_s=30)


@pytest.fixture
def sessions(database_url) -> Iterator:
    upgrade(database_url)
    engine = make_engine(database_url)
    yield session_factory(engine)
    engine.dispose()


def dispatcher(sessions, clock, smtp: SmtpReceiver | None = None) -> Dispatcher:
    senders = {"webhook": WebhookSender(timeout_s=5, link=LINK)}
    if smtp is not None:
        senders["email"] = EmailSender(smtp.config(), link=LINK)
    return Dispatcher(sessions, senders, policy=POLICY, clock=clock, concurrency=2)


def subscribe(sessions, receiver_target: str, channel: str = "webhook") -> tuple[str, str | None]:
    payload = delivery(channel, receiver_target).payload
    with session_scope(sessions) as session:
        view, secret = create_subscription(
            session, name="Sichuan duty desk", adcode="510000", min_level="orange",
            channel=channel, target=receiver_target, created_by="national", now=T0)
        enqueue_deliveries(session, [NewDelivery(view.id, "E1", "W1", "P1", "opened", "red",
                                                 payload)], now=T0)
    return view.id, secret


def run_until_settled(sending: Dispatcher, clock: Clock, rounds: int) -> list[dict]:
    """Run rounds, moving the clock to just past the longest backoff after each one."""
    results = []
    for _ in range(rounds):
        results.append(sending.run_once())
        clock.now += timedelta(seconds=POLICY.max_delay_s + 1)
    return results


def test_a_receiver_failing_twice_gets_the_third_attempt_delivered(sessions):
    clock = Clock(T0)
    with WebhookReceiver(statuses=(500, 500)) as receiver:
        subscription, secret = subscribe(sessions, receiver.url)
        receiver.secrets[subscription] = secret
        sending = dispatcher(sessions, clock)
        first = sending.run_once()
        assert list(first.values()) == ["pending"]
        assert sending.run_once() == {}  # not due yet: backing off
        clock.now += timedelta(seconds=POLICY.first_delay_s)
        later = run_until_settled(sending, clock, 3)
        sending.close()
    with session_scope(sessions) as session:
        [row] = deliveries_of(session, subscription)
    assert [list(r.values()) for r in later] == [["pending"], ["delivered"], []]
    assert (row.status, row.attempts, row.last_status_code) == (DELIVERED, 3, 200)
    assert len(receiver.requests) == 3 and all(r.verified for r in receiver.requests)
    assert {r.headers["X-Geowarn-Delivery"] for r in receiver.requests} == {row.id}


def test_a_receiver_that_keeps_failing_fails_the_delivery_after_max_attempts(sessions):
    clock = Clock(T0)
    with WebhookReceiver(default=503) as receiver:
        subscription, _ = subscribe(sessions, receiver.url)
        sending = dispatcher(sessions, clock)
        run_until_settled(sending, clock, POLICY.max_attempts + 2)
        sending.close()
    with session_scope(sessions) as session:
        [row] = deliveries_of(session, subscription)
    assert (row.status, row.attempts, row.last_status_code, row.next_attempt_at) == (
        FAILED, POLICY.max_attempts, 503, None)
    assert row.last_error == f"HTTP 503 (gave up after {POLICY.max_attempts} attempts)"
    assert len(receiver.requests) == POLICY.max_attempts


def test_a_refusing_receiver_fails_the_delivery_at_once(sessions):
    clock = Clock(T0)
    with WebhookReceiver(default=410) as receiver:
        subscription, _ = subscribe(sessions, receiver.url)
        sending = dispatcher(sessions, clock)
        run_until_settled(sending, clock, 3)
        sending.close()
    with session_scope(sessions) as session:
        [row] = deliveries_of(session, subscription)
    assert (row.status, row.attempts, row.last_status_code) == (FAILED, 1, 410)
    assert len(receiver.requests) == 1


def test_pending_deliveries_survive_a_restart_and_email_arrives(sessions):
    clock = Clock(T0)
    with SmtpReceiver() as smtp:
        subscription, _ = subscribe(sessions, "duty@sc.example.cn", channel="email")
        # A notifier that claimed the delivery and died before sending it:
        crashed = dispatcher(sessions, clock, smtp)
        with session_scope(sessions) as session:
            assert len(claim_due(session, now=clock(), limit=10, lease_s=POLICY.lease_s)) == 1
        crashed.close()
        restarted = dispatcher(sessions, clock, smtp)
        assert restarted.run_once() == {}  # still leased to the dead one
        clock.now += timedelta(seconds=POLICY.lease_s)
        assert list(restarted.run_once().values()) == ["delivered"]
        restarted.close()
        messages = list(smtp.messages)
    with session_scope(sessions) as session:
        [row] = deliveries_of(session, subscription)
    assert (row.status, row.attempts, row.last_status_code) == (DELIVERED, 1, 250)
    [message] = messages
    assert message["To"] == "duty@sc.example.cn" and "RED (tier I)" in message["Subject"]


class SlowSender:
    """A channel whose every send takes 60 % of a lease (on the test's clock) and which
    notes whether the delivery it sends was still leased to it when it started."""

    def __init__(self, sessions, clock: Clock) -> None:
        self._sessions, self._clock = sessions, clock
        self.leased_at_start: list[bool] = []

    def send(self, delivery: DueDelivery) -> Outcome:
        with session_scope(self._sessions) as session:
            lease_end = session.get(NotificationDeliveryRow, delivery.id).next_attempt_at
        self.leased_at_start.append(lease_end > self._clock())
        self._clock.now += timedelta(seconds=0.6 * POLICY.lease_s)
        return Outcome.ok(200)


def test_a_claimed_delivery_is_sent_before_its_lease_ends_behind_slow_receivers(sessions):
    """Another notifier takes a delivery whose lease has ended: so none may wait in a
    queue behind slow sends until then."""
    clock = Clock(T0)
    subscription, _ = subscribe(sessions, "https://slow.example.cn/hook")
    with session_scope(sessions) as session:
        enqueue_deliveries(session, [NewDelivery(subscription, f"E{n}", "W1", "P1", "opened",
                                                 "red", {"event_id": f"E{n}"})
                                     for n in range(2, 5)], now=T0)
    slow = SlowSender(sessions, clock)
    sending = Dispatcher(sessions, {"webhook": slow}, policy=POLICY, clock=clock,
                         concurrency=1)
    rounds = [sending.run_once() for _ in range(5)]
    sending.close()
    assert [len(r) for r in rounds] == [1, 1, 1, 1, 0]
    assert slow.leased_at_start == [True] * 4
