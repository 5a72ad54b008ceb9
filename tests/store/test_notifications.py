"""Subscriptions and the delivery log on SQLite and PostgreSQL: one row per
(subscription, event), claims with a lease, retries with backoff, final states."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from store.db import session_scope
from store.ledger import apply_assessments
from store.lifecycle import LevelRule, LifecycleRules
from store.notifications import (
    DELIVERED,
    FAILED,
    PENDING,
    NewDelivery,
    Outcome,
    RetryPolicy,
    claim_due,
    create_subscription,
    deliveries_of,
    disable_subscription,
    enqueue_deliveries,
    event_context,
    list_subscriptions,
    record_outcome,
)
from store.points import upsert_points
from store.tables import WarningTransitionRow
from tests.store.conftest import T0, assess, make_point

POLICY = RetryPolicy(max_attempts=3, first_delay_s=10, max_delay_s=15, lease_s=60)


def subscribe(session, adcode="510000", channel="webhook", target="https://sc.example.cn/hook"):
    return create_subscription(session, name=f"desk {adcode}", adcode=adcode, min_level="orange",
                               channel=channel, target=target, created_by="national", now=T0)


def pending(subscription_id: str, event_id: str = "E1") -> NewDelivery:
    return NewDelivery(subscription_id, event_id, "W1", "P1", "opened", "red",
                       {"event_id": event_id, "warning_id": "W1"})


def test_subscriptions_know_their_scope_and_only_webhooks_get_a_secret(sessions):
    with session_scope(sessions) as session:
        hook, secret = subscribe(session)
        mail, no_secret = subscribe(session, "513221", "email", "duty@wenchuan.example.cn")
        national, _ = subscribe(session, "100000")
    assert secret.startswith("gws_") and len(secret) > 40 and no_secret is None
    assert (hook.scope, hook.province_adcode) == ("province", "510000")
    assert (mail.scope, mail.province_adcode) == ("county", "510000")
    assert (national.scope, national.province_adcode) == ("national", None)
    with session_scope(sessions) as session:
        assert {s.id for s in list_subscriptions(session, provinces={"510000"})} == {hook.id,
                                                                                   mail.id}
        assert len(list_subscriptions(session)) == 3
        assert list_subscriptions(session, provinces={"530000"}) == []


def test_an_event_is_logged_once_per_subscription(sessions):
    with session_scope(sessions) as session:
        hook, _ = subscribe(session)
        other, _ = subscribe(session, "530000")
        assert enqueue_deliveries(session, [pending(hook.id), pending(other.id)], now=T0) == 2
    with session_scope(sessions) as session:
        assert enqueue_deliveries(session, [pending(hook.id), pending(other.id),
                                            pending(hook.id, "E2")], now=T0) == 1
        log = deliveries_of(session, hook.id)
    assert sorted((d.event_id, d.status, d.attempts) for d in log) == [
        ("E1", PENDING, 0), ("E2", PENDING, 0)]


def test_a_claimed_delivery_is_nobody_elses_until_its_lease_ends(sessions):
    with session_scope(sessions) as session:
        hook, _ = subscribe(session)
        enqueue_deliveries(session, [pending(hook.id)], now=T0)
    with session_scope(sessions) as session:
        [first] = claim_due(session, now=T0, limit=10, lease_s=60)
    with session_scope(sessions) as session:
        assert claim_due(session, now=T0 + timedelta(seconds=59), limit=10, lease_s=60) == []
    with session_scope(sessions) as session:
        [again] = claim_due(session, now=T0 + timedelta(seconds=60), limit=10, lease_s=60)
    assert first.id == again.id and first.secret and first.payload["event_id"] == "E1"


def test_temporary_failures_back_off_then_delivery_succeeds(sessions):
    with session_scope(sessions) as session:
        hook, _ = subscribe(session)
        enqueue_deliveries(session, [pending(hook.id)], now=T0)
    now, due_times = T0, []
    for outcome in (Outcome.temporary(500, "HTTP 500"), Outcome.temporary(503, "HTTP 503"),
                    Outcome.ok(200)):
        with session_scope(sessions) as session:
            [job] = claim_due(session, now=now, limit=10, lease_s=60)
            record_outcome(session, job.id, outcome, now=now, policy=POLICY)
            [row] = deliveries_of(session, hook.id)
        due_times.append(row.next_attempt_at)
        if row.next_attempt_at is not None:
            now = row.next_attempt_at
    assert due_times == [T0 + timedelta(seconds=10), T0 + timedelta(seconds=25), None]
    assert (row.status, row.attempts, row.last_status_code, row.delivered_at) == (
        DELIVERED, 3, 200, T0 + timedelta(seconds=25))


def test_attempts_run_out_and_permanent_refusals_fail_at_once(sessions):
    with session_scope(sessions) as session:
        hook, _ = subscribe(session)
        enqueue_deliveries(session, [pending(hook.id, "E1"), pending(hook.id, "E2")], now=T0)
    now = T0
    for _ in range(POLICY.max_attempts):
        with session_scope(sessions) as session:
            for job in claim_due(session, now=now, limit=10, lease_s=60):
                outcome = (Outcome.temporary(None, "no answer within 10 s")
                           if job.payload["event_id"] == "E1" else Outcome.permanent(404, "HTTP 404"))
                record_outcome(session, job.id, outcome, now=now, policy=POLICY)
        now += timedelta(seconds=POLICY.max_delay_s)
    with session_scope(sessions) as session:
        log = {d.event_id: d for d in deliveries_of(session, hook.id)}
        assert claim_due(session, now=now + timedelta(days=1), limit=10, lease_s=60) == []
    assert (log["E1"].status, log["E1"].attempts, log["E1"].last_error) == (
        FAILED, 3, "no answer within 10 s (gave up after 3 attempts)")
    assert (log["E2"].status, log["E2"].attempts, log["E2"].last_status_code) == (FAILED, 1, 404)


def test_disabling_fails_the_pending_deliveries_and_keeps_the_log(sessions):
    with session_scope(sessions) as session:
        hook, _ = subscribe(session)
        enqueue_deliveries(session, [pending(hook.id)], now=T0)
    with session_scope(sessions) as session:
        view = disable_subscription(session, hook.id, now=T0 + timedelta(hours=1))
        assert disable_subscription(session, "no-such-id", now=T0) is None
    with session_scope(sessions) as session:
        [row] = deliveries_of(session, hook.id)
        assert claim_due(session, now=T0 + timedelta(days=1), limit=10, lease_s=60) == []
        assert list_subscriptions(session, enabled=True) == []
    assert (view.enabled, view.disabled_at) == (False, T0 + timedelta(hours=1))
    assert (row.status, row.last_error) == (FAILED, "subscription disabled")


def test_event_context_gives_the_point_places_and_finds_unissued_openings(sessions):
    rules = LifecycleRules(red=LevelRule(auto_issue=False, requires_ack=True))
    with session_scope(sessions, write_lock=True) as session:
        upsert_points(session, [make_point("P1"), make_point("P2")])
        result = apply_assessments(session, [assess("P1", "red", 0), assess("P2", "orange", 0)],
                                   recorded_at=T0, rules=rules)
        rows = {t.point_id: (t.warning_id, t.id) for t in result.transitions}
    with session_scope(sessions) as session:
        context = event_context(session, point_by_warning={rows["P1"][0]: "P1",
                                                           rows["P2"][0]: "P2"},
                                event_ids=[rows["P1"][1], rows["P2"][1]])
        states = dict(session.execute(select(WarningTransitionRow.point_id,
                                             WarningTransitionRow.to_state)).all())
    assert states == {"P1": "raised", "P2": "issued"}
    assert context.unissued == {rows["P1"][1]}
    assert context.places[rows["P2"][0]] == {"510000", "513221"}
