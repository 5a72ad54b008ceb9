"""Domain exceptions of the API and the one table that maps them to HTTP statuses.

Routes raise these and never build error responses themselves, so every
client sees the same body for the same kind of mistake. Query errors use the
shape of FastAPI's own validation errors (``detail`` is a list of
``{loc, msg, type, input}``) so that a console needs one parser for all 422s.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError

log = logging.getLogger(__name__)


class ApiError(Exception):
    """Base of the API's domain exceptions; ``str(exc)`` is shown to the client."""


class NotFound(ApiError):
    pass


class RiskPointNotFound(NotFound):
    def __init__(self, point_id: str) -> None:
        super().__init__(f"no risk point with id {point_id!r}")


class WarningNotFound(NotFound):
    def __init__(self, warning_id: str) -> None:
        super().__init__(f"no warning with id {warning_id!r}")


class InvalidQuery(ApiError):
    """A query parameter that parsed but makes no sense; names the parameter and why."""

    def __init__(self, parameter: str, message: str, value: Any = None) -> None:
        super().__init__(f"{parameter}: {message}")
        self.parameter = parameter
        self.message = message
        self.value = value


STATUS_CODES: dict[type[Exception], int] = {
    RiskPointNotFound: 404,
    WarningNotFound: 404,
    InvalidQuery: 422,
    OperationalError: 503,
}
"""Exception type -> HTTP status. The most specific registered class of an exception wins."""


def _body(exc: Exception) -> dict[str, Any]:
    if isinstance(exc, InvalidQuery):
        return {"detail": [{"type": "value_error", "loc": ["query", exc.parameter],
                            "msg": exc.message, "input": exc.value}]}
    if isinstance(exc, OperationalError):
        return {"detail": "the database is unavailable; see /health"}
    return {"detail": str(exc)}


async def _handle(request: Request, exc: Exception) -> JSONResponse:
    status = next(STATUS_CODES[kind] for kind in type(exc).__mro__ if kind in STATUS_CODES)
    if status >= 500:
        log.error("%s %s failed: %s", request.method, request.url.path, exc)
    return JSONResponse(_body(exc), status_code=status)


def add_exception_handlers(app: FastAPI) -> None:
    for kind in STATUS_CODES:
        app.add_exception_handler(kind, _handle)
