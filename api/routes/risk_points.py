"""GET /risk-points and /risk-points/{id}: the registry as GeoJSON, with each
point's current warning level and sensor health, for the map and for GIS clients.

``sensor_status`` (ok, degraded, no_data; null before the point's first
assessment) and ``offline_sensors`` (ids of its silent sensors) come from the
newest assessment, so a calm point with a dead sensor shows it too.

A scoped caller (a provincial officer) sees the points of its provinces and
those whose active warning concerns them across a border.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from api.deps import BBoxDep, PagingDep, PointReader, ProvinceQuery, Reader, SessionDep
from api.errors import RiskPointNotFound
from api.geojson import feature_collection, point_feature
from api.models import ErrorMessage, RiskPointCollection, RiskPointFeature
from api.responses import GEOJSON, GeoJSONResponse
from geo.registry import HazardType
from store.jurisdictions import province_adcodes
from store.read import get_point, query_points

router = APIRouter(prefix="/risk-points", tags=["risk points"])

DENIED = {401: {"model": ErrorMessage, "description": "no or invalid credentials"},
          403: {"model": ErrorMessage, "description": "outside the caller's role or provinces"}}


@router.get("", response_class=GeoJSONResponse,
            responses={200: {"model": RiskPointCollection, "content": {GEOJSON: {}}}, **DENIED},
            summary="Risk points as a GeoJSON FeatureCollection, filtered and paged")
def list_risk_points(
    request: Request,
    session: SessionDep,
    user: Reader,
    bbox: BBoxDep,
    page: PagingDep,
    province: ProvinceQuery = None,
    hazard_type: Annotated[HazardType | None, Query(description="hazard type")] = None,
) -> GeoJSONResponse:
    if province is not None:
        user.check_scope(province_adcodes(session, province) or [province], "read", "risk points")
    views, total = query_points(session, bbox=bbox, province=province,
                               hazard_type=None if hazard_type is None else str(hazard_type),
                               limit=page.limit, offset=page.offset, scope=user.scope)
    features = [point_feature(view) for view in views]
    return GeoJSONResponse(feature_collection(request, features, total=total,
                                              limit=page.limit, offset=page.offset))


@router.get("/{point_id}", response_class=GeoJSONResponse,
            responses={200: {"model": RiskPointFeature, "content": {GEOJSON: {}}},
                       404: {"model": ErrorMessage, "description": "no such risk point"},
                       **DENIED},
            summary="One risk point as a GeoJSON Feature")
def read_risk_point(
    session: SessionDep,
    user: PointReader,
    point_id: Annotated[str, Path(max_length=64, description="risk-point id")],
) -> GeoJSONResponse:
    view = get_point(session, point_id)
    if view is None:
        raise RiskPointNotFound(point_id)
    return GeoJSONResponse(point_feature(view))

