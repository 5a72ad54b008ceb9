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
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError

from store.actions import (
    IdempotencyKeyReused,
    InvalidAction,
    LifecycleConflict,
    UnknownPoint,
    UnknownWarning,
)

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


class NowcastNotAvailable(NotFound):
    def __init__(self, kind: str) -> None:
        super().__init__(f"no {kind} nowcast yet: it appears once a rainfall raster has been "
                         "ingested after a susceptibility (or DEM) raster")


class TileNotFound(NotFound):
    def __init__(self, z: int, x: int, y: int) -> None:
        super().__init__(f"tile {z}/{x}/{y} does not exist: x and y run 0..{(1 << z) - 1} "
                         f"at zoom {z}")


class CandidateAreaNotFound(NotFound):
    def __init__(self, area_id: str) -> None:
        super().__init__(f"no candidate area with id {area_id!r}")


class SubscriptionNotFound(NotFound):
    def __init__(self, subscription_id: str) -> None:
        super().__init__(f"no subscription with id {subscription_id!r}")


class ConsultationNotFoundError(NotFound):
    def __init__(self, consultation_id: str) -> None:
        super().__init__(f"no consultation with id {consultation_id!r}")


class AttachmentNotFound(NotFound):
    def __init__(self, consultation_id: str, attachment_id: str) -> None:
        super().__init__(f"no attachment {attachment_id!r} in consultation {consultation_id}")


class AttachmentTooLarge(ApiError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"the file is larger than the limit of {limit:,} bytes "
                         "(setting attachment_max_bytes)")


class UnsupportedAttachment(ApiError):
    """A file whose bytes are not one of the accepted attachment types."""


class CandidateAreaDecided(ApiError):
    """An accept or reject of an area that was already decided (decisions are final)."""


class InvalidQuery(ApiError):
    """A query parameter that parsed but makes no sense; names the parameter and why."""

    def __init__(self, parameter: str, message: str, value: Any = None) -> None:
        super().__init__(f"{parameter}: {message}")
        self.parameter = parameter
        self.message = message
        self.value = value


class NotAuthenticated(ApiError):
    """No credentials, or invalid or expired ones: 401 with a Bearer challenge (RFC 6750)."""

    def __init__(self, message: str, *, invalid_token: bool = False) -> None:
        super().__init__(message)
        description = message.replace('"', "'")
        self.headers = {"WWW-Authenticate": f'Bearer error="invalid_token", '
                                            f'error_description="{description}"'
                        if invalid_token else "Bearer"}


class Forbidden(ApiError):
    """Authenticated, but the role or the scope does not allow it; the message says which."""


class RoleNotAllowed(Forbidden):
    pass


class OutsideScope(Forbidden):
    pass


class MissingIdempotencyKey(ApiError):
    def __init__(self) -> None:
        super().__init__("an Idempotency-Key header (or an action_id in the body) is required, "
                         "so that a retried action is applied once")


class InvalidReading(ApiError):
    """Readings that fail the geowarn.readings schema; ``errors`` are in FastAPI's 422 shape."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors))
        self.errors = errors


class BrokerUnavailable(ApiError):
    """The broker did not take a message in time; nothing was published."""


STATUS_CODES: dict[type[Exception], int] = {
    NotAuthenticated: 401,
    Forbidden: 403,
    UnknownWarning: 404,
    UnknownPoint: 404,
    LifecycleConflict: 409,
    InvalidAction: 422,
    IdempotencyKeyReused: 422,
    MissingIdempotencyKey: 422,
    InvalidReading: 422,
    BrokerUnavailable: 503,
    RiskPointNotFound: 404,
    WarningNotFound: 404,
    NowcastNotAvailable: 404,
    TileNotFound: 404,
    CandidateAreaNotFound: 404,
    CandidateAreaDecided: 409,
    ConsultationNotFoundError: 404,
    SubscriptionNotFound: 404,
    AttachmentNotFound: 404,
    AttachmentTooLarge: 413,
    UnsupportedAttachment: 415,
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
    if isinstance(exc, InvalidReading):
        return {"detail": exc.errors}
    if isinstance(exc, LifecycleConflict):
        return {"detail": str(exc), "current": jsonable_encoder(exc.current)}
    return {"detail": str(exc)}


async def _handle(request: Request, exc: Exception) -> JSONResponse:
    status = next(STATUS_CODES[kind] for kind in type(exc).__mro__ if kind in STATUS_CODES)
    if status >= 500:
        log.error("%s %s failed: %s", request.method, request.url.path, exc)
    return JSONResponse(_body(exc), status_code=status, headers=getattr(exc, "headers", None))


def add_exception_handlers(app: FastAPI) -> None:
    for kind in STATUS_CODES:
        app.add_exception_handler(kind, _handle)
