"""Fixtures of the API tests: a migrated, seeded database (SQLite and PostgreSQL)
and a TestClient of the app on it, with the real session broker; one seeded
database per backend and module for the read-only modules (OGC, CAP)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from store.db import make_engine
from store.migrate import upgrade
from streams.kafka_config import KafkaConfig
from tests.api.area_seed import seed_areas
from tests.api.seed import bearer, make_app, seed
from tests.conftest import POSTGRES_ADMIN_URL


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


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def seeded_once(request: pytest.FixtureRequest,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One seeded database per backend for the whole module: every test here only reads."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('ogc') / 'geowarn.db'}"
    else:
        name = f"geowarn_test_{uuid.uuid4().hex[:12]}"
        admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(
            hide_password=False)
    upgrade(url)
    engine = make_engine(url)
    seed(engine)
    seed_areas(engine)
    engine.dispose()
    yield url
    if request.param == "postgres":
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
