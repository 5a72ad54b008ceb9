"""GET /warnings and /warnings/{id} on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from geo.registry import RiskPoint
from store.db import make_engine, session_factory, session_scope
from store.ledger import apply_assessments
from store.points import upsert_points
from streams.schemas import Assessment, Indicator

pytestmark = [pytest.mark.kafka]


def ids(body: dict) -> list[str]:
    return [feature["id"] for feature in body["features"]]


def test_active_warnings_are_the_default_newest_first_at_their_points(client: TestClient) -> None:
    response = client.get("/warnings")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/geo+json"
    body = response.json()
    assert ids(body) == ["W3", "W1"]
    assert (body["numberMatched"], body["numberReturned"]) == (2, 2)
    w1 = body["features"][1]
    assert w1["geometry"] == {"type": "Point", "coordinates": [103.6, 31.0]}
    properties = w1["properties"]
    assert (properties["point_id"], properties["point_name"]) == ("P1", "P1 slope")
    assert (properties["level"], properties["tier"]) == ("orange", "II")
    assert properties["status"] == "active"
    assert properties["opened_at"] == "2026-07-01T02:00:00+00:00"
    assert properties["lifted_at"] is None and properties["threatened_people"] == 100
    assert "transitions" not in properties


@pytest.mark.parametrize(("query", "expected"), [
    ({"status": "history"}, ["W2"]),
    ({"status": "all"}, ["W3", "W1", "W2"]),
    ({"level": "II"}, ["W1"]),
    ({"level": "red"}, ["W3"]),
    ({"level": "orange,I"}, ["W3", "W1"]),
    ({"province": "530000"}, ["W3"]),
    ({"province": "四川省", "status": "all"}, ["W1", "W2"]),
    ({"point_id": "P2", "status": "all"}, ["W2"]),
    ({"status": "all", "since": "2026-06-25T00:00:00Z"}, ["W3", "W1"]),
    ({"status": "all", "until": "2026-06-30T00:00:00Z"}, ["W2"]),
    ({"status": "all", "since": "2026-06-20T06:00:00+08:00",
      "until": "2026-07-01T12:00:00+08:00"}, ["W1", "W2"]),
])
def test_filters(client: TestClient, query: dict, expected: list[str]) -> None:
    body = client.get("/warnings", params=query).json()
    assert ids(body) == expected
    assert body["numberMatched"] == len(expected)


def test_an_unencoded_plus_in_the_offset_is_understood(client: TestClient) -> None:
    body = client.get("/warnings?status=all&since=2026-07-01T14:00:00+08:00").json()
    assert ids(body) == ["W3", "W1"]


def test_next_links_page_through_the_history(client: TestClient) -> None:
    first = client.get("/warnings", params={"status": "all", "limit": 2}).json()
    [next_link] = [link["href"] for link in first["links"] if link["rel"] == "next"]
    second = client.get(next_link).json()
    assert ids(first) + ids(second) == ["W3", "W1", "W2"]
    assert [link["rel"] for link in second["links"]] == ["self", "prev"]


def test_a_naive_time_is_422_saying_it_needs_a_time_zone(client: TestClient) -> None:
    response = client.get("/warnings", params={"since": "2026-07-01T00:00:00"})
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["query", "since"]
    assert "the time has no time zone" in error["msg"] and "2026-07-01T08:00:00Z" in error["msg"]


def test_until_before_since_is_422(client: TestClient) -> None:
    response = client.get("/warnings", params={"since": "2026-07-02T00:00:00Z",
                                               "until": "2026-07-01T00:00:00Z"})
    assert response.status_code == 422
    assert "is before since" in response.json()["detail"][0]["msg"]


def test_an_unknown_level_is_422_listing_the_known_ones(client: TestClient) -> None:
    response = client.get("/warnings", params={"level": "purple"})
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["query", "level"]
    assert "expected one of none, blue, yellow, orange, red or a tier IV..I" in error["msg"]


def test_an_unknown_status_is_422_listing_the_allowed_ones(client: TestClient) -> None:
    response = client.get("/warnings", params={"status": "open"})
    assert response.status_code == 422
    assert "'active', 'history' or 'all'" in response.json()["detail"][0]["msg"]


def test_the_detail_carries_evidence_and_transitions(client: TestClient) -> None:
    response = client.get("/warnings/W1")
    assert response.status_code == 200
    feature = response.json()
    assert feature["type"] == "Feature" and feature["id"] == "W1"
    properties = feature["properties"]
    assert properties["evidence"][0]["name"] == "velocity"
    assert properties["evidence"][0]["value"] == 12.5
    transitions = properties["transitions"]
    assert [(t["kind"], t["from_level"], t["to_level"]) for t in transitions] == [
        ("opened", "none", "yellow"), ("escalated", "yellow", "orange")]
    assert transitions[1]["observed_at"] == "2026-07-01T05:00:00+00:00"
    assert transitions[1]["recorded_at"] == "2026-07-01T05:00:00+00:00"
    assert transitions[1]["evidence"][0]["sensor_id"] == "G1"


def test_a_lifted_warning_keeps_its_trail(client: TestClient) -> None:
    properties = client.get("/warnings/W2").json()["properties"]
    assert properties["status"] == "lifted"
    assert properties["lifted_at"] == "2026-06-20T12:00:00+00:00"
    assert [t["kind"] for t in properties["transitions"]] == ["opened", "lifted"]


def test_an_unknown_warning_is_404_with_a_message(client: TestClient) -> None:
    response = client.get("/warnings/NOPE")
    assert response.status_code == 404
    assert response.json() == {"detail": "no warning with id 'NOPE'"}


def assessment(point: str, level: str, observed_at: datetime) -> Assessment:
    evidence = [Indicator(sensor_id="G1", kind="gnss", name="velocity", value=30.0, unit="mm/d",
                          level=level)]
    return Assessment(assessment_id=Assessment.make_id(point, observed_at, level, "1"),
                      point_id=point, level=level, observed_at=observed_at, model="deformation",
                      model_version="1", evidence=evidence)


def test_a_warning_written_by_the_ledger_reads_back(client: TestClient, seeded_url: str) -> None:
    opened = datetime(2026, 7, 2, tzinfo=UTC)
    engine = make_engine(seeded_url)
    with session_scope(session_factory(engine), write_lock=True) as session:
        apply_assessments(session, [assessment("P4", "yellow", opened),
                                    assessment("P4", "red", opened + timedelta(hours=1))],
                          recorded_at=datetime.now(UTC))
    engine.dispose()

    [feature] = client.get("/warnings", params={"point_id": "P4"}).json()["features"]
    assert (feature["properties"]["level"], feature["properties"]["tier"]) == ("red", "I")
    detail = client.get(f"/warnings/{feature['id']}").json()["properties"]
    assert [(t["kind"], t["to_level"]) for t in detail["transitions"]] == [
        ("opened", "yellow"), ("escalated", "red")]
    assert detail["evidence"][0]["value"] == 30.0
    point = client.get("/risk-points/P4").json()["properties"]
    assert (point["level"], point["warning_id"]) == ("red", feature["id"])


def test_an_area_warning_lists_the_risk_points_inside_its_area(client: TestClient,
                                                                seeded_url: str) -> None:
    # P5 is registered as a triangle (106.4..106.6 E, 29.4..29.6 N); P6 lies inside it,
    # P7 inside its bounding box but across the hypotenuse.
    inner = [RiskPoint(id=pid, name=f"{pid} village", hazard_type="collapse", lon=lon, lat=lat,
                       geometry={"type": "Point", "coordinates": [lon, lat]}, province="重庆市",
                       province_adcode="500000", county="c", county_adcode="500101",
                       threatened_people=people, households=people // 3)
             for pid, lon, lat, people in (("P6", 106.55, 29.45, 90), ("P7", 106.45, 29.55, 60))]
    opened = datetime(2026, 7, 2, tzinfo=UTC)
    engine = make_engine(seeded_url)
    with session_scope(session_factory(engine), write_lock=True) as session:
        upsert_points(session, inner)
        apply_assessments(session, [assessment("P5", "orange", opened)],
                          recorded_at=datetime.now(UTC))
    engine.dispose()

    [feature] = client.get("/warnings", params={"point_id": "P5"}).json()["features"]
    detail = client.get(f"/warnings/{feature['id']}").json()["properties"]
    assert detail["points_inside"] == [{"id": "P6", "name": "P6 village",
                                        "hazard_type": "collapse", "level": "none",
                                        "threatened_people": 90, "households": 30}]
    assert client.get("/warnings/W1").json()["properties"]["points_inside"] == []
