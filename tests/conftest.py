"""Shared fixtures: a real Tansu broker, a fresh PostgreSQL database, SQLite."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from geowarn.embedded import EmbeddedBroker, start_broker

POSTGRES_ADMIN_URL = os.environ.get(
    "GEOWARN_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    """A real Kafka-protocol broker (Tansu) on a free port, for the whole session."""
    log = tmp_path_factory.mktemp("tansu") / "tansu.log"
    running = start_broker(port=19092, log_path=log)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def topic_prefix() -> str:
    """A unique prefix so tests sharing the session broker never see each other's data."""
    return f"t{uuid.uuid4().hex[:10]}."


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'geowarn.db'}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for one test, dropped afterwards."""
    name = f"geowarn_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Runs a test once against SQLite and once against PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'geowarn.db'}"
    else:
        yield request.getfixturevalue("postgres_url")
