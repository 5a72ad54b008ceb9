"""Exposure of area warnings: the registered risk points inside a warned area.

A risk point registered with a polygon (a landslide body, a debris-flow
fan, an accepted InSAR area) warns for the whole area, and the people at
other registered points inside it are exposed too. The query prefilters by
the polygon's bounding box in SQL, then tests the candidates with shapely.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from shapely.geometry import shape
from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from store.tables import RiskPointRow, WarningRow

AREA_TYPES = frozenset({"Polygon", "MultiPolygon"})


@dataclass(frozen=True, slots=True)
class PointInside:
    id: str
    name: str
    hazard_type: str
    level: str
    threatened_people: int
    households: int


def points_inside(session: Session, geometry: dict[str, Any], *,
                  exclude: str | None = None) -> list[PointInside]:
    """Registered risk points whose location lies inside (or on the edge of) ``geometry``.

    ``geometry`` is GeoJSON in EPSG:4326; anything but a (Multi)Polygon has
    no inside and gives an empty list. ``level`` is the point's active
    warning level, 'none' without one. Ordered by id.
    """
    if geometry.get("type") not in AREA_TYPES:
        return []
    area = shape(geometry)
    if area.is_empty:
        return []
    min_lon, min_lat, max_lon, max_lat = area.bounds
    active = and_(WarningRow.point_id == RiskPointRow.id, WarningRow.status == "active")
    rows = session.execute(
        select(RiskPointRow.id, RiskPointRow.name, RiskPointRow.hazard_type, RiskPointRow.lon,
               RiskPointRow.lat, RiskPointRow.threatened_people, RiskPointRow.households,
               WarningRow.level)
        .outerjoin(WarningRow, active)
        .where(RiskPointRow.lon.between(min_lon, max_lon),
               RiskPointRow.lat.between(min_lat, max_lat))
        .order_by(RiskPointRow.id)).all()
    rows = [row for row in rows if row.id != exclude]
    if not rows:
        return []
    inside = shapely.intersects_xy(area, np.array([r.lon for r in rows]),
                                   np.array([r.lat for r in rows]))
    return [PointInside(id=r.id, name=r.name, hazard_type=r.hazard_type, level=r.level or "none",
                        threatened_people=r.threatened_people, households=r.households)
            for r, hit in zip(rows, inside, strict=True) if hit]


def exposure_of_area_point(session: Session, point_id: str) -> list[PointInside]:
    """The other risk points inside ``point_id``'s area (empty when it is a plain point)."""
    geometry = session.scalar(select(RiskPointRow.geometry).where(RiskPointRow.id == point_id))
    return points_inside(session, geometry or {}, exclude=point_id)
