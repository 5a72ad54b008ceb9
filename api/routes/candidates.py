"""InSAR candidate risk areas: ground that moves where no risk point watches it.

The raster worker records them with their evidence; an analyst accepts one
(it becomes a registered risk point, with the area's polygon, at a point
guaranteed inside it, with province and county from the boundaries) or
rejects it with a reason. Decisions are final: a second one answers 409.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy.orm import Session

from api.deps import PagingDep, SessionDep, SessionFactoryDep
from api.errors import CandidateAreaDecided, CandidateAreaNotFound
from api.geojson import feature_collection, point_feature
from api.models import ErrorMessage
from api.responses import GEOJSON, GeoJSONResponse, OrjsonResponse
from geo.boundaries import Boundaries
from geo.registry import HazardType, RiskPoint
from store.db import session_scope
from store.points import upsert_points
from store.rasters import (
    ACCEPTED,
    CANDIDATE,
    REJECTED,
    CandidateArea,
    CandidateAreaDecidedError,
    CandidateAreaNotFoundError,
    decide_candidate_area,
    get_candidate_area,
    list_candidate_areas,
)
from store.read import get_point

router = APIRouter(prefix="/candidate-areas", tags=["candidate areas"])

AreaId = Annotated[str, Path(max_length=36, description="candidate area id")]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]


def get_boundaries() -> Boundaries:
    return Boundaries.load()


BoundariesDep = Annotated[Boundaries, Depends(get_boundaries)]


class AcceptArea(BaseModel):
    """What the new risk point is called and whom it threatens."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    hazard_type: HazardType
    threatened_people: int = Field(0, ge=0)
    households: int = Field(0, ge=0)


class RejectArea(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Text = Field(description="why the area is not a hazard (required, kept for the record)")


def area_feature(area: CandidateArea) -> dict[str, Any]:
    return {
        "type": "Feature",
        "id": area.id,
        "geometry": area.geometry,
        "properties": {
            "id": area.id, "status": area.status, "product": area.product,
            "location": area.location, "valid_at": area.valid_at, "lon": area.lon,
            "lat": area.lat, "area_m2": area.area_m2, "pixel_count": area.pixel_count,
            "mean_velocity_mm_yr": area.mean_velocity_mm_yr,
            "peak_velocity_mm_yr": area.peak_velocity_mm_yr, "evidence": area.evidence,
            "created_at": area.created_at, "decided_at": area.decided_at,
            "decision_reason": area.decision_reason, "point_id": area.point_id,
        },
    }


@router.get("", response_class=GeoJSONResponse,
            responses={200: {"content": {GEOJSON: {}}}},
            summary="Candidate areas as a GeoJSON FeatureCollection, newest product first")
def list_areas(
    request: Request,
    session: SessionDep,
    page: PagingDep,
    status: Annotated[Literal["candidate", "accepted", "rejected", "all"], Query(
        description="candidate: awaiting a decision; accepted; rejected; all")] = CANDIDATE,
) -> GeoJSONResponse:
    areas, total = list_candidate_areas(session, status=status, limit=page.limit,
                                        offset=page.offset)
    return GeoJSONResponse(feature_collection(request, [area_feature(a) for a in areas],
                                              total=total, limit=page.limit, offset=page.offset))


@router.get("/{area_id}", response_class=GeoJSONResponse,
            responses={200: {"content": {GEOJSON: {}}},
                       404: {"model": ErrorMessage, "description": "no such area"}},
            summary="One candidate area with its evidence")
def read_area(session: SessionDep, area_id: AreaId) -> GeoJSONResponse:
    area = get_candidate_area(session, area_id)
    if area is None:
        raise CandidateAreaNotFound(area_id)
    return GeoJSONResponse(area_feature(area))


@router.post("/{area_id}/accept", response_class=OrjsonResponse, status_code=201,
             responses={404: {"model": ErrorMessage, "description": "no such area"},
                        409: {"model": ErrorMessage, "description": "already decided"}},
             summary="Accept an area: register it as a risk point")
def accept_area(sessions: SessionFactoryDep, boundaries: BoundariesDep, area_id: AreaId,
                body: AcceptArea) -> OrjsonResponse:
    with _decision(area_id), session_scope(sessions, write_lock=True) as session:
        area = _pending(session, area_id)
        where = boundaries.assign([area.lon], [area.lat])
        point = RiskPoint(
            id=f"insar-{area.id}", name=body.name, hazard_type=body.hazard_type, lon=area.lon,
            lat=area.lat, geometry=area.geometry, province=where.province[0],
            province_adcode=where.province_adcode[0], county=where.county[0],
            county_adcode=where.county_adcode[0], threatened_people=body.threatened_people,
            households=body.households)
        upsert_points(session, [point])
        decided = decide_candidate_area(session, area_id, status=ACCEPTED, point_id=point.id)
        view = get_point(session, point.id)
    return OrjsonResponse({"candidate_area": area_feature(decided),
                           "risk_point": point_feature(view)}, status_code=201)


@router.post("/{area_id}/reject", response_class=GeoJSONResponse,
             responses={404: {"model": ErrorMessage, "description": "no such area"},
                        409: {"model": ErrorMessage, "description": "already decided"},
                        422: {"description": "no reason given"}},
             summary="Reject an area, with the reason")
def reject_area(sessions: SessionFactoryDep, area_id: AreaId, body: RejectArea) -> GeoJSONResponse:
    with _decision(area_id), session_scope(sessions, write_lock=True) as session:
        _pending(session, area_id)
        decided = decide_candidate_area(session, area_id, status=REJECTED, reason=body.reason)
    return GeoJSONResponse(area_feature(decided))


def _pending(session: Session, area_id: str) -> CandidateArea:
    area = get_candidate_area(session, area_id)
    if area is None:
        raise CandidateAreaNotFound(area_id)
    if area.status != CANDIDATE:
        raise CandidateAreaDecided(f"candidate area {area_id} was already {area.status}"
                                   + (f" as risk point {area.point_id}" if area.point_id else ""))
    return area


@contextmanager
def _decision(area_id: str) -> Iterator[None]:
    """Translate the store's decision errors into the API's (the transaction rolls back)."""
    try:
        yield
    except CandidateAreaNotFoundError as exc:
        raise CandidateAreaNotFound(area_id) from exc
    except CandidateAreaDecidedError as exc:
        raise CandidateAreaDecided(str(exc)) from exc
