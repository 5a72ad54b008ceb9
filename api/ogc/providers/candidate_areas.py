"""The ``candidate_areas`` collection: InSAR candidate risk areas, and where each one lies.

An area's place (province and county, by adcode) is that of its
representative point, which lies inside its polygon (``geo.boundaries``);
the table stores the polygon, not the place, so the place is assigned when
read (vectorised over the areas, with the boundaries loaded once per
process). The same place decides the provincial scope here and on
``/candidate-areas``: a scoped caller (provincial officer, or an analyst or
responder given provinces) sees only the areas of its provinces.

Areas are few (hundreds to thousands, each a cluster of moving pixels), so
the box, province and scope filters run over the rows of the status and
time asked for, and the page is cut afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
from shapely.geometry import shape
from sqlalchemy.orm import Session

from api.ogc.errors import InvalidParameter
from api.ogc.providers.base import (
    Extent,
    Feature,
    FeaturePage,
    FeatureProvider,
    ItemQuery,
    Queryable,
    Scope,
)
from api.ogc.providers.risk_points import PROVINCE
from geo.boundaries import Boundaries
from store.rasters import (
    ACCEPTED,
    CANDIDATE,
    REJECTED,
    CandidateArea,
    candidate_areas_between,
    get_candidate_area,
)
from store.read import BBox, is_adcode
from store.read_ogc import TimeExtent

CANDIDATE_AREAS = "candidate_areas"
STATUSES = (CANDIDATE, ACCEPTED, REJECTED)


@dataclass(frozen=True, slots=True)
class AreaPlace:
    """Province and county of an area (None outside the boundaries)."""

    province: str | None = None
    province_adcode: str | None = None
    county: str | None = None
    county_adcode: str | None = None

    def in_scope(self, scope: Scope) -> bool:
        return scope is None or (self.province_adcode is not None
                                 and self.province_adcode in set(scope))

    def matches_province(self, province: str) -> bool:
        return (self.province_adcode == province if is_adcode(province)
                else self.province == province)


def places(areas: Sequence[CandidateArea], boundaries: Boundaries) -> list[AreaPlace]:
    """The place of each area (one vectorised point-in-polygon pass)."""
    if not areas:
        return []
    where = boundaries.assign(np.asarray([a.lon for a in areas], dtype=float),
                              np.asarray([a.lat for a in areas], dtype=float))
    return [AreaPlace(*(None if column[i] is None else str(column[i]) for column in where))
            for i in range(len(areas))]


def area_feature(area: CandidateArea, place: AreaPlace | None = None) -> dict[str, Any]:
    """A GeoJSON feature of an area with its evidence and, when known, its place."""
    properties: dict[str, Any] = {
        "id": area.id, "status": area.status, "product": area.product,
        "location": area.location, "valid_at": area.valid_at, "lon": area.lon,
        "lat": area.lat, "area_m2": area.area_m2, "pixel_count": area.pixel_count,
        "mean_velocity_mm_yr": area.mean_velocity_mm_yr,
        "peak_velocity_mm_yr": area.peak_velocity_mm_yr, "evidence": area.evidence,
        "created_at": area.created_at, "decided_at": area.decided_at,
        "decision_reason": area.decision_reason, "point_id": area.point_id,
    }
    if place is not None:
        properties.update(province=place.province, province_adcode=place.province_adcode,
                          county=place.county, county_adcode=place.county_adcode)
    return {"type": "Feature", "id": area.id, "geometry": area.geometry,
            "properties": properties}


def _bounds(area: CandidateArea) -> tuple[float, float, float, float]:
    try:
        return shape(area.geometry).bounds
    except (ValueError, TypeError, AttributeError, KeyError):
        return area.lon, area.lat, area.lon, area.lat


def intersects(area: CandidateArea, bbox: BBox) -> bool:
    """Whether the area's polygon box meets ``bbox`` (which may cross the antimeridian)."""
    min_lon, min_lat, max_lon, max_lat = _bounds(area)
    if max_lat < bbox.min_lat or min_lat > bbox.max_lat:
        return False
    if bbox.min_lon <= bbox.max_lon:
        return not (max_lon < bbox.min_lon or min_lon > bbox.max_lon)
    return max_lon >= bbox.min_lon or min_lon <= bbox.max_lon


def parse_status(text: str) -> str:
    if text not in STATUSES:
        raise InvalidParameter("status", f"{text!r} is not a candidate-area status; expected "
                                         f"one of {', '.join(STATUSES)}")
    return text


class CandidateAreaProvider(FeatureProvider):
    """Candidate areas of the caller's provinces, newest product first, then largest."""

    id = CANDIDATE_AREAS
    title = "Candidate risk areas"
    description = ("Areas of active ground deformation detected by InSAR where no registered "
                   "risk point watches, for analysts to review: awaiting a decision "
                   "(candidate), accepted as a risk point, or rejected with a reason. "
                   "datetime filters the product's valid time.")
    temporal = True
    queryables = MappingProxyType({
        "status": Queryable("candidate (awaiting a decision), accepted or rejected",
                            parse_status, enum=STATUSES),
        "province": PROVINCE,
        "product": Queryable("the raster product the area was found in, e.g. insar_velocity"),
    })

    def __init__(self, boundaries: Callable[[], Boundaries] = Boundaries.load) -> None:
        self.boundaries = boundaries

    def _placed(self, session: Session, query: ItemQuery | None
                ) -> list[tuple[CandidateArea, AreaPlace]]:
        interval = None if query is None else query.interval
        filters = {} if query is None else query.filters
        areas = candidate_areas_between(
            session, status=filters.get("status", "all"),
            since=None if interval is None else interval.start,
            until=None if interval is None else interval.end)
        if "product" in filters:
            areas = [a for a in areas if a.product == filters["product"]]
        if query is not None and query.bbox is not None:
            areas = [a for a in areas if intersects(a, query.bbox)]
        placed = list(zip(areas, places(areas, self.boundaries()), strict=True))
        scope = None if query is None else query.scope
        province = filters.get("province")
        return [(a, p) for a, p in placed if p.in_scope(scope)
                and (province is None or p.matches_province(province))]

    def extent(self, session: Session) -> Extent:
        areas = candidate_areas_between(session)
        if not areas:
            return Extent()
        bounds = np.asarray([_bounds(a) for a in areas])
        times = [a.valid_at for a in areas]
        return Extent(bbox=BBox(float(bounds[:, 0].min()), float(bounds[:, 1].min()),
                                float(bounds[:, 2].max()), float(bounds[:, 3].max())),
                      time=TimeExtent(min(times), max(times)))

    def items(self, session: Session, query: ItemQuery) -> FeaturePage:
        placed = self._placed(session, query)
        page = placed[query.offset:query.offset + query.limit]
        return FeaturePage([area_feature(a, p) for a, p in page], len(placed))

    def item(self, session: Session, feature_id: str, scope: Scope = None) -> Feature | None:
        area = get_candidate_area(session, feature_id)
        if area is None:
            return None
        place = places([area], self.boundaries())[0]
        return area_feature(area, place) if place.in_scope(scope) else None
