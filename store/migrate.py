"""Schema migrations, applied by every process at start.

Alembic is configured in code (no alembic.ini) so that the migrations ship
inside the package. ``upgrade`` is idempotent and safe when several
processes start at once: the whole upgrade runs in one transaction that
first takes a lock (a transaction-scoped advisory lock on PostgreSQL,
``BEGIN IMMEDIATE`` on SQLite), so the second process waits, then finds the
schema at head and does nothing.
"""

from __future__ import annotations

import logging
import zlib
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text

from store.db import make_engine, normalise_url, safe_url

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
ADVISORY_LOCK_KEY = zlib.crc32(b"geowarn.store.migrate")
"""Key of the PostgreSQL advisory lock that serialises concurrent upgrades."""


def alembic_config(url: str | None = None) -> Config:
    """An Alembic config pointing at the packaged migrations (and ``url``, if given).

    Also the entry point for writing a new migration::

        command.revision(alembic_config(url), "add x", autogenerate=True)
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if url is not None:
        # ConfigParser interpolates '%': escape it in passwords.
        rendered = normalise_url(url).render_as_string(hide_password=False)
        config.set_main_option("sqlalchemy.url", rendered.replace("%", "%%"))
    return config


def head_revision() -> str:
    """The newest revision shipped with this code."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "no migrations found"
    return head


def current_revision(url: str) -> str | None:
    """The revision the database at ``url`` is at (None: never migrated)."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` to ``revision`` under a lock; a no-op when already there."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            _lock(connection)
            before = MigrationContext.configure(connection).get_current_revision()
            config = alembic_config(url)
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
            after = MigrationContext.configure(connection).get_current_revision()
            connection.commit()
    finally:
        engine.dispose()
    if before != after:
        log.info("migrated database %s from %s to %s", safe_url(url), before or "empty", after)
    else:
        log.debug("database %s is at %s", safe_url(url), after)


def _lock(connection: Connection) -> None:
    """Begin the migration transaction holding the lock that keeps other upgraders out."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
    elif connection.dialect.name == "sqlite":
        connection.exec_driver_sql("BEGIN IMMEDIATE")
