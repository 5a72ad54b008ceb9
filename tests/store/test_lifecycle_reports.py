"""Response times per province and level against medians and 90th percentiles
computed by hand (linear interpolation between closest ranks)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from geo.registry import RiskPoint
from store.db import session_scope
from store.points import upsert_points
from store.reports import Stat, response_times
from store.tables import WarningRow
from tests.store.conftest import T0

S = timedelta(seconds=1)


def point(point_id: str, province: str, adcode: str) -> RiskPoint:
    return RiskPoint(id=point_id, name=point_id, hazard_type="landslide", lon=103.0, lat=30.0,
                     geometry={"type": "Point", "coordinates": [103.0, 30.0]},
                     province=province, province_adcode=adcode, county=None, county_adcode=None,
                     threatened_people=10, households=3)


def warning(n: int, point_id: str, level: str, detected: datetime, *, issue: int | None,
            ack: int | None = None, act: int | None = None, lift: int | None = None
            ) -> WarningRow:
    """A warning detected at ``detected``; the other times in seconds after detection or issue."""
    issued = None if issue is None else detected + issue * S
    return WarningRow(
        id=f"R{n}", point_id=point_id, level="blue", peak_level=level,
        status="lifted" if lift is not None else "active", hazard_type="landslide",
        province=None, county=None, opened_at=detected, updated_at=detected,
        lifted_at=None if lift is None else detected + lift * S, model="m", model_version="1",
        evidence=[], last_assessment_id=f"RA{n}", detected_at=detected, issued_at=issued,
        acknowledged_at=None if ack is None else issued + ack * S,
        acted_at=None if act is None else issued + act * S)


@pytest.fixture
def history(sessions):
    """Sichuan orange: issue after 60, 120, 180, 600 s; acknowledged after 300, 900, 1500 s;
    acted on after 1000, 2000 s; one lifted 7200 s after detection. Yunnan red: issued
    after 30 s. One Sichuan orange detected a week earlier, outside the window."""
    with session_scope(sessions) as session:
        upsert_points(session, [point(f"S{i}", "四川省", "510000") for i in range(5)]
                      + [point("Y1", "云南省", "530000")])
        session.add_all([
            warning(1, "S0", "orange", T0, issue=60, ack=300, act=1000, lift=7200),
            warning(2, "S1", "orange", T0 + 10 * S, issue=120, ack=900, act=2000),
            warning(3, "S2", "orange", T0 + 20 * S, issue=180, ack=1500),
            warning(4, "S3", "orange", T0 + 30 * S, issue=600),
            warning(5, "S4", "orange", T0 - timedelta(days=7), issue=5),
            warning(6, "Y1", "red", T0, issue=30),
        ])


def groups(sessions, **filters) -> dict:
    with session_scope(sessions) as session:
        found = response_times(session, since=T0 - timedelta(hours=1),
                               until=T0 + timedelta(hours=1), **filters)
    return {(g.province_adcode, g.level): g for g in found}


def test_medians_and_90th_percentiles_per_province_and_level(sessions, history):
    found = groups(sessions)
    assert list(found) == [("510000", "orange"), ("530000", "red")]
    sichuan = found[("510000", "orange")]
    assert (sichuan.province, sichuan.warnings) == ("四川省", 4)
    # sorted 60, 120, 180, 600: median (120 + 180) / 2; p90 at rank 2.7: 180 + 0.7 * 420
    assert sichuan.durations["detection_to_issue"] == Stat(4, 150.0, 474.0)
    # 300, 900, 1500: median 900; p90 at rank 1.8: 900 + 0.8 * 600
    assert sichuan.durations["issue_to_acknowledgement"] == Stat(3, 900.0, 1380.0)
    # 1000, 2000: median 1500; p90 at rank 0.9: 1000 + 0.9 * 1000
    assert sichuan.durations["issue_to_action"] == Stat(2, 1500.0, 1900.0)
    assert sichuan.durations["detection_to_lift"] == Stat(1, 7200.0, 7200.0)
    yunnan = found[("530000", "red")]
    assert yunnan.durations["detection_to_issue"] == Stat(1, 30.0, 30.0)
    assert yunnan.durations["issue_to_acknowledgement"] == Stat(0, None, None)


def test_scope_province_and_level_filters(sessions, history):
    assert list(groups(sessions, scope={"530000"})) == [("530000", "red")]
    assert list(groups(sessions, provinces={"510000"})) == [("510000", "orange")]
    assert list(groups(sessions, levels={"red"})) == [("530000", "red")]
    assert groups(sessions, scope={"530000"}, provinces={"510000"}) == {}
