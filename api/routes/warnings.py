"""GET /warnings and /warnings/{id}: active and past warnings as GeoJSON at their
points; the detail adds the evidence and the audit trail of transitions."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request

from api.deps import LevelsDep, PagingDep, ProvinceQuery, SessionDep, TimeWindowDep
from api.errors import WarningNotFound
from api.geojson import feature_collection, warning_feature
from api.models import ErrorMessage, WarningCollection, WarningFeature
from api.responses import GEOJSON, GeoJSONResponse
from store.read import get_warning, list_warnings

router = APIRouter(prefix="/warnings", tags=["warnings"])


@router.get("", response_class=GeoJSONResponse,
            responses={200: {"model": WarningCollection, "content": {GEOJSON: {}}}},
            summary="Warnings as a GeoJSON FeatureCollection, newest first")
def list_warnings_route(
    request: Request,
    session: SessionDep,
    page: PagingDep,
    levels: LevelsDep,
    window: TimeWindowDep,
    status: Annotated[Literal["active", "history", "all"], Query(
        description="active: in force now; history: lifted; all: both")] = "active",
    province: ProvinceQuery = None,
    point_id: Annotated[str | None, Query(max_length=64, description="one risk point")] = None,
) -> GeoJSONResponse:
    views, total = list_warnings(session, status=status, level=levels, province=province,
                                 point_id=point_id, since=window.since, until=window.until,
                                 limit=page.limit, offset=page.offset)
    features = [warning_feature(view) for view in views]
    return GeoJSONResponse(feature_collection(request, features, total=total,
                                              limit=page.limit, offset=page.offset))


@router.get("/{warning_id}", response_class=GeoJSONResponse,
            responses={200: {"model": WarningFeature, "content": {GEOJSON: {}}},
                       404: {"model": ErrorMessage, "description": "no such warning"}},
            summary="One warning with its evidence and its transitions")
def read_warning(
    session: SessionDep,
    warning_id: Annotated[str, Path(max_length=64, description="warning id")],
) -> GeoJSONResponse:
    view = get_warning(session, warning_id)
    if view is None:
        raise WarningNotFound(warning_id)
    return GeoJSONResponse(warning_feature(view))
