"""/candidate-areas: listing with evidence, accepting (a risk point is created where the
area is, in its province and county) and rejecting (a reason is required)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import shapely
from shapely.geometry import shape

from geo.boundaries import Boundaries
from store.db import make_engine, session_factory, session_scope
from store.rasters import CANDIDATE, CandidateArea, add_candidate_areas
from tests.api.seed import bearer

NOW = datetime(2026, 7, 1, 8, 0, tzinfo=UTC)
# A thin L-shaped area near Wenchuan: its centroid lies outside it, a representative point not.
L_SHAPE = {"type": "Polygon", "coordinates": [[
    [103.50, 31.40], [103.56, 31.40], [103.56, 31.41], [103.51, 31.41], [103.51, 31.46],
    [103.50, 31.46], [103.50, 31.40]]]}
SQUARE = {"type": "Polygon", "coordinates": [[
    [102.90, 30.00], [102.92, 30.00], [102.92, 30.02], [102.90, 30.02], [102.90, 30.00]]]}


def area(area_id: str, geometry: dict, peak: float) -> CandidateArea:
    inside = shape(geometry).representative_point()
    return CandidateArea(
        id=area_id, status=CANDIDATE, product="insar_velocity", location="/data/v.h5",
        valid_at=NOW, geometry=geometry, lon=inside.x, lat=inside.y, area_m2=2.5e5,
        pixel_count=60, mean_velocity_mm_yr=peak / 2, peak_velocity_mm_yr=peak,
        evidence={"indicator": "insar_los_velocity", "sigma_mm_yr": 2.1}, created_at=NOW)


@pytest.fixture
def areas(seeded_url: str) -> list[str]:
    engine = make_engine(seeded_url)
    with session_scope(session_factory(engine)) as session:
        add_candidate_areas(session, [area("area-l", L_SHAPE, -31.5), area("area-sq", SQUARE, 12.0)])
    engine.dispose()
    return ["area-l", "area-sq"]


def test_candidate_areas_are_a_feature_collection_with_their_evidence(client, areas):
    body = client.get("/candidate-areas").json()
    assert body["type"] == "FeatureCollection" and body["numberMatched"] == 2
    feature = next(f for f in body["features"] if f["id"] == "area-l")
    assert feature["geometry"] == L_SHAPE
    assert feature["properties"]["peak_velocity_mm_yr"] == -31.5
    assert feature["properties"]["evidence"]["indicator"] == "insar_los_velocity"
    assert client.get("/candidate-areas?status=accepted").json()["numberMatched"] == 0
    assert client.get("/candidate-areas/area-sq").json()["properties"]["status"] == CANDIDATE
    assert client.get("/candidate-areas/nope").status_code == 404
    assert client.get("/candidate-areas?status=maybe").status_code == 422


def test_accepting_creates_a_risk_point_in_the_area_with_its_province_and_county(client, areas):
    response = client.post("/candidate-areas/area-l/accept",
                           json={"name": "Shaping slope", "hazard_type": "landslide",
                                 "threatened_people": 40, "households": 12})
    assert response.status_code == 201
    body = response.json()
    decided, created = body["candidate_area"], body["risk_point"]
    assert decided["properties"]["status"] == "accepted"
    assert decided["properties"]["point_id"] == created["id"] == "insar-area-l"
    props = created["properties"]
    assert created["geometry"] == L_SHAPE
    assert shape(L_SHAPE).contains(shapely.Point(props["lon"], props["lat"]))
    where = Boundaries.load().assign([props["lon"]], [props["lat"]])
    assert (props["province"], props["county"]) == (where.province[0], where.county[0])
    assert props["province"] == "四川省" and props["county_adcode"] == where.county_adcode[0]
    assert (props["threatened_people"], props["households"], props["hazard_type"]) == (
        40, 12, "landslide")

    assert client.get(f"/risk-points/{created['id']}").status_code == 200
    assert [f["id"] for f in client.get("/candidate-areas").json()["features"]] == ["area-sq"]
    again = client.post("/candidate-areas/area-l/accept",
                        json={"name": "Twice", "hazard_type": "landslide"})
    assert again.status_code == 409 and "already accepted" in again.json()["detail"]


def test_rejecting_needs_a_reason_and_is_final(client, areas):
    for body in (None, {}, {"reason": "   "}):
        response = client.post("/candidate-areas/area-sq/reject", json=body)
        assert response.status_code == 422
    assert client.get("/candidate-areas/area-sq").json()["properties"]["status"] == CANDIDATE

    response = client.post("/candidate-areas/area-sq/reject",
                           json={"reason": "quarry: the ground is dug, not sliding"})
    assert response.status_code == 200
    props = response.json()["properties"]
    assert props["status"] == "rejected" and props["decision_reason"].startswith("quarry")
    assert props["decided_at"] is not None and props["point_id"] is None
    assert client.post("/candidate-areas/area-sq/accept",
                       json={"name": "Late", "hazard_type": "collapse"}).status_code == 409


def test_accept_checks_its_body_and_the_area(client, areas):
    assert client.post("/candidate-areas/nope/accept",
                       json={"name": "X", "hazard_type": "landslide"}).status_code == 404
    assert client.post("/candidate-areas/area-l/accept",
                       json={"name": "X", "hazard_type": "volcano"}).status_code == 422
    assert client.post("/candidate-areas/area-l/accept",
                       json={"hazard_type": "landslide"}).status_code == 422
    assert client.get("/candidate-areas/area-l").json()["properties"]["status"] == CANDIDATE


YUNNAN_SQUARE = {"type": "Polygon", "coordinates": [[
    [102.70, 25.05], [102.72, 25.05], [102.72, 25.07], [102.70, 25.07], [102.70, 25.05]]]}


@pytest.fixture
def two_provinces(seeded_url: str, areas: list[str]) -> list[str]:
    """area-l and area-sq in Sichuan, area-yn in Yunnan (Kunming)."""
    engine = make_engine(seeded_url)
    with session_scope(session_factory(engine)) as session:
        add_candidate_areas(session, [area("area-yn", YUNNAN_SQUARE, -20.0)])
    engine.dispose()
    return [*areas, "area-yn"]


@pytest.mark.parametrize(("user", "visible"), [
    ("national", ["area-l", "area-sq", "area-yn"]),
    ("analyst", ["area-l", "area-sq", "area-yn"]),
    ("responder", ["area-l", "area-sq", "area-yn"]),
    ("sichuan", ["area-l", "area-sq"]),
    ("yunnan", ["area-yn"]),
])
def test_each_reader_lists_the_areas_of_its_provinces(api, two_provinces, user, visible):
    body = api.get("/candidate-areas", headers=bearer(user)).json()
    assert sorted(f["id"] for f in body["features"]) == visible
    assert body["numberMatched"] == len(visible)
    assert {f["properties"]["province_adcode"] for f in body["features"]} <= {"510000", "530000"}


def test_another_provinces_area_is_a_403_with_the_reason(api, two_provinces):
    sichuan = bearer("sichuan")
    response = api.get("/candidate-areas/area-yn", headers=sichuan)
    assert response.status_code == 403
    assert response.json()["detail"] == ("provincial officer of 510000 may not read candidate "
                                         "areas of 530000")
    assert api.get("/candidate-areas/area-l", headers=sichuan).status_code == 200
    denied = api.get("/candidate-areas?province=530000", headers=sichuan)
    assert denied.status_code == 403 and "530000" in denied.json()["detail"]
    assert api.get("/candidate-areas?province=510000", headers=sichuan).json()[
        "numberMatched"] == 2
    reject = api.post("/candidate-areas/area-yn/reject", headers=sichuan,
                      json={"reason": "not ours to judge"})
    assert reject.status_code == 403 and "may not decide on candidate areas of 530000" in \
        reject.json()["detail"]
    accept = api.post("/candidate-areas/area-yn/accept", headers=sichuan,
                      json={"name": "X", "hazard_type": "landslide"})
    assert accept.status_code == 403
    assert api.get("/candidate-areas/area-yn", headers=bearer("national")).json()[
        "properties"]["status"] == CANDIDATE
    accepted = api.post("/candidate-areas/area-yn/accept", headers=bearer("yunnan"),
                        json={"name": "Kunming slope", "hazard_type": "landslide"})
    assert accepted.status_code == 201
    assert accepted.json()["candidate_area"]["properties"]["province"] == "云南省"


def test_analysts_decide_and_responders_only_read(api, two_provinces):
    assert api.get("/candidate-areas/area-yn", headers=bearer("responder")).status_code == 200
    refused = api.post("/candidate-areas/area-sq/reject", headers=bearer("responder"),
                       json={"reason": "looks like a quarry"})
    assert refused.status_code == 403
    assert "may not accept or reject candidate areas" in refused.json()["detail"]
    rejected = api.post("/candidate-areas/area-sq/reject", headers=bearer("analyst"),
                        json={"reason": "looks like a quarry"})
    assert rejected.status_code == 200 and rejected.json()["properties"]["status"] == "rejected"
    accepted = api.post("/candidate-areas/area-yn/accept", headers=bearer("analyst"),
                        json={"name": "Kunming slope", "hazard_type": "landslide"})
    assert accepted.status_code == 201
