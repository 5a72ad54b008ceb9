"""The consultation console: the page at ``/``, its built assets, the boundary
base layer and one compact payload of every risk point in the caller's scope.

Access is deliberate per route:

- ``/``, ``/console/assets/...`` and ``/console/boundaries/...`` are plain
  Starlette routes, outside the API's dependencies and so public: the page
  and its code hold no data, and the province and county boundaries are
  public data (they are the offline base map, drawn before anyone logs in).
- ``/console/points`` is an API route for readers: the points of the
  caller's provinces (national: all), as parallel arrays, because 50,000
  GeoJSON features cost the browser several times more to parse and the
  server to build than the same columns. The national payload keeps the
  registry's columns in memory until the registry changes and reads only the
  active warnings and sensor health per request; every payload carries an
  ETag (a reload with nothing changed is a 304) and goes gzipped.

The boundaries carry an ETag and a day's max-age; the first view draws
``provinces-overview``, simplified once per process, in the background at
start.

The assets come from ``api/console/dist``, produced by ``make install``
(``npm ci`` and ``npm run build`` in api/console).
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import html
import mimetypes
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import shapely
from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.requests import Request
from fastapi.responses import FileResponse, HTMLResponse, PlainTextResponse, Response
from pydantic import BaseModel, Field
from shapely.geometry import mapping, shape
from sqlalchemy import and_, func, select

from api.deps import Reader, SessionDep
from api.models import ErrorMessage
from api.responses import GEOJSON, OrjsonResponse
from geo.boundaries import COUNTIES_FILE, DATA_DIR, PROVINCES_FILE
from geo.registry import HazardType
from store.jurisdictions import point_scope_clause
from store.tables import PointStatusRow, RiskPointRow, WarningRow
from warning_models.levels import Level

DIST_DIR = Path(__file__).resolve().parent.parent / "console" / "dist"
CONFIG_MARK = "<!--geowarn-console-config-->"
BOUNDARY_FILES = {"provinces": PROVINCES_FILE, "counties": COUNTIES_FILE}
OVERVIEW_TOLERANCE_DEG = 0.02
"""provinces-overview: the provinces simplified together for national zooms (below 6), where
0.02 degree (about 2 km) is under a pixel; a third of the vertices for the first view to tile."""
OVERVIEW_DIGITS = 3
"""provinces-overview coordinates: 0.001 degree (about 100 m), a tenth of a pixel at zoom 6;
a third less to send and parse than at the boundaries' five digits."""
LEVELS = [level.label for level in Level]  # none, blue, yellow, orange, red: index = code
HAZARDS = [str(hazard) for hazard in HazardType]
COORD_DIGITS = 5  # about a metre: the boundaries are rounded the same way
ASSET_MAX_AGE_S = 3600
BOUNDARY_MAX_AGE_S = 86_400


@dataclass(frozen=True)
class ConsoleOptions:
    """``basemap_url``: an XYZ raster tile URL drawn under the boundaries (None: offline)."""

    basemap_url: str | None = None
    basemap_attribution: str | None = None
    dist_dir: Path = DIST_DIR
    boundaries_dir: Path = DATA_DIR


class ConsolePoints(BaseModel):
    """Parallel arrays, one entry per point; codes index the lookup lists."""

    count: int
    levels: list[str] = Field(description="level names; `level` holds indices into it")
    hazards: list[str] = Field(description="hazard types; `hazard` holds indices into it")
    provinces: list[str] = Field(description="province adcodes; `province` holds indices "
                                             "into it, -1 for a point outside every province")
    id: list[str]
    lon: list[float]
    lat: list[float]
    level: list[int]
    hazard: list[int]
    province: list[int]
    warning_id: list[str | None] = Field(description="the active warning, if any")
    offline: list[int] = Field(description="indices of the points with at least one offline "
                                           "(silent) sensor in their newest assessment, with or "
                                           "without a warning")


@dataclass(frozen=True)
class PointColumns:
    """The columns of every point that change only with the registry, and the marker of the
    registry they were read from (point count, newest ``updated_at``: every upsert moves it
    to its wall-clock time, a deletion changes the count)."""

    marker: tuple
    ids: list[str]
    lon: list[float]
    lat: list[float]
    hazards: list[str]
    hazard: list[int]
    provinces: list[str]
    province: list[int]
    index: dict[str, int]


def registry_marker(session) -> tuple:
    return tuple(session.connection().execute(
        select(func.count(), func.max(RiskPointRow.updated_at))).one())


def point_columns(session, marker: tuple) -> PointColumns:
    statement = (select(RiskPointRow.id, RiskPointRow.lon, RiskPointRow.lat,
                        RiskPointRow.hazard_type, RiskPointRow.province_adcode)
                 .order_by(RiskPointRow.id))
    rows = session.connection().execute(statement).all()
    ids, lon, lat, hazard, adcode = (
        (list(column) for column in zip(*rows, strict=True)) if rows else ([] for _ in range(5)))
    hazards = list(dict.fromkeys([*HAZARDS, *hazard]))  # a type registered after HAZARDS: last
    provinces = list(dict.fromkeys(a for a in adcode if a is not None))
    hazard_code = {name: code for code, name in enumerate(hazards)}
    province_code = {None: -1} | {a: code for code, a in enumerate(provinces)}
    return PointColumns(
        marker=marker, ids=ids, lon=[round(v, COORD_DIGITS) for v in lon],
        lat=[round(v, COORD_DIGITS) for v in lat], hazards=hazards,
        hazard=[hazard_code[v] for v in hazard], provinces=provinces,
        province=[province_code[v] for v in adcode],
        index={point_id: i for i, point_id in enumerate(ids)})


def _offline_clause():
    # The sensor health every assessment leaves (store.history): a calm point with a dead
    # sensor is flagged too. SQLite and PostgreSQL share the function.
    return func.coalesce(func.json_array_length(PointStatusRow.offline_sensors), 0) > 0


def all_points(session, columns: PointColumns) -> dict[str, Any]:
    """``compact_points`` for the national scope from the registry's columns plus the two
    small live queries: the active warnings and the points with a silent sensor."""
    level_code = {name: code for code, name in enumerate(LEVELS)}
    level = [0] * len(columns.ids)
    warning_id: list[str | None] = [None] * len(columns.ids)
    connection = session.connection()
    for point_id, name, wid in connection.execute(
            select(WarningRow.point_id, WarningRow.level, WarningRow.id)
            .where(WarningRow.status == "active")):
        i = columns.index.get(point_id)
        if i is not None:
            level[i], warning_id[i] = level_code.get(name, 0), wid
    offline = sorted(i for (point_id,) in connection.execute(
        select(PointStatusRow.point_id).where(_offline_clause()))
        if (i := columns.index.get(point_id)) is not None)
    return {"count": len(columns.ids), "levels": LEVELS, "hazards": columns.hazards,
            "provinces": columns.provinces, "id": columns.ids, "lon": columns.lon,
            "lat": columns.lat, "level": level, "hazard": columns.hazard,
            "province": columns.province, "warning_id": warning_id, "offline": offline}


def compact_points(session, scope) -> dict[str, Any]:
    """Every point in ``scope`` (None: all) as the parallel arrays of ``ConsolePoints``."""
    active = and_(WarningRow.point_id == RiskPointRow.id, WarningRow.status == "active")
    statement = (select(RiskPointRow.id, RiskPointRow.lon, RiskPointRow.lat,
                        RiskPointRow.hazard_type, RiskPointRow.province_adcode,
                        func.coalesce(WarningRow.level, "none"), WarningRow.id, _offline_clause())
                 .outerjoin(WarningRow, active)
                 .outerjoin(PointStatusRow, PointStatusRow.point_id == RiskPointRow.id)
                 .order_by(RiskPointRow.id))
    if scope is not None:
        statement = statement.where(point_scope_clause(scope))
    rows = session.connection().execute(statement).all()
    ids, lon, lat, hazard, adcode, level, warning_id, offline = (
        (list(column) for column in zip(*rows, strict=True)) if rows else ([] for _ in range(8)))
    hazards = list(dict.fromkeys([*HAZARDS, *hazard]))  # a type registered after HAZARDS: last
    provinces = list(dict.fromkeys(a for a in adcode if a is not None))
    hazard_code = {name: code for code, name in enumerate(hazards)}
    province_code = {None: -1} | {a: code for code, a in enumerate(provinces)}
    level_code = {name: code for code, name in enumerate(LEVELS)}
    return {
        "count": len(ids), "levels": LEVELS, "hazards": hazards, "provinces": provinces,
        "id": ids, "lon": [round(v, COORD_DIGITS) for v in lon],
        "lat": [round(v, COORD_DIGITS) for v in lat],
        "level": [level_code.get(v, 0) for v in level],
        "hazard": [hazard_code[v] for v in hazard],
        "province": [province_code[v] for v in adcode],
        "warning_id": warning_id,
        "offline": [i for i, flagged in enumerate(offline) if flagged]}


@functools.cache
def overview_geojson(path: Path, tolerance: float) -> bytes:
    """Gzipped GeoJSON of ``path`` simplified as one coverage (shared borders stay shared),
    its coordinates rounded to ``OVERVIEW_DIGITS``."""
    collection = orjson.loads(gzip.decompress(path.read_bytes()))
    simplified = shapely.transform(shapely.coverage_simplify(
        [shape(feature["geometry"]) for feature in collection["features"]], tolerance),
        lambda xy: np.round(xy, OVERVIEW_DIGITS))  # a shared vertex rounds alike on both sides
    for feature, geometry in zip(collection["features"], simplified, strict=True):
        feature["geometry"] = mapping(geometry)
    return gzip.compress(orjson.dumps(collection), compresslevel=6)


def _page_config(options: ConsoleOptions) -> str:
    config = {"basemap_url": options.basemap_url,
              "basemap_attribution": options.basemap_attribution,
              "levels": LEVELS, "hazards": HAZARDS}
    # JSON inside <script>: escape "<" so that no value can close the element.
    payload = orjson.dumps(config).decode().replace("<", "\\u003c")
    return f'<script id="geowarn-config" type="application/json">{payload}</script>'


def create_router(options: ConsoleOptions) -> APIRouter:
    router = APIRouter(tags=["console"])
    dist = options.dist_dir.resolve()
    registry: dict[str, PointColumns | None] = {"columns": None}  # see console_points
    packed: dict[str, tuple[str, bytes]] = {}  # the last points payload gzipped, by digest
    if (options.boundaries_dir / PROVINCES_FILE).is_file():
        # The first view's boundaries, simplified before the first browser asks for them.
        threading.Thread(target=overview_geojson, daemon=True, name="console-overview",
                         args=(options.boundaries_dir / PROVINCES_FILE,
                               OVERVIEW_TOLERANCE_DEG)).start()

    async def index(request: Request) -> Response:
        page = dist / "index.html"
        if not page.is_file():
            return PlainTextResponse(
                f"the console is not built: run `make install` (npm ci and npm run build in "
                f"api/console); {html.escape(str(page))} is missing", status_code=503)
        text = page.read_text(encoding="utf-8").replace(CONFIG_MARK, _page_config(options))
        return HTMLResponse(text, headers={"Cache-Control": "no-cache"})

    async def asset(request: Request) -> Response:
        name = request.path_params["path"]
        path = (dist / name).resolve()
        if not path.is_relative_to(dist) or not path.is_file() or path.name == "index.html":
            return PlainTextResponse(f"no console asset {name!r}", status_code=404)
        media_type = {".mjs": "text/javascript", ".js": "text/javascript",
                      ".map": "application/json"}.get(path.suffix) or mimetypes.guess_type(path)[0]
        headers = {"Cache-Control": f"public, max-age={ASSET_MAX_AGE_S}",
                   "Vary": "Accept-Encoding"}
        packed = path.with_name(path.name + ".gz")  # written by the build next to the file
        if "gzip" in request.headers.get("accept-encoding", "") and packed.is_file():
            return FileResponse(packed, media_type=media_type,
                                headers={**headers, "Content-Encoding": "gzip"})
        return FileResponse(path, media_type=media_type, headers=headers)

    async def boundaries(request: Request) -> Response:
        name = request.path_params["level"]
        if name not in BOUNDARY_FILES and name != "provinces-overview":
            return PlainTextResponse(f"no boundary layer {name!r}: use one of counties, "
                                     "provinces, provinces-overview", status_code=404)
        if name == "provinces-overview":
            packed = await run_in_threadpool(overview_geojson,
                                             options.boundaries_dir / PROVINCES_FILE,
                                             OVERVIEW_TOLERANCE_DEG)
            version = hashlib.blake2b(packed, digest_size=12).hexdigest()
        else:
            path = options.boundaries_dir / BOUNDARY_FILES[name]
            stat = path.stat()
            version = f"{stat.st_mtime_ns:x}-{stat.st_size:x}"
        gzip_ok = "gzip" in request.headers.get("accept-encoding", "")
        # Strong validator per representation: after max-age a reload costs a 304.
        etag = f'"{name}-{version}{"-gz" if gzip_ok else ""}"'
        headers = {"Cache-Control": f"public, max-age={BOUNDARY_MAX_AGE_S}",
                   "Vary": "Accept-Encoding", "ETag": etag}
        if etag in request.headers.get("if-none-match", ""):
            return Response(status_code=304, headers=headers)
        if name == "provinces-overview":
            if gzip_ok:
                return Response(packed, media_type=GEOJSON,
                                headers={**headers, "Content-Encoding": "gzip"})
            return Response(gzip.decompress(packed), media_type=GEOJSON, headers=headers)
        if gzip_ok:
            # The file is stored gzipped: send it as is, the browser inflates it.
            return FileResponse(path, media_type=GEOJSON, stat_result=stat,
                                headers={**headers, "Content-Encoding": "gzip"})
        return Response(gzip.decompress(path.read_bytes()), media_type=GEOJSON, headers=headers)

    router.add_route("/", index, methods=["GET"], include_in_schema=False)
    router.add_route("/console/assets/{path:path}", asset, methods=["GET"],
                     include_in_schema=False)
    router.add_route("/console/boundaries/{level}.geojson", boundaries, methods=["GET"],
                     include_in_schema=False)

    @router.get("/console/points", response_class=OrjsonResponse,
                responses={200: {"model": ConsolePoints},
                           401: {"model": ErrorMessage, "description": "no or invalid "
                                                                      "credentials"}},
                summary="Every risk point in the caller's scope, compactly, for the map")
    def console_points(session: SessionDep, user: Reader, request: Request) -> Response:
        if user.scope is None:
            # The national view reads the registry's 50,000 rows only when it has changed;
            # warnings and sensor health are read on every request.
            marker = registry_marker(session)
            columns = registry["columns"]
            if columns is None or columns.marker != marker:
                columns = registry["columns"] = point_columns(session, marker)
            body = orjson.dumps(all_points(session, columns))
        else:
            body = orjson.dumps(compact_points(session, user.scope))
        # Gzip (level 1: 2.5 MB in about 30 ms, to a quarter) once per distinct payload, and
        # a reload with an unchanged payload costs a 304.
        gzip_ok = "gzip" in request.headers.get("accept-encoding", "")
        digest = hashlib.blake2b(body, digest_size=16).hexdigest()
        etag = f'"{digest}{"-gz" if gzip_ok else ""}"'
        headers = {"ETag": etag, "Cache-Control": "private, no-cache",
                   "Vary": "Authorization, Accept-Encoding"}
        if etag in request.headers.get("if-none-match", ""):
            return Response(status_code=304, headers=headers)
        if not gzip_ok:
            return Response(body, media_type="application/json", headers=headers)
        cached = packed.get("last")
        if cached is None or cached[0] != digest:
            cached = packed["last"] = (digest, gzip.compress(body, compresslevel=1, mtime=0))
        return Response(cached[1], media_type="application/json",
                        headers={**headers, "Content-Encoding": "gzip"})

    return router
