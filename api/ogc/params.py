"""Query parameters of OGC API – Features (Part 1, Core): bbox, datetime, f.

Pure functions raising ``InvalidParameter`` with what was expected, so that
a user fixing a URL by hand (or reading a GDAL error) knows how.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from api.ogc.errors import InvalidParameter
from api.params import parse_bbox, restore_plus
from store.read import BBox

OPEN = ".."
FORMATS = ("json",)
DATETIME_FORMAT = ("an RFC 3339 time with a zone (2026-07-01T08:00:00Z), or an interval "
                   "start/end where either end may be '..' or empty (2026-07-01T00:00:00Z/..)")


@dataclass(frozen=True, slots=True)
class Interval:
    """A closed time interval; None is an open end. An instant has ``start == end``."""

    start: datetime | None
    end: datetime | None


def parse_ogc_bbox(text: str) -> BBox:
    """``minLon,minLat,maxLon,maxLat`` (CRS84), or the 3D form with heights, which are ignored."""
    parts = text.split(",")
    if len(parts) == 6:
        text = ",".join(parts[i] for i in (0, 1, 3, 4))
    return parse_bbox(text)


def _instant(text: str) -> datetime:
    value = restore_plus(text.strip())
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        raise InvalidParameter("datetime", f"{text!r} is not {DATETIME_FORMAT}") from None
    if "T" not in str(value).upper() or parsed.tzinfo is None:
        raise InvalidParameter("datetime", f"{text!r} needs a time and a time zone: "
                                           f"expected {DATETIME_FORMAT}")
    return parsed


def parse_datetime(text: str) -> Interval:
    """An instant, or ``start/end`` with ``..`` or an empty string for an open end."""
    if "/" not in text:
        instant = _instant(text)
        return Interval(instant, instant)
    pieces = text.split("/")
    if len(pieces) != 2:
        raise InvalidParameter("datetime", f"{text!r} has more than one '/': "
                                           f"expected {DATETIME_FORMAT}")
    start, end = (None if piece.strip() in ("", OPEN) else _instant(piece) for piece in pieces)
    if start is None and end is None:
        raise InvalidParameter("datetime", "both ends are open; leave datetime out instead")
    if start is not None and end is not None and start > end:
        raise InvalidParameter("datetime", f"the start {start.isoformat()} is after "
                                           f"the end {end.isoformat()}")
    return Interval(start, end)


def check_format(f: str | None) -> None:
    """``?f=json`` is accepted (the only encoding served); anything else is refused."""
    if f is not None and f.lower() not in FORMATS:
        raise InvalidParameter("f", f"{f!r} is not served; the formats are {', '.join(FORMATS)}")
