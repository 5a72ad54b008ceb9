"""A risk point's location as CAP 1.2 area shapes.

CAP writes coordinates latitude first ("lat,lon"), the reverse of GeoJSON.
A point (or a point whose polygon cannot be expressed) is a circle of the
configured radius in km; a Polygon or MultiPolygon becomes one <polygon>
per outer ring (CAP has no holes: inner rings are dropped, which only
enlarges the area warned).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

MIN_POLYGON_PAIRS = 4
"""CAP 1.2 §3.2.4: a polygon is at least four pairs, the first equal to the last."""


def _number(value: float) -> str:
    text = f"{float(value):.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _pair(position: Sequence[float]) -> str:
    lon, lat = position[0], position[1]
    return f"{_number(lat)},{_number(lon)}"


def circle(lon: float, lat: float, radius_km: float) -> str:
    """``lat,lon radius`` with the radius in kilometres."""
    return f"{_pair((lon, lat))} {_number(radius_km)}"


def _ring(ring: Sequence[Sequence[float]]) -> str | None:
    positions = [tuple(p[:2]) for p in ring]
    if positions and positions[0] != positions[-1]:
        positions.append(positions[0])
    if len(positions) < MIN_POLYGON_PAIRS:
        return None
    return " ".join(_pair(p) for p in positions)


def polygons(geometry: dict[str, Any] | None) -> list[str]:
    """The CAP polygons of a GeoJSON geometry; empty when it has none usable (e.g. a Point)."""
    if not geometry:
        return []
    kind, coordinates = geometry.get("type"), geometry.get("coordinates") or []
    if kind == "Polygon":
        outer = [coordinates[0]] if coordinates else []
    elif kind == "MultiPolygon":
        outer = [polygon[0] for polygon in coordinates if polygon]
    else:
        return []
    return [text for text in (_ring(ring) for ring in outer) if text]
