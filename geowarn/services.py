"""Builds and runs each geowarn process from Settings: scorer, ledger, history, raster,
notifier, API, simulator."""

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


def site_model_config(settings: Settings):
    """The site model's configuration: the thresholds file (thresholds, per-point site
    parameters, scorer settings; see ``warning_models.site_params``) and the window."""
    from geowarn.config_files import ConfigFileError, read_config_file
    from streams.scorer import merge_legacy
    from warning_models.site_params import site_model_from_mapping
    from warning_models.thresholds import VelocityParameters

    data = None if settings.thresholds_file is None else read_config_file(settings.thresholds_file)
    try:
        config = site_model_from_mapping(data)
    except TypeError as exc:
        raise ConfigFileError(f"{settings.thresholds_file}: {exc}") from exc
    return merge_legacy(config, None, VelocityParameters(window_hours=settings.scorer_window_hours))


def rainfall_scoring_config(settings: Settings):
    """The scorer's rainfall model from ``rainfall_thresholds_file`` (see
    ``warning_models.rainfall_fusion``), validated at start. A grid reading stands for the
    raster's interval, ``rainfall_interval_hours``."""
    from geowarn.config_files import ConfigFileError, read_config_file
    from warning_models.rainfall_fusion import rainfall_config_from_mapping

    path = settings.rainfall_thresholds_file
    try:
        config = rainfall_config_from_mapping(None if path is None else read_config_file(path))
    except TypeError as exc:
        raise ConfigFileError(f"{path}: {exc}") from exc
    fusion = config.fusion.model_copy(
        update={"grid_interval_hours": settings.rainfall_interval_hours})
    return config.model_copy(update={"fusion": fusion})


def registry_profiles(session, point_ids=None) -> dict:
    """id -> PointProfile (hazard type, county and province codes) of registered points.

    The scorer resolves per-point parameters from these (point > region >
    hazard type > default).
    """
    from sqlalchemy import select

    from store.tables import RiskPointRow
    from streams.scorer_index import PointProfile

    query = select(RiskPointRow.id, RiskPointRow.hazard_type, RiskPointRow.county_adcode,
                   RiskPointRow.province_adcode)
    if point_ids is not None:
        query = query.where(RiskPointRow.id.in_(list(point_ids)))
    return {row[0]: PointProfile(row[1], tuple(code for code in row[2:] if code))
            for row in session.execute(query)}


def run_scorer(settings: Settings, stop: threading.Event) -> None:
    from store.db import session_scope
    from streams.scorer import scorer_worker

    sessions = _sessions(settings)

    def known_points() -> dict:
        with session_scope(sessions) as session:
            return registry_profiles(session)

    worker = scorer_worker(
        config=settings.kafka, topics=settings.topics, known_points=known_points,
        group=settings.scorer_group, stop=stop, progress_callback=_progress_recorder(sessions),
        checkpoint_dir=settings.data_dir / "checkpoints" / "scorer",
        site_config=site_model_config(settings),
        rainfall_config=rainfall_scoring_config(settings),
        refresh_seconds=settings.registry_refresh_seconds)
    worker.run()


def replay_point(settings: Settings, point_id: str):
    """The registry's profile of a point, or None when it is not registered (or there is no
    registry yet: a replay never creates a database)."""
    from pathlib import Path

    from sqlalchemy.exc import SQLAlchemyError

    from store.db import make_engine, session_factory, session_scope

    url = settings.effective_database_url
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        return None
    try:
        engine = make_engine(url)
        try:
            with session_scope(session_factory(engine)) as session:
                return registry_profiles(session, [point_id]).get(point_id)
        finally:
            engine.dispose()
    except SQLAlchemyError as exc:
        log.warning("registry not readable (%s); replaying %s as a temporary point", exc,
                    point_id)
        return None


def run_replay(settings: Settings, series, *, point_id: str, sensor_id: str, kind: str,
               unit: str, progress=None):
    """Replay a series on the configured broker, or on an embedded Tansu started for it.

    Returns (result, temporary): temporary is True when the point is not in the
    registry and was scored as a temporary point with default thresholds.
    """
    import contextlib
    import uuid

    from geowarn.embedded import embedded_broker, free_port
    from streams.replay import run_replay as replay
    from streams.scorer_index import PointProfile
    from warning_models.site_params import SiteModelConfig

    profile = replay_point(settings, point_id)
    temporary = profile is None
    config = SiteModelConfig() if temporary else site_model_config(settings)
    known = {point_id: PointProfile("landslide") if temporary else profile}
    with contextlib.ExitStack() as stack:
        bootstrap = settings.kafka_bootstrap
        if not bootstrap:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            broker = stack.enter_context(embedded_broker(
                port=free_port(settings.kafka_port + 100),
                log_path=settings.data_dir / "tansu-replay.log"))
            bootstrap = broker.bootstrap
        result = replay(bootstrap=bootstrap, series=series, point_id=point_id,
                        sensor_id=sensor_id, kind=kind, unit=unit, known_points=known,
                        config=config, prefix=f"replay-{uuid.uuid4().hex[:12]}.",
                        progress=progress)
    return result, temporary


def run_ledger(settings: Settings, stop: threading.Event) -> None:
    from geo.boundaries import Boundaries
    from store.jurisdictions import JurisdictionResolver
    from streams.ledger import LedgerWorker

    LedgerWorker(settings.kafka, settings.topics, _sessions(settings), settings.ledger_group,
                 stop, rules=settings.lifecycle_rules(),
                 jurisdictions=JurisdictionResolver(Boundaries.load(),
                                                    settings.boundary_distance_km),
                 deadline_check_s=settings.deadline_check_seconds).run()


def notification_dispatcher(settings: Settings, sessions):
    """The notifier's delivery loop: webhook and SMTP senders with the retry settings."""
    from store.notifications import RetryPolicy
    from streams.notify_delivery import Dispatcher, warning_link
    from streams.notify_email import EmailSender, SmtpConfig
    from streams.notify_webhook import WebhookSender

    link = warning_link(settings.notify_public_url)
    smtp = SmtpConfig(host=settings.smtp_host, port=settings.smtp_port, sender=settings.smtp_from,
                      starttls=settings.smtp_starttls, username=settings.smtp_username,
                      password=settings.smtp_password, timeout_s=settings.notify_timeout_seconds)
    policy = RetryPolicy(max_attempts=settings.notify_max_attempts,
                         first_delay_s=settings.notify_backoff_seconds,
                         max_delay_s=max(settings.notify_backoff_max_seconds,
                                         settings.notify_backoff_seconds),
                         lease_s=2 * settings.notify_timeout_seconds + 60)
    senders = {"webhook": WebhookSender(timeout_s=settings.notify_timeout_seconds, link=link),
               "email": EmailSender(smtp, link=link)}
    return Dispatcher(sessions, senders, policy=policy, clock=lambda: datetime.now(UTC),
                      concurrency=settings.notify_concurrency)


def run_notifier(settings: Settings, stop: threading.Event) -> None:
    """Notify the subscribed regional authorities of warning events until ``stop``."""
    from streams.notifier import NotifierWorker

    sessions = _sessions(settings)
    NotifierWorker(settings.kafka, settings.topics, sessions, group_id=settings.notifier_group,
                   stop_event=stop, dispatcher=notification_dispatcher(settings, sessions)).run()


def run_history(settings: Settings, stop: threading.Event) -> None:
    from datetime import timedelta

    from streams.history import HistoryWorker

    HistoryWorker(settings.kafka, settings.topics, _sessions(settings),
                  group_id=settings.history_group,
                  bucket_seconds=settings.history_bucket_minutes * 60,
                  retention=timedelta(days=settings.history_retention_days),
                  refresh_s=settings.registry_refresh_seconds, stop_event=stop).run()


def raster_policy(settings: Settings):
    """The raster policy of the settings: roots, size limits and (unless disabled) China's territory."""
    from geo.boundaries import Boundaries
    from geo.rasters import RasterPolicy

    fields = {"allowed_roots": tuple(settings.effective_raster_roots),
              "max_cells": settings.raster_max_cells,
              "max_read_cells": settings.raster_max_read_cells}
    if not settings.raster_check_territory:
        return RasterPolicy(territory=None, **fields)
    return RasterPolicy.for_boundaries(Boundaries.load(), **fields)


def raster_settings(settings: Settings):
    """The raster worker's configuration, validated before the first raster arrives."""
    from geo.insar_areas import AreaMatchParams
    from streams.raster_nowcast import NowcastConfig
    from streams.raster_worker import RasterSettings
    from warning_models.rainfall import AntecedentParameters

    nowcast = NowcastConfig(
        antecedent=AntecedentParameters(k=settings.nowcast_antecedent_k,
                                        days=settings.nowcast_antecedent_days),
        percentile_mm=settings.nowcast_percentile_mm,
        day_offset_hours=settings.nowcast_day_offset_hours,
        rainfall_interval_hours=settings.rainfall_interval_hours)
    return RasterSettings(policy=raster_policy(settings), nowcast_dir=settings.data_dir / "nowcast",
                          nowcast=nowcast,
                          match=AreaMatchParams(buffer_m=settings.insar_area_buffer_m),
                          percentile_file=settings.nowcast_percentile_file)


def run_raster_worker(settings: Settings, stop: threading.Event) -> None:
    """Ingest announced rasters until ``stop`` (creates the default raster root if needed)."""
    from geo.boundaries import Boundaries
    from streams.raster_worker import RasterWorkerStopped, raster_worker

    if not settings.raster_roots:
        settings.effective_raster_roots[0].mkdir(parents=True, exist_ok=True)
    sessions = _sessions(settings)
    worker = raster_worker(config=settings.kafka, topics=settings.topics, sessions=sessions,
                           settings=raster_settings(settings), boundaries=Boundaries.load(),
                           group=settings.raster_group, stop=stop,
                           progress_callback=_progress_recorder(sessions),
                           batch_records=settings.raster_batch_records)
    try:
        worker.run()
    except RasterWorkerStopped as exc:
        log.info("raster worker stopped before committing its batch (%s)", exc)


def publish_raster(settings: Settings, file: str, *, product: str, valid_at: datetime,
                   units: str) -> tuple[str, dict]:
    """Announce a raster on the rasters topic; return the topic and the announcement sent.

    A local file must resolve inside the raster roots (a path relative to the
    working directory is made absolute; otherwise it is looked up under each
    root); an s3:// URL is passed through. Raises ValueError (or a
    ``geo.rasters.RasterError``) naming what is wrong.
    """
    from pathlib import Path

    import orjson
    from kafka import KafkaProducer

    from geo.rasters import RasterPolicy
    from geo.rasters.policy import resolve_location
    from streams.raster_worker import check_units
    from streams.schemas import RasterAnnouncement

    check_units(product, units)
    location = file
    if "://" not in file and Path(file).exists():
        location = str(Path(file).resolve())
    policy = RasterPolicy(allowed_roots=tuple(settings.effective_raster_roots))
    announcement = RasterAnnouncement(product=product, location=resolve_location(location, policy),
                                      valid_at=valid_at, units=units)
    payload = announcement.model_dump(mode="json")
    producer = KafkaProducer(**settings.kafka.producer())
    try:
        future = producer.send(settings.topics.rasters, orjson.dumps(payload),
                               key=product.encode())
        producer.flush()
        future.get(timeout=30)
    finally:
        producer.close(timeout=30)
    return settings.topics.rasters, payload


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
