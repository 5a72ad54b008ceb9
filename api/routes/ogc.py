"""OGC API – Features at /ogc: risk points, warnings and candidate areas for GIS clients.

``create_router(providers)`` builds the routes over a list of collection
providers (``api.ogc.providers``), as titiler's factories do, so the app
serves the default collections and a test or a deployment can serve others.
QGIS and GDAL (``OAPIF:http://host/ogc``) open it directly, with the same
bearer token as the rest of the API (GDAL: ``GDAL_HTTP_HEADERS="Authorization:
Bearer <token>"``). Features are those the caller may read: a provincial
officer's collections hold what concerns its provinces, and any other
feature is not found (404), as if it were not in the collection.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from api.deps import MAX_LIMIT, Reader, SessionDep
from api.ogc import documents
from api.ogc.errors import (
    ERROR_RESPONSES,
    CollectionNotFound,
    FeatureNotFound,
    InvalidParameter,
    OgcRoute,
)
from api.ogc.params import DATETIME_FORMAT, check_format, parse_datetime, parse_ogc_bbox
from api.ogc.providers import FeatureProvider, ItemQuery, default_providers
from api.responses import GEOJSON, GeoJSONResponse, OrjsonResponse

DEFAULT_LIMIT = 10
CORE_PARAMETERS = frozenset({"f", "bbox", "datetime", "limit", "offset"})

FormatQuery = Annotated[str | None, Query(description="encoding: only `json` is served")]
CollectionId = Annotated[str, Path(alias="collectionId", max_length=64,
                                   description="collection id, e.g. `risk_points`")]
FeatureId = Annotated[str, Path(alias="featureId", max_length=64, description="feature id")]


def _filters(request: Request, provider: FeatureProvider) -> dict[str, object]:
    """Parsed property filters; an unknown parameter is a 400 naming the allowed ones."""
    filters: dict[str, object] = {}
    for name in request.query_params:
        if name in CORE_PARAMETERS:
            continue
        queryable = provider.queryables.get(name)
        if queryable is None:
            allowed = sorted(CORE_PARAMETERS | set(provider.queryables))
            raise InvalidParameter(name, f"unknown parameter for collection {provider.id!r}; "
                                         f"the parameters are {', '.join(allowed)}")
        values = request.query_params.getlist(name)
        if len(values) > 1:
            raise InvalidParameter(name, "given more than once; give it once "
                                         "(comma-separate values where the property allows)")
        filters[name] = queryable.parse(values[0])
    return filters


def create_router(providers: Sequence[FeatureProvider] | None = None) -> APIRouter:
    """The /ogc routes over ``providers`` (default: risk points, warnings, candidate areas)."""
    registry = {provider.id: provider for provider in providers or default_providers()}
    router = APIRouter(prefix="/ogc", tags=["OGC API – Features"], route_class=OgcRoute,
                       responses=ERROR_RESPONSES)

    def provider_of(collection_id: str) -> FeatureProvider:
        provider = registry.get(collection_id)
        if provider is None:
            raise CollectionNotFound(collection_id, list(registry))
        return provider

    @router.get("", name="ogc_landing", response_class=OrjsonResponse,
                summary="Landing page: links to the API definition, conformance and data")
    def landing(request: Request, f: FormatQuery = None) -> OrjsonResponse:
        check_format(f)
        return OrjsonResponse(documents.landing_page(request))

    @router.get("/conformance", name="ogc_conformance", response_class=OrjsonResponse,
                summary="Conformance classes implemented (Features Part 1: core, GeoJSON, OpenAPI)")
    def conformance(f: FormatQuery = None) -> OrjsonResponse:
        check_format(f)
        return OrjsonResponse(documents.conformance())

    @router.get("/collections", name="ogc_collections", response_class=OrjsonResponse,
                summary="The feature collections with their extents")
    def collections(request: Request, session: SessionDep, f: FormatQuery = None
                    ) -> OrjsonResponse:
        check_format(f)
        described = [documents.collection(request, provider, provider.extent(session))
                     for provider in registry.values()]
        return OrjsonResponse(documents.collections(request, described))

    @router.get("/collections/{collectionId}", name="ogc_collection",
                response_class=OrjsonResponse, summary="One feature collection")
    def collection(request: Request, session: SessionDep, collection_id: CollectionId,
                   f: FormatQuery = None) -> OrjsonResponse:
        check_format(f)
        provider = provider_of(collection_id)
        return OrjsonResponse(documents.collection(request, provider, provider.extent(session)))

    @router.get("/collections/{collectionId}/queryables", name="ogc_queryables",
                response_class=OrjsonResponse,
                summary="The properties items can be filtered on (`?name=value`), as JSON Schema")
    def queryables(request: Request, collection_id: CollectionId, f: FormatQuery = None
                   ) -> OrjsonResponse:
        check_format(f)
        provider = provider_of(collection_id)
        return OrjsonResponse(documents.queryables(request, provider),
                              media_type=documents.SCHEMA_JSON)

    @router.get("/collections/{collectionId}/items", name="ogc_items",
                response_class=GeoJSONResponse,
                responses={200: {"content": {GEOJSON: {}},
                                 "description": "a GeoJSON FeatureCollection"}},
                summary="Features of a collection, filtered and paged; follow the `next` link")
    def items(
        request: Request,
        session: SessionDep,
        user: Reader,
        collection_id: CollectionId,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description=(
            f"page size, at most {MAX_LIMIT}"))] = DEFAULT_LIMIT,
        offset: Annotated[int, Query(ge=0, description="items to skip")] = 0,
        bbox: Annotated[str | None, Query(description=(
            "minLon,minLat,maxLon,maxLat in CRS84 (lon/lat degrees)"))] = None,
        datetime: Annotated[str | None, Query(description=DATETIME_FORMAT)] = None,
        f: FormatQuery = None,
    ) -> GeoJSONResponse:
        check_format(f)
        provider = provider_of(collection_id)
        interval = None if datetime is None else parse_datetime(datetime)
        if interval is not None and not provider.temporal:
            raise InvalidParameter("datetime", f"collection {provider.id!r} has no time: "
                                               "its features are not filtered by datetime")
        query = ItemQuery(limit=limit, offset=offset,
                          bbox=None if bbox is None else parse_ogc_bbox(bbox),
                          interval=interval, filters=_filters(request, provider),
                          scope=user.scope)
        page = provider.items(session, query)
        return GeoJSONResponse(documents.items_page(request, provider, query, page))

    @router.get("/collections/{collectionId}/items/{featureId}", name="ogc_item",
                response_class=GeoJSONResponse,
                responses={200: {"content": {GEOJSON: {}}, "description": "a GeoJSON Feature"}},
                summary="One feature")
    def item(
        request: Request,
        session: SessionDep,
        user: Reader,
        collection_id: CollectionId,
        feature_id: FeatureId,
        f: FormatQuery = None,
    ) -> GeoJSONResponse:
        check_format(f)
        provider = provider_of(collection_id)
        feature = provider.item(session, feature_id, user.scope)
        if feature is None:
            raise FeatureNotFound(provider.id, feature_id)
        return GeoJSONResponse(documents.item(request, provider, feature))

    return router
