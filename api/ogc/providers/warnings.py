"""The ``warnings`` collection: every warning the ledger opened, at its point, newest first.

``datetime`` keeps the warnings in force at some time in the interval
(opened no later than its end, not lifted before its start).
"""

from __future__ import annotations

from types import MappingProxyType

from sqlalchemy.orm import Session

from api.geojson import warning_feature
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
from api.ogc.providers.risk_points import HAZARD_TYPE, PROVINCE
from api.params import parse_levels
from store.read import get_warning
from store.read_ogc import query_warnings, warning_in_scope, warnings_extent

STATUSES = ("active", "lifted")


def parse_status(text: str) -> str:
    if text not in STATUSES:
        raise InvalidParameter("status", f"{text!r} is not a status; expected one of "
                                         f"{', '.join(STATUSES)}")
    return text


class WarningProvider(FeatureProvider):
    """Warnings that concern the caller's provinces (at their points or across a border)."""

    id = "warnings"
    title = "Warnings"
    description = ("Geological-hazard warnings (IV blue, III yellow, II orange, I red), active and "
                   "lifted, located at their risk point; the single item adds the evidence and "
                   "the transitions.")
    temporal = True
    queryables = MappingProxyType({
        "hazard_type": HAZARD_TYPE,
        "province": PROVINCE,
        "level": Queryable("current level(s), comma-separated: colours (blue, yellow, orange, "
                           "red) or tiers (IV, III, II, I)",
                           lambda text: parse_levels("level", text)),
        "status": Queryable("active (in force) or lifted", parse_status, enum=STATUSES),
        "point_id": Queryable("the risk point's id"),
    })

    def extent(self, session: Session) -> Extent:
        bbox, time = warnings_extent(session)
        return Extent(bbox=bbox, time=time)

    def items(self, session: Session, query: ItemQuery) -> FeaturePage:
        interval = query.interval
        views, total = query_warnings(
            session, bbox=query.bbox,
            since=None if interval is None else interval.start,
            until=None if interval is None else interval.end,
            limit=query.limit, offset=query.offset, scope=query.scope, **query.filters)
        return FeaturePage([warning_feature(view) for view in views], total)

    def item(self, session: Session, feature_id: str, scope: Scope = None) -> Feature | None:
        view = get_warning(session, feature_id)
        if view is None or not warning_in_scope(session, feature_id, scope):
            return None
        return warning_feature(view)
