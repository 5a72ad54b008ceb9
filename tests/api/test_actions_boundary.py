"""Across boundaries: a risk point 1 km inside Sichuan from the Yunnan border.

With the boundary distance at 5 km its warning concerns both provinces: the
Yunnan officer sees it, hears it on the push socket and may act on it. At
0.5 km it is Sichuan's alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from geo.registry import RiskPoint
from store.db import make_engine, session_factory, session_scope
from store.points import upsert_points
from streams.kafka_config import KafkaConfig
from tests.api.seed import bearer, make_app
from tests.store.test_lifecycle_jurisdictions import BORDER_POINT

pytestmark = [pytest.mark.kafka]


@pytest.fixture
def border_point(seeded_url: str) -> str:
    lon, lat = BORDER_POINT
    engine = make_engine(seeded_url)
    with session_scope(session_factory(engine)) as session:
        upsert_points(session, [RiskPoint(
            id="B1", name="Renhe border slope", hazard_type="landslide", lon=lon, lat=lat,
            geometry={"type": "Point", "coordinates": [lon, lat]}, province="四川省",
            province_adcode="510000", county="仁和区", county_adcode="510411",
            threatened_people=240, households=61)])
    engine.dispose()
    return seeded_url


def client(url: str, broker, prefix: str, tmp_path: Path, km: float) -> Iterator[TestClient]:
    app = make_app(url, KafkaConfig(broker.bootstrap), prefix, tmp_path,
                   boundary_distance_km=km)
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def five_km(border_point, broker, topic_prefix, tmp_path) -> Iterator[TestClient]:
    yield from client(border_point, broker, topic_prefix, tmp_path, 5.0)


@pytest.fixture
def half_km(border_point, broker, topic_prefix, tmp_path) -> Iterator[TestClient]:
    yield from client(border_point, broker, topic_prefix, tmp_path, 0.5)


def raise_at_border(api: TestClient) -> str:
    response = api.post("/warnings", headers={**bearer("sichuan"), "Idempotency-Key": "b1"},
                        json={"point_id": "B1", "level": "orange", "reason": "scarp widening"})
    assert response.status_code == 201, response.text
    return response.json()["warning_id"]


def test_within_5_km_both_provincial_officers_see_and_act(five_km: TestClient):
    warning = raise_at_border(five_km)
    for user in ("sichuan", "yunnan"):
        response = five_km.get(f"/warnings/{warning}", headers=bearer(user))
        assert response.status_code == 200, (user, response.text)
    properties = response.json()["properties"]
    assert properties["jurisdictions"] == ["510000", "510411", "530000", "532327"]
    listed = five_km.get("/warnings", headers=bearer("yunnan")).json()["features"]
    assert {f["id"] for f in listed} == {"W3", warning}
    points = five_km.get("/risk-points", headers=bearer("yunnan")).json()["features"]
    assert "B1" in {f["id"] for f in points}
    acknowledged = five_km.post(
        f"/warnings/{warning}/actions",
        headers={**bearer("yunnan"), "Idempotency-Key": "yn-ack"},
        json={"action": "acknowledge", "reason": "Yongren county informed",
              "expected_version": 1})
    assert acknowledged.status_code == 200, acknowledged.text
    assert five_km.get(f"/warnings/{warning}", headers=bearer("analyst")).status_code == 200


def test_within_half_a_km_only_its_own_province(half_km: TestClient):
    warning = raise_at_border(half_km)
    assert half_km.get(f"/warnings/{warning}", headers=bearer("sichuan")).status_code == 200
    refused = half_km.get(f"/warnings/{warning}", headers=bearer("yunnan"))
    assert refused.status_code == 403
    assert refused.json()["detail"] == (
        "provincial officer of 530000 may not read warnings of 510000")
    listed = half_km.get("/warnings", headers=bearer("yunnan")).json()["features"]
    assert [f["id"] for f in listed] == ["W3"]
    assert half_km.get("/risk-points/B1", headers=bearer("yunnan")).status_code == 403
