"""GET /cap/alerts.atom and /cap/alerts/{id}.xml: warnings as CAP 1.2 for alerting systems.

Every transition of a warning is one CAP message (see ``api.cap.message``).
``/cap/alerts/{id}.xml`` returns the warning's latest message, the one that
states its current level (or its lifting); ``?transition=<transition id>``
returns an earlier one, as linked from the feed. The feed lists every
message, newest first, paged with ``limit``/``offset`` and RFC 5005 links.

Both need the API's bearer token, like every data route; a provincial
officer's feed holds the warnings that concern its provinces, and any other
warning's messages are not found (404).
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Request, Response

from api.cap.feed import ATOM_MEDIA_TYPE, FeedEntry, FeedLinks, build_feed
from api.cap.message import CAP_MEDIA_TYPE, CapOptions, build_alert, to_bytes
from api.deps import Reader, SessionDep
from api.errors import ApiError, WarningNotFound
from api.models import ErrorMessage
from store.read_ogc import (
    CapWarning,
    cap_message_page,
    cap_warning,
    cap_warnings,
    warning_in_scope,
)

MAX_FEED_LIMIT = 500
DEFAULT_FEED_LIMIT = 50


class CapMessageNotFound(WarningNotFound):
    """A 404 like an unknown warning: the warning exists, the asked-for message does not."""

    def __init__(self, warning_id: str, transition: str, known: list[str]) -> None:
        ApiError.__init__(self, f"warning {warning_id!r} has no transition {transition!r}; "
                                f"its transitions are {', '.join(known) or 'none'}")


def _message_url(request: Request, warning_id: str, transition_id: str) -> str:
    url = str(request.url_for("cap_alert", warning_id=warning_id))
    return f"{url}?transition={quote(transition_id, safe='')}"


def _web(request: Request, warning: CapWarning) -> str:
    return f"{str(request.base_url).rstrip('/')}/warnings/{quote(warning.id, safe='')}"


def create_router(options: CapOptions) -> APIRouter:
    """The /cap routes, sending as ``options.sender``."""
    router = APIRouter(prefix="/cap", tags=["CAP"], responses={
        401: {"model": ErrorMessage, "description": "no or invalid credentials"}})

    @router.get("/alerts.atom", name="cap_feed", response_class=Response,
                responses={200: {"content": {ATOM_MEDIA_TYPE: {}},
                                 "description": "an Atom feed with the CAP messages inline"}},
                summary="Atom feed of the CAP 1.2 messages of every warning, newest first")
    def feed(
        request: Request,
        session: SessionDep,
        user: Reader,
        limit: Annotated[int, Query(ge=1, le=MAX_FEED_LIMIT,
                                    description="entries per page")] = DEFAULT_FEED_LIMIT,
        offset: Annotated[int, Query(ge=0, description="entries to skip; follow the `next` "
                                                       "link rather than computing it")] = 0,
    ) -> Response:
        page, total = cap_message_page(session, limit=limit, offset=offset, scope=user.scope)
        warnings = cap_warnings(session, {warning_id for warning_id, _ in page})
        entries = []
        for warning_id, transition_id in page:
            warning = warnings[warning_id]
            index = next(i for i, t in enumerate(warning.transitions) if t.id == transition_id)
            message = build_alert(warning, index, options, web=_web(request, warning))
            entries.append(FeedEntry(message, _message_url(request, warning_id, transition_id)))

        def at(start: int) -> str:
            return str(request.url.include_query_params(limit=limit, offset=start))

        links = FeedLinks(
            current=at(offset), first=at(0),
            next=at(offset + limit) if offset + len(page) < total else None,
            previous=at(max(0, offset - limit)) if offset > 0 else None)
        element = build_feed(entries, feed_id=str(request.url_for("cap_feed")),
                             title="geowarn geological-hazard warnings (CAP 1.2)",
                             sender=options.sender, links=links)
        return Response(to_bytes(element), media_type=ATOM_MEDIA_TYPE)

    @router.get("/alerts/{warning_id}.xml", name="cap_alert", response_class=Response,
                responses={200: {"content": {CAP_MEDIA_TYPE: {}},
                                 "description": "a CAP 1.2 alert"},
                           404: {"model": ErrorMessage,
                                 "description": "no such warning or transition"}},
                summary="The CAP 1.2 message of a warning: its latest, or the one of `transition`")
    def alert(
        request: Request,
        session: SessionDep,
        user: Reader,
        warning_id: Annotated[str, Path(max_length=64, description="warning id")],
        transition: Annotated[str | None, Query(
            max_length=64, description="id of the transition whose message to return "
                                       "(default: the latest)")] = None,
    ) -> Response:
        warning = cap_warning(session, warning_id)
        if (warning is None or not warning.transitions
                or not warning_in_scope(session, warning_id, user.scope)):
            raise WarningNotFound(warning_id)
        ids = [step.id for step in warning.transitions]
        if transition is None:
            index = len(ids) - 1
        elif transition in ids:
            index = ids.index(transition)
        else:
            raise CapMessageNotFound(warning_id, transition, ids)
        element = build_alert(warning, index, options, web=_web(request, warning))
        return Response(to_bytes(element), media_type=CAP_MEDIA_TYPE)

    return router
