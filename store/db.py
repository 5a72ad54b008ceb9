"""Engines and sessions for SQLite (embedded default) and PostgreSQL (production).

One place decides the connection details, so every process (API, workers,
CLI) gets the same SQLite pragmas and the same PostgreSQL driver.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
from sqlalchemy import Engine, Table, create_engine, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.dml import Insert

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 30_000
"""How long a SQLite writer waits for another one before 'database is locked'."""


def normalise_url(url: str | URL) -> URL:
    """The URL with PostgreSQL mapped to psycopg 3 (``postgresql://`` would pick psycopg2)."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def safe_url(url: str | URL) -> str:
    """The URL without its password, for logs."""
    return normalise_url(url).render_as_string(hide_password=True)


def _json_serializer(value: Any) -> str:
    return orjson.dumps(value).decode()


def make_engine(url: str | URL, **kwargs: Any) -> Engine:
    """An engine for ``url``: SQLite in WAL mode with foreign keys on, or PostgreSQL via psycopg 3.

    WAL lets the API read while a worker writes; busy_timeout makes writers
    queue instead of failing; check_same_thread is off because sessions are
    used from worker threads (each session still stays in one thread).
    JSON columns go through orjson (GeoJSON and evidence are most of the bytes).
    """
    parsed = normalise_url(url)
    options: dict[str, Any] = {"json_serializer": _json_serializer,
                               "json_deserializer": orjson.loads}
    if parsed.get_backend_name() == "sqlite":
        options["connect_args"] = {"check_same_thread": False,
                                   "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
    else:
        options["pool_pre_ping"] = True
    options.update(kwargs)
    engine = create_engine(parsed, **options)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    try:
        # busy_timeout first: switching to WAL needs a lock that a concurrent
        # first connection may hold, and without a timeout it fails at once.
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        _switch_to_wal(cursor)
        cursor.execute("PRAGMA synchronous=NORMAL")  # durable at checkpoints; safe with WAL
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def _switch_to_wal(cursor) -> None:
    """Put the database in WAL mode, waiting out writers that hold a lock.

    Switching a fresh (rollback-journal) database to WAL needs an exclusive
    lock, and SQLite answers 'database is locked' at once instead of calling
    the busy handler when another connection holds one (several processes
    opening a new database together). Once one of them has switched, the
    mode is persistent and the others find it already set.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit (they are handed to callers)."""
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session], *, write_lock: bool = False) -> Iterator[Session]:
    """One transaction: commit on success, roll back on any exception.

    ``write_lock=True`` is for read-then-write transactions (the ledger): on
    SQLite it begins with ``BEGIN IMMEDIATE`` so the transaction queues for
    the write lock up front (honouring busy_timeout) instead of failing when
    it upgrades a read snapshot that another writer has moved past. It does
    nothing on PostgreSQL, whose row locks already serialise writers.
    """
    session = factory()
    try:
        if write_lock and session.get_bind().dialect.name == "sqlite":
            session.execute(text("BEGIN IMMEDIATE"))
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def ping(engine: Engine) -> bool:
    """Whether the database answers a trivial query (for /health); never raises."""
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return True
    except Exception as exc:  # noqa: BLE001 - health checks report, they do not fail
        log.warning("database ping failed (%s): %s", safe_url(engine.url), exc)
        return False


def dialect_insert(session: Session, table: Table) -> Insert:
    """An INSERT that supports ``on_conflict_do_update`` on the session's dialect.

    SQLite (3.24+) and PostgreSQL share the ON CONFLICT syntax; SQLAlchemy
    exposes it through each dialect's own ``insert``.
    """
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert(table)
    if name == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"upserts are implemented for SQLite and PostgreSQL, not {name}")
