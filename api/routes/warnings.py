"""GET /warnings and /warnings/{id}: active and past warnings as GeoJSON at their
points; the detail adds the evidence, the exposure and the audit trail.

Every feature carries its lifecycle (state, version, deadlines, response
times, jurisdictions): an officer acts with the ``version`` shown. A scoped
caller sees the warnings that concern its provinces, across borders too.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request

from api.deps import LevelsDep, PagingDep, ProvinceQuery, Reader, SessionDep, TimeWindowDep
from api.errors import WarningNotFound
from api.geojson import feature_collection, warning_feature
from api.models import ErrorMessage, WarningCollection, WarningFeature
from api.responses import GEOJSON, GeoJSONResponse
from store.exposure import exposure_of_area_point
from store.jurisdictions import jurisdictions_of, province_adcodes
from store.lifecycle import AuditView, LifecycleView, audit_trail, lifecycle_views
from store.read import get_warning, list_warnings

router = APIRouter(prefix="/warnings", tags=["warnings"])

DENIED = {401: {"model": ErrorMessage, "description": "no or invalid credentials"},
          403: {"model": ErrorMessage, "description": "outside the caller's role or provinces"}}


def lifecycle_json(view: LifecycleView | None) -> dict[str, Any]:
    if view is None:
        return {}
    return {"state": view.state, "version": view.version, "level_source": view.level_source,
            "peak_level": view.peak_level, "detected_at": view.detected_at,
            "issued_at": view.issued_at, "acknowledged_at": view.acknowledged_at,
            "acted_at": view.acted_at, "ack_due_at": view.ack_due_at,
            "ack_overdue_at": view.ack_overdue_at, "national_at": view.national_at,
            "jurisdictions": list(view.jurisdictions)}


def audit_json(row: AuditView) -> dict[str, Any]:
    return {name: getattr(row, name) for name in AuditView.__slots__}


@router.get("", response_class=GeoJSONResponse,
            responses={200: {"model": WarningCollection, "content": {GEOJSON: {}}}, **DENIED},
            summary="Warnings as a GeoJSON FeatureCollection, newest first")
def list_warnings_route(
    request: Request,
    session: SessionDep,
    user: Reader,
    page: PagingDep,
    levels: LevelsDep,
    window: TimeWindowDep,
    status: Annotated[Literal["active", "history", "all"], Query(
        description="active: in force now; history: lifted; all: both")] = "active",
    province: ProvinceQuery = None,
    point_id: Annotated[str | None, Query(max_length=64, description="one risk point")] = None,
) -> GeoJSONResponse:
    if province is not None:
        user.check_scope(province_adcodes(session, province) or [province], "read")
    views, total = list_warnings(session, status=status, level=levels, province=province,
                                 point_id=point_id, since=window.since, until=window.until,
                                 limit=page.limit, offset=page.offset, scope=user.scope)
    lifecycles = lifecycle_views(session, [view.id for view in views])
    features = []
    for view in views:
        feature = warning_feature(view)
        feature["properties"].update(lifecycle_json(lifecycles.get(view.id)))
        features.append(feature)
    return GeoJSONResponse(feature_collection(request, features, total=total,
                                              limit=page.limit, offset=page.offset))


@router.get("/{warning_id}", response_class=GeoJSONResponse,
            responses={200: {"model": WarningFeature, "content": {GEOJSON: {}}},
                       404: {"model": ErrorMessage, "description": "no such warning"}, **DENIED},
            summary="One warning with its evidence, exposure and audit trail")
def read_warning(
    session: SessionDep,
    user: Reader,
    warning_id: Annotated[str, Path(max_length=64, description="warning id")],
) -> GeoJSONResponse:
    places = jurisdictions_of(session, [warning_id]).get(warning_id)
    if places is None:
        raise WarningNotFound(warning_id)
    user.check_scope(places, "read")
    view = get_warning(session, warning_id)
    if view is None:
        raise WarningNotFound(warning_id)
    feature = warning_feature(view)
    properties = feature["properties"]
    properties.update(lifecycle_json(lifecycle_views(session, [warning_id]).get(warning_id)))
    properties["transitions"] = [audit_json(row) for row in audit_trail(session, warning_id)]
    properties["points_inside"] = [asdict(point) for point in
                                   exposure_of_area_point(session, view.point_id)]
    return GeoJSONResponse(feature)
