"""What officers in the loop need from the app: its producer, the jurisdiction
resolver, and the relay of their actions to ``geowarn.warning-events``.

``configure`` puts them on ``app.state`` (the factory calls it); routes get
them through ``api.deps``.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta

from fastapi import FastAPI
from kafka import KafkaProducer
from kafka.errors import KafkaError
from sqlalchemy.exc import DBAPIError
from starlette.datastructures import State

from api.auth.dependencies import AuthConfig
from api.errors import BrokerUnavailable
from geowarn.settings import Settings
from store.jurisdictions import JurisdictionResolver
from streams.kafka_config import KafkaConfig
from streams.outbox import flush_sends, relay_outbox
from streams.topics import Topics

log = logging.getLogger(__name__)


class AppProducer:
    """The API process's one KafkaProducer (readings, officer-action events).

    Created on first use, so that the API starts and serves reads while the
    broker is away; a send that the broker does not acknowledge in
    ``timeout_s`` raises ``BrokerUnavailable``. After a failure, ``healthy``
    is false for ``cooldown_s``: the best-effort relay of officer actions
    then leaves its rows to the ledger's sweep instead of waiting again.
    """

    def __init__(self, kafka: KafkaConfig, *, timeout_s: float = 10.0,
                 cooldown_s: float = 30.0) -> None:
        self._kafka, self.timeout_s, self._cooldown_s = kafka, timeout_s, cooldown_s
        self._lock = threading.Lock()
        self._producer: KafkaProducer | None = None
        self._failed_at: float | None = None

    @property
    def healthy(self) -> bool:
        return self._failed_at is None or time.monotonic() - self._failed_at > self._cooldown_s

    def failed(self) -> None:
        self._failed_at = time.monotonic()

    def get(self) -> KafkaProducer:
        with self._lock:
            if self._producer is None:
                self._producer = KafkaProducer(**self._kafka.producer(
                    linger_ms=5, max_block_ms=int(self.timeout_s * 1000)))
            return self._producer

    def send_all(self, topic: str, messages: Iterable[tuple[bytes, bytes]]) -> int:
        """Produce (key, value) pairs and wait until the broker has them all."""
        try:
            producer = self.get()
            futures = [producer.send(topic, key=key, value=value) for key, value in messages]
            flush_sends(producer, futures, self.timeout_s)
        except KafkaError as exc:
            self.failed()
            raise BrokerUnavailable(f"the broker did not take the message(s) within "
                                    f"{self.timeout_s:g} s ({type(exc).__name__}); "
                                    "nothing was published, try again") from exc
        self._failed_at = None
        return len(futures)

    def flush(self, futures: list) -> None:
        flush_sends(self.get(), futures, self.timeout_s)

    def close(self) -> None:
        with self._lock:
            if self._producer is not None:
                self._producer.close(timeout=self.timeout_s)
                self._producer = None


class LazyResolver:
    """The jurisdiction resolver, built on first use: loading the boundaries takes ~2 s,
    which only officers raising warnings by hand should ever wait for."""

    def __init__(self, distance_km: float) -> None:
        self.distance_km = distance_km
        self._lock = threading.Lock()
        self._resolver: JurisdictionResolver | None = None

    def get(self) -> JurisdictionResolver:
        with self._lock:
            if self._resolver is None:
                from geo.boundaries import Boundaries

                self._resolver = JurisdictionResolver(Boundaries.load(), self.distance_km)
            return self._resolver


def relay_actions(state: State, point_ids: set[str]) -> None:
    """Publish the outbox rows of ``point_ids`` (run after an officer's action is committed).

    Best effort: a broker or database failure is logged, and the ledger's
    periodic sweep publishes the rows instead.
    """
    producer: AppProducer = state.producer
    if not producer.healthy:
        return
    try:
        relay_outbox(producer.get(), state.sessions, state.topics.warning_events,
                     point_ids=point_ids, now=state.clock, flush=producer.flush)
    except (KafkaError, DBAPIError) as exc:
        producer.failed()
        log.warning("officer action on %s not published yet (%s: %s); the ledger's sweep will",
                    ", ".join(sorted(point_ids)), type(exc).__name__, exc)


class RedactTokens(logging.Filter):
    """Masks ``access_token=...`` in log records: browsers put the token in the push
    socket's URL, which the server's access log would otherwise keep in clear."""

    PATTERN = re.compile(r"(access_token=)[^&\s\"']+")

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(self.PATTERN.sub(r"\1***", a) if isinstance(a, str) else a
                                for a in record.args)
        if isinstance(record.msg, str):
            record.msg = self.PATTERN.sub(r"\1***", record.msg)
        return True


def redact_tokens_in_logs(names: Iterable[str] = ("uvicorn.access", "uvicorn.error")) -> None:
    for name in names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactTokens) for f in logger.filters):
            logger.addFilter(RedactTokens())


def configure(app: FastAPI, settings: Settings, kafka: KafkaConfig, topics: Topics, *,
              clock: Callable[[], datetime] | None = None) -> None:
    """Put what auth and the lifecycle need on ``app.state``."""
    app.state.clock = clock or (lambda: datetime.now(UTC))
    app.state.auth = AuthConfig(settings.secret_key,
                                timedelta(minutes=settings.access_token_minutes))
    app.state.rules = settings.lifecycle_rules()
    app.state.jurisdictions = LazyResolver(settings.boundary_distance_km)
    app.state.producer = AppProducer(kafka)
    app.state.topics = topics
    redact_tokens_in_logs()
