"""The ``risk_points`` collection: the registry with each point's current level."""

from __future__ import annotations

from types import MappingProxyType

from sqlalchemy.orm import Session

from api.geojson import point_feature
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
from geo.registry import HazardType
from store.read import get_point, query_points
from store.read_ogc import point_in_scope, points_extent

HAZARD_TYPES = tuple(str(kind) for kind in HazardType)


def parse_hazard_type(text: str) -> str:
    if text not in HAZARD_TYPES:
        raise InvalidParameter("hazard_type", f"{text!r} is not a hazard type; expected one of "
                                              f"{', '.join(HAZARD_TYPES)}")
    return text


HAZARD_TYPE = Queryable("hazard type", parse_hazard_type, enum=HAZARD_TYPES)
PROVINCE = Queryable("province name as stored (e.g. 四川省) or its 6-digit adcode (e.g. 510000)")


class RiskPointProvider(FeatureProvider):
    """Points of the caller's provinces, and those whose active warning concerns them."""

    id = "risk_points"
    title = "Risk points"
    description = ("Monitored geological-hazard risk points (landslide, collapse, debris flow, "
                   "subsidence, ground fissure) with their sensors and current warning level.")
    temporal = False
    queryables = MappingProxyType({"hazard_type": HAZARD_TYPE, "province": PROVINCE})

    def extent(self, session: Session) -> Extent:
        return Extent(bbox=points_extent(session))

    def items(self, session: Session, query: ItemQuery) -> FeaturePage:
        views, total = query_points(session, bbox=query.bbox,
                                    province=query.filters.get("province"),
                                    hazard_type=query.filters.get("hazard_type"),
                                    limit=query.limit, offset=query.offset, scope=query.scope)
        return FeaturePage([point_feature(view) for view in views], total)

    def item(self, session: Session, feature_id: str, scope: Scope = None) -> Feature | None:
        view = get_point(session, feature_id)
        if view is None or not point_in_scope(session, feature_id, scope):
            return None
        return point_feature(view)
