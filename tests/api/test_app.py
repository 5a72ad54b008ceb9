"""The app factory: OpenAPI at /docs, and what it needs from the settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from geowarn.settings import Settings


def test_openapi_documents_every_route_with_tags(sqlite_url: str, tmp_path: Path) -> None:
    app = create_app(Settings(database_url=sqlite_url, kafka_bootstrap="127.0.0.1:9",
                              data_dir=tmp_path))
    client = TestClient(app)  # no lifespan: the push hub is not started
    spec = client.get("/openapi.json").json()
    assert {"health", "risk points", "warnings", "push"} <= {tag["name"] for tag in spec["tags"]}
    assert {"/health", "/risk-points", "/risk-points/{point_id}", "/risk-points/{point_id}/series",
            "/warnings", "/warnings/{warning_id}"} <= set(spec["paths"])
    assert "application/geo+json" in spec["paths"]["/risk-points"]["get"]["responses"]["200"][
        "content"]
    assert "/ws/warnings" in spec["info"]["description"]
    assert client.get("/docs").status_code == 200


def test_without_a_broker_address_the_factory_says_what_is_missing(sqlite_url: str,
                                                                   tmp_path: Path) -> None:
    settings = Settings(database_url=sqlite_url, kafka_bootstrap=None, data_dir=tmp_path)
    with pytest.raises(RuntimeError, match="no Kafka bootstrap"):
        create_app(settings)
