"""The outbox: transitions become WarningEvents until they are marked published."""

from __future__ import annotations

from datetime import timedelta

from store.db import session_scope
from store.ledger import apply_assessments, mark_published, unpublished_events
from store.points import upsert_points
from streams.schemas import WarningEvent
from tests.store.conftest import T0, assess, make_point

RECORDED = T0 + timedelta(hours=1)


def test_unpublished_events_carry_the_point_and_the_tier_until_marked(sessions):
    with session_scope(sessions) as session:
        upsert_points(session, [make_point("P1", people=80), make_point("P2")])
        result = apply_assessments(session, [assess("P1", "orange", 0), assess("P1", "red", 5),
                                             assess("P2", "blue", 0)], recorded_at=RECORDED)
        ids = [t.id for t in result.transitions]
    with session_scope(sessions) as session:
        events = unpublished_events(session, limit=100)
        only_p2 = unpublished_events(session, limit=100, point_ids={"P2"})
        first_two = unpublished_events(session, limit=2)
    assert sorted(e.event_id for e in events) == sorted(ids)
    assert [e.point_id for e in only_p2] == ["P2"]
    assert len(first_two) == 2
    escalated = next(e for e in events if e.transition == "escalated")
    point = make_point("P1", people=80)
    assert escalated == WarningEvent(
        event_id=escalated.event_id, warning_id=escalated.warning_id, point_id="P1",
        transition="escalated", from_level="orange", to_level="red", tier="I",
        hazard_type="landslide", point_name=point.name, province="Sichuan", county="Wenchuan",
        lon=point.lon, lat=point.lat, threatened_people=80, households=20,
        observed_at=T0 + timedelta(minutes=5), issued_at=RECORDED, model="deformation",
        model_version="1", evidence=assess("P1", "red", 5).evidence)
    p1_events = [e for e in events if e.point_id == "P1"]
    assert [e.transition for e in p1_events] == ["opened", "escalated"]

    published_at = RECORDED + timedelta(seconds=2)
    with session_scope(sessions) as session:
        assert mark_published(session, ids[:2], published_at) == 2
        assert mark_published(session, ids[:2], published_at) == 0
    with session_scope(sessions) as session:
        assert [e.event_id for e in unpublished_events(session)] == [ids[2]]
        mark_published(session, ids, published_at)
    with session_scope(sessions) as session:
        assert unpublished_events(session) == []
