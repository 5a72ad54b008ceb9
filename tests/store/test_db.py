"""Engines, sessions and migrations on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select
from sqlalchemy.exc import IntegrityError

from store.db import make_engine, normalise_url, ping, session_scope
from store.migrate import current_revision, head_revision, upgrade
from store.points import upsert_points
from store.progress import read_progress, record_progress
from store.tables import Base, RiskPointRow, WarningRow
from tests.store.conftest import T0, make_point


def test_plain_postgresql_urls_use_psycopg_3():
    assert normalise_url("postgresql://u:p@h/db").drivername == "postgresql+psycopg"
    assert normalise_url("postgres://u@h/db").drivername == "postgresql+psycopg"
    assert normalise_url("sqlite:///x.db").drivername == "sqlite"


def test_sqlite_connections_use_wal_and_enforce_foreign_keys(sqlite_url):
    engine = make_engine(sqlite_url)
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000
    engine.dispose()


def test_opening_a_new_database_waits_for_a_writer_holding_its_lock(tmp_path):
    """A fresh database is in rollback-journal mode; switching it to WAL needs the
    lock another process's first transaction may hold, and must wait, not fail."""
    path = tmp_path / "fresh.db"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("CREATE TABLE t (x INTEGER)")
    threading.Timer(0.3, holder.execute, args=("COMMIT",)).start()
    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    finally:
        engine.dispose()
        holder.close()


def test_ping_reports_reachable_and_unreachable_databases(database_url):
    reachable = make_engine(database_url)
    unreachable = make_engine("postgresql://nobody@127.0.0.1:1/none", connect_args={"connect_timeout": 2})
    assert ping(reachable) is True
    assert ping(unreachable) is False
    reachable.dispose()


def test_upgrade_is_idempotent_and_reaches_head(database_url):
    assert current_revision(database_url) is None
    upgrade(database_url)
    upgrade(database_url)
    assert current_revision(database_url) == head_revision()


def test_migrated_schema_matches_the_tables(engine):
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []


def test_one_active_warning_per_point_is_enforced_by_a_partial_index(engine, sessions):
    # Alembic's comparison ignores index predicates: check the reflected one and its effect.
    indexes = {ix["name"]: ix for ix in inspect(engine).get_indexes("warnings")}
    where = next(iter(indexes["uq_warnings_one_active_per_point"]["dialect_options"].values()))
    assert "active" in str(where)
    with session_scope(sessions) as session:
        upsert_points(session, [make_point("P1")])

    def warning(wid: str, status: str) -> WarningRow:
        return WarningRow(id=wid, point_id="P1", level="red", status=status, hazard_type="landslide",
                          opened_at=T0, updated_at=T0, model="m", model_version="1", evidence=[],
                          last_assessment_id="a")

    with session_scope(sessions) as session:
        session.add_all([warning("w1", "lifted"), warning("w2", "lifted"), warning("w3", "active")])
    with pytest.raises(IntegrityError), session_scope(sessions) as session:
        session.add(warning("w4", "active"))


def test_concurrent_upgrades_wait_for_each_other(database_url):
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def start_process():
        barrier.wait()
        try:
            upgrade(database_url)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=start_process) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert current_revision(database_url) == head_revision()


def test_times_come_back_as_aware_utc(sessions):
    beijing = timezone(timedelta(hours=8))
    with session_scope(sessions) as session:
        upsert_points(session, [make_point("P1")], now=datetime(2026, 7, 1, 16, 0, tzinfo=beijing))
    with session_scope(sessions) as session:
        created = session.scalar(select(RiskPointRow.created_at))
    assert created == datetime(2026, 7, 1, 8, 0, tzinfo=UTC)
    assert created.tzinfo is UTC


def test_session_scope_rolls_back_on_error(sessions):
    with pytest.raises(RuntimeError), session_scope(sessions) as session:
        upsert_points(session, [make_point("P1")])
        raise RuntimeError("boom")
    with session_scope(sessions) as session:
        assert session.scalar(select(RiskPointRow.id)) is None


def test_write_lock_session_commits(sessions):
    with session_scope(sessions, write_lock=True) as session:
        upsert_points(session, [make_point("P1")])
    with session_scope(sessions) as session:
        assert session.scalar(select(RiskPointRow.id)) == "P1"


def test_progress_upsert_keeps_known_values_when_new_ones_are_missing(sessions):
    with session_scope(sessions) as session:
        record_progress(session, "ledger", "a", 0, 10, 12, T0)
        record_progress(session, "ledger", "a", 1, 5, None, None)
    with session_scope(sessions) as session:
        record_progress(session, "ledger", "a", 0, 12, None, None)
    with session_scope(sessions) as session:
        rows = read_progress(session)
    assert [(p.partition, p.committed_offset, p.highwater, p.last_event_at, p.lag) for p in rows] == [
        (0, 12, 12, T0, 0), (1, 5, None, None, None)]
