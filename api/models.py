"""Response shapes, for OpenAPI only.

Routes return dicts serialised by orjson (see ``api.geojson``); these models
describe those dicts at /docs so that clients can be generated from them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field


class Link(BaseModel):
    rel: Literal["self", "next", "prev"]
    type: str = "application/geo+json"
    href: str


class PointGeometry(BaseModel):
    type: Literal["Point"] = "Point"
    coordinates: tuple[float, float] = Field(description="lon, lat in degrees (EPSG:4326)")


class Sensor(BaseModel):
    sensor_id: str
    kind: str
    unit: str


class RiskPointProperties(BaseModel):
    id: str
    name: str
    hazard_type: str
    province: str | None
    province_adcode: str | None
    county: str | None
    county_adcode: str | None
    lon: float
    lat: float
    threatened_people: int
    households: int
    sensors: list[Sensor]
    level: str = Field(description="level of the active warning, or 'none'")
    tier: str | None = Field(description="national tier IV..I of the level, null for none")
    warning_id: str | None = Field(description="id of the active warning, if any")
    sensor_status: Literal["ok", "degraded", "no_data"] | None = Field(
        None, description="sensor health from the newest assessment (null before the first)")
    offline_sensors: list[str] = Field(
        default_factory=list, description="ids of the point's silent sensors")


class RiskPointFeature(BaseModel):
    type: Literal["Feature"] = "Feature"
    id: str
    geometry: dict[str, Any] = Field(description="GeoJSON Point or Polygon, lon/lat")
    properties: RiskPointProperties


class RiskPointCollection(BaseModel):
    type: Literal["FeatureCollection"] = "FeatureCollection"
    numberMatched: int
    numberReturned: int
    links: list[Link]
    features: list[RiskPointFeature]


class Transition(BaseModel):
    """One row of the audit trail."""

    id: str
    kind: Literal["opened", "issued", "acknowledged", "escalated", "downgraded", "lifted",
                  "renotified", "escalated_to_national"]
    actor: str = Field(description="user name, or system:scorer / system:lifecycle")
    reason: str | None = Field(description="why, in the actor's words")
    from_level: str
    to_level: str
    from_state: str | None
    to_state: str | None = Field(description="raised, issued, acknowledged or lifted")
    version: int | None = Field(description="the warning's version after this step")
    observed_at: datetime = Field(description="event time of the assessment "
                                              "(wall clock for officers and deadlines)")
    recorded_at: datetime = Field(description="when it was written")
    published_at: datetime | None = Field(description="when its event reached Kafka")
    assessment_id: str = Field(description="the assessment whose evidence was in force")
    model: str
    model_version: str
    evidence: list[dict[str, Any]]


class PointInside(BaseModel):
    id: str
    name: str
    hazard_type: str
    level: str = Field(description="level of the point's own active warning, or 'none'")
    threatened_people: int
    households: int


class WarningProperties(BaseModel):
    id: str
    point_id: str
    point_name: str
    level: str
    tier: str | None
    status: Literal["active", "lifted"]
    hazard_type: str
    province: str | None
    county: str | None
    threatened_people: int
    households: int
    opened_at: datetime
    updated_at: datetime
    lifted_at: datetime | None
    model: str
    model_version: str
    state: Literal["raised", "issued", "acknowledged", "lifted"]
    version: int = Field(description="send it as expected_version with an action")
    level_source: Literal["model", "officer"]
    peak_level: str | None
    detected_at: datetime | None = Field(description="event time of the detection")
    issued_at: datetime | None
    acknowledged_at: datetime | None = Field(description="first acknowledgement")
    acted_at: datetime | None = Field(description="first officer level change or lift")
    ack_due_at: datetime | None = Field(description="acknowledgement deadline, if one applies")
    ack_overdue_at: datetime | None = Field(description="when the deadline was found missed")
    national_at: datetime | None = Field(description="escalated to the national centre")
    jurisdictions: list[str] = Field(description="adcodes concerned (own and near borders)")
    evidence: list[dict[str, Any]] | None = Field(None, description="detail only")
    transitions: list[Transition] | None = Field(None, description="detail only: the audit "
                                                                   "trail, in order")
    points_inside: list[PointInside] | None = Field(
        None, description="detail only: for a point registered as an area (polygon), the other "
                          "risk points inside it, with their exposure and current level")


class WarningFeature(BaseModel):
    type: Literal["Feature"] = "Feature"
    id: str
    geometry: PointGeometry
    properties: WarningProperties


class WarningCollection(BaseModel):
    type: Literal["FeatureCollection"] = "FeatureCollection"
    numberMatched: int
    numberReturned: int
    links: list[Link]
    features: list[WarningFeature]


class ErrorMessage(BaseModel):
    detail: str


class BrokerHealth(BaseModel):
    ok: bool
    bootstrap: str = Field(description="bootstrap servers, credentials removed")
    brokers: int | None = None
    error: str | None = None
    checked_at: datetime


class DatabaseHealth(BaseModel):
    ok: bool
    dialect: str
    error: str | None = Field(description="why it is not ok, e.g. a missing table")


class PushHealth(BaseModel):
    connected: bool
    topic: str
    partitions: list[int]
    clients: int
    events_pushed: int
    duplicates_dropped: int = Field(description="repeated event ids (at-least-once delivery)")
    skipped_before_start: int = Field(description="events issued before this process started")
    slow_clients_dropped: int
    reconnects: int
    last_error: str | None
    started_at: datetime | None


class ConsumerProgress(BaseModel):
    worker: str
    topic: str
    partition: int
    committed_offset: int
    highwater: int | None = Field(description="end offset as reported by the broker")
    lag: int | None = Field(description="highwater - committed_offset (broker-reported)")
    lag_source: str
    last_event_at: datetime | None
    updated_at: datetime
    age_seconds: float = Field(description="seconds since the worker last recorded progress")


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    broker: BrokerHealth
    database: DatabaseHealth
    push: PushHealth
    consumers: list[ConsumerProgress]
