"""The console's routes without a browser: the public page, assets and boundaries, and
the compact point payload behind auth (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from store.db import make_engine, session_factory, session_scope
from store.history import record_point_status
from store.migrate import upgrade
from store.points import upsert_points
from store.tables import WarningRow
from streams.kafka_config import KafkaConfig
from streams.schemas import Assessment, Indicator
from tests.api.seed import POINTS, bearer, make_app, seed

BASEMAP = "https://tiles.example.org/{z}/{x}/{y}.png"
UNREACHABLE_BROKER = KafkaConfig("127.0.0.1:9")  # no lifespan: the push hub never starts


@pytest.fixture
def seeded(database_url: str) -> str:
    upgrade(database_url)
    engine = make_engine(database_url)
    seed(engine)
    engine.dispose()
    return database_url


def client_for(url: str, tmp_path: Path, **settings) -> TestClient:
    return TestClient(make_app(url, UNREACHABLE_BROKER, "console.", tmp_path, **settings))


def test_the_page_its_assets_and_the_boundaries_are_public(sqlite_url: str,
                                                           tmp_path: Path) -> None:
    upgrade(sqlite_url)
    offline = client_for(sqlite_url, tmp_path)
    page = offline.get("/")
    assert page.status_code == 200, page.text  # 503 until `make install` has built it
    assert page.headers["content-type"].startswith("text/html")
    assert '<script id="geowarn-config" type="application/json">' in page.text
    assert '"basemap_url":null' in page.text
    script = offline.get("/console/assets/console.js", headers={"Accept-Encoding": "gzip"})
    assert script.status_code == 200 and script.headers["content-type"].startswith(
        "text/javascript")
    assert script.headers["content-encoding"] == "gzip" and "maplibre" in script.text.lower()
    plain = offline.get("/console/assets/console.js", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.content == script.content
    assert offline.get("/console/assets/maplibre-gl-worker.mjs").status_code == 200
    for outside in ("../../routes/console.py", "index.html", "nothing.js"):
        assert offline.get(f"/console/assets/{outside}").status_code == 404, outside

    provinces = offline.get("/console/boundaries/provinces.geojson",
                            headers={"Accept-Encoding": "gzip"})
    assert provinces.headers["content-encoding"] == "gzip"
    assert provinces.headers["content-type"] == "application/geo+json"
    body = provinces.json()
    assert body["type"] == "FeatureCollection" and len(body["features"]) == 34
    assert {"adcode": "510000", "name": "四川省"}.items() <= next(
        f["properties"] for f in body["features"] if f["properties"]["adcode"] == "510000").items()
    overview = offline.get("/console/boundaries/provinces-overview.geojson",
                           headers={"Accept-Encoding": "gzip"})
    assert overview.headers["content-encoding"] == "gzip"
    assert [f["properties"] for f in overview.json()["features"]] == [
        f["properties"] for f in body["features"]]
    assert len(overview.content) < len(provinces.content) / 2  # the first view's lighter map
    for layer, response in (("provinces", provinces), ("provinces-overview", overview)):
        again = offline.get(f"/console/boundaries/{layer}.geojson", headers={
            "Accept-Encoding": "gzip", "If-None-Match": response.headers["etag"]})
        assert again.status_code == 304 and not again.content, layer
        inflated = offline.get(f"/console/boundaries/{layer}.geojson", headers={
            "Accept-Encoding": "identity", "If-None-Match": response.headers["etag"]})
        assert inflated.status_code == 200 and inflated.json() == response.json(), layer
    unknown = offline.get("/console/boundaries/towns.geojson")
    assert unknown.status_code == 404 and "counties, provinces" in unknown.text

    online = client_for(sqlite_url, tmp_path, console_basemap_url=BASEMAP,
                        console_basemap_attribution="<b>Tiles</b> & co")
    text = online.get("/").text
    assert f'"basemap_url":"{BASEMAP}"' in text
    assert "\\u003cb>Tiles\\u003c/b>" in text  # no "<" can close the script element


T0 = datetime(2026, 7, 1, 8, 0, tzinfo=UTC)


def health(point_id: str, minutes: float, status: str, *, offline: tuple[str, ...] = (),
           stuck: tuple[str, ...] = ()) -> Assessment:
    """A calm assessment at T0 + ``minutes`` naming the point's silent and stuck sensors."""
    observed = T0 + timedelta(minutes=minutes)
    faults = [Indicator(sensor_id=sensor, kind="gnss", name=name, value=7.5, unit="h",
                        level="none", status=state, valid=False)
              for sensors, name, state in ((offline, "sensor_offline", "offline"),
                                           (stuck, "sensor_stuck", "stuck"))
              for sensor in sensors]
    return Assessment(assessment_id=Assessment.make_id(point_id, observed, "none", "1"),
                      point_id=point_id, level="none", observed_at=observed, model="site",
                      model_version="1", evidence=faults, status=status)


def test_the_points_are_compact_scoped_and_flag_offline_sensors(seeded: str,
                                                                tmp_path: Path) -> None:
    engine = make_engine(seeded)
    with session_scope(session_factory(engine)) as session:
        now = datetime.now(UTC)
        # The sensor health the history worker keeps: P1 (warned) and P4 (calm, no warning)
        # have a silent sensor; P3's is stuck, not silent; P2's sensor came back after the
        # assessment behind its warning, whose evidence still reports it silent.
        record_point_status(session, [
            health("P1", 0, "degraded", offline=("P1-s1",)),
            health("P2", 0, "degraded", offline=("G9",)), health("P2", 30, "ok"),
            health("P3", 0, "degraded", stuck=("P3-s0",)),
            health("P4", 0, "no_data", offline=("P4-s0", "P4-s1"))])
        session.add(WarningRow(
            id="W-offline", point_id="P2", level="blue", status="active",
            hazard_type="debris_flow", province="四川省", county="P2 county", opened_at=now,
            updated_at=now, model="deformation", model_version="1", last_assessment_id="A-off",
            evidence=[{"sensor_id": "G9", "kind": "gnss", "name": "sensor_offline",
                       "value": 7.5, "unit": "h", "level": "none", "status": "offline"}]))
    engine.dispose()
    client = client_for(seeded, tmp_path)
    assert client.get("/console/points").status_code == 401

    body = client.get("/console/points", headers=bearer("national")).json()
    assert body["count"] == 5 and body["id"] == ["P1", "P2", "P3", "P4", "P5"]
    levels = [body["levels"][code] for code in body["level"]]
    assert levels == ["orange", "blue", "red", "none", "none"]
    assert [body["hazards"][code] for code in body["hazard"]] == [
        "landslide", "debris_flow", "collapse", "subsidence", "landslide"]
    assert [body["provinces"][code] for code in body["province"]] == [
        "510000", "510000", "530000", "530000", "500000"]
    assert body["warning_id"] == ["W1", "W-offline", "W3", None, None]
    assert (body["lon"][0], body["lat"][0]) == (103.6, 31.0)
    assert body["offline"] == [0, 3]  # P1 and the calm P4, not P2 (recovered) nor P3 (stuck)

    sichuan = client.get("/console/points", headers=bearer("sichuan")).json()
    assert sichuan["id"] == ["P1", "P2"] and sichuan["provinces"] == ["510000"]
    assert sichuan["offline"] == [0]
    assert client.get("/console/points", headers=bearer("gateway")).status_code == 403


def test_the_national_points_follow_every_change_and_revalidate(seeded: str,
                                                                tmp_path: Path) -> None:
    """The national payload reads the registry once per change of it; warnings, sensor health
    and the registry itself still show at once, and an unchanged payload costs a 304."""
    client = client_for(seeded, tmp_path)
    first = client.get("/console/points", headers=bearer("national"))
    assert first.json()["level"] == [3, 0, 4, 0, 0]  # orange, none, red, none, none
    etag = first.headers["etag"]
    unchanged = client.get("/console/points", headers={**bearer("national"),
                                                       "If-None-Match": etag})
    assert unchanged.status_code == 304 and unchanged.headers["etag"] == etag
    assert first.headers["content-encoding"] == "gzip"
    plain = client.get("/console/points", headers={**bearer("national"),
                                                   "Accept-Encoding": "identity",
                                                   "If-None-Match": etag})  # another variant
    assert plain.status_code == 200 and "content-encoding" not in plain.headers
    assert plain.json() == first.json()

    engine = make_engine(seeded)
    now = datetime.now(UTC)
    with session_scope(session_factory(engine)) as session:
        session.add(WarningRow(
            id="W-new", point_id="P4", level="yellow", status="active",
            hazard_type="subsidence", province="云南省", county="P4 county", opened_at=T0,
            updated_at=T0, model="deformation", model_version="1", last_assessment_id="A-new",
            evidence=[]))  # an event time older than every other warning's
        record_point_status(session, [health("P5", 0, "no_data", offline=("P5-s0",))])
    body = client.get("/console/points", headers={**bearer("national"),
                                                  "If-None-Match": etag}).json()
    assert body["level"] == [3, 0, 4, 2, 0] and body["warning_id"][3] == "W-new"
    assert body["offline"] == [4]

    moved = POINTS[1].model_copy(update={"lon": 102.25, "hazard_type": "collapse"})
    added = POINTS[4].model_copy(update={"id": "P6", "province_adcode": "820000"})
    with session_scope(session_factory(engine)) as session:
        upsert_points(session, [moved, added], now=now)
    engine.dispose()
    body = client.get("/console/points", headers=bearer("national")).json()
    assert body["id"] == ["P1", "P2", "P3", "P4", "P5", "P6"] and body["lon"][1] == 102.25
    assert body["hazards"][body["hazard"][1]] == "collapse"
    assert body["provinces"][body["province"][5]] == "820000"
    assert body["level"] == [3, 0, 4, 2, 0, 0] and body["offline"] == [4]
