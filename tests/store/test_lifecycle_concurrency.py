"""Officers acting at the same moment, in threads, on SQLite and PostgreSQL: one wins,
the others are told the version moved; a request delivered twice at once applies once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from store.actions import ActionRequest, RaiseRequest, StaleVersion, act, perform, raise_warning
from store.db import session_scope
from store.ledger import apply_assessments
from store.lifecycle import LifecycleRules
from store.points import upsert_points
from store.tables import WarningRow, WarningTransitionRow
from tests.store.conftest import T0, assess, make_point

NOW = T0 + timedelta(hours=1)
RULES = LifecycleRules()
OFFICERS = 4


@pytest.fixture
def warning_id(sessions) -> str:
    with session_scope(sessions, write_lock=True) as session:
        upsert_points(session, [make_point("P1"), make_point("P2")])
        apply_assessments(session, [assess("P1", "orange", 0)], recorded_at=NOW, rules=RULES)
    with session_scope(sessions) as session:
        return session.scalar(select(WarningRow.id))


def at_once(count: int, work: Callable[[int], object]) -> list[object]:
    """Run ``work(i)`` in ``count`` threads released together; results or exceptions."""
    barrier, results = threading.Barrier(count), [None] * count

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = work(index)
        except Exception as exc:  # noqa: BLE001 - collected for the assertions
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def rows(sessions) -> int:
    with session_scope(sessions) as session:
        return session.scalar(select(func.count()).select_from(WarningTransitionRow))


def test_of_officers_acting_on_one_version_exactly_one_wins(sessions, warning_id):
    def upgrade(index: int):
        request = ActionRequest(warning_id, "upgrade", "by hand", 1, f"key-{index}", "red")
        return perform(sessions, request, actor=f"officer-{index}",
                       work=lambda s: act(s, request, actor=f"officer-{index}", now=NOW,
                                          rules=RULES))

    results = at_once(OFFICERS, upgrade)
    stale = [r for r in results if isinstance(r, StaleVersion)]
    assert len(stale) == OFFICERS - 1, results
    assert all(r.current["version"] == 2 and r.current["level"] == "red" for r in stale)
    assert rows(sessions) == 2


def test_one_action_delivered_several_times_at_once_applies_once(sessions, warning_id):
    request = ActionRequest(warning_id, "acknowledge", "seen", 1, "retry-storm")

    def acknowledge(_: int):
        return perform(sessions, request, actor="officer-a",
                       work=lambda s: act(s, request, actor="officer-a", now=NOW, rules=RULES))

    results = at_once(OFFICERS, acknowledge)
    assert {r.transition.id for r in results} == {results[0].transition.id}, results
    assert sorted(r.replayed for r in results) == [False] + [True] * (OFFICERS - 1)
    assert rows(sessions) == 2


def test_one_raise_delivered_several_times_at_once_opens_one_warning(sessions, warning_id):
    request = RaiseRequest("P2", "red", "cracks in the wall", "raise-once")

    def raise_it(_: int):
        return perform(sessions, request, actor="officer-a",
                       work=lambda s: raise_warning(s, request, actor="officer-a", now=NOW,
                                                    rules=RULES))

    results = at_once(OFFICERS, raise_it)
    assert len({r.warning_id for r in results}) == 1, results
    with session_scope(sessions) as session:
        assert session.scalar(select(func.count()).select_from(WarningRow)
                              .where(WarningRow.point_id == "P2")) == 1
