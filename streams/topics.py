"""The topic catalogue and its idempotent creation."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError

log = logging.getLogger(__name__)

READINGS = "geowarn.readings"
RASTERS = "geowarn.rasters"
ASSESSMENTS = "geowarn.assessments"
WARNING_EVENTS = "geowarn.warning-events"
CONSULTATION_EVENTS = "geowarn.consultation-events"
DEADLETTER = "geowarn.deadletter"


@dataclass(frozen=True)
class TopicSpec:
    name: str
    description: str
    key: str
    partitions: int | None = None          # None: the configured default
    configs: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Topics:
    """The topic names one deployment uses. Tests give each run its own prefix."""

    readings: str = READINGS
    rasters: str = RASTERS
    assessments: str = ASSESSMENTS
    warning_events: str = WARNING_EVENTS
    deadletter: str = DEADLETTER
    consultation_events: str = CONSULTATION_EVENTS

    @classmethod
    def with_prefix(cls, prefix: str) -> Topics:
        return cls(*(prefix + name for name in (READINGS, RASTERS, ASSESSMENTS,
                                                  WARNING_EVENTS, DEADLETTER,
                                                  CONSULTATION_EVENTS)))

    def catalogue(self) -> tuple[TopicSpec, ...]:
        names = {READINGS: self.readings, RASTERS: self.rasters, ASSESSMENTS: self.assessments,
                 WARNING_EVENTS: self.warning_events, DEADLETTER: self.deadletter,
                 CONSULTATION_EVENTS: self.consultation_events}
        return tuple(TopicSpec(names[spec.name], spec.description, spec.key, spec.partitions,
                               spec.configs) for spec in CATALOGUE)


CATALOGUE: tuple[TopicSpec, ...] = (
    TopicSpec(READINGS, "sensor readings from monitored risk points", "risk-point id"),
    TopicSpec(RASTERS, "announcements of new rasters (rainfall, InSAR, ...)", "product", 1),
    TopicSpec(ASSESSMENTS, "per-point level assessments with evidence", "risk-point id"),
    TopicSpec(WARNING_EVENTS, "warning transitions recorded by the ledger", "risk-point id"),
    TopicSpec(DEADLETTER, "messages that could not be processed, with the reason", "source key", 1),
    # Only live push reads it (the database keeps the consultations), so a day is plenty.
    TopicSpec(CONSULTATION_EVENTS, "messages, decisions, invitations and closings of "
              "consultations", "consultation id", configs={"retention.ms": str(24 * 3600 * 1000)}),
)


def ensure_topics(bootstrap: str, *, partitions: int, replication: int, retention_ms: int,
                  topics: Topics = Topics(), client_id: str = "geowarn-admin") -> list[str]:
    """Create every topic of the catalogue that does not exist yet; return the created names.

    retention.ms is always set explicitly: brokers differ in their defaults
    and some (Tansu) apply none.
    """
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id=client_id)
    try:
        existing = set(admin.list_topics())
        wanted = [
            NewTopic(spec.name, spec.partitions or partitions, replication,
                     topic_configs={"retention.ms": str(retention_ms), **spec.configs})
            for spec in topics.catalogue() if spec.name not in existing
        ]
        created: list[str] = []
        for topic in wanted:
            try:
                admin.create_topics([topic])
                created.append(topic.name)
            except TopicAlreadyExistsError:
                pass  # another process created it meanwhile
        if created:
            log.info("created topics %s", ", ".join(created))
        return created
    finally:
        admin.close()
