"""GeoJSON (RFC 7946, lon/lat in EPSG:4326) for the API's rows.

Features are plain dicts serialised by orjson: a page of 10,000 risk points
would spend most of its time in pydantic if it went through response models.
The models in ``api.models`` document the same shapes in OpenAPI.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request

from api.responses import GEOJSON
from store.read import PointView, TransitionView, WarningView
from warning_models.levels import Level

TIERS: dict[str, str | None] = {level.label: level.tier for level in Level}


def point_feature(point: PointView) -> dict[str, Any]:
    return {
        "type": "Feature",
        "id": point.id,
        "geometry": point.geometry,
        "properties": {
            "id": point.id,
            "name": point.name,
            "hazard_type": point.hazard_type,
            "province": point.province,
            "province_adcode": point.province_adcode,
            "county": point.county,
            "county_adcode": point.county_adcode,
            "lon": point.lon,
            "lat": point.lat,
            "threatened_people": point.threatened_people,
            "households": point.households,
            "sensors": [{"sensor_id": s.sensor_id, "kind": s.kind, "unit": s.unit}
                        for s in point.sensors],
            "level": point.level,
            "tier": TIERS.get(point.level),
            "warning_id": point.warning_id,
            "sensor_status": point.sensor_status,
            "offline_sensors": list(point.offline_sensors or ()),
        },
    }


def warning_feature(warning: WarningView) -> dict[str, Any]:
    """A warning located at its point's representative lon/lat.

    Evidence and transitions appear when they were loaded (the detail).
    """
    properties: dict[str, Any] = {
        "id": warning.id,
        "point_id": warning.point_id,
        "point_name": warning.point_name,
        "level": warning.level,
        "tier": TIERS.get(warning.level),
        "status": warning.status,
        "hazard_type": warning.hazard_type,
        "province": warning.province,
        "county": warning.county,
        "threatened_people": warning.threatened_people,
        "households": warning.households,
        "opened_at": warning.opened_at,
        "updated_at": warning.updated_at,
        "lifted_at": warning.lifted_at,
        "model": warning.model,
        "model_version": warning.model_version,
    }
    if warning.evidence is not None:
        properties["evidence"] = warning.evidence
    if warning.transitions is not None:
        properties["transitions"] = [transition_json(t) for t in warning.transitions]
    return {
        "type": "Feature",
        "id": warning.id,
        "geometry": {"type": "Point", "coordinates": [warning.lon, warning.lat]},
        "properties": properties,
    }


def transition_json(row: TransitionView) -> dict[str, Any]:
    return {
        "id": row.id,
        "kind": row.kind,
        "from_level": row.from_level,
        "to_level": row.to_level,
        "observed_at": row.observed_at,
        "recorded_at": row.recorded_at,
        "published_at": row.published_at,
        "assessment_id": row.assessment_id,
        "model": row.model,
        "model_version": row.model_version,
        "evidence": row.evidence,
    }


def feature_collection(request: Request, features: list[dict[str, Any]], *, total: int,
                       limit: int, offset: int) -> dict[str, Any]:
    """A page as a FeatureCollection with OGC API – Features counts and links."""
    links = [_link(request, "self", limit, offset)]
    if offset + len(features) < total:
        links.append(_link(request, "next", limit, offset + limit))
    if offset > 0:
        links.append(_link(request, "prev", limit, max(0, offset - limit)))
    return {
        "type": "FeatureCollection",
        "numberMatched": total,
        "numberReturned": len(features),
        "links": links,
        "features": features,
    }


def _link(request: Request, rel: str, limit: int, offset: int) -> dict[str, str]:
    href = str(request.url.include_query_params(limit=limit, offset=offset))
    return {"rel": rel, "type": GEOJSON, "href": href}
