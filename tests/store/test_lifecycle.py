"""The warning lifecycle on SQLite and PostgreSQL: issue rules, audit rows, versions,
the acknowledgement deadline (with an injected clock) and the officers' level hold."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from store.actions import ActionRequest, IdempotencyKeyReused, StaleVersion, act, perform
from store.db import session_scope
from store.ledger import apply_assessments, unpublished_events
from store.lifecycle import LevelRule, LifecycleRules, audit_trail, check_deadlines
from store.points import upsert_points
from store.tables import WarningRow
from tests.store.conftest import T0, assess, make_point

NOW = T0 + timedelta(hours=1)
"""Wall clock of the ledger's writes in these tests."""
RULES = LifecycleRules(ack_minutes=30)


@pytest.fixture
def points(sessions):
    with session_scope(sessions) as session:
        upsert_points(session, [make_point("P1"), make_point("P2")])


def ledger(sessions, *assessments, now=NOW, rules=RULES):
    with session_scope(sessions, write_lock=True) as session:
        return apply_assessments(session, list(assessments), recorded_at=now, rules=rules)


def warning(sessions, point_id: str = "P1") -> WarningRow:
    with session_scope(sessions) as session:
        return session.scalars(select(WarningRow).where(WarningRow.point_id == point_id)
                               .order_by(WarningRow.opened_at.desc())).first()


def officer(sessions, action: str, version: int, *, key: str, level: str | None = None,
            actor: str = "officer-a", now=NOW, warning_id: str | None = None):
    wid = warning_id or warning(sessions).id
    request = ActionRequest(wid, action, f"{action} by hand", version, key, level)
    return perform(sessions, request, actor=actor,
                   work=lambda s: act(s, request, actor=actor, now=now, rules=RULES))


def trail(sessions, warning_id: str) -> list[tuple]:
    with session_scope(sessions) as session:
        return [(row.kind, row.actor, row.from_state, row.to_state, row.version)
                for row in audit_trail(session, warning_id)]


def test_default_rules_issue_everything_and_ask_orange_and_red_for_an_acknowledgement():
    rules = LifecycleRules()
    assert [rules.rule(level).auto_issue for level in ("blue", "yellow", "orange", "red")] == [
        True, True, True, True]
    assert [rules.ack_minutes_of(level) for level in ("blue", "yellow", "orange", "red")] == [
        None, None, 30.0, 30.0]
    assert LifecycleRules(red=LevelRule(requires_ack=True, ack_minutes=5)).ack_minutes_of("I") == 5


def test_an_orange_opening_is_issued_at_once_with_an_acknowledgement_deadline(sessions, points):
    ledger(sessions, assess("P1", "orange", 0))
    w = warning(sessions)
    assert (w.state, w.version, w.level_source, w.peak_level) == ("issued", 1, "model", "orange")
    assert w.detected_at == T0  # event time
    assert w.issued_at == NOW  # wall clock
    assert w.ack_due_at == NOW + timedelta(minutes=30)
    assert trail(sessions, w.id) == [("opened", "system:scorer", None, "issued", 1)]


def test_blue_needs_no_acknowledgement_and_a_rule_can_hold_it_raised(sessions, points):
    ledger(sessions, assess("P1", "blue", 0))
    assert warning(sessions).ack_due_at is None
    held = LifecycleRules(yellow=LevelRule(auto_issue=False))
    ledger(sessions, assess("P2", "yellow", 0), rules=held)
    w = warning(sessions, "P2")
    assert (w.state, w.issued_at) == ("raised", None)
    officer(sessions, "issue", 1, key="issue-1", warning_id=w.id)
    w = warning(sessions, "P2")
    assert (w.state, w.version, w.issued_at) == ("issued", 2, NOW)
    assert trail(sessions, w.id)[-1] == ("issued", "officer-a", "raised", "issued", 2)


def test_an_escalation_to_orange_asks_for_a_new_acknowledgement(sessions, points):
    ledger(sessions, assess("P1", "yellow", 0))
    officer(sessions, "acknowledge", 1, key="ack-1")
    later = NOW + timedelta(minutes=10)
    ledger(sessions, assess("P1", "orange", 5), now=later)
    w = warning(sessions)
    assert (w.state, w.version, w.peak_level) == ("issued", 3, "orange")
    assert w.ack_due_at == later + timedelta(minutes=30)
    assert [step[0] for step in trail(sessions, w.id)] == ["opened", "acknowledged", "escalated"]


def test_every_officer_action_is_an_audit_row_with_a_new_version(sessions, points):
    ledger(sessions, assess("P1", "orange", 0))
    officer(sessions, "acknowledge", 1, key="a1")
    officer(sessions, "upgrade", 2, key="a2", level="red")
    officer(sessions, "downgrade", 3, key="a3", level="yellow")
    result = officer(sessions, "lift", 4, key="a4", actor="officer-b")
    w = warning(sessions)
    assert (w.status, w.state, w.level, w.peak_level, w.version) == (
        "lifted", "lifted", "yellow", "red", 5)
    assert w.acknowledged_at == w.acted_at == NOW and w.lifted_at == NOW
    assert (result.status, result.level, result.transition.to_level) == ("lifted", "yellow", "none")
    assert trail(sessions, w.id) == [
        ("opened", "system:scorer", None, "issued", 1),
        ("acknowledged", "officer-a", "issued", "acknowledged", 2),
        ("escalated", "officer-a", "acknowledged", "issued", 3),
        ("downgraded", "officer-a", "issued", "issued", 4),
        ("lifted", "officer-b", "issued", "lifted", 5)]


def test_the_officers_level_holds_against_lower_model_assessments(sessions, points):
    ledger(sessions, assess("P1", "orange", 0))
    officer(sessions, "upgrade", 1, key="up", level="red")
    held = ledger(sessions, assess("P1", "yellow", 10), assess("P1", "none", 20))
    assert (held.transitions, held.updated) == ([], 2)
    w = warning(sessions)
    assert (w.status, w.level, w.level_source, w.version) == ("active", "red", "officer", 2)
    officer(sessions, "downgrade", 2, key="down", level="yellow")
    raised = ledger(sessions, assess("P1", "orange", 30))
    assert [(t.kind, t.to_level, t.version) for t in raised.transitions] == [
        ("escalated", "orange", 4)]


def test_a_missed_deadline_renotifies_and_escalates_to_the_national_centre_once(sessions, points):
    ledger(sessions, assess("P1", "orange", 0), assess("P2", "red", 0))
    officer(sessions, "acknowledge", 1, key="ack-p2", warning_id=warning(sessions, "P2").id)
    due = NOW + timedelta(minutes=30)
    with session_scope(sessions) as session:
        assert check_deadlines(session, now=due - timedelta(seconds=1), rules=RULES) == []
    with session_scope(sessions) as session:
        rows = check_deadlines(session, now=due, rules=RULES)
        made = [(r.kind, r.actor, r.version, r.point_id) for r in rows]
    assert made == [("renotified", "system:lifecycle", 2, "P1"),
                    ("escalated_to_national", "system:lifecycle", 3, "P1")]
    w = warning(sessions)
    assert (w.state, w.version, w.ack_overdue_at, w.national_at) == ("issued", 3, due, due)
    with session_scope(sessions) as session:
        assert check_deadlines(session, now=due + timedelta(hours=1), rules=RULES) == []
        events = [e for e in unpublished_events(session) if e.point_id == "P1"]
    assert [(e.transition, e.actor) for e in events][-2:] == [
        ("renotified", "system:lifecycle"), ("escalated_to_national", "system:lifecycle")]
    assert "not acknowledged by" in events[-1].reason
    officer(sessions, "acknowledge", 3, key="late-ack", actor="officer-n")
    assert warning(sessions).state == "acknowledged"


def test_a_stale_version_is_refused_with_the_current_state(sessions, points):
    """Two officers read version 1; the second to act gets the state the first left."""
    ledger(sessions, assess("P1", "orange", 0))
    first, second = sessions(), sessions()
    try:
        seen = [s.get(WarningRow, warning(sessions).id).version for s in (first, second)]
        assert seen == [1, 1]
    finally:
        first.close()
        second.close()
    officer(sessions, "acknowledge", 1, key="first", actor="officer-a")
    with pytest.raises(StaleVersion) as stale:
        officer(sessions, "upgrade", 1, key="second", actor="officer-b", level="red")
    assert stale.value.current["version"] == 2
    assert stale.value.current["state"] == "acknowledged"
    assert len(trail(sessions, warning(sessions).id)) == 2


def test_a_replayed_action_returns_the_first_result_and_writes_nothing(sessions, points):
    ledger(sessions, assess("P1", "orange", 0))
    first = officer(sessions, "acknowledge", 1, key="same")
    again = officer(sessions, "acknowledge", 1, key="same")
    assert (first.replayed, again.replayed) == (False, True)
    assert again.transition == first.transition
    assert len(trail(sessions, warning(sessions).id)) == 2
    with pytest.raises(IdempotencyKeyReused, match="different request"):
        officer(sessions, "lift", 2, key="same")
