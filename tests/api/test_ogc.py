"""OGC API – Features at /ogc on SQLite and PostgreSQL, over the known registry of seed.py."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth.dependencies import require_read
from api.auth.roles import Principal, Role
from api.ogc.providers import EmptyProvider, FeaturePage, FeatureProvider, ItemQuery
from api.ogc.providers.base import Extent
from api.routes import ogc
from geowarn.settings import Settings
from store.db import make_engine, session_factory
from store.read import BBox
from tests.api.seed import bearer

UNUSED_BROKER = "127.0.0.1:9"
"""The OGC routes never touch Kafka; without the lifespan the push hub is never started."""

CORE = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core"
GEOJSON_CLASS = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson"
OAS30 = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30"


@pytest.fixture(scope="module")
def app(seeded_once: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    built = create_app(Settings(database_url=seeded_once, kafka_bootstrap=UNUSED_BROKER,
                                data_dir=tmp_path_factory.mktemp("var")))
    yield built
    built.state.engine.dispose()


@pytest.fixture(scope="module")
def api(app: FastAPI) -> TestClient:
    """The national officer, who may read everything."""
    return TestClient(app, headers=bearer("national"))


def ids(body: dict) -> list[str]:
    return [feature["id"] for feature in body["features"]]


def links(body: dict) -> dict[str, dict]:
    return {link["rel"]: link for link in body["links"]}


def test_the_landing_page_links_to_everything_a_client_needs(api: TestClient) -> None:
    response = api.get("/ogc")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    found = links(response.json())
    assert set(found) >= {"self", "service-desc", "conformance", "data"}
    assert found["service-desc"]["type"].startswith("application/vnd.oai.openapi+json;version=3")
    openapi = api.get(found["service-desc"]["href"]).json()
    assert found["service-desc"]["type"].endswith(openapi["openapi"].rsplit(".", 1)[0])
    assert "/ogc/collections/{collectionId}/items" in openapi["paths"]
    assert api.get(found["conformance"]["href"]).json()["conformsTo"] == [CORE, GEOJSON_CLASS,
                                                                         OAS30]
    assert api.get(found["data"]["href"]).status_code == 200


def test_collections_are_listed_with_items_links_and_extents(api: TestClient) -> None:
    body = api.get("/ogc/collections", params={"f": "json"}).json()
    described = {c["id"]: c for c in body["collections"]}
    assert list(described) == ["risk_points", "warnings", "candidate_areas"]
    for collection in described.values():
        items = links(collection)["items"]
        assert items["type"] == "application/geo+json"
        assert items["href"].endswith(f"/ogc/collections/{collection['id']}/items")
        assert api.get(links(collection)["self"]["href"]).json() == collection
    assert described["risk_points"]["extent"] == {"spatial": {
        "bbox": [[100.2, 25.0, 106.5, 31.0]],
        "crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84"}}
    warned = described["warnings"]["extent"]
    assert warned["spatial"]["bbox"] == [[102.5, 25.0, 103.6, 31.0]]
    assert warned["temporal"]["interval"] == [["2026-06-20T00:00:00+00:00", None]]
    assert described["candidate_areas"]["extent"]["spatial"]["bbox"] == [
        [102.7, 25.05, 103.56, 31.46]]
    assert described["candidate_areas"]["extent"]["temporal"]["interval"] == [
        ["2026-06-15T08:00:00+00:00", "2026-07-01T08:00:00+00:00"]]


def test_items_are_a_geojson_page_with_counts_and_a_time_stamp(api: TestClient) -> None:
    response = api.get("/ogc/collections/risk_points/items")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/geo+json"
    body = response.json()
    assert body["type"] == "FeatureCollection"
    assert (body["numberMatched"], body["numberReturned"]) == (5, 5)
    assert ids(body) == ["P1", "P2", "P3", "P4", "P5"]
    assert body["timeStamp"].endswith("Z")
    assert set(links(body)) == {"self", "collection"}
    assert body["features"][4]["geometry"]["type"] == "Polygon"


def test_the_default_page_is_ten_and_next_links_walk_every_item_once(api: TestClient) -> None:
    spec = api.get("/openapi.json").json()
    parameters = {p["name"]: p for p in
                  spec["paths"]["/ogc/collections/{collectionId}/items"]["get"]["parameters"]}
    assert parameters["limit"]["schema"]["default"] == 10
    assert parameters["limit"]["schema"]["maximum"] == 10_000
    seen: list[str] = []
    url: str | None = "/ogc/collections/warnings/items?limit=2"
    pages = 0
    while url:
        body = api.get(url).json()
        assert body["numberMatched"] == 3
        seen += ids(body)
        pages += 1
        url = links(body).get("next", {}).get("href")
    assert (seen, pages) == (["W3", "W1", "W2"], 2)


def test_paging_links_keep_the_filters(api: TestClient) -> None:
    body = api.get("/ogc/collections/risk_points/items",
                   params={"province": "四川省", "limit": 1}).json()
    assert ids(body) == ["P1"]
    following = api.get(links(body)["next"]["href"]).json()
    assert ids(following) == ["P2"] and "next" not in links(following)
    assert ids(api.get(links(following)["prev"]["href"]).json()) == ["P1"]


@pytest.mark.parametrize(("collection", "query", "expected"), [
    ("risk_points", {"bbox": "103,30.5,104,31.5"}, ["P1"]),
    ("risk_points", {"bbox": "100,25,0,103,31,100"}, ["P2", "P3", "P4"]),
    ("risk_points", {"hazard_type": "landslide"}, ["P1", "P5"]),
    ("risk_points", {"hazard_type": "landslide", "province": "500000"}, ["P5"]),
    ("risk_points", {"province": "云南省"}, ["P3", "P4"]),
    ("warnings", {"status": "active"}, ["W3", "W1"]),
    ("warnings", {"level": "II,red"}, ["W3", "W1"]),
    ("warnings", {"province": "510000"}, ["W1", "W2"]),
    ("warnings", {"point_id": "P2"}, ["W2"]),
    ("warnings", {"bbox": "102,24,103,26"}, ["W3"]),
    ("warnings", {"hazard_type": "debris_flow"}, []),
    ("candidate_areas", {}, ["AS1", "AY1", "AS2"]),
    ("candidate_areas", {"status": "candidate"}, ["AS1", "AS2"]),
    ("candidate_areas", {"status": "rejected"}, ["AY1"]),
    ("candidate_areas", {"province": "云南省"}, ["AY1"]),
    ("candidate_areas", {"province": "510000", "status": "candidate"}, ["AS1", "AS2"]),
    ("candidate_areas", {"bbox": "103.52,31.45,104,32"}, ["AS1"]),   # meets the L's box only
    ("candidate_areas", {"bbox": "102,24,103,31"}, ["AY1", "AS2"]),
    ("candidate_areas", {"product": "insar_displacement"}, []),
    ("candidate_areas", {"datetime": "2026-06-15T08:00:00Z"}, ["AS2"]),
    ("candidate_areas", {"datetime": "2026-06-20T00:00:00Z/.."}, ["AS1", "AY1"]),
])
def test_property_and_box_filters(api: TestClient, collection: str, query: dict,
                                  expected: list[str]) -> None:
    body = api.get(f"/ogc/collections/{collection}/items", params=query).json()
    assert ids(body) == expected
    assert body["numberMatched"] == len(expected)


@pytest.mark.parametrize(("datetime", "expected"), [
    ("2026-06-20T06:00:00Z", ["W2"]),
    ("2026-07-01T03:00:00Z", ["W1"]),
    ("2026-07-01T14:00:00+08:00", ["W3", "W1"]),
    ("../2026-06-30T00:00:00Z", ["W2"]),
    ("/2026-06-20T00:00:00Z", ["W2"]),
    ("2026-06-21T00:00:00Z/..", ["W3", "W1"]),
    ("2026-06-20T12:00:00Z/2026-07-01T02:00:00Z", ["W1", "W2"]),
    ("2026-06-20T12:00:01Z/2026-07-01T01:59:59Z", []),
])
def test_datetime_keeps_the_warnings_in_force_then(api: TestClient, datetime: str,
                                                   expected: list[str]) -> None:
    body = api.get("/ogc/collections/warnings/items", params={"datetime": datetime}).json()
    assert ids(body) == expected


@pytest.mark.parametrize(("path", "query", "parameter"), [
    ("/ogc/collections/risk_points/items", {"limit": 0}, "limit"),
    ("/ogc/collections/risk_points/items", {"limit": 10_001}, "limit"),
    ("/ogc/collections/risk_points/items", {"offset": -1}, "offset"),
    ("/ogc/collections/risk_points/items", {"bbox": "104,32,103,30"}, "bbox"),
    ("/ogc/collections/risk_points/items", {"bbox": "a,b,c,d"}, "bbox"),
    ("/ogc/collections/risk_points/items", {"hazard_type": "volcano"}, "hazard_type"),
    ("/ogc/collections/risk_points/items", {"colour": "red"}, "colour"),
    ("/ogc/collections/risk_points/items", {"datetime": "2026-07-01T00:00:00Z"}, "datetime"),
    ("/ogc/collections/warnings/items", {"datetime": "yesterday"}, "datetime"),
    ("/ogc/collections/warnings/items", {"datetime": "2026-07-01"}, "datetime"),
    ("/ogc/collections/warnings/items", {"datetime": "2026-07-01T00:00:00"}, "datetime"),
    ("/ogc/collections/warnings/items", {"datetime": "../.."}, "datetime"),
    ("/ogc/collections/warnings/items", {"datetime": "a/b/c"}, "datetime"),
    ("/ogc/collections/warnings/items",
     {"datetime": "2026-07-02T00:00:00Z/2026-07-01T00:00:00Z"}, "datetime"),
    ("/ogc/collections/warnings/items", {"level": "purple"}, "level"),
    ("/ogc/collections/warnings/items", {"status": "pending"}, "status"),
    ("/ogc/collections/warnings/items", [("point_id", "P1"), ("point_id", "P2")], "point_id"),
    ("/ogc/collections/warnings/items", {"f": "html"}, "f"),
    ("/ogc/collections/candidate_areas/items", {"status": "maybe"}, "status"),
    ("/ogc/collections/candidate_areas/items", {"datetime": "soon"}, "datetime"),
    ("/ogc", {"f": "xml"}, "f"),
])
def test_a_bad_parameter_is_a_400_with_an_ogc_exception_naming_it(
        api: TestClient, path: str, query, parameter: str) -> None:
    response = api.get(path, params=query)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "InvalidParameterValue"
    assert body["description"].startswith(f"{parameter}:")


@pytest.mark.parametrize(("path", "mention"), [
    ("/ogc/collections/volcanoes", "risk_points, warnings, candidate_areas"),
    ("/ogc/collections/volcanoes/items", "risk_points, warnings, candidate_areas"),
    ("/ogc/collections/risk_points/items/P9", "'P9'"),
    ("/ogc/collections/warnings/items/W9", "'W9'"),
    ("/ogc/collections/candidate_areas/items/A1", "'A1'"),
])
def test_unknown_collections_and_features_are_404s(api: TestClient, path: str,
                                                   mention: str) -> None:
    response = api.get(path)
    assert response.status_code == 404
    assert response.json()["code"] == "NotFound"
    assert mention in response.json()["description"]


def test_one_feature_with_its_links(api: TestClient) -> None:
    response = api.get("/ogc/collections/risk_points/items/P5", params={"f": "json"})
    assert response.headers["content-type"] == "application/geo+json"
    feature = response.json()
    assert feature["type"] == "Feature" and feature["id"] == "P5"
    assert feature["geometry"]["coordinates"][0][1] == [106.6, 29.4]
    assert links(feature)["self"]["href"].endswith("/ogc/collections/risk_points/items/P5")
    assert links(feature)["collection"]["href"].endswith("/ogc/collections/risk_points")
    warning = api.get("/ogc/collections/warnings/items/W1").json()
    assert warning["geometry"] == {"type": "Point", "coordinates": [103.6, 31.0]}
    assert [t["kind"] for t in warning["properties"]["transitions"]] == ["opened", "escalated"]
    assert warning["properties"]["evidence"][0]["sensor_id"] == "G1"


def test_queryables_describe_the_property_filters(api: TestClient) -> None:
    response = api.get("/ogc/collections/warnings/queryables")
    assert response.headers["content-type"] == "application/schema+json"
    properties = response.json()["properties"]
    assert set(properties) == {"hazard_type", "province", "level", "status", "point_id"}
    assert properties["status"]["enum"] == ["active", "lifted"]
    assert "landslide" in properties["hazard_type"]["enum"]


def test_without_a_token_the_data_is_closed(app: FastAPI) -> None:
    anonymous = TestClient(app)
    for path in ("/ogc/collections", "/ogc/collections/risk_points/items",
                 "/ogc/collections/warnings/items/W1"):
        assert anonymous.get(path).status_code == 401


@pytest.mark.parametrize(("user", "points", "warnings"), [
    ("sichuan", ["P1", "P2"], ["W1", "W2"]),
    ("yunnan", ["P3", "P4"], ["W3"]),
])
def test_a_provincial_officer_sees_what_the_console_shows_it(
        app: FastAPI, user: str, points: list[str], warnings: list[str]) -> None:
    officer = TestClient(app, headers=bearer(user))
    pages = {"risk_points": "/risk-points", "warnings": "/warnings?status=all"}
    for collection, expected in (("risk_points", points), ("warnings", warnings)):
        body = officer.get(f"/ogc/collections/{collection}/items", params={"limit": 100}).json()
        assert sorted(ids(body)) == expected == sorted(ids(officer.get(pages[collection]).json()))
        assert body["numberMatched"] == len(expected)
    outside = {"sichuan": ("P3", "W3"), "yunnan": ("P1", "W1")}[user]
    assert officer.get(f"/ogc/collections/risk_points/items/{outside[0]}").status_code == 404
    assert officer.get(f"/ogc/collections/warnings/items/{outside[1]}").status_code == 404
    assert officer.get(f"/ogc/collections/risk_points/items/{points[0]}").status_code == 200


class AreasInMemory(FeatureProvider):
    """A real provider over a list: what the candidate-area store will plug in as."""

    id = "candidate_areas"
    title = "Candidate risk areas"
    description = "in memory"
    features: ClassVar[list[dict]] = [
        {"type": "Feature", "id": f"A{n}", "properties": {"velocity_mm_yr": -10.0 * n},
         "geometry": {"type": "Point", "coordinates": [103.0 + n / 10, 30.0]}}
        for n in range(1, 4)
    ]

    def extent(self, session) -> Extent:
        return Extent(bbox=BBox(103.1, 30.0, 103.3, 30.0))

    def items(self, session, query: ItemQuery) -> FeaturePage:
        page = self.features[query.offset:query.offset + query.limit]
        return FeaturePage(page, len(self.features))

    def item(self, session, feature_id: str, scope=None):
        return next((f for f in self.features if f["id"] == feature_id), None)


def test_a_provider_fills_a_collection_through_the_interface(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    app = FastAPI()
    app.state.sessions = session_factory(engine)
    app.include_router(ogc.create_router([
        EmptyProvider("risk_points", "Risk points", "none yet"), AreasInMemory()]))
    app.dependency_overrides[require_read] = lambda: Principal("analyst", Role.analyst)
    client = TestClient(app)
    body = client.get("/ogc/collections/candidate_areas/items", params={"limit": 2}).json()
    assert (ids(body), body["numberMatched"]) == (["A1", "A2"], 3)
    assert ids(client.get(links(body)["next"]["href"]).json()) == ["A3"]
    assert client.get("/ogc/collections/candidate_areas/items/A2").json()["properties"] == {
        "velocity_mm_yr": -20.0}
    assert [c["id"] for c in client.get("/ogc/collections").json()["collections"]] == [
        "risk_points", "candidate_areas"]
    assert client.get("/ogc/collections/warnings").status_code == 404
    engine.dispose()


def test_candidate_area_pages_follow_next_links_and_carry_their_place(api: TestClient) -> None:
    body = api.get("/ogc/collections/candidate_areas/items", params={"limit": 2}).json()
    assert (ids(body), body["numberMatched"]) == (["AS1", "AY1"], 3)
    following = api.get(links(body)["next"]["href"]).json()
    assert ids(following) == ["AS2"] and "next" not in links(following)
    feature = api.get("/ogc/collections/candidate_areas/items/AS1").json()
    assert feature["geometry"]["type"] == "Polygon"
    assert feature["properties"]["province_adcode"] == "510000"
    assert feature["properties"]["county"] == "汶川县"
    assert feature["properties"]["peak_velocity_mm_yr"] == -31.5


@pytest.mark.parametrize(("user", "visible", "hidden"), [
    ("sichuan", ["AS1", "AS2"], "AY1"),
    ("yunnan", ["AY1"], "AS1"),
])
def test_a_provincial_officer_sees_the_candidate_areas_of_its_provinces(
        app: FastAPI, user: str, visible: list[str], hidden: str) -> None:
    officer = TestClient(app, headers=bearer(user))
    body = officer.get("/ogc/collections/candidate_areas/items").json()
    assert ids(body) == visible and body["numberMatched"] == len(visible)
    assert officer.get(f"/ogc/collections/candidate_areas/items/{hidden}").status_code == 404
    assert officer.get(f"/ogc/collections/candidate_areas/items/{visible[0]}").status_code == 200
