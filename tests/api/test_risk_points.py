"""GET /risk-points and /risk-points/{id} on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from store.db import make_engine, session_factory, session_scope
from store.history import record_point_status
from streams.schemas import Assessment, Indicator

pytestmark = [pytest.mark.kafka]


def ids(body: dict) -> list[str]:
    return [feature["id"] for feature in body["features"]]


def test_lists_every_point_as_geojson_with_its_current_level(client: TestClient) -> None:
    response = client.get("/risk-points")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/geo+json"
    body = response.json()
    assert body["type"] == "FeatureCollection"
    assert (body["numberMatched"], body["numberReturned"]) == (5, 5)
    assert ids(body) == ["P1", "P2", "P3", "P4", "P5"]
    p1 = body["features"][0]
    assert p1["geometry"] == {"type": "Point", "coordinates": [103.6, 31.0]}
    assert p1["properties"]["level"] == "orange" and p1["properties"]["tier"] == "II"
    assert p1["properties"]["warning_id"] == "W1"
    assert p1["properties"]["province"] == "四川省" and p1["properties"]["county"] == "P1 county"
    assert (p1["properties"]["threatened_people"], p1["properties"]["households"]) == (100, 30)
    assert sorted(s["sensor_id"] for s in p1["properties"]["sensors"]) == ["G1", "R1"]
    levels = {f["id"]: f["properties"]["level"] for f in body["features"]}
    assert levels == {"P1": "orange", "P2": "none", "P3": "red", "P4": "none", "P5": "none"}
    assert [link["rel"] for link in body["links"]] == ["self"]


@pytest.mark.parametrize(("query", "expected"), [
    ({"bbox": "103,30.5,104,31.5"}, ["P1"]),
    ({"bbox": "100,25,103,31"}, ["P2", "P3", "P4"]),
    ({"province": "四川省"}, ["P1", "P2"]),
    ({"province": "530000"}, ["P3", "P4"]),
    ({"hazard_type": "landslide"}, ["P1", "P5"]),
    ({"hazard_type": "landslide", "province": "500000"}, ["P5"]),
    ({"province": "西藏自治区"}, []),
])
def test_filters(client: TestClient, query: dict, expected: list[str]) -> None:
    body = client.get("/risk-points", params=query).json()
    assert ids(body) == expected
    assert body["numberMatched"] == len(expected)


def test_next_links_page_through_every_point_once(client: TestClient) -> None:
    seen: list[str] = []
    url = "/risk-points?limit=2"
    pages = 0
    while url:
        body = client.get(url).json()
        assert body["numberMatched"] == 5 and body["numberReturned"] <= 2
        seen += ids(body)
        pages += 1
        url = next((link["href"] for link in body["links"] if link["rel"] == "next"), None)
    assert (seen, pages) == (["P1", "P2", "P3", "P4", "P5"], 3)


def test_a_middle_page_links_back(client: TestClient) -> None:
    body = client.get("/risk-points", params={"limit": 2, "offset": 2}).json()
    links = {link["rel"]: link["href"] for link in body["links"]}
    assert ids(body) == ["P3", "P4"]
    assert "offset=4" in links["next"] and "offset=0" in links["prev"]


def test_a_bad_bbox_says_the_expected_format_and_what_is_wrong(client: TestClient) -> None:
    response = client.get("/risk-points", params={"bbox": "103,32,104,30"})
    assert response.status_code == 422
    assert response.json()["detail"] == [{
        "type": "value_error", "loc": ["query", "bbox"], "input": "103,32,104,30",
        "msg": "minLat 32.0 is greater than maxLat 30.0 "
               "(the format is minLon,minLat,maxLon,maxLat)",
    }]


def test_an_unknown_hazard_type_lists_the_allowed_ones(client: TestClient) -> None:
    response = client.get("/risk-points", params={"hazard_type": "volcano"})
    assert response.status_code == 422
    message = response.json()["detail"][0]["msg"]
    for allowed in ("landslide", "collapse", "debris_flow", "subsidence", "ground_fissure"):
        assert allowed in message


@pytest.mark.parametrize("limit", [0, 10_001])
def test_limit_is_bounded(client: TestClient, limit: int) -> None:
    response = client.get("/risk-points", params={"limit": limit})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "limit"]


def test_one_point_is_a_feature_with_its_own_geometry(client: TestClient) -> None:
    response = client.get("/risk-points/P5")
    assert response.status_code == 200
    feature = response.json()
    assert feature["type"] == "Feature" and feature["id"] == "P5"
    assert feature["geometry"]["type"] == "Polygon"
    assert feature["properties"]["level"] == "none" and feature["properties"]["tier"] is None


def test_an_unknown_point_is_404_with_a_message(client: TestClient) -> None:
    response = client.get("/risk-points/NOPE")
    assert response.status_code == 404
    assert response.json() == {"detail": "no risk point with id 'NOPE'"}


def test_points_carry_the_sensor_health_of_their_newest_assessment(client: TestClient,
                                                                   seeded_url: str) -> None:
    observed = datetime(2026, 7, 1, 8, 0, tzinfo=UTC)
    silent = Indicator(sensor_id="P4-s1", kind="gnss", name="sensor_offline", value=7.5,
                       unit="h", level="none", status="offline", valid=False)
    engine = make_engine(seeded_url)
    with session_scope(session_factory(engine)) as session:
        record_point_status(session, [Assessment(
            assessment_id=Assessment.make_id("P4", observed, "none", "1"), point_id="P4",
            level="none", observed_at=observed, model="site", model_version="1",
            evidence=[silent], status="degraded")])
    engine.dispose()
    body = client.get("/risk-points").json()
    health = {f["id"]: (f["properties"]["sensor_status"], f["properties"]["offline_sensors"])
              for f in body["features"]}
    assert health == {"P1": (None, []), "P2": (None, []), "P3": (None, []),
                      "P4": ("degraded", ["P4-s1"]), "P5": (None, [])}
    p4 = client.get("/risk-points/P4").json()["properties"]
    assert (p4["level"], p4["sensor_status"], p4["offline_sensors"]) == (
        "none", "degraded", ["P4-s1"])
