"""The risk-point registry: bulk upsert and lookups, on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from datetime import timedelta

from sqlalchemy import func, select

from geo.registry import SensorSpec
from store.db import session_scope
from store.points import PointInfo, count_points, load_point_index, point_ids, upsert_points
from store.tables import RiskPointRow, SensorRow
from tests.store.conftest import T0, make_point


def test_upserting_50000_points_takes_seconds(sessions, database_url):
    points = [make_point(f"P{i:05d}", sensors=3) for i in range(50_000)]
    started = time.perf_counter()
    with session_scope(sessions) as session:
        written = upsert_points(session, points)
    elapsed = time.perf_counter() - started
    print(f"\nupserted 50,000 points with 150,000 sensors in {elapsed:.1f} s "
          f"({database_url.split(':')[0]})")
    with session_scope(sessions) as session:
        assert written == count_points(session) == 50_000
        assert session.scalar(select(func.count()).select_from(SensorRow)) == 150_000
    assert elapsed < 30  # generous: the point is seconds, not minutes, on a loaded machine


def test_upsert_updates_fields_replaces_sensors_and_keeps_created_at(sessions):
    first = make_point("P1", sensors=3)
    with session_scope(sessions) as session:
        upsert_points(session, [first, make_point("P2")], now=T0)
    renamed = first.model_copy(update={
        "name": "Renamed slope", "threatened_people": 999,
        "sensors": (SensorSpec(sensor_id="new", kind="rain_gauge"),)})
    later = T0 + timedelta(days=1)
    with session_scope(sessions) as session:
        assert upsert_points(session, [renamed, renamed], now=later) == 1
    with session_scope(sessions) as session:
        row = session.get(RiskPointRow, "P1")
        assert (row.name, row.threatened_people, row.created_at, row.updated_at) == (
            "Renamed slope", 999, T0, later)
        assert [(s.sensor_id, s.kind, s.unit) for s in row.sensors] == [("new", "rain_gauge", "mm/h")]
        assert len(session.get(RiskPointRow, "P2").sensors) == 2


def test_point_lookups(sessions):
    with session_scope(sessions) as session:
        upsert_points(session, [make_point("P1", people=40), make_point("P2", province="Yunnan")])
    with session_scope(sessions) as session:
        assert point_ids(session) == {"P1", "P2"}
        assert count_points(session) == 2
        index = load_point_index(session)
        assert set(load_point_index(session, ["P2", "P9"])) == {"P2"}
    point = make_point("P1", people=40)
    assert index["P1"] == PointInfo("P1", "landslide", point.name, "Sichuan", "Wenchuan",
                                    point.lon, point.lat, 40, 10)
    assert index["P2"].province == "Yunnan"


def test_upserting_nothing_writes_nothing(sessions):
    with session_scope(sessions) as session:
        assert upsert_points(session, []) == 0
        assert count_points(session) == 0


def test_load_risk_points_round_trips_points_with_sensors(database_url):
    from geo.registry import RiskPoint, SensorSpec
    from store.db import make_engine, session_factory, session_scope
    from store.migrate import upgrade
    from store.points import hazard_types, load_risk_points, upsert_points

    upgrade(database_url)
    sessions = session_factory(make_engine(database_url))
    point = RiskPoint(id="RT-1", name="Round trip", hazard_type="debris_flow", lon=103.1, lat=30.2,
                      geometry={"type": "Point", "coordinates": [103.1, 30.2]}, province="四川省",
                      province_adcode="510000", county="x", county_adcode="510100",
                      threatened_people=12, households=4,
                      sensors=[SensorSpec(sensor_id="M1", kind="mud_level", unit="m"),
                               SensorSpec(sensor_id="R1", kind="rain_gauge")])
    with session_scope(sessions) as session:
        upsert_points(session, [point])
    with session_scope(sessions) as session:
        loaded = load_risk_points(session)
        kinds = hazard_types(session)
    assert loaded == [point]
    assert kinds == {"RT-1": "debris_flow"}
