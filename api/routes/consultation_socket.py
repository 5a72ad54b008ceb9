"""WebSocket /ws/consultations/{id}: a consultation's changes, live.

Frames are JSON text: first ``{"type": "hello", "consultation_id", "status",
...}``, then ``{"type": "message" | "decision" | "participant" | "closed",
"consultation_id": ..., ...payload}`` where the payload is the message,
decision or participant as GET /consultations/{id} shows it, or the closing
(``summary``, ``closed_by``, ``closed_at``). A client opens the socket
first and then loads GET /consultations/{id}, so that nothing falls between
the two; an event may then arrive that the load already showed (match ids).

Open to the consultation's participants and to officers whose provinces it
concerns; the token goes in ``Authorization`` or ``access_token``. A
refusal closes the socket with 1008 and the reason.
"""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
from fastapi import APIRouter, WebSocket
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.exc import SQLAlchemyError
from starlette.websockets import WebSocketDisconnect

from api.consultation_access import check_socket
from api.deps import SessionFactoryDep, SocketReader
from api.errors import ConsultationNotFoundError, Forbidden
from api.push.consultations import ForConsultation
from api.push.hub import PushHub
from api.push.pump import pump
from api.push.subscription import CLOSE_INTERNAL, CLOSE_POLICY, close_reason
from api.routes.consultations import load_access

router = APIRouter(tags=["consultations"])


@router.websocket("/ws/consultations/{consultation_id}")
async def consultation_socket(websocket: WebSocket, consultation_id: str,
                              sessions: SessionFactoryDep, user: SocketReader) -> None:
    await websocket.accept()

    def access():
        with sessions() as session:
            return load_access(session, consultation_id)

    try:
        found = await run_in_threadpool(access)
        check_socket(user, found)
    except (ConsultationNotFoundError, Forbidden) as exc:
        await websocket.close(code=CLOSE_POLICY, reason=close_reason(str(exc)))
        return
    except SQLAlchemyError:
        await websocket.close(code=CLOSE_INTERNAL,
                              reason="the database is unavailable; see /health")
        return
    hub: PushHub = websocket.app.state.consultation_hub
    subscription = hub.subscribe(ForConsultation(found.id))
    try:
        await websocket.send_text(orjson.dumps({
            "type": "hello", "consultation_id": found.id, "status": found.status,
            "server_time": datetime.now(UTC), "broker_connected": hub.connected,
            "queue_limit": hub.queue_size}).decode())
        await pump(websocket, subscription)
    except WebSocketDisconnect:
        pass
    finally:
        hub.unsubscribe(subscription)
