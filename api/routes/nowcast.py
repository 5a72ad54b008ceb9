"""The regional nowcast for the map: XYZ tiles, the COG download and per-county summaries.

Tiles and the COG come from the files the raster worker publishes (see
``api.nowcast_grids``); summaries from the database. ``kind=forecast``
selects the nowcast computed from the latest rainfall forecast instead of
observed rain. Tiles carry an ETag naming the grid version, so browsers and
proxies revalidate cheaply (304) and never show a stale grid for longer than
``max-age``.

Scope: county summaries are per province; a scoped caller (provincial
officer, or an analyst or responder given provinces) gets the counties of
its provinces, and asking for another province is a 403 with the reason.
Tiles and the COG show the whole regional grid to every reader: rain knows
no borders, and the neighbouring picture is what an officer watches coming.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Path, Query, Response
from fastapi.requests import HTTPConnection
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from api.deps import ProvinceQuery, Reader, SessionDep
from api.errors import NowcastNotAvailable, TileNotFound
from api.models import ErrorMessage
from api.nowcast_grids import NowcastGrids
from api.params import parse_level
from api.responses import OrjsonResponse
from geo.boundaries import Boundaries, UnknownProvinceError
from geo.tiles import empty_tile, render_tile
from store.rasters import CountySummary, NowcastRun, latest_nowcast_run, nowcast_counties
from warning_models.levels import Level

router = APIRouter(tags=["nowcast"])

PNG = "image/png"
COG = "image/tiff; application=geotiff; profile=cloud-optimized"
TILE_MAX_AGE_S = 60
"""Rasters arrive every 10-60 minutes; a minute of caching costs little and saves a lot."""

NowcastKind = Literal["observed", "forecast"]
KindQuery = Annotated[NowcastKind, Query(
    description="observed: from the latest observed rainfall; forecast: from the latest forecast")]


def get_nowcast_grids(connection: HTTPConnection) -> NowcastGrids:
    return connection.app.state.nowcast_grids


NowcastGridsDep = Annotated[NowcastGrids, Depends(get_nowcast_grids)]


class NowcastRunInfo(BaseModel):
    id: str
    kind: NowcastKind
    product: str
    location: str = Field(description="the rainfall raster the run was computed from")
    valid_at: datetime
    created_at: datetime
    model_version: str
    evidence: dict = Field(description="model, parameters, cells per level, antecedent rainfall")


class CountyNowcast(BaseModel):
    adcode: str
    name: str
    province: str | None
    province_adcode: str
    max_level: str | None = Field(description="highest level in the county; null without data")
    tier: str | None = Field(description="national tier IV..I of max_level, null for none")
    shares: dict[str, float] = Field(
        description="share of the county's covered area at each level (none .. red)")
    data_coverage: float = Field(description="share of the county the grid covers with data")
    points_at_or_above: int = Field(description="risk points in cells at blue or above")
    threatened_population: int = Field(description="people at those risk points")


class NowcastCounties(BaseModel):
    kind: NowcastKind
    run: NowcastRunInfo | None = Field(description="the run summarised; null before the first")
    counties: list[CountyNowcast]


@router.get("/tiles/nowcast/{z}/{x}/{y}.png", response_class=Response,
            responses={200: {"content": {PNG: {}}, "description": "an XYZ tile, transparent "
                             "where there is no warning"},
                       304: {"description": "the tile has not changed (If-None-Match)"},
                       404: {"model": ErrorMessage, "description": "no such tile"}},
            summary="Nowcast levels as a web-mercator XYZ PNG tile (256 x 256)")
def nowcast_tile(
    grids: NowcastGridsDep,
    z: Annotated[int, Path(ge=0, le=24, description="zoom")],
    x: Annotated[int, Path(ge=0, description="column, 0 at the antimeridian")],
    y: Annotated[int, Path(ge=0, description="row, 0 at the north edge")],
    kind: KindQuery = "observed",
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    if x >= 1 << z or y >= 1 << z:
        raise TileNotFound(z, x, y)
    grid = grids.grid(kind)
    headers = {"Cache-Control": f"public, max-age={TILE_MAX_AGE_S}"}
    if grid is None:
        return Response(empty_tile(), media_type=PNG, headers=headers)
    headers["ETag"] = f'"{kind}-{grid.version}-{z}-{x}-{y}"'
    if if_none_match is not None and headers["ETag"] in _etags(if_none_match):
        return Response(status_code=304, headers=headers)
    png = render_tile(grid.levels, grid.transform, grid.crs, z, x, y)
    return Response(png, media_type=PNG, headers=headers)


def _etags(header: str) -> set[str]:
    return {tag.strip().removeprefix("W/") for tag in header.split(",")}


@router.get("/nowcast/latest.tif", response_class=FileResponse,
            responses={200: {"content": {COG: {}}, "description": "uint8 levels 0..4, 255 = no "
                             "data, with the warning colours as its colour table"},
                       404: {"model": ErrorMessage, "description": "no nowcast yet"}},
            summary="The newest nowcast level grid as a Cloud-Optimized GeoTIFF")
def nowcast_cog(grids: NowcastGridsDep, kind: KindQuery = "observed") -> FileResponse:
    path = grids.path(kind)
    if grids.version(kind) is None:
        raise NowcastNotAvailable(kind)
    return FileResponse(path, media_type=COG, filename=f"nowcast-{kind}.tif",
                        headers={"Cache-Control": f"public, max-age={TILE_MAX_AGE_S}"})


@router.get("/nowcast/counties", response_class=OrjsonResponse,
            responses={200: {"model": NowcastCounties},
                       403: {"model": ErrorMessage,
                             "description": "a province outside the caller's provinces"}},
            summary="Per-county summaries of the newest nowcast, in the caller's provinces")
def nowcast_county_summaries(
    session: SessionDep,
    user: Reader,
    kind: KindQuery = "observed",
    province: ProvinceQuery = None,
    min_level: Annotated[str | None, Query(
        description="keep counties whose highest level is at least this: a colour "
                    "(blue, yellow, orange, red) or a tier (IV, III, II, I)",
        examples=["orange", "II"])] = None,
) -> OrjsonResponse:
    floor = None if min_level is None else int(parse_level("min_level", min_level))
    if province is not None:
        user.check_scope([_province_adcode(province)], "read", "nowcast summaries")
    run = latest_nowcast_run(session, kind)
    counties = [] if run is None else nowcast_counties(session, run.id, province=province,
                                                       min_level=floor)
    scope = user.scope
    counties = [c for c in counties if scope is None or c.province_adcode in scope]
    return OrjsonResponse({"kind": kind, "run": None if run is None else _run_json(run),
                           "counties": [_county_json(c) for c in counties]})


def _province_adcode(province: str) -> str:
    """The adcode of a province named or coded as the boundaries know it (else as given)."""
    try:
        return Boundaries.load().province(province).adcode
    except UnknownProvinceError:
        return province


def _run_json(run: NowcastRun) -> dict:
    return {"id": run.id, "kind": run.kind, "product": run.product, "location": run.location,
            "valid_at": run.valid_at, "created_at": run.created_at,
            "model_version": run.model_version, "evidence": run.evidence}


def _county_json(county: CountySummary) -> dict:
    level = Level(county.max_level) if county.max_level >= 0 else None
    return {"adcode": county.adcode, "name": county.name, "province": county.province,
            "province_adcode": county.province_adcode,
            "max_level": None if level is None else level.label,
            "tier": None if level is None else level.tier, "shares": county.shares,
            "data_coverage": county.data_coverage,
            "points_at_or_above": county.points_at_or_above,
            "threatened_population": county.threatened_population}
