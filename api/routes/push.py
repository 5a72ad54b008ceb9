"""WebSocket /ws/warnings: every warning event, live, as the ledger publishes it.

Messages are JSON text frames: first ``{"type": "hello", ...}``, then
``{"type": "warning_event", "event": <WarningEvent>}`` per event. Only events
issued after the API process started are pushed; a client loads the current
state from GET /warnings and then follows this socket. A client that falls
too far behind is closed with code 1008 and a reason, and should reconnect
and reload.

The socket needs read access: a bearer token in the ``Authorization`` header
or, for browsers, in the ``access_token`` query parameter. A refusal closes
the handshake with 1008 and the reason. A scoped caller only hears the
warnings that concern its provinces (by the point's province, or the
event's cross-border jurisdictions).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import orjson
from fastapi import APIRouter, WebSocket
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.exc import SQLAlchemyError
from starlette.websockets import WebSocketDisconnect

from api.auth.roles import Principal
from api.deps import HubDep, SessionFactoryDep, SocketReader
from api.errors import Forbidden, InvalidQuery
from api.params import parse_level
from api.push.pump import pump
from api.push.subscription import (
    CLOSE_INTERNAL,
    CLOSE_POLICY,
    Filters,
    Scope,
    close_reason,
)
from store.read import is_adcode, province_names

log = logging.getLogger(__name__)

router = APIRouter(tags=["push"])


@router.websocket("/ws/warnings")
async def warnings_socket(websocket: WebSocket, hub: HubDep, sessions: SessionFactoryDep,
                          user: SocketReader, province: str | None = None,
                          min_level: str | None = None) -> None:
    """``province``: a name or adcode; ``min_level``: a colour or tier (see ``Filters``)."""
    await websocket.accept()
    try:
        filters = await _filters(sessions, province, min_level, user)
    except (InvalidQuery, Forbidden) as exc:
        await websocket.close(code=CLOSE_POLICY, reason=close_reason(str(exc)))
        return
    except SQLAlchemyError:
        await websocket.close(code=CLOSE_INTERNAL,
                              reason="the database is unavailable; see /health")
        return
    subscription = hub.subscribe(filters)
    level = None if filters.min_level is None else filters.min_level.label
    try:
        await websocket.send_text(orjson.dumps({
            "type": "hello",
            "server_time": datetime.now(UTC),
            "filters": {"province": province, "min_level": level},
            "broker_connected": hub.connected,
            "queue_limit": hub.queue_size,
        }).decode())
        await pump(websocket, subscription)
    except WebSocketDisconnect:
        pass
    finally:
        hub.unsubscribe(subscription)


async def _filters(sessions, province: str | None, min_level: str | None,
                   user: Principal) -> Filters:
    level = None if min_level is None else parse_level("min_level", min_level)
    scope = None if user.scope is None else await run_in_threadpool(_scope, sessions, user)
    if province is None:
        return Filters(None, level, scope)
    if not is_adcode(province):
        if scope is not None and province not in scope.names:
            raise Forbidden(f"{user.label} may not read warnings of {province}")
        return Filters(frozenset({province}), level, scope)

    def lookup() -> list[str]:
        with sessions() as session:
            return province_names(session, province)

    names = await run_in_threadpool(lookup)
    if not names:
        raise InvalidQuery("province", f"no risk point has the province adcode {province}",
                           province)
    user.check_scope([province], "read")
    return Filters(frozenset(names), level, scope)


def _scope(sessions, user: Principal) -> Scope:
    with sessions() as session:
        names = {name for adcode in user.scope for name in province_names(session, adcode)}
    return Scope(frozenset(names), frozenset(user.scope))
