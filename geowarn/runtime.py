"""Composition helpers: turn Settings into connected parts."""

from __future__ import annotations

import contextlib
import logging
import socket
from pathlib import Path

from geowarn.settings import Settings

log = logging.getLogger(__name__)


class NoBrokerError(RuntimeError):
    """No Kafka bootstrap is configured and no embedded broker is running."""


def broker_address_file(settings: Settings) -> Path:
    return settings.data_dir / "broker.address"


def resolve_bootstrap(settings: Settings) -> Settings:
    """Settings with kafka_bootstrap filled in.

    An explicit GEOWARN_KAFKA_BOOTSTRAP wins; otherwise the address of the
    embedded broker that `geowarn demo` or `geowarn broker` recorded under
    the data directory, if that broker still answers.
    """
    if settings.kafka_bootstrap:
        return settings
    path = broker_address_file(settings)
    if path.exists():
        address = path.read_text().strip()
        host, _, port = address.rpartition(":")
        with contextlib.suppress(OSError, ValueError), socket.create_connection((host, int(port)), 1):
            return settings.model_copy(update={"kafka_bootstrap": address})
    raise NoBrokerError(
        "no Kafka broker: set GEOWARN_KAFKA_BOOTSTRAP=host:port, or start the embedded one "
        "with `geowarn broker` (or everything at once with `geowarn demo`)")


def prepare_database(settings: Settings) -> None:
    """Create the data directory and apply migrations."""
    from store.migrate import upgrade

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.effective_database_url)


def prepare_topics(settings: Settings) -> list[str]:
    from streams.topics import ensure_topics

    return ensure_topics(settings.kafka_bootstrap, partitions=settings.topic_partitions,
                         replication=settings.topic_replication,
                         retention_ms=settings.retention_ms, topics=settings.topics)
