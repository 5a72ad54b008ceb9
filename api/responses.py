"""Response classes rendered with orjson (datetimes as RFC 3339, fast on large pages)."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.responses import JSONResponse

GEOJSON = "application/geo+json"


class OrjsonResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


class GeoJSONResponse(OrjsonResponse):
    media_type = GEOJSON
