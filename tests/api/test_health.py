"""GET /health against the real broker, and against a port where nothing listens."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from geowarn.embedded import free_port
from store.migrate import upgrade
from streams.kafka_config import KafkaConfig
from tests.api.seed import bearer, make_app

pytestmark = [pytest.mark.kafka]


def test_ok_with_the_real_broker_and_worker_progress(client: TestClient, broker) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["broker"]["ok"] is True and body["broker"]["brokers"] >= 1
    assert body["broker"]["bootstrap"] == broker.bootstrap
    assert body["database"]["ok"] is True
    [scorer] = body["consumers"]
    assert (scorer["worker"], scorer["topic"]) == ("scorer", "geowarn.readings")
    assert scorer["partition"] == 0
    assert (scorer["committed_offset"], scorer["highwater"], scorer["lag"]) == (90, 100, 10)
    assert "broker-reported" in scorer["lag_source"]
    assert scorer["last_event_at"] == "2026-07-01T05:59:00+00:00"
    assert 0 <= scorer["age_seconds"] < 600
    assert body["push"]["topic"].endswith("geowarn.warning-events")


def test_degraded_when_the_broker_is_unreachable(seeded_url: str, topic_prefix: str,
                                                  tmp_path: Path) -> None:
    closed = f"127.0.0.1:{free_port(29500)}"
    app = make_app(seeded_url, KafkaConfig(closed), topic_prefix, tmp_path)
    with TestClient(app) as client:
        response = client.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded"
    assert body["broker"]["ok"] is False and body["broker"]["bootstrap"] == closed
    assert "Unable to bootstrap" in body["broker"]["error"]
    assert body["database"]["ok"] is True
    assert [c["worker"] for c in body["consumers"]] == ["scorer"]


def test_the_bootstrap_is_shown_without_credentials(sqlite_url: str, topic_prefix: str,
                                                     tmp_path: Path) -> None:
    upgrade(sqlite_url)
    secret = f"SASL_SSL://geowarn:s3cret@127.0.0.1:{free_port(29600)}"
    app = make_app(sqlite_url, KafkaConfig(secret), topic_prefix, tmp_path)
    with TestClient(app) as client:
        response = client.get("/health")
    assert response.status_code == 503
    assert "s3cret" not in response.text
    assert response.json()["broker"]["bootstrap"].startswith("SASL_SSL://***@127.0.0.1:")


def test_an_unmigrated_database_is_degraded_with_the_reason(
        sqlite_url: str, broker, topic_prefix: str, tmp_path: Path) -> None:
    app = make_app(sqlite_url, KafkaConfig(broker.bootstrap), topic_prefix, tmp_path)
    with TestClient(app) as client:
        response = client.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["broker"]["ok"] is True
    assert body["database"]["ok"] is False
    assert body["database"]["error"] == "OperationalError: no such table: worker_progress"


def test_an_unreachable_database_is_503_everywhere(broker, topic_prefix: str,
                                                   tmp_path: Path) -> None:
    url = f"postgresql+psycopg://postgres@127.0.0.1:{free_port(29800)}/geowarn"
    app = make_app(url, KafkaConfig(broker.bootstrap), topic_prefix, tmp_path)
    with TestClient(app, headers=bearer("national")) as client:
        listed = client.get("/risk-points")  # the credentials are checked in the database too
        health = client.get("/health")
    assert listed.status_code == 503
    assert listed.json() == {"detail": "the database is unavailable; see /health"}
    assert health.status_code == 503
    assert health.json()["database"] == {"ok": False, "dialect": "postgresql",
                                         "error": "the database does not answer"}
    assert health.json()["broker"]["ok"] is True
