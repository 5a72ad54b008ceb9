"""Sending a subscription's events down a WebSocket until either side ends it."""

from __future__ import annotations

import contextlib
import logging

import anyio
from fastapi import WebSocket
from starlette.websockets import WebSocketDisconnect

from api.push.subscription import Subscription

log = logging.getLogger(__name__)


async def pump(websocket: WebSocket, subscription: Subscription) -> None:
    """Send queued events until the client leaves or the hub closes the subscription.

    Three tasks in one anyio task group (as Starlette's own streaming does):
    the first to finish cancels the others, and a cancellation of the
    handler itself reaches all three.
    """
    first: list[str] = []
    async with anyio.create_task_group() as group:
        async def until(name: str, wait) -> None:
            try:
                await wait()
            except (WebSocketDisconnect, OSError, RuntimeError) as exc:
                log.debug("push socket %s ended: %r", name, exc)  # the client went away
            first.append(name)
            group.cancel_scope.cancel()

        group.start_soon(until, "sender", lambda: _send(websocket, subscription))
        group.start_soon(until, "receiver", lambda: _until_disconnect(websocket))
        group.start_soon(until, "closed", subscription.closed.wait)
    if first[:1] == ["closed"]:
        with anyio.move_on_after(2.0), contextlib.suppress(Exception):
            await websocket.close(code=subscription.close_code or 1000,
                                  reason=subscription.close_reason or "")


async def _send(websocket: WebSocket, subscription: Subscription) -> None:
    while True:
        await websocket.send_text(await subscription.queue.get())


async def _until_disconnect(websocket: WebSocket) -> None:
    """Incoming frames are ignored; only the disconnect matters."""
    while (await websocket.receive())["type"] != "websocket.disconnect":
        pass
