"""`geowarn demo`: the whole system on one machine, stopped together by Ctrl-C.

Without GEOWARN_KAFKA_BOOTSTRAP the embedded broker (Tansu, memory only) is
started; without GEOWARN_DATABASE_URL SQLite under the data directory is used.
Because the embedded broker forgets everything when it stops, a demo on it
starts from a clean slate: the previous demo's warnings, reading history and
the workers' checkpoints and stored offsets (which name positions in the old
broker's topics) are cleared, while the risk-point registry is kept.
"""

from __future__ import annotations

import logging
import shutil
import time

import httpx

from geowarn.embedded import EmbeddedBroker, free_port, start_broker
from geowarn.runtime import broker_address_file, prepare_database, prepare_topics
from geowarn.settings import Settings
from geowarn.supervisor import Supervisor

log = logging.getLogger(__name__)


def _clear_embedded_state(settings: Settings) -> None:
    from sqlalchemy import delete

    from store.db import make_engine, session_factory, session_scope
    from store.history import clear_history
    from store.tables import WarningRow, WarningTransitionRow, WorkerProgressRow

    shutil.rmtree(settings.data_dir / "checkpoints", ignore_errors=True)
    with session_scope(session_factory(make_engine(settings.effective_database_url))) as session:
        for table in (WarningTransitionRow, WarningRow, WorkerProgressRow):
            session.execute(delete(table))
        # Stored history offsets name positions in the old broker's topics.
        clear_history(session)


def _ensure_registry(settings: Settings, points: int) -> int:
    from geo.boundaries import Boundaries
    from geo.demo_data import generate_demo_points
    from store.db import make_engine, session_factory, session_scope
    from store.points import count_points, upsert_points

    sessions = session_factory(make_engine(settings.effective_database_url))
    with session_scope(sessions) as session:
        existing = count_points(session)
    if existing:
        return existing
    log.info("the registry is empty: generating %d demo risk points", points)
    generated = generate_demo_points(points, seed=0, boundaries=Boundaries.load())
    with session_scope(sessions) as session:
        return upsert_points(session, generated)


DEMO_USER = "demo-officer"
DEMO_PASSWORD = "demo"


def _demo_credentials(settings: Settings) -> str:
    """A national officer for the demo and a fresh API token for it (written to the data dir).

    The password login exists only in development; production demos get the token alone.
    """
    from datetime import UTC, datetime

    from api.auth.credentials import hash_password, new_api_token, token_digest
    from store.db import make_engine, session_factory, session_scope
    from store.users import add_api_token, add_user, get_user

    now = datetime.now(UTC)
    password = hash_password(DEMO_PASSWORD) if settings.environment == "development" else None
    token = new_api_token()
    with session_scope(session_factory(make_engine(settings.effective_database_url))) as session:
        if get_user(session, DEMO_USER) is None:
            add_user(session, name=DEMO_USER, role="national_officer", provinces=[],
                     password_hash=password, now=now)
        add_api_token(session, DEMO_USER, token_digest(token), label="geowarn demo", now=now)
    path = settings.data_dir / "demo-token"
    path.write_text(token + "\n")
    path.chmod(0o600)
    return token


def _wait_for_api(url: str, supervisor: Supervisor, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{url}/health", timeout=2)
            return True
        except httpx.HTTPError:
            time.sleep(0.5)
    return False


def run_demo(settings: Settings, *, points: int, rate: float, speed: float,
             backfill_hours: float, echo) -> int:
    broker: EmbeddedBroker | None = None
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if settings.embedded_broker:
        broker = start_broker(settings.kafka_port, log_path=settings.data_dir / "tansu.log")
        broker_address_file(settings).write_text(broker.bootstrap)
        settings = settings.model_copy(update={"kafka_bootstrap": broker.bootstrap})
        echo(f"embedded Kafka-compatible broker (Tansu) on {broker.bootstrap} (memory only)")
    else:
        echo(f"using Kafka at {settings.kafka_bootstrap}")
    try:
        prepare_database(settings)
        prepare_topics(settings)
        if broker is not None:
            _clear_embedded_state(settings)
        count = _ensure_registry(settings, points)
        echo(f"registry: {count} risk points; database {settings.effective_database_url.split('@')[-1]}")
        token = _demo_credentials(settings)

        port = settings.api_port if _free(settings.api_port) else free_port(settings.api_port + 1)
        env = {"GEOWARN_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
               "GEOWARN_DATABASE_URL": settings.effective_database_url,
               "GEOWARN_DATA_DIR": str(settings.data_dir.resolve()),
               "GEOWARN_TOPIC_PREFIX": settings.topic_prefix,
               "PYTHONUNBUFFERED": "1"}
        supervisor = Supervisor(env, settings.data_dir / "logs")
        supervisor.add("api", "serve", "--host", settings.api_host, "--port", str(port))
        supervisor.add("ledger", "workers", "ledger")
        supervisor.add("scorer", "workers", "scorer")
        supervisor.add("history", "workers", "history")
        supervisor.add("raster", "workers", "raster")
        supervisor.add("notifier", "workers", "notifier")
        supervisor.add("simulator", "simulate", "--rate", str(rate), "--speed", str(speed),
                       "--backfill-hours", str(backfill_hours))
        supervisor.start_all()
        url = f"http://{settings.api_host}:{port}"
        if _wait_for_api(url, supervisor):
            echo(f"geowarn is running: {url}  (API docs: {url}/docs)")
            echo(f"signed in as the national officer {DEMO_USER!r}"
                 + (f" (password {DEMO_PASSWORD!r})" if settings.environment == "development" else "")
                 + f"; API token in {settings.data_dir / 'demo-token'}:")
            echo(f"  curl -H 'Authorization: Bearer {token}' {url}/warnings")
            echo(f"  live events: ws://{settings.api_host}:{port}/ws/warnings?access_token={token}")
        else:
            echo(f"the API did not answer within 60 s; see {settings.data_dir / 'logs' / 'api.log'}")
        echo(f"logs in {settings.data_dir / 'logs'}; Ctrl-C stops everything")
        return supervisor.watch()
    finally:
        if broker is not None:
            broker.stop()
            broker_address_file(settings).unlink(missing_ok=True)
            echo("embedded broker stopped")


def _free(port: int) -> bool:
    from geowarn.embedded import port_is_free

    return port_is_free(port)


