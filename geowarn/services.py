"""Builds and runs each geowarn process from Settings: scorer, ledger, API, simulator."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime

from geowarn.settings import Settings

log = logging.getLogger(__name__)


def _sessions(settings: Settings):
    from store.db import make_engine, session_factory

    return session_factory(make_engine(settings.effective_database_url))


def _progress_recorder(sessions):
    """A worker progress callback that writes to worker_progress (best effort, for /health)."""
    from store.db import session_scope
    from store.progress import record_progress

    def record(worker, committed, highwater, last_event_at) -> None:
        try:
            with session_scope(sessions) as session:
                for tp, offset in committed.items():
                    record_progress(session, worker, tp.topic, tp.partition, offset,
                                    highwater.get(tp), last_event_at)
        except Exception as exc:  # noqa: BLE001 - progress is informational; never stop scoring for it
            log.warning("could not record %s progress: %s", worker, exc)

    return record


def run_scorer(settings: Settings, stop: threading.Event) -> None:
    from geowarn.config_files import load_thresholds
    from store.db import session_scope
    from store.points import hazard_types
    from streams.scorer import scorer_worker
    from warning_models.thresholds import VelocityParameters

    sessions = _sessions(settings)

    def known_points() -> dict[str, str]:
        with session_scope(sessions) as session:
            return hazard_types(session)

    worker = scorer_worker(
        config=settings.kafka, topics=settings.topics, known_points=known_points,
        group=settings.scorer_group, stop=stop, progress_callback=_progress_recorder(sessions),
        checkpoint_dir=settings.data_dir / "checkpoints" / "scorer",
        thresholds=load_thresholds(settings.thresholds_file),
        parameters=VelocityParameters(window_hours=settings.scorer_window_hours),
        refresh_seconds=settings.registry_refresh_seconds)
    worker.run()


def run_ledger(settings: Settings, stop: threading.Event) -> None:
    from streams.ledger import LedgerWorker

    LedgerWorker(settings.kafka, settings.topics, _sessions(settings), settings.ledger_group,
                 stop).run()


def run_api(settings: Settings, host: str, port: int) -> None:
    import uvicorn

    from api.app import create_app

    uvicorn.run(create_app(settings), host=host, port=port, log_level="info",
                timeout_graceful_shutdown=5)


def run_simulator(settings: Settings, stop: threading.Event, *, rate: float, speed: float,
                  backfill_hours: float, duration_s: float | None, seed: int,
                  accelerating_fraction: float, start: datetime | None = None) -> str:
    from kafka import KafkaProducer

    from store.db import session_scope
    from store.points import load_risk_points
    from streams.simulator import kafka_sender, simulate

    with session_scope(_sessions(settings)) as session:
        points = load_risk_points(session)
    if not points:
        raise RuntimeError("the registry is empty: import points or run `geowarn demo-data` first")
    producer = KafkaProducer(**settings.kafka.producer())
    try:
        report = simulate(points, kafka_sender(producer, settings.topics.readings),
                          start=start or datetime.now(UTC), rate=rate, speed=speed,
                          duration_s=duration_s, backfill_hours=backfill_hours, seed=seed,
                          accelerating_fraction=accelerating_fraction, stop=stop,
                          flush=producer.flush)
    finally:
        producer.close(timeout=30)
    return report.summary()
