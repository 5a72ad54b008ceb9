"""SQLAlchemy 2 tables. Portable across SQLite and PostgreSQL: geometry is
GeoJSON in a JSON column plus lon/lat columns for box filters; times are
timezone-aware UTC."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class UtcDateTime(TypeDecorator[datetime]):
    """``TIMESTAMP WITH TIME ZONE`` that always hands back aware UTC datetimes.

    SQLite stores datetimes as text without an offset and returns them naive,
    and PostgreSQL returns them in the session's time zone; both would make
    comparisons with the aware event times of messages fail or lie. Values
    are converted to UTC on the way in (a naive value is taken as UTC) and
    marked UTC on the way out, so text ordering on SQLite is time ordering.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None or value.tzinfo is None:
            return value
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UtcDateTime()}  # noqa: RUF012 - read by SQLAlchemy


class RiskPointRow(Base):
    __tablename__ = "risk_points"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    hazard_type: Mapped[str] = mapped_column(String(32), index=True)
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    geometry: Mapped[dict] = mapped_column(JSON, doc="GeoJSON geometry in EPSG:4326 (point or polygon)")
    province: Mapped[str | None] = mapped_column(String(64), index=True)
    province_adcode: Mapped[str | None] = mapped_column(String(12), index=True)
    county: Mapped[str | None] = mapped_column(String(64))
    county_adcode: Mapped[str | None] = mapped_column(String(12))
    threatened_people: Mapped[int] = mapped_column(Integer, default=0)
    households: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    sensors: Mapped[list[SensorRow]] = relationship(
        back_populates="point", cascade="all, delete-orphan", lazy="selectin")

    __table_args__ = (Index("ix_risk_points_lon_lat", "lon", "lat"),)


class SensorRow(Base):
    __tablename__ = "sensors"

    point_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("risk_points.id", ondelete="CASCADE"), primary_key=True)
    sensor_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    unit: Mapped[str] = mapped_column(String(16))

    point: Mapped[RiskPointRow] = relationship(back_populates="sensors")


class WarningRow(Base):
    """A warning at a risk point, from opening to lifting. At most one active per point."""

    __tablename__ = "warnings"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    point_id: Mapped[str] = mapped_column(String(64), ForeignKey("risk_points.id"), index=True)
    level: Mapped[str] = mapped_column(String(8), index=True)
    status: Mapped[str] = mapped_column(String(8), index=True, doc="active | lifted")
    hazard_type: Mapped[str] = mapped_column(String(32))
    province: Mapped[str | None] = mapped_column(String(64), index=True)
    county: Mapped[str | None] = mapped_column(String(64))
    opened_at: Mapped[datetime] = mapped_column(index=True, doc="event time of the opening assessment")
    updated_at: Mapped[datetime] = mapped_column(
        doc="event time of the latest assessment applied (a transition or an evidence update)")
    lifted_at: Mapped[datetime | None]
    model: Mapped[str] = mapped_column(String(64))
    model_version: Mapped[str] = mapped_column(String(32))
    evidence: Mapped[list] = mapped_column(JSON, default=list)
    last_assessment_id: Mapped[str] = mapped_column(String(36))
    # The officers' lifecycle (store.lifecycle); wall-clock times except detected_at.
    state: Mapped[str] = mapped_column(
        String(16), default="issued", server_default="issued",
        doc="raised | issued | acknowledged | lifted")
    version: Mapped[int] = mapped_column(
        Integer, default=1, server_default="1", doc="bumped by every transition: optimistic lock")
    level_source: Mapped[str] = mapped_column(
        String(8), default="model", server_default="model",
        doc="model | officer: once an officer sets the level, the model may raise it, never lower it")
    peak_level: Mapped[str | None] = mapped_column(String(8), doc="highest level reached")
    detected_at: Mapped[datetime | None] = mapped_column(doc="event time of the detection")
    issued_at: Mapped[datetime | None]
    acknowledged_at: Mapped[datetime | None] = mapped_column(doc="first acknowledgement")
    acted_at: Mapped[datetime | None] = mapped_column(
        doc="first officer action that changed the level or lifted it")
    ack_due_at: Mapped[datetime | None] = mapped_column(
        index=True, doc="acknowledgement deadline of the current issue, if the level needs one")
    ack_overdue_at: Mapped[datetime | None] = mapped_column(
        doc="when the current deadline was found missed (re-notified)")
    national_at: Mapped[datetime | None] = mapped_column(
        doc="first escalation to the national centre")

    transitions: Mapped[list[WarningTransitionRow]] = relationship(
        back_populates="warning", order_by="WarningTransitionRow.observed_at", lazy="selectin")

    __table_args__ = (
        Index("uq_warnings_one_active_per_point", "point_id", unique=True,
              sqlite_where=text("status = 'active'"), postgresql_where=text("status = 'active'")),
    )


class WarningTransitionRow(Base):
    """One step of a warning's life; also the outbox of ``geowarn.warning-events``.

    ``id`` is deterministic (uuid5 of the warning id and the assessment id), so
    applying the same assessment twice cannot write a second row.
    ``published_at`` stays null until the event is flushed to Kafka.
    """

    __tablename__ = "warning_transitions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    warning_id: Mapped[str] = mapped_column(String(36), ForeignKey("warnings.id"), index=True)
    point_id: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(
        String(24), doc="opened | issued | acknowledged | escalated | downgraded | lifted | "
                        "renotified | escalated_to_national")
    from_level: Mapped[str] = mapped_column(String(8))
    to_level: Mapped[str] = mapped_column(String(8))
    observed_at: Mapped[datetime] = mapped_column(doc="event time of the assessment")
    recorded_at: Mapped[datetime] = mapped_column(doc="wall-clock time of the write")
    assessment_id: Mapped[str] = mapped_column(
        String(36), index=True, doc="lets the ledger recognise an assessment it already applied")
    model: Mapped[str] = mapped_column(String(64))
    model_version: Mapped[str] = mapped_column(String(32))
    evidence: Mapped[list] = mapped_column(JSON, default=list)
    published_at: Mapped[datetime | None] = mapped_column(index=True)
    # Audit columns (store.lifecycle): who, why, the state it moved and the warning version after it.
    actor: Mapped[str] = mapped_column(
        String(64), default="system:scorer", server_default="system:scorer",
        doc="user name, or system:scorer / system:lifecycle")
    reason: Mapped[str | None] = mapped_column(Text)
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str | None] = mapped_column(String(16))
    version: Mapped[int | None] = mapped_column(Integer, doc="the warning's version after this step")
    idempotency_key: Mapped[str | None] = mapped_column(
        String(128), doc="the client's key of an officer action: a replay finds this row")
    request_hash: Mapped[str | None] = mapped_column(
        String(64), doc="what the key was used for, to refuse its reuse for another request")

    warning: Mapped[WarningRow] = relationship(back_populates="transitions")

    __table_args__ = (
        Index("uq_warning_transitions_actor_key", "actor", "idempotency_key", unique=True),
    )


class WorkerProgressRow(Base):
    """What each worker has committed per partition, for /health."""

    __tablename__ = "worker_progress"

    worker: Mapped[str] = mapped_column(String(64), primary_key=True)
    topic: Mapped[str] = mapped_column(String(128), primary_key=True)
    partition: Mapped[int] = mapped_column(Integer, primary_key=True)
    committed_offset: Mapped[int] = mapped_column(BigInteger)
    highwater: Mapped[int | None] = mapped_column(BigInteger, doc="as reported by the broker")
    last_event_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]


class ReadingAggregateRow(Base):
    """Readings of one sensor series merged into one time bucket, for charts.

    A bucket starts at a multiple of the bucket width counted from the Unix
    epoch (10 minutes by default), so the same readings always land in the
    same bucket whatever the batching. It keeps what merges associatively
    (count, sum, min, max, newest value), so partial buckets from successive
    batches combine exactly; the mean is ``total / n``. The key starts with
    (point, kind, bucket_start) so that a chart's range query is one index
    range scan; ``kind`` is part of it because a series is (point, sensor,
    kind), as everywhere in the streams. No foreign key to risk_points:
    history is pruned by age, never cascaded row by row from the registry.
    """

    __tablename__ = "reading_aggregates"

    point_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    bucket_start: Mapped[datetime] = mapped_column(primary_key=True)
    sensor_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    n: Mapped[int] = mapped_column(Integer, doc="readings in the bucket")
    total: Mapped[float] = mapped_column(Float, doc="sum of the values (canonical unit)")
    min_value: Mapped[float] = mapped_column(Float)
    max_value: Mapped[float] = mapped_column(Float)
    last_value: Mapped[float] = mapped_column(Float, doc="value of the newest reading")
    last_at: Mapped[datetime] = mapped_column(doc="event time of the newest reading")

    __table_args__ = (Index("ix_reading_aggregates_bucket_start", "bucket_start"),)


class LevelTimelineRow(Base):
    """Every assessment's level at a point, in event time: the level band under a chart."""

    __tablename__ = "level_timeline"

    assessment_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    point_id: Mapped[str] = mapped_column(String(64))
    observed_at: Mapped[datetime]
    level: Mapped[str] = mapped_column(String(8))
    model: Mapped[str] = mapped_column(String(64))
    model_version: Mapped[str] = mapped_column(String(32))

    __table_args__ = (
        Index("ix_level_timeline_point_id_observed_at", "point_id", "observed_at"),
        Index("ix_level_timeline_observed_at", "observed_at"),
    )


class HistoryOffsetRow(Base):
    """The next offset the history writer will apply, per consumer group and partition.

    Written in the same transaction as the aggregates it accounts for, so the
    database itself knows which records it already holds: a batch redelivered
    after a crash between the database commit and the Kafka commit is
    recognised and skipped instead of being counted twice.
    """

    __tablename__ = "history_offsets"

    consumer_group: Mapped[str] = mapped_column(String(128), primary_key=True)
    topic: Mapped[str] = mapped_column(String(128), primary_key=True)
    partition: Mapped[int] = mapped_column(Integer, primary_key=True)
    next_offset: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime]


class NowcastRunRow(Base):
    """One regional nowcast: the level grid computed from one rainfall raster.

    ``id`` is deterministic in (kind, raster location, valid time), so a
    redelivered announcement rewrites the same run instead of adding one.
    ``evidence`` holds the model, its parameters and the cells per level.
    """

    __tablename__ = "nowcast_runs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), doc="observed | forecast")
    product: Mapped[str] = mapped_column(String(32))
    location: Mapped[str] = mapped_column(String(1024), doc="the rainfall raster it came from")
    valid_at: Mapped[datetime] = mapped_column(doc="valid time of the rainfall raster")
    created_at: Mapped[datetime]
    model_version: Mapped[str] = mapped_column(String(32))
    evidence: Mapped[dict] = mapped_column(JSON, default=dict)

    counties: Mapped[list[NowcastCountyRow]] = relationship(
        back_populates="run", cascade="all, delete-orphan", passive_deletes=True)

    __table_args__ = (Index("ix_nowcast_runs_kind_valid_at", "kind", "valid_at"),)


class NowcastCountyRow(Base):
    """A nowcast run's summary of one county: highest level, area shares, people threatened."""

    __tablename__ = "nowcast_counties"

    run_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("nowcast_runs.id", ondelete="CASCADE"), primary_key=True)
    adcode: Mapped[str] = mapped_column(String(12), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    province: Mapped[str | None] = mapped_column(String(64))
    province_adcode: Mapped[str] = mapped_column(String(12))
    max_level: Mapped[int] = mapped_column(Integer, doc="0..4; -1 when the grid has no data there")
    share_none: Mapped[float] = mapped_column(Float)
    share_blue: Mapped[float] = mapped_column(Float)
    share_yellow: Mapped[float] = mapped_column(Float)
    share_orange: Mapped[float] = mapped_column(Float)
    share_red: Mapped[float] = mapped_column(Float)
    data_coverage: Mapped[float] = mapped_column(Float, doc="share of the county the grid covers")
    data_area_m2: Mapped[float] = mapped_column(Float)
    county_area_m2: Mapped[float] = mapped_column(Float)
    points_at_or_above: Mapped[int] = mapped_column(Integer)
    threatened_population: Mapped[int] = mapped_column(BigInteger)

    run: Mapped[NowcastRunRow] = relationship(back_populates="counties")


class CandidateAreaRow(Base):
    """Ground that InSAR shows moving where no registered risk point watches it.

    ``id`` is deterministic in (product location, valid time, polygon), so
    ingesting the same product twice adds nothing; a decision (accepted with
    the new point's id, or rejected with a reason) is never overwritten.
    """

    __tablename__ = "candidate_areas"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    status: Mapped[str] = mapped_column(String(12), doc="candidate | accepted | rejected")
    product: Mapped[str] = mapped_column(String(32))
    location: Mapped[str] = mapped_column(String(1024))
    valid_at: Mapped[datetime]
    geometry: Mapped[dict] = mapped_column(JSON, doc="GeoJSON polygon in EPSG:4326")
    lon: Mapped[float] = mapped_column(Float, doc="representative point, inside the polygon")
    lat: Mapped[float] = mapped_column(Float)
    area_m2: Mapped[float] = mapped_column(Float)
    pixel_count: Mapped[int] = mapped_column(Integer)
    mean_velocity_mm_yr: Mapped[float] = mapped_column(Float)
    peak_velocity_mm_yr: Mapped[float] = mapped_column(Float)
    evidence: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]
    decision_reason: Mapped[str | None] = mapped_column(String(1000))
    point_id: Mapped[str | None] = mapped_column(String(64), doc="risk point created on acceptance")

    __table_args__ = (Index("ix_candidate_areas_status_created_at", "status", "created_at"),)


class InsarSampleRow(Base):
    """LOS velocity of one InSAR product at one risk point (relative to its reference point)."""

    __tablename__ = "insar_samples"

    point_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    product_id: Mapped[str] = mapped_column(
        String(36), primary_key=True, doc="uuid5 of the product location and valid time")
    location: Mapped[str] = mapped_column(String(1024))
    valid_at: Mapped[datetime]
    velocity_mm_yr: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime]

    __table_args__ = (Index("ix_insar_samples_point_id_valid_at", "point_id", "valid_at"),)


class UserRow(Base):
    """A person or machine that may call the API. Passwords are argon2 hashes."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(24))
    provinces: Mapped[list] = mapped_column(JSON, default=list, doc="province adcodes of the scope")
    password_hash: Mapped[str | None] = mapped_column(String(256), doc="null: token-only user")
    disabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __table_args__ = (UniqueConstraint("name", name="uq_users_name"),)


class ApiTokenRow(Base):
    """A long-lived machine token; only its SHA-256 is stored (it is shown once)."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(Integer, ForeignKey("users.id", ondelete="CASCADE"),
                                         index=True)
    token_hash: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]

    __table_args__ = (UniqueConstraint("token_hash", name="uq_api_tokens_token_hash"),)


class WarningJurisdictionRow(Base):
    """An adcode (province or county) concerned by a warning: its own and those near its point.

    Computed when the warning opens (store.jurisdictions); scoping reads it.
    """

    __tablename__ = "warning_jurisdictions"

    warning_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("warnings.id", ondelete="CASCADE"), primary_key=True)
    adcode: Mapped[str] = mapped_column(String(12), primary_key=True)

    __table_args__ = (Index("ix_warning_jurisdictions_adcode", "adcode"),)


# --- consultations (store.consultations) -----------------------------------------------------


class ConsultationRow(Base):
    """A threaded discussion on a warning or an area, with its decisions and closing summary.

    Exactly one of ``warning_id`` and ``area`` is set. Who may see it is
    decided by ``consultation_jurisdictions`` (copied from the warning, or
    computed from the area, when it opens) and by its participants.
    """

    __tablename__ = "consultations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(8), doc="open | closed")
    warning_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("warnings.id"), index=True)
    area: Mapped[dict | None] = mapped_column(JSON, doc="GeoJSON polygon in EPSG:4326")
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    summary: Mapped[str | None] = mapped_column(Text, doc="written when it is closed")
    closed_by: Mapped[str | None] = mapped_column(String(64))
    closed_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_consultations_status_created_at", "status", "created_at"),)


class ConsultationJurisdictionRow(Base):
    """An adcode (province or county) concerned by a consultation: scoping reads it."""

    __tablename__ = "consultation_jurisdictions"

    consultation_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("consultations.id", ondelete="CASCADE"), primary_key=True)
    adcode: Mapped[str] = mapped_column(String(12), primary_key=True)

    __table_args__ = (Index("ix_consultation_jurisdictions_adcode", "adcode"),)


class ConsultationParticipantRow(Base):
    """A user taking part: invited, or an officer who opened it or joined by posting."""

    __tablename__ = "consultation_participants"

    consultation_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("consultations.id", ondelete="CASCADE"), primary_key=True)
    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    role: Mapped[str] = mapped_column(String(24), doc="the user's role when it joined")
    invited_by: Mapped[str | None] = mapped_column(String(64), doc="null: joined by itself")
    joined_at: Mapped[datetime]

    __table_args__ = (Index("ix_consultation_participants_username", "username"),)


class ConsultationMessageRow(Base):
    """One message of the thread; ``parent_id`` is the message it answers."""

    __tablename__ = "consultation_messages"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    consultation_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("consultations.id", ondelete="CASCADE"))
    author: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    parent_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("consultation_messages.id"))
    created_at: Mapped[datetime]

    __table_args__ = (Index("ix_consultation_messages_consultation_id_created_at",
                            "consultation_id", "created_at"),)


class ConsultationAttachmentRow(Base):
    """A file uploaded to a consultation; the bytes live on disk under their SHA-256.

    ``message_id`` is set when a message takes the attachment (once).
    """

    __tablename__ = "consultation_attachments"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    consultation_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("consultations.id", ondelete="CASCADE"), index=True)
    message_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("consultation_messages.id"), index=True)
    sha256: Mapped[str] = mapped_column(String(64), doc="name of the stored file")
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(64), doc="as detected from the content")
    size: Mapped[int] = mapped_column(BigInteger, doc="bytes")
    uploaded_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]


class ConsultationDecisionRow(Base):
    """A decision taken in a consultation; ``transition_id`` is the warning step it caused."""

    __tablename__ = "consultation_decisions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    consultation_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("consultations.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(
        String(16), doc="evacuate | upgrade | downgrade | lift | note")
    households: Mapped[int | None] = mapped_column(Integer, doc="to evacuate")
    level: Mapped[str | None] = mapped_column(String(8), doc="new level of an upgrade/downgrade")
    reason: Mapped[str] = mapped_column(Text)
    decided_by: Mapped[str] = mapped_column(String(64))
    decided_at: Mapped[datetime]
    transition_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("warning_transitions.id"))
    idempotency_key: Mapped[str | None] = mapped_column(
        String(128), doc="the client's key: a replay finds this row")
    request_hash: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (Index("uq_consultation_decisions_decided_by_key", "decided_by",
                            "idempotency_key", unique=True),)


class ConsultationEventRow(Base):
    """The outbox of ``geowarn.consultation-events``: one row per pushed change.

    Written in the transaction of the change; ``published_at`` is set once
    the event is on the topic, so an event whose publication failed is sent
    by the next relay instead of being lost.
    """

    __tablename__ = "consultation_events"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    consultation_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("consultations.id", ondelete="CASCADE"), index=True)
    type: Mapped[str] = mapped_column(String(16), doc="message | decision | participant | closed")
    payload: Mapped[dict] = mapped_column(JSON)
    actor: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    published_at: Mapped[datetime | None] = mapped_column(index=True)


# --- Notifications to regional authorities (store.notifications) -----------------------------


class NotificationSubscriptionRow(Base):
    """A regional authority's subscription to the warnings of a province, a county or the
    whole country (adcode ``100000``, the national centre), by webhook or e-mail.

    ``secret`` signs webhook bodies (HMAC-SHA256); it is shown once, at creation.
    Subscriptions are disabled, never deleted, so their delivery log stays readable.
    """

    __tablename__ = "notification_subscriptions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    adcode: Mapped[str] = mapped_column(String(12), index=True)
    scope: Mapped[str] = mapped_column(String(8), doc="national | province | county")
    province_adcode: Mapped[str | None] = mapped_column(
        String(12), index=True, doc="the province of a province or county scope (access checks)")
    min_level: Mapped[str] = mapped_column(String(8), doc="blue | yellow | orange | red")
    channel: Mapped[str] = mapped_column(String(8), doc="webhook | email")
    target: Mapped[str] = mapped_column(String(2048), doc="webhook URL or e-mail address")
    secret: Mapped[str | None] = mapped_column(String(128), doc="webhook signing key")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    disabled_at: Mapped[datetime | None]


class NotificationDeliveryRow(Base):
    """One warning event to deliver to one subscription, and how that went.

    Unique per (subscription, event): a warning event redelivered by Kafka
    never notifies twice. ``payload`` holds the event, so pending deliveries
    survive a restart without the topic.
    """

    __tablename__ = "notification_deliveries"

    id: Mapped[str] = mapped_column(String(36), primary_key=True,
                                    doc="uuid5 of (subscription, event): sent as X-Geowarn-Delivery")
    subscription_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("notification_subscriptions.id", ondelete="CASCADE"))
    event_id: Mapped[str] = mapped_column(String(36))
    warning_id: Mapped[str] = mapped_column(String(36))
    point_id: Mapped[str] = mapped_column(String(64))
    transition: Mapped[str] = mapped_column(String(24))
    level: Mapped[str] = mapped_column(String(8))
    payload: Mapped[dict] = mapped_column(JSON, doc="the WarningEvent as JSON")
    status: Mapped[str] = mapped_column(String(10), doc="pending | delivered | failed")
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_status_code: Mapped[int | None] = mapped_column(Integer, doc="HTTP or SMTP reply code")
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime | None] = mapped_column(
        doc="when a pending delivery is due (or its claim by a sender expires)")
    created_at: Mapped[datetime]
    last_attempt_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]

    __table_args__ = (
        UniqueConstraint("subscription_id", "event_id",
                         name="uq_notification_deliveries_subscription_event"),
        Index("ix_notification_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
        Index("ix_notification_deliveries_subscription_created_at", "subscription_id",
              "created_at"),
    )


# --- Current sensor health per risk point (store.history, written by the history worker) -----


class PointStatusRow(Base):
    """The sensor health of a risk point as its newest assessment states it.

    One row per point, replaced only by a newer assessment (event time, then
    assessment id), so replays and late deliveries never move it backwards.
    Kept for calm points too: a dead sensor at a point without a warning is
    still a fault to see. No foreign key to risk_points, as for the history.
    """

    __tablename__ = "point_status"

    point_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(10), doc="ok | degraded | no_data")
    offline_sensors: Mapped[list] = mapped_column(JSON, doc="ids of the silent sensors")
    stuck_sensors: Mapped[list] = mapped_column(JSON, doc="ids of the stuck sensors")
    observed_at: Mapped[datetime] = mapped_column(doc="event time of the assessment")
    assessment_id: Mapped[str] = mapped_column(String(36))
    updated_at: Mapped[datetime]
