"""Which jurisdictions a warning concerns, and the SQL that scopes reads to them.

A landslide 1 km from a provincial border threatens both sides: a warning
there concerns every province and county whose territory lies within a
configured distance of its risk point (or polygon), not only the one that
contains it. The adcodes are computed once, when the warning opens, from the
province and county polygons of ``geo.boundaries`` (handed in by the caller:
this package never loads data itself), and stored in
``warning_jurisdictions``. Scoping then reads that list plus the point's own
province, so warnings written before (or without) a resolver still belong to
their own province.

Distances are measured in a local equirectangular projection scaled by the
WGS84 radii of curvature at the geometry's centre: within the tens of
kilometres this is used for it is accurate to about 0.1 %, without a
projection object per point.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from typing import TYPE_CHECKING

import numpy as np
import orjson
import shapely
from shapely.geometry import box, shape
from sqlalchemy import ColumnElement, exists, insert, or_, select
from sqlalchemy.orm import Session, aliased

from store.points import chunked
from store.tables import RiskPointRow, WarningJurisdictionRow, WarningRow

if TYPE_CHECKING:
    from geo.boundaries import Boundaries

ID_CHUNK = 2_000
_A, _E2 = 6_378_137.0, 6.69437999014e-3
"""WGS84 semi-major axis (m) and first eccentricity squared."""
_CACHE_LIMIT = 100_000


def metres_per_degree(lat: float) -> tuple[float, float]:
    """(east, north) metres per degree of longitude and latitude at ``lat`` on WGS84."""
    s = math.sin(math.radians(lat))
    w = 1.0 - _E2 * s * s
    meridian = _A * (1.0 - _E2) / w ** 1.5
    normal = _A / math.sqrt(w)
    return math.radians(1.0) * normal * math.cos(math.radians(lat)), math.radians(1.0) * meridian


class JurisdictionResolver:
    """The adcodes (counties and their provinces) within ``distance_km`` of a geometry."""

    def __init__(self, boundaries: Boundaries, distance_km: float) -> None:
        if distance_km < 0:
            raise ValueError(f"distance_km must be >= 0, got {distance_km}")
        counties = boundaries.counties
        self.distance_km = float(distance_km)
        self._geoms = counties.geometry.to_numpy()
        self._county = counties.adcode.to_numpy(dtype=object)
        self._province = counties.province_adcode.to_numpy(dtype=object)
        self._tree = shapely.STRtree(self._geoms)
        self._cache: dict[bytes, tuple[str, ...]] = {}

    def adcodes(self, geometry: Mapping) -> tuple[str, ...]:
        """Sorted county and province adcodes concerned by a GeoJSON geometry (EPSG:4326).

        Those of the counties it touches, and of every county whose territory
        comes within the distance; empty outside the territory.
        """
        key = orjson.dumps(geometry, option=orjson.OPT_SORT_KEYS)
        cached = self._cache.get(key)
        if cached is None:
            cached = self._compute(shape(geometry))
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            self._cache[key] = cached
        return cached

    def _compute(self, geom) -> tuple[str, ...]:
        if geom.is_empty:
            return ()
        centre = geom.centroid
        east, north = metres_per_degree(centre.y)
        metres = self.distance_km * 1000.0
        # Search box in degrees, with a margin for cos(lat) changing across it.
        pad_lon, pad_lat = 1.05 * metres / east + 1e-9, 1.05 * metres / north + 1e-9
        min_x, min_y, max_x, max_y = geom.bounds
        window = (min_x - pad_lon, min_y - pad_lat, max_x + pad_lon, max_y + pad_lat)
        x0, y0 = centre.x, centre.y

        def local(g):
            return shapely.transform(g, lambda xy: np.column_stack(
                ((xy[:, 0] - x0) * east, (xy[:, 1] - y0) * north)))

        here = local(geom)
        found: set[str] = set()
        for index in self._tree.query(box(*window)):
            near = shapely.clip_by_rect(self._geoms[index], *window)
            if not near.is_empty and shapely.distance(local(near), here) <= metres:
                found.update((self._county[index], self._province[index]))
        return tuple(sorted(found))

    def for_points(self, session: Session, point_ids: Collection[str]) -> dict[str, tuple[str, ...]]:
        """point id -> adcodes, from the points' stored geometries."""
        out: dict[str, tuple[str, ...]] = {}
        for chunk in chunked(point_ids, ID_CHUNK):
            rows = session.execute(select(RiskPointRow.id, RiskPointRow.geometry)
                                   .where(RiskPointRow.id.in_(chunk)))
            out.update((point_id, self.adcodes(geometry)) for point_id, geometry in rows)
        return out


def record_jurisdictions(session: Session, adcodes_by_warning: Mapping[str, Iterable[str]]) -> None:
    """Store the adcodes of new warnings (which must already be flushed)."""
    rows = [{"warning_id": warning_id, "adcode": adcode}
            for warning_id, adcodes in adcodes_by_warning.items() for adcode in set(adcodes)]
    if rows:
        session.execute(insert(WarningJurisdictionRow), rows)


def jurisdictions_of(session: Session, warning_ids: Collection[str]) -> dict[str, frozenset[str]]:
    """warning id -> the stored adcodes plus its point's province adcode."""
    found: dict[str, set[str]] = defaultdict(set)
    for chunk in chunked(warning_ids, ID_CHUNK):
        own = (select(WarningRow.id, RiskPointRow.province_adcode)
               .join(RiskPointRow, RiskPointRow.id == WarningRow.point_id)
               .where(WarningRow.id.in_(chunk)))
        for warning_id, adcode in session.execute(own):
            found[warning_id].update([adcode] if adcode else [])
        stored = (select(WarningJurisdictionRow.warning_id, WarningJurisdictionRow.adcode)
                  .where(WarningJurisdictionRow.warning_id.in_(chunk)))
        for warning_id, adcode in session.execute(stored):
            found[warning_id].add(adcode)
    return {warning_id: frozenset(found[warning_id]) for warning_id in warning_ids
            if warning_id in found}


def point_jurisdictions(session: Session, point_id: str) -> frozenset[str] | None:
    """The point's province adcode plus those of its active warning; None: no such point."""
    adcode = session.execute(select(RiskPointRow.province_adcode)
                             .where(RiskPointRow.id == point_id)).first()
    if adcode is None:
        return None
    stored = session.scalars(
        select(WarningJurisdictionRow.adcode)
        .join(WarningRow, WarningRow.id == WarningJurisdictionRow.warning_id)
        .where(WarningRow.point_id == point_id, WarningRow.status == "active"))
    return frozenset({*([adcode[0]] if adcode[0] else []), *stored})


def warning_scope_clause(scope: Collection[str]) -> ColumnElement[bool]:
    """Warnings concerning any of ``scope`` (adcodes); the query must join risk_points."""
    adcodes = sorted(scope)
    near = exists().where(WarningJurisdictionRow.warning_id == WarningRow.id,
                          WarningJurisdictionRow.adcode.in_(adcodes))
    return or_(RiskPointRow.province_adcode.in_(adcodes), near)


def point_scope_clause(scope: Collection[str]) -> ColumnElement[bool]:
    """Points in ``scope``, or whose active warning concerns it."""
    adcodes = sorted(scope)
    warning = aliased(WarningRow)
    near = exists().where(warning.point_id == RiskPointRow.id, warning.status == "active",
                          WarningJurisdictionRow.warning_id == warning.id,
                          WarningJurisdictionRow.adcode.in_(adcodes))
    return or_(RiskPointRow.province_adcode.in_(adcodes), near)


def province_adcodes(session: Session, province: str) -> list[str]:
    """Adcodes of a province given by adcode (itself) or by a name as stored on the points."""
    if province.isdigit():
        return [province]
    return sorted(a for a in session.scalars(
        select(RiskPointRow.province_adcode).distinct()
        .where(RiskPointRow.province == province)) if a)
