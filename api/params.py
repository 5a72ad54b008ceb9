"""Parsing of query parameters that FastAPI cannot check from a type alone.

Pure functions that raise ``InvalidQuery`` with a message saying what was
expected and what was wrong, so a user fixing a URL by hand knows how.
"""

from __future__ import annotations

import math
import re
from datetime import datetime

from api.errors import InvalidQuery
from store.read import BBox
from warning_models.levels import Level

BBOX_FORMAT = "minLon,minLat,maxLon,maxLat"
_SPACE_OFFSET = re.compile(r"(T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?) (\d{2}:?\d{2})$")


def parse_bbox(text: str) -> BBox:
    """``minLon,minLat,maxLon,maxLat`` in degrees (EPSG:4326, RFC 7946 order).

    ``minLon > maxLon`` is accepted: the box crosses the antimeridian.
    """
    parts = [part.strip() for part in text.split(",")]
    if len(parts) != 4:
        raise InvalidQuery("bbox", f"expected 4 comma-separated numbers {BBOX_FORMAT}, "
                                   f"got {len(parts)} value(s)", text)
    try:
        min_lon, min_lat, max_lon, max_lat = (float(part) for part in parts)
    except ValueError:
        raise InvalidQuery("bbox", f"expected numbers in the format {BBOX_FORMAT}, "
                                   f"got {text!r}", text) from None
    if not all(math.isfinite(v) for v in (min_lon, min_lat, max_lon, max_lat)):
        raise InvalidQuery("bbox", f"expected finite numbers in the format {BBOX_FORMAT}", text)
    for name, value in (("minLon", min_lon), ("maxLon", max_lon)):
        if not -180 <= value <= 180:
            raise InvalidQuery("bbox", f"{name} {value} is outside -180..180 "
                                       f"(the format is {BBOX_FORMAT}, longitude first)", text)
    for name, value in (("minLat", min_lat), ("maxLat", max_lat)):
        if not -90 <= value <= 90:
            raise InvalidQuery("bbox", f"{name} {value} is outside -90..90 "
                                       f"(the format is {BBOX_FORMAT}, longitude first)", text)
    if min_lat > max_lat:
        raise InvalidQuery("bbox", f"minLat {min_lat} is greater than maxLat {max_lat} "
                                   f"(the format is {BBOX_FORMAT})", text)
    return BBox(min_lon, min_lat, max_lon, max_lat)


def parse_level(parameter: str, text: str) -> Level:
    """A colour name (``orange``) or a national tier (``II``)."""
    try:
        return Level.parse(text)
    except ValueError as exc:
        raise InvalidQuery(parameter, str(exc), text) from None


def parse_levels(parameter: str, text: str) -> list[str]:
    """A comma-separated list of levels or tiers -> colour names, e.g. ``II,I`` -> orange, red."""
    values = [part for part in (p.strip() for p in text.split(",")) if part]
    if not values:
        raise InvalidQuery(parameter, "expected a level (none, blue, yellow, orange, red) "
                                      "or a tier (IV, III, II, I)", text)
    return sorted({parse_level(parameter, value).label for value in values})


def restore_plus(value: object) -> object:
    """Undo an unencoded ``+`` of a UTC offset, which a query string turns into a space."""
    if isinstance(value, str):
        return _SPACE_OFFSET.sub(r"\1+\2", value)
    return value


def require_aware(parameter: str, value: datetime | None) -> datetime | None:
    """Times compare with event times in UTC: a time without a zone would be ambiguous."""
    if value is not None and value.tzinfo is None:
        raise InvalidQuery(parameter, "the time has no time zone; give an ISO 8601 time with one, "
                                      "e.g. 2026-07-01T08:00:00Z or 2026-07-01T16:00:00+08:00",
                           value.isoformat())
    return value


def check_window(since: datetime | None, until: datetime | None) -> None:
    if since is not None and until is not None and since > until:
        raise InvalidQuery("until", f"until ({until.isoformat()}) is before since "
                                    f"({since.isoformat()})", until.isoformat())
