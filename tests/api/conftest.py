"""Fixtures of the API tests: a migrated, seeded database (SQLite and PostgreSQL)
and a TestClient of the app on it, with the real session broker."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from store.db import make_engine
from store.migrate import upgrade
from streams.kafka_config import KafkaConfig
from tests.api.seed import bearer, make_app, seed


@pytest.fixture
def seeded_url(database_url: str) -> str:
    """A migrated database (SQLite or PostgreSQL) holding the known registry."""
    upgrade(database_url)
    engine = make_engine(database_url)
    try:
        seed(engine)
    finally:
        engine.dispose()
    return database_url


@pytest.fixture
def app(seeded_url: str, broker, topic_prefix: str, tmp_path: Path):
    return make_app(seeded_url, KafkaConfig(broker.bootstrap), topic_prefix, tmp_path)


@pytest.fixture
def api(app) -> Iterator[TestClient]:
    """A client without credentials: pass ``headers=bearer(name)`` per request."""
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def client(api: TestClient) -> TestClient:
    """The same client acting as the national officer (who may read and do everything).

    It is ``api`` with a default header: a test uses one of the two."""
    api.headers.update(bearer("national"))
    return api
