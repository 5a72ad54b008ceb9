"""The ledger's transitions, idempotence and order safety, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from store.db import session_scope
from store.ledger import (
    LedgerResult,
    apply_assessments,
    effect_of,
    transition_id,
    warning_id,
)
from store.points import upsert_points
from store.tables import WarningRow, WarningTransitionRow
from tests.store.conftest import T0, assess, make_point
from warning_models.levels import Level

RECORDED = T0 + timedelta(hours=1)


@pytest.fixture
def points(sessions):
    with session_scope(sessions) as session:
        upsert_points(session, [make_point(f"P{i}") for i in range(1, 4)])


def apply(sessions, assessments) -> LedgerResult:
    with session_scope(sessions, write_lock=True) as session:
        return apply_assessments(session, assessments, recorded_at=RECORDED)


def history(sessions) -> list[tuple]:
    """Every warning with its transitions, in a stable order."""
    with session_scope(sessions) as session:
        warnings = session.scalars(select(WarningRow).order_by(WarningRow.point_id,
                                                               WarningRow.opened_at)).all()
        return [(w.point_id, w.level, w.status, w.opened_at, w.updated_at, w.lifted_at,
                 w.last_assessment_id,
                 [(t.kind, t.from_level, t.to_level, t.observed_at) for t in w.transitions])
                for w in warnings]


def transitions(sessions) -> int:
    with session_scope(sessions) as session:
        return session.scalar(select(func.count()).select_from(WarningTransitionRow))


@pytest.mark.parametrize(("active", "assessed", "effect"), [
    (None, Level.NONE, None), (None, Level.BLUE, "opened"), (Level.BLUE, Level.RED, "escalated"),
    (Level.RED, Level.YELLOW, "downgraded"), (Level.YELLOW, Level.NONE, "lifted"),
    (Level.ORANGE, Level.ORANGE, "update"),
])
def test_effect_of_each_level_pair(active, assessed, effect):
    assert effect_of(active, assessed) == effect


def test_a_warning_opens_escalates_downgrades_and_lifts(sessions, points):
    steps = [assess("P1", "none", 0), assess("P1", "blue", 10), assess("P1", "red", 20),
             assess("P1", "yellow", 30), assess("P1", "none", 40)]
    result = apply(sessions, steps)
    assert [(t.kind, t.from_level, t.to_level) for t in result.transitions] == [
        ("opened", "none", "blue"), ("escalated", "blue", "red"),
        ("downgraded", "red", "yellow"), ("lifted", "yellow", "none")]
    opened = T0 + timedelta(minutes=10)
    wid = warning_id("P1", opened)
    assert {t.warning_id for t in result.transitions} == {wid}
    assert result.transitions[0].id == transition_id(wid, steps[1].assessment_id)
    [(point, level, status, opened_at, updated_at, lifted_at, last, _)] = history(sessions)
    assert (point, level, status, opened_at) == ("P1", "yellow", "lifted", opened)
    assert updated_at == lifted_at == T0 + timedelta(minutes=40)
    assert last == steps[-1].assessment_id


def test_same_level_refreshes_evidence_without_a_transition(sessions, points):
    apply(sessions, [assess("P1", "orange", 0, velocity=5)])
    result = apply(sessions, [assess("P1", "orange", 5, velocity=7)])
    assert (result.transitions, result.updated) == ([], 1)
    with session_scope(sessions) as session:
        warning = session.scalars(select(WarningRow)).one()
    assert warning.evidence[0]["value"] == 7
    assert warning.updated_at == T0 + timedelta(minutes=5)
    assert transitions(sessions) == 1


def test_replaying_the_same_assessments_changes_nothing(sessions, points):
    batch = [assess("P1", "blue", 0), assess("P2", "red", 0), assess("P1", "orange", 10),
             assess("P2", "none", 10), assess("P3", "yellow", 5), assess("P1", "orange", 15)]
    first = apply(sessions, batch)
    before = history(sessions)
    again = apply(sessions, batch)
    assert len(first.transitions) == 5
    assert (again.transitions, again.ignored) == ([], len(batch))
    assert history(sessions) == before
    assert transitions(sessions) == 5


def test_a_replay_split_into_single_assessments_changes_nothing(sessions, points):
    batch = [assess("P1", "blue", 0), assess("P1", "red", 10), assess("P1", "none", 20),
             assess("P1", "yellow", 30)]
    apply(sessions, batch)
    before = history(sessions)
    for assessment in batch:
        assert apply(sessions, [assessment]).transitions == []
    assert history(sessions) == before


def test_duplicates_within_one_batch_apply_once(sessions, points):
    opening = assess("P1", "blue", 0)
    result = apply(sessions, [opening, opening, opening])
    assert (len(result.transitions), result.ignored) == (1, 2)


def test_a_batch_is_applied_in_event_time_order(sessions, points):
    result = apply(sessions, [assess("P1", "red", 20), assess("P1", "blue", 10)])
    assert [(t.kind, t.to_level) for t in result.transitions] == [
        ("opened", "blue"), ("escalated", "red")]


def test_assessments_older_than_the_warning_are_ignored(sessions, points):
    apply(sessions, [assess("P1", "blue", 0), assess("P1", "red", 20)])
    late = apply(sessions, [assess("P1", "yellow", 10), assess("P1", "none", 15)])
    assert (late.transitions, late.ignored) == ([], 2)
    assert history(sessions)[0][1:3] == ("red", "active")


def test_a_late_assessment_does_not_reopen_a_lifted_warning(sessions, points):
    apply(sessions, [assess("P1", "orange", 0), assess("P1", "none", 30)])
    late = apply(sessions, [assess("P1", "red", 20), assess("P1", "red", 30)])
    assert (late.transitions, late.ignored) == ([], 2)
    reopened = apply(sessions, [assess("P1", "red", 31)])
    assert [t.kind for t in reopened.transitions] == ["opened"]
    assert [(w[2], len(w[7])) for w in history(sessions)] == [("lifted", 2), ("active", 1)]


def test_lifting_and_reopening_in_one_batch(sessions, points):
    result = apply(sessions, [assess("P1", "red", 0), assess("P1", "none", 10),
                              assess("P1", "blue", 20)])
    assert [t.kind for t in result.transitions] == ["opened", "lifted", "opened"]
    assert [w[2] for w in history(sessions)] == ["lifted", "active"]


def test_unknown_points_are_rejected_not_raised(sessions, points):
    batch = [assess("P1", "blue", 0), assess("NOPE", "red", 0)]
    result = apply(sessions, batch)
    assert [(r.index, r.assessment.point_id) for r in result.rejected] == [(1, "NOPE")]
    assert "unknown risk point 'NOPE'" in result.rejected[0].reason
    assert [t.point_id for t in result.transitions] == ["P1"]


def test_thousands_of_assessments_in_one_batch(sessions):
    with session_scope(sessions) as session:
        upsert_points(session, [make_point(f"Q{i}") for i in range(2000)])
    batch = [assess(f"Q{i}", level, minute)
             for minute, level in enumerate(["blue", "orange", "none"]) for i in range(2000)]
    result = apply(sessions, batch)
    assert len(result.transitions) == 6000
    assert apply(sessions, batch).ignored == 6000
