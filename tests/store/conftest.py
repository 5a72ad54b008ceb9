"""A migrated database (SQLite and PostgreSQL) and small builders for store tests."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from geo.registry import RiskPoint, SensorSpec
from store.db import make_engine, session_factory
from store.migrate import upgrade
from streams.schemas import Assessment, Indicator

T0 = datetime(2026, 7, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    upgrade(database_url)
    engine = make_engine(database_url)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return session_factory(engine)


def make_point(point_id: str, *, sensors: int = 2, people: int = 120, name: str | None = None,
               province: str = "Sichuan") -> RiskPoint:
    lon, lat = 103.0 + (sum(map(ord, point_id)) % 1000) / 1000, 30.5
    return RiskPoint(
        id=point_id, name=name or f"Slope {point_id}", hazard_type="landslide", lon=lon, lat=lat,
        geometry={"type": "Point", "coordinates": [lon, lat]}, province=province,
        province_adcode="510000", county="Wenchuan", county_adcode="513221",
        threatened_people=people, households=people // 4,
        sensors=tuple(SensorSpec(sensor_id=f"{point_id}-s{i}", kind="gnss") for i in range(sensors)))


def assess(point_id: str, level: str, minutes: float, *, velocity: float = 1.0,
           model_version: str = "1") -> Assessment:
    """An assessment of ``point_id`` observed ``minutes`` after T0."""
    observed = T0 + timedelta(minutes=minutes)
    indicator = Indicator(sensor_id=f"{point_id}-s0", kind="gnss", name="velocity", value=velocity,
                          unit="mm/d", level=level, thresholds={"blue": 1.0, "red": 20.0})
    return Assessment(assessment_id=Assessment.make_id(point_id, observed, level, model_version),
                      point_id=point_id, level=level, observed_at=observed, model="deformation",
                      model_version=model_version, evidence=[indicator])
