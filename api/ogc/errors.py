"""OGC API – Features exceptions and the route class that renders them.

OGC clients (GDAL, QGIS, the OGC test suite) expect 400 for a bad query
parameter and 404 for an unknown collection or feature, with the exception
body of the standard's OpenAPI fragments (``{"code", "description"}``),
whereas the rest of the API answers 422 with FastAPI's validation shape.
``OgcRoute`` converts, for the OGC routes only, both the OGC exceptions and
the API's own ``InvalidQuery``/validation errors, so the app-wide table in
``api.errors`` stays untouched and every other route keeps its contract.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel

from api.errors import InvalidQuery
from api.models import ErrorMessage
from api.responses import OrjsonResponse


class OgcError(Exception):
    """Base of the OGC exceptions; ``str(exc)`` is the description shown to the client."""

    status = 500
    code = "ServerError"


class InvalidParameter(OgcError):
    status = 400
    code = "InvalidParameterValue"

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(f"{parameter}: {message}")
        self.parameter = parameter


class CollectionNotFound(OgcError):
    status = 404
    code = "NotFound"

    def __init__(self, collection_id: str, known: list[str]) -> None:
        super().__init__(f"no collection {collection_id!r}; the collections are "
                         f"{', '.join(known)}")


class FeatureNotFound(OgcError):
    status = 404
    code = "NotFound"

    def __init__(self, collection_id: str, feature_id: str) -> None:
        super().__init__(f"no feature {feature_id!r} in collection {collection_id!r}")


class ExceptionBody(BaseModel):
    """The exception body of OGC API – Features (``exception.yaml``), for OpenAPI."""

    code: str
    description: str


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ExceptionBody, "description": "a query parameter is invalid"},
    401: {"model": ErrorMessage, "description": "no or invalid credentials (the API's body)"},
    404: {"model": ExceptionBody, "description": "no such collection or feature"},
}


def exception_response(status: int, code: str, description: str) -> OrjsonResponse:
    return OrjsonResponse({"code": code, "description": description}, status_code=status)


def _describe_validation(exc: RequestValidationError) -> str:
    parts = []
    for error in exc.errors():
        location = ".".join(str(part) for part in error.get("loc", ())[1:]) or "request"
        parts.append(f"{location}: {error.get('msg', 'invalid')}")
    return "; ".join(parts)


class OgcRoute(APIRoute):
    """An ``APIRoute`` whose errors are OGC exceptions (400/404 with ``code``/``description``)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except OgcError as exc:
                return exception_response(exc.status, exc.code, str(exc))
            except InvalidQuery as exc:
                return exception_response(400, InvalidParameter.code, str(exc))
            except RequestValidationError as exc:
                return exception_response(400, InvalidParameter.code, _describe_validation(exc))

        return handle
