"""The API tests' known data: five risk points in three provinces, two active
warnings and one lifted, one worker's progress, a user of every role with an
API token; and the app built on it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine

from api.app import create_app
from api.auth.credentials import hash_password, token_digest
from geo.registry import RiskPoint, SensorSpec
from geowarn.settings import Settings
from store.db import session_factory, session_scope
from store.points import upsert_points
from store.progress import record_progress
from store.tables import WarningRow, WarningTransitionRow
from store.users import add_api_token, add_user
from streams.kafka_config import KafkaConfig
from streams.topics import Topics


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def _point(id_: str, hazard: str, lon: float, lat: float, province: str, adcode: str,
           geometry: dict | None = None, sensors: tuple[SensorSpec, ...] = ()) -> RiskPoint:
    return RiskPoint(id=id_, name=f"{id_} slope", hazard_type=hazard, lon=lon, lat=lat,
                     geometry=geometry or {"type": "Point", "coordinates": [lon, lat]},
                     province=province, province_adcode=adcode, county=f"{id_} county",
                     county_adcode=adcode[:4] + "01", threatened_people=100, households=30,
                     sensors=sensors)


POINTS = (
    _point("P1", "landslide", 103.6, 31.0, "四川省", "510000",
           sensors=(SensorSpec(sensor_id="G1", kind="gnss"),
                    SensorSpec(sensor_id="R1", kind="rain_gauge", unit="mm/h"))),
    _point("P2", "debris_flow", 102.5, 30.0, "四川省", "510000"),
    _point("P3", "collapse", 102.7, 25.0, "云南省", "530000"),
    _point("P4", "subsidence", 100.2, 26.8, "云南省", "530000"),
    _point("P5", "landslide", 106.5, 29.5, "重庆市", "500000",
           geometry={"type": "Polygon", "coordinates": [[[106.4, 29.4], [106.6, 29.4],
                                                         [106.6, 29.6], [106.4, 29.4]]]}),
)

EVIDENCE = [{"sensor_id": "G1", "kind": "gnss", "name": "velocity", "value": 12.5,
             "unit": "mm/d", "level": "orange", "thresholds": {"orange": 10.0},
             "window_hours": 24.0, "samples": 48}]


def _warning(id_: str, point: str, level: str, status: str, opened: str, updated: str,
             lifted: str | None, province: str) -> WarningRow:
    return WarningRow(id=id_, point_id=point, level=level, status=status, hazard_type="landslide",
                      province=province, county=f"{point} county", opened_at=at(opened),
                      updated_at=at(updated), lifted_at=None if lifted is None else at(lifted),
                      model="deformation", model_version="1", evidence=EVIDENCE,
                      last_assessment_id=f"A-{id_}")


USERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "national": ("national_officer", ()),
    "sichuan": ("provincial_officer", ("510000",)),
    "yunnan": ("provincial_officer", ("530000",)),
    "analyst": ("analyst", ()),
    "responder": ("responder", ()),
    "gateway": ("sensor_gateway", ()),
}
"""user name -> (role, provinces); each has the API token TOKENS[name]."""
TOKENS = {name: f"gwt_test-{name}-token" for name in USERS}
PASSWORD = "correct horse battery staple"
"""The password of every seeded user."""
_PASSWORD_HASH = hash_password(PASSWORD)


def bearer(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[name]}"}


def seed_users(session) -> None:
    now = at("2026-06-01T00:00:00Z")
    for name, (role, provinces) in USERS.items():
        add_user(session, name=name, role=role, provinces=provinces,
                 password_hash=_PASSWORD_HASH, now=now)
        add_api_token(session, name, token_digest(TOKENS[name]), label="tests", now=now)


def _transition(warning: str, point: str, n: int, kind: str, from_level: str, to_level: str,
                observed: str) -> WarningTransitionRow:
    return WarningTransitionRow(
        id=f"{warning}-T{n}", warning_id=warning, point_id=point, kind=kind, from_level=from_level,
        to_level=to_level, observed_at=at(observed), recorded_at=at(observed),
        assessment_id=f"A-{warning}-{n}", model="deformation", model_version="1",
        evidence=EVIDENCE, published_at=at(observed))


def seed(engine: Engine) -> None:
    """Five points; W1 active orange at P1, W2 lifted at P2, W3 active red at P3; one worker;
    the users of ``USERS``."""
    with session_scope(session_factory(engine)) as session:
        upsert_points(session, POINTS, now=at("2026-06-01T00:00:00Z"))
        session.add_all([
            _warning("W1", "P1", "orange", "active", "2026-07-01T02:00:00Z",
                     "2026-07-01T05:00:00Z", None, "四川省"),
            _warning("W2", "P2", "yellow", "lifted", "2026-06-20T00:00:00Z",
                     "2026-06-20T12:00:00Z", "2026-06-20T12:00:00Z", "四川省"),
            _warning("W3", "P3", "red", "active", "2026-07-01T06:00:00Z",
                     "2026-07-01T06:00:00Z", None, "云南省"),
        ])
        session.flush()
        session.add_all([
            _transition("W1", "P1", 1, "opened", "none", "yellow", "2026-07-01T02:00:00Z"),
            _transition("W1", "P1", 2, "escalated", "yellow", "orange", "2026-07-01T05:00:00Z"),
            _transition("W2", "P2", 1, "opened", "none", "yellow", "2026-06-20T00:00:00Z"),
            _transition("W2", "P2", 2, "lifted", "yellow", "none", "2026-06-20T12:00:00Z"),
            _transition("W3", "P3", 1, "opened", "none", "red", "2026-07-01T06:00:00Z"),
        ])
        record_progress(session, "scorer", "geowarn.readings", 0, committed_offset=90,
                        highwater=100, last_event_at=at("2026-07-01T05:59:00Z"))
        seed_users(session)


def make_app(database_url: str, kafka: KafkaConfig, prefix: str, tmp_path: Path, **settings):
    settings = Settings(database_url=database_url, kafka_bootstrap=kafka.bootstrap,
                        data_dir=tmp_path / "var", **settings)
    return create_app(settings, topics=Topics.with_prefix(prefix), kafka=kafka)
