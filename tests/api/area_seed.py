"""Candidate areas for the API tests: two in Sichuan, one in Yunnan (see ``AREAS``)."""

from __future__ import annotations

from datetime import UTC, datetime

from shapely.geometry import shape
from sqlalchemy import Engine

from store.db import session_factory, session_scope
from store.rasters import CANDIDATE, REJECTED, CandidateArea, add_candidate_areas

JULY = datetime(2026, 7, 1, 8, 0, tzinfo=UTC)
JUNE = datetime(2026, 6, 15, 8, 0, tzinfo=UTC)


def _box(lon: float, lat: float, size: float = 0.02) -> dict:
    return {"type": "Polygon", "coordinates": [[[lon, lat], [lon + size, lat],
                                                [lon + size, lat + size], [lon, lat + size],
                                                [lon, lat]]]}


# A thin L near Wenchuan: its centroid lies outside it, its representative point inside.
L_SHAPE = {"type": "Polygon", "coordinates": [[
    [103.50, 31.40], [103.56, 31.40], [103.56, 31.41], [103.51, 31.41], [103.51, 31.46],
    [103.50, 31.46], [103.50, 31.40]]]}


def area(area_id: str, geometry: dict, peak: float, *, valid_at: datetime = JULY,
         status: str = CANDIDATE) -> CandidateArea:
    inside = shape(geometry).representative_point()
    return CandidateArea(
        id=area_id, status=status, product="insar_velocity", location="/data/v.h5",
        valid_at=valid_at, geometry=geometry, lon=inside.x, lat=inside.y, area_m2=2.5e5,
        pixel_count=60, mean_velocity_mm_yr=peak / 2, peak_velocity_mm_yr=peak,
        evidence={"indicator": "insar_los_velocity", "sigma_mm_yr": 2.1}, created_at=valid_at,
        decision_reason="irrigation subsidence" if status == REJECTED else None,
        decided_at=valid_at if status == REJECTED else None)


AREAS = (
    area("AS1", L_SHAPE, -31.5),                                  # Sichuan (Wenchuan)
    area("AS2", _box(102.90, 30.00), 12.0, valid_at=JUNE),       # Sichuan (Ya'an)
    area("AY1", _box(102.70, 25.05), -20.0, status=REJECTED),    # Yunnan (Kunming)
)
SICHUAN_AREAS = ("AS1", "AS2")
YUNNAN_AREAS = ("AY1",)


def seed_areas(engine: Engine) -> None:
    with session_scope(session_factory(engine)) as session:
        add_candidate_areas(session, list(AREAS))
