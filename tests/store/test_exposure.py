"""The risk points inside a warned area, on SQLite and PostgreSQL."""

from __future__ import annotations

from store.db import session_scope
from store.exposure import exposure_of_area_point, points_inside
from store.points import upsert_points
from tests.store.conftest import make_point

# An L-shaped polygon: its bounding box holds (0.5, 0.5)..(2, 2), but the notch
# (1..2, 1..2) is outside, so the SQL prefilter alone would be wrong.
L_SHAPE = {"type": "Polygon", "coordinates": [[
    [100.0, 30.0], [102.0, 30.0], [102.0, 31.0], [101.0, 31.0], [101.0, 32.0], [100.0, 32.0],
    [100.0, 30.0]]]}


def at(point_id: str, lon: float, lat: float, people: int = 40):
    point = make_point(point_id, people=people)
    return point.model_copy(update={"lon": lon, "lat": lat,
                                    "geometry": {"type": "Point", "coordinates": [lon, lat]}})


def test_points_in_the_polygon_not_in_its_notch_nor_outside(sessions):
    area = at("AREA", 100.5, 30.5, people=500).model_copy(update={"geometry": L_SHAPE})
    with session_scope(sessions) as session:
        upsert_points(session, [
            area,
            at("IN-LOW", 101.5, 30.5),      # in the lower arm
            at("IN-LEFT", 100.5, 31.5),     # in the left arm
            at("EDGE", 102.0, 30.5),        # on the boundary: counts as inside
            at("NOTCH", 101.5, 31.5),       # in the bounding box, outside the polygon
            at("FAR", 105.0, 30.5),
        ])
    with session_scope(sessions) as session:
        inside = exposure_of_area_point(session, "AREA")
        plain = exposure_of_area_point(session, "IN-LOW")
    assert [p.id for p in inside] == ["EDGE", "IN-LEFT", "IN-LOW"]
    assert {(p.level, p.threatened_people, p.households) for p in inside} == {("none", 40, 10)}
    assert plain == []  # a plain point has no inside


def test_multipolygons_count_every_part_and_other_geometries_have_no_inside(sessions):
    with session_scope(sessions) as session:
        upsert_points(session, [at("A", 100.5, 30.5), at("B", 110.5, 35.5), at("C", 105.0, 33.0)])
    parts = {"type": "MultiPolygon", "coordinates": [
        [[[100, 30], [101, 30], [101, 31], [100, 31], [100, 30]]],
        [[[110, 35], [111, 35], [111, 36], [110, 36], [110, 35]]]]}
    with session_scope(sessions) as session:
        assert [p.id for p in points_inside(session, parts)] == ["A", "B"]
        assert points_inside(session, {"type": "Point", "coordinates": [100.5, 30.5]}) == []
        assert points_inside(session, {}) == []
