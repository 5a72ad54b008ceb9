"""SQLAlchemy 2 tables. Portable across SQLite and PostgreSQL: geometry is
GeoJSON in a JSON column plus lon/lat columns for box filters; times are
timezone-aware UTC."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    TypeDecorator,
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
    kind: Mapped[str] = mapped_column(String(12), doc="opened | escalated | downgraded | lifted")
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

    warning: Mapped[WarningRow] = relationship(back_populates="transitions")


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
