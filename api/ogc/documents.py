"""The JSON documents of OGC API – Features: landing page, conformance, collections, pages.

Every link is absolute (built from the request), so a client that was given
the landing page can walk the whole API, as GDAL's OAPIF driver does.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import Request

from api.geojson import feature_collection
from api.ogc.providers import Feature, FeaturePage, FeatureProvider, ItemQuery
from api.ogc.providers.base import Extent
from api.responses import GEOJSON

JSON = "application/json"
OPENAPI_JSON = "application/vnd.oai.openapi+json"
SCHEMA_JSON = "application/schema+json"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
GREGORIAN = "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"
QUERYABLES_REL = "http://www.opengis.net/def/rel/ogc/1.0/queryables"

CONFORMANCE = (
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
)


def link(href: str, rel: str, type_: str, title: str | None = None) -> dict[str, str]:
    out = {"href": href, "rel": rel, "type": type_}
    if title:
        out["title"] = title
    return out


def _url(request: Request, name: str, **params: str) -> str:
    return str(request.url_for(name, **params))


def openapi_media_type(openapi_version: str) -> str:
    """The OpenAPI media type with the version the app really serves ("3.1.0" -> ";version=3.1")."""
    return f"{OPENAPI_JSON};version={'.'.join(openapi_version.split('.')[:2])}"


def landing_page(request: Request) -> dict[str, Any]:
    base = str(request.base_url).rstrip("/")
    links = [
        link(_url(request, "ogc_landing"), "self", JSON, "this document"),
        link(base + request.app.openapi_url, "service-desc",
             openapi_media_type(request.app.openapi_version), "the API definition (OpenAPI)"),
        link(_url(request, "ogc_conformance"), "conformance", JSON,
             "OGC API conformance classes implemented by this server"),
        link(_url(request, "ogc_collections"), "data", JSON, "the feature collections"),
    ]
    if request.app.docs_url:
        links.append(link(base + request.app.docs_url, "service-doc", "text/html",
                          "the API documentation"))
    return {
        "title": "geowarn OGC API – Features",
        "description": "Risk points, warnings and candidate risk areas of geowarn's "
                       "geological-hazard early warning, as GeoJSON in CRS84.",
        "links": links,
    }


def conformance() -> dict[str, Any]:
    return {"conformsTo": list(CONFORMANCE)}


def _extent(extent: Extent) -> dict[str, Any] | None:
    out: dict[str, Any] = {}
    if extent.bbox is not None:
        box = extent.bbox
        out["spatial"] = {"bbox": [[box.min_lon, box.min_lat, box.max_lon, box.max_lat]],
                          "crs": CRS84}
    if extent.time is not None:
        out["temporal"] = {"interval": [[extent.time.start, extent.time.end]], "trs": GREGORIAN}
    return out or None


def collection(request: Request, provider: FeatureProvider, extent: Extent) -> dict[str, Any]:
    cid = provider.id
    body: dict[str, Any] = {
        "id": cid,
        "title": provider.title,
        "description": provider.description,
        "links": [
            link(_url(request, "ogc_collection", collectionId=cid), "self", JSON,
                 "this collection"),
            link(_url(request, "ogc_items", collectionId=cid), "items", GEOJSON,
                 f"{provider.title} as GeoJSON"),
            link(_url(request, "ogc_queryables", collectionId=cid), QUERYABLES_REL,
                 SCHEMA_JSON, "the properties items can be filtered on"),
        ],
        "itemType": "feature",
        "crs": [CRS84],
    }
    if (described := _extent(extent)) is not None:
        body["extent"] = described
    return body


def collections(request: Request, described: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "links": [link(_url(request, "ogc_collections"), "self", JSON, "this document")],
        "collections": described,
    }


def queryables(request: Request, provider: FeatureProvider) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    for name, queryable in provider.queryables.items():
        schema: dict[str, Any] = {"type": queryable.type, "description": queryable.description}
        if queryable.enum:
            schema["enum"] = list(queryable.enum)
        properties[name] = schema
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": _url(request, "ogc_queryables", collectionId=provider.id),
        "type": "object",
        "title": provider.title,
        "properties": properties,
    }


def items_page(request: Request, provider: FeatureProvider, query: ItemQuery,
               page: FeaturePage) -> dict[str, Any]:
    """A FeatureCollection with numberMatched/numberReturned/timeStamp and self/next/prev links.

    The paging links keep every filter of the request and set limit/offset.
    """
    body = feature_collection(request, page.features, total=page.number_matched,
                              limit=query.limit, offset=query.offset)
    body["timeStamp"] = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    body["links"].append(link(_url(request, "ogc_collection", collectionId=provider.id),
                              "collection", JSON, provider.title))
    return body


def item(request: Request, provider: FeatureProvider, feature: Feature) -> Feature:
    feature = dict(feature)
    feature["links"] = [
        link(str(request.url.remove_query_params("f")), "self", GEOJSON, "this feature"),
        link(_url(request, "ogc_collection", collectionId=provider.id), "collection", JSON,
             provider.title),
    ]
    return feature
