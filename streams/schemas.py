"""Message schemas of every geowarn topic.

Each message is a JSON object (orjson) carrying ``schema_version``. The
pydantic models here are the single definition: producers validate with
them, ``geowarn schemas`` publishes them as JSON Schema into docs/topics/,
and consumers on hot paths decode in bulk but apply the same rules (see
``streams.codec``).
"""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from streams.units import CANONICAL_UNIT, SensorKind, unit_factor

SCHEMA_VERSION = 1

# Namespace for deterministic ids (uuid5), so that replays produce the same ids.
GEOWARN_NAMESPACE = uuid.UUID("6f1c2a52-3d8e-5b7a-9c41-0e2f6a8b9d10")

LevelName = Literal["none", "blue", "yellow", "orange", "red"]
SensorStatus = Literal["online", "offline", "stuck"]
PointStatus = Literal["ok", "degraded", "no_data"]


def _require_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("observed_at must carry a time zone (UTC, e.g. 2026-07-01T08:00:00Z)")
    return value.astimezone(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_require_utc)]
Identifier = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:\-]+$")]


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Reading(_Message):
    """One sensor observation at a monitored risk point (topic ``geowarn.readings``).

    Key: the risk-point id (UTF-8), so that one point's history stays in one
    partition. ``value`` is converted to the kind's canonical unit on
    validation; ``unit`` then holds that canonical unit.
    """

    schema_version: Literal[1] = SCHEMA_VERSION
    point_id: Identifier
    sensor_id: Identifier
    kind: SensorKind
    observed_at: UtcDatetime = Field(description="event time of the observation, UTC")
    value: float = Field(allow_inf_nan=False)
    unit: str = Field(min_length=1, max_length=16)

    @model_validator(mode="after")
    def _normalise_unit(self) -> Reading:
        factor = unit_factor(self.kind, self.unit)
        canonical = CANONICAL_UNIT[self.kind]
        if factor != 1.0 or self.unit != canonical:
            object.__setattr__(self, "value", self.value * factor)
            object.__setattr__(self, "unit", canonical)
        return self


class Indicator(_Message):
    """One number that contributed to an assessment, with the rule that judged it."""

    sensor_id: str
    kind: SensorKind
    name: str = Field(description="what was measured, e.g. 'velocity'")
    value: float
    unit: str
    level: LevelName
    thresholds: dict[str, float] = Field(
        default_factory=dict, description="threshold per level in the same unit")
    window_hours: float | None = None
    samples: int | None = None
    rule: str | None = Field(None, description="how the level was judged, in words")
    valid: bool | None = Field(
        None, description="false when the model had too little data or the sensor is excluded")
    status: SensorStatus | None = Field(
        None, description="sensor health: online, offline (silent) or stuck")
    observed_at: UtcDatetime | None = Field(
        None, description="event time of the sensor's newest reading behind this indicator")
    numbers: dict[str, float] = Field(
        default_factory=dict, description="the numbers behind the level, names carry units")
    predicted_failure_at: UtcDatetime | None = Field(
        None, description="inverse-velocity time of failure (event time), null if none")
    predicted_failure_lower: UtcDatetime | None = None
    predicted_failure_upper: UtcDatetime | None = None


class Assessment(_Message):
    """The scorer's judgement of one risk point (topic ``geowarn.assessments``).

    Emitted when a point's level changes (and once per point after a worker
    starts), keyed by point id. ``assessment_id`` is deterministic in
    (point_id, observed_at, level, model_version), so a replay yields the
    same ids and the ledger can ignore what it has already applied.
    """

    schema_version: Literal[1] = SCHEMA_VERSION
    assessment_id: str
    point_id: Identifier
    level: LevelName
    observed_at: UtcDatetime = Field(description="event time of the newest reading considered")
    model: str
    model_version: str
    evidence: list[Indicator] = Field(default_factory=list)
    status: PointStatus | None = Field(
        None, description="ok, degraded (a sensor silent or stuck) or no_data (every sensor "
        "silent: the level is kept, it is not 'no hazard')")
    rule: str | None = Field(None, description="the fusion rule that set the level")
    predicted_failure_at: UtcDatetime | None = Field(
        None, description="earliest inverse-velocity time of failure among the point's "
        "sensors (event time), null if none")
    predicted_failure_lower: UtcDatetime | None = None
    predicted_failure_upper: UtcDatetime | None = None

    @staticmethod
    def make_id(point_id: str, observed_at: datetime, level: str, model_version: str) -> str:
        stamp = observed_at.astimezone(UTC).isoformat()
        return str(uuid.uuid5(GEOWARN_NAMESPACE, f"assessment|{point_id}|{stamp}|{level}|{model_version}"))


TransitionKind = Literal["opened", "issued", "acknowledged", "escalated", "downgraded", "lifted",
                         "renotified", "escalated_to_national"]


class WarningEvent(_Message):
    """A warning's state change (topic ``geowarn.warning-events``), keyed by point id.

    ``event_id`` equals the id of the transition row in the database, so
    consumers can drop duplicates after an at-least-once redelivery. Officer
    actions and missed acknowledgement deadlines are events too: ``actor``
    says who (a user name, or ``system:scorer`` / ``system:lifecycle``).
    """

    schema_version: Literal[1] = SCHEMA_VERSION
    event_id: str
    warning_id: str
    point_id: str
    transition: TransitionKind
    from_level: LevelName
    to_level: LevelName
    tier: str | None = Field(description="national tier of to_level: IV, III, II, I or null")
    hazard_type: str
    point_name: str
    province: str | None
    county: str | None
    lon: float
    lat: float
    threatened_people: int
    households: int
    observed_at: UtcDatetime = Field(description="event time of the assessment that caused it")
    issued_at: UtcDatetime = Field(description="wall-clock time the ledger recorded it")
    model: str
    model_version: str
    evidence: list[Indicator] = Field(default_factory=list)
    actor: str = Field("system:scorer", description="user name, or system:scorer / system:lifecycle")
    reason: str | None = Field(None, description="why, in the actor's words (officer actions, deadlines)")
    jurisdictions: list[str] = Field(
        default_factory=list,
        description="adcodes of the provinces and counties concerned, beyond the point's own "
                    "province (boundary proximity); empty when not computed")


class DeadLetter(_Message):
    """A message that could not be processed (topic ``geowarn.deadletter``).

    Carries the original key and value bytes (base64) untouched, the reason,
    and where the message came from, so nothing is lost and it can be
    replayed after a fix.
    """

    schema_version: Literal[1] = SCHEMA_VERSION
    reason: str
    stage: str = Field(description="which worker rejected it, e.g. 'scorer'")
    source_topic: str
    source_partition: int
    source_offset: int
    key_b64: str | None
    value_b64: str | None
    failed_at: UtcDatetime

    @classmethod
    def of(cls, *, reason: str, stage: str, topic: str, partition: int, offset: int,
           key: bytes | None, value: bytes | None, failed_at: datetime | None = None) -> DeadLetter:
        encode = (lambda raw: None if raw is None else base64.b64encode(raw).decode("ascii"))
        return cls(reason=reason, stage=stage, source_topic=topic, source_partition=partition,
                   source_offset=offset, key_b64=encode(key), value_b64=encode(value),
                   failed_at=failed_at or datetime.now(UTC))

    def original_value(self) -> bytes | None:
        return None if self.value_b64 is None else base64.b64decode(self.value_b64)


RasterProduct = Literal[
    "rainfall_observed", "rainfall_forecast", "insar_velocity", "insar_displacement",
    "susceptibility", "dem",
]


class RasterAnnouncement(_Message):
    """A new raster to ingest (topic ``geowarn.rasters``), keyed by product."""

    schema_version: Literal[1] = SCHEMA_VERSION
    product: RasterProduct
    location: str = Field(description="path under a configured root, or an s3:// URL")
    valid_at: UtcDatetime
    units: str


ConsultationEventType = Literal["message", "decision", "participant", "closed"]


class ConsultationAttachmentInfo(_Message):
    id: str
    filename: str
    content_type: str
    size: int = Field(description="bytes")
    url: str = Field(description="path of the file's bytes on the API")


class ConsultationMessage(_Message):
    id: str
    author: str
    body: str
    parent_id: str | None = Field(description="the message this one answers")
    attachments: list[ConsultationAttachmentInfo] = Field(default_factory=list)
    created_at: UtcDatetime


class ConsultationDecision(_Message):
    id: str
    kind: Literal["evacuate", "upgrade", "downgrade", "lift", "note"]
    households: int | None = Field(description="households to evacuate")
    level: LevelName | None = Field(description="new level of an upgrade or downgrade")
    reason: str
    decided_by: str
    decided_at: UtcDatetime
    transition_id: str | None = Field(
        description="the warning transition the decision caused (geowarn.warning-events "
                    "event_id)")


class ConsultationParticipant(_Message):
    username: str
    role: str
    invited_by: str | None = Field(description="null: joined by itself (an officer in scope)")
    joined_at: UtcDatetime


class ConsultationClosing(_Message):
    summary: str
    closed_by: str
    closed_at: UtcDatetime


_PAYLOAD_OF_TYPE: dict[str, type[_Message]] = {
    "message": ConsultationMessage, "decision": ConsultationDecision,
    "participant": ConsultationParticipant, "closed": ConsultationClosing}


class ConsultationEvent(_Message):
    """A change in a consultation (topic ``geowarn.consultation-events``), keyed by its id.

    ``event_id`` is the id of the change's outbox row, so consumers drop
    duplicates after an at-least-once redelivery. ``payload`` is the message,
    decision or participant as GET /consultations/{id} shows it, or the
    closing summary; its shape follows ``type``.
    """

    schema_version: Literal[1] = SCHEMA_VERSION
    event_id: str
    consultation_id: str
    warning_id: str | None = Field(description="the warning consulted on; null for an area")
    type: ConsultationEventType
    actor: str = Field(description="user who made the change")
    issued_at: UtcDatetime = Field(description="wall-clock time the change was recorded")
    payload: (ConsultationMessage | ConsultationDecision | ConsultationParticipant
              | ConsultationClosing)

    @model_validator(mode="after")
    def _payload_matches_type(self) -> ConsultationEvent:
        expected = _PAYLOAD_OF_TYPE[self.type]
        if not isinstance(self.payload, expected):
            # ValueError, not TypeError: pydantic reports only the former as a validation error.
            message = f"a {self.type} event carries a {expected.__name__} payload"
            raise ValueError(message)  # noqa: TRY004
        return self


TOPIC_SCHEMAS: dict[str, type[BaseModel]] = {
    "geowarn.readings": Reading,
    "geowarn.rasters": RasterAnnouncement,
    "geowarn.assessments": Assessment,
    "geowarn.warning-events": WarningEvent,
    "geowarn.deadletter": DeadLetter,
    "geowarn.consultation-events": ConsultationEvent,
}
