"""Warnings near a border concern both sides: the resolver against geodesic distances,
and the ledger storing the jurisdictions of the warnings it opens."""

from __future__ import annotations

from datetime import timedelta

import pytest
import shapely
from pyproj import Geod
from shapely.ops import nearest_points
from sqlalchemy import select

from geo.boundaries import Boundaries
from geo.registry import RiskPoint
from store.db import session_scope
from store.jurisdictions import (
    JurisdictionResolver,
    jurisdictions_of,
    metres_per_degree,
    warning_scope_clause,
)
from store.ledger import apply_assessments, unpublished_events
from store.points import upsert_points
from store.tables import RiskPointRow, WarningRow
from tests.store.conftest import T0, assess

BORDER_POINT = (101.5703, 26.4624)
"""In Renhe district (510411), Sichuan, about 1 km from Yongren county (532327), Yunnan."""
GEOD = Geod(ellps="WGS84")
DISTANCE_RTOL = 1e-3
"""The resolver's local projection against geodesic distances."""


@pytest.fixture(scope="module")
def boundaries() -> Boundaries:
    return Boundaries.load()


def geodesic_km(boundaries: Boundaries, lon: float, lat: float, province: str) -> float:
    target = nearest_points(boundaries.province(province).geometry, shapely.Point(lon, lat))[0]
    return GEOD.inv(lon, lat, target.x, target.y)[2] / 1000


def test_the_fixture_point_is_one_km_inside_sichuan(boundaries):
    lon, lat = BORDER_POINT
    assert boundaries.province("510000").geometry.contains(shapely.Point(lon, lat))
    assert geodesic_km(boundaries, lon, lat, "530000") == pytest.approx(1.0, abs=0.01)


@pytest.mark.parametrize("lat", [20.0, 30.0, 45.0])
def test_metres_per_degree_match_geodesic_distances(lat):
    east, north = metres_per_degree(lat)
    assert east * 0.05 == pytest.approx(GEOD.inv(100.0, lat, 100.05, lat)[2], rel=DISTANCE_RTOL)
    assert north * 0.05 == pytest.approx(GEOD.inv(100.0, lat - 0.025, 100.0, lat + 0.025)[2],
                                         rel=DISTANCE_RTOL)


@pytest.mark.parametrize(("distance_km", "expected"), [
    (5.0, ("510000", "510411", "530000", "532327")),
    (0.5, ("510000", "510411")),
    (0.0, ("510000", "510411")),
])
def test_the_border_point_concerns_yunnan_within_the_distance_only(boundaries, distance_km,
                                                                   expected):
    resolver = JurisdictionResolver(boundaries, distance_km)
    assert resolver.adcodes({"type": "Point", "coordinates": list(BORDER_POINT)}) == expected


def test_a_polygon_concerns_every_county_it_touches_and_outside_is_nobody(boundaries):
    resolver = JurisdictionResolver(boundaries, 0.0)
    chongqing = {"type": "Polygon", "coordinates": [[[106.4, 29.4], [106.6, 29.4],
                                                     [106.6, 29.6], [106.4, 29.4]]]}
    adcodes = resolver.adcodes(chongqing)
    assert adcodes[0] == "500000" and len(adcodes) > 3
    assert all(a.startswith("50") for a in adcodes)
    assert resolver.adcodes({"type": "Point", "coordinates": [0.0, 0.0]}) == ()


def test_the_ledger_stores_the_jurisdictions_of_the_warnings_it_opens(sessions, boundaries):
    lon, lat = BORDER_POINT
    with session_scope(sessions) as session:
        upsert_points(session, [RiskPoint(
            id="B1", name="border slope", hazard_type="landslide", lon=lon, lat=lat,
            geometry={"type": "Point", "coordinates": [lon, lat]}, province="四川省",
            province_adcode="510000", county="仁和区", county_adcode="510411",
            threatened_people=50, households=12)])
    resolver = JurisdictionResolver(boundaries, 5.0)
    with session_scope(sessions, write_lock=True) as session:
        apply_assessments(session, [assess("B1", "orange", 0)],
                          recorded_at=T0 + timedelta(hours=1), jurisdictions=resolver)
    with session_scope(sessions) as session:
        warning_id = session.scalar(select(WarningRow.id))
        assert jurisdictions_of(session, [warning_id]) == {
            warning_id: frozenset({"510000", "510411", "530000", "532327"})}
        yunnan = session.scalars(
            select(WarningRow.id).join(RiskPointRow, RiskPointRow.id == WarningRow.point_id)
            .where(warning_scope_clause({"530000"}))).all()
        guangxi = session.scalars(
            select(WarningRow.id).join(RiskPointRow, RiskPointRow.id == WarningRow.point_id)
            .where(warning_scope_clause({"450000"}))).all()
        [event] = unpublished_events(session)
    assert (yunnan, guangxi) == ([warning_id], [])
    assert event.jurisdictions == ["510000", "510411", "530000", "532327"]
