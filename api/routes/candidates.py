"""InSAR candidate risk areas: ground that moves where no risk point watches it.

The raster worker records them with their evidence; an analyst accepts one
(it becomes a registered risk point, with the area's polygon, at a point
guaranteed inside it, with province and county from the boundaries) or
rejects it with a reason. Decisions are final: a second one answers 409.

Scope: an area lies in the province of its representative point
(``api.ogc.providers.candidate_areas``). Readers (every role but the
gateway) see the areas of their provinces, national users all of them;
analysts and officers decide (accept or reject), inside their provinces. Another
province's area answers 403 with the reason, as do risk points and warnings.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy.orm import Session

from api.auth.roles import Principal
from api.deps import PagingDep, ProvinceQuery, Reader, Reviewer, SessionDep, SessionFactoryDep
from api.errors import CandidateAreaDecided, CandidateAreaNotFound
from api.geojson import feature_collection, point_feature
from api.models import ErrorMessage
from api.ogc.providers.candidate_areas import AreaPlace, area_feature, places
from api.responses import GEOJSON, GeoJSONResponse, OrjsonResponse
from geo.boundaries import Boundaries
from geo.registry import HazardType, RiskPoint
from store.db import session_scope
from store.jurisdictions import province_adcodes
from store.points import upsert_points
from store.rasters import (
    ACCEPTED,
    CANDIDATE,
    REJECTED,
    CandidateArea,
    CandidateAreaDecidedError,
    CandidateAreaNotFoundError,
    candidate_areas_between,
    decide_candidate_area,
    get_candidate_area,
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


@router.get("", response_class=GeoJSONResponse,
            responses={200: {"content": {GEOJSON: {}}}},
            summary="Candidate areas of the caller's provinces as a GeoJSON FeatureCollection, "
                    "newest product first")
def list_areas(
    request: Request,
    session: SessionDep,
    user: Reader,
    boundaries: BoundariesDep,
    page: PagingDep,
    status: Annotated[Literal["candidate", "accepted", "rejected", "all"], Query(
        description="candidate: awaiting a decision; accepted; rejected; all")] = CANDIDATE,
    province: ProvinceQuery = None,
) -> GeoJSONResponse:
    if province is not None:
        user.check_scope(province_adcodes(session, province) or [province], "read",
                         "candidate areas")
    areas = candidate_areas_between(session, status=status)
    found = [(a, p) for a, p in zip(areas, places(areas, boundaries), strict=True)
             if p.in_scope(user.scope) and (province is None or p.matches_province(province))]
    shown = found[page.offset:page.offset + page.limit]
    return GeoJSONResponse(feature_collection(request, [area_feature(a, p) for a, p in shown],
                                              total=len(found), limit=page.limit,
                                              offset=page.offset))


@router.get("/{area_id}", response_class=GeoJSONResponse,
            responses={200: {"content": {GEOJSON: {}}},
                       403: {"model": ErrorMessage, "description": "outside the caller's "
                                                                   "provinces"},
                       404: {"model": ErrorMessage, "description": "no such area"}},
            summary="One candidate area with its evidence and place")
def read_area(session: SessionDep, user: Reader, boundaries: BoundariesDep,
              area_id: AreaId) -> GeoJSONResponse:
    area = get_candidate_area(session, area_id)
    if area is None:
        raise CandidateAreaNotFound(area_id)
    place = _check_area_scope(user, area, boundaries, "read")
    return GeoJSONResponse(area_feature(area, place))


@router.post("/{area_id}/accept", response_class=OrjsonResponse, status_code=201,
             responses={403: {"model": ErrorMessage, "description": "neither an officer "
                                                                  "nor an analyst, or outside "
                                                                  "its provinces"},
                        404: {"model": ErrorMessage, "description": "no such area"},
                        409: {"model": ErrorMessage, "description": "already decided"}},
             summary="Accept an area: register it as a risk point")
def accept_area(sessions: SessionFactoryDep, user: Reviewer, boundaries: BoundariesDep,
                area_id: AreaId, body: AcceptArea) -> OrjsonResponse:
    with _decision(area_id), session_scope(sessions, write_lock=True) as session:
        area, place = _pending(session, area_id, user, boundaries)
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
    return OrjsonResponse({"candidate_area": area_feature(decided, place),
                           "risk_point": point_feature(view)}, status_code=201)


@router.post("/{area_id}/reject", response_class=GeoJSONResponse,
             responses={403: {"model": ErrorMessage, "description": "neither an officer "
                                                                  "nor an analyst, or outside "
                                                                  "its provinces"},
                        404: {"model": ErrorMessage, "description": "no such area"},
                        409: {"model": ErrorMessage, "description": "already decided"},
                        422: {"description": "no reason given"}},
             summary="Reject an area, with the reason")
def reject_area(sessions: SessionFactoryDep, user: Reviewer, boundaries: BoundariesDep,
                area_id: AreaId, body: RejectArea) -> GeoJSONResponse:
    with _decision(area_id), session_scope(sessions, write_lock=True) as session:
        _, place = _pending(session, area_id, user, boundaries)
        decided = decide_candidate_area(session, area_id, status=REJECTED, reason=body.reason)
    return GeoJSONResponse(area_feature(decided, place))


def _check_area_scope(user: Principal, area: CandidateArea, boundaries: Boundaries,
                      verb: str) -> AreaPlace:
    """The area's place; 403 (with the reason) when it lies outside the caller's provinces."""
    place = places([area], boundaries)[0]
    user.check_scope([place.province_adcode] if place.province_adcode else [], verb,
                     "candidate areas")
    return place


def _pending(session: Session, area_id: str, user: Principal,
             boundaries: Boundaries) -> tuple[CandidateArea, AreaPlace]:
    """The undecided area the caller may decide on, and its place (a decision keeps it)."""
    area = get_candidate_area(session, area_id)
    if area is None:
        raise CandidateAreaNotFound(area_id)
    place = _check_area_scope(user, area, boundaries, "decide on")
    if area.status != CANDIDATE:
        raise CandidateAreaDecided(f"candidate area {area_id} was already {area.status}"
                                   + (f" as risk point {area.point_id}" if area.point_id else ""))
    return area, place


@contextmanager
def _decision(area_id: str) -> Iterator[None]:
    """Translate the store's decision errors into the API's (the transaction rolls back)."""
    try:
        yield
    except CandidateAreaNotFoundError as exc:
        raise CandidateAreaNotFound(area_id) from exc
    except CandidateAreaDecidedError as exc:
        raise CandidateAreaDecided(str(exc)) from exc
