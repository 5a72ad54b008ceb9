"""Webhook notifications: a signed JSON POST per delivery.

The request carries

- ``X-Geowarn-Timestamp``: Unix time (seconds) of the attempt;
- ``X-Geowarn-Signature``: ``sha256=`` + hex HMAC-SHA256, keyed with the
  subscription's secret, of ``<timestamp>.`` followed by the raw body bytes;
- ``X-Geowarn-Delivery``: the delivery id, the same on every retry (receivers
  drop duplicates by it); ``X-Geowarn-Event``: the warning event id.

A receiver verifies with ``verify_signature`` or its own equivalent: recompute
the HMAC over the timestamp header, a dot and the body exactly as received,
compare in constant time, and refuse timestamps more than a few minutes from
its clock (so a captured request cannot be replayed later).

Answers: 2xx is delivered; 408, 429 and 5xx, timeouts and connection errors
are retried; any other status (4xx, and 3xx: redirects are not followed) fails
the delivery at once.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable

import httpx
import orjson

from store.notifications import DueDelivery, Outcome

TIMESTAMP_HEADER = "X-Geowarn-Timestamp"
SIGNATURE_HEADER = "X-Geowarn-Signature"
DELIVERY_HEADER = "X-Geowarn-Delivery"
EVENT_HEADER = "X-Geowarn-Event"
RETRYABLE_STATUSES = frozenset({408, 429})
ERROR_LIMIT = 500


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """``sha256=<hex>``: HMAC-SHA256 with ``secret`` of ``b"<timestamp>." + body``."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def verify_signature(secret: str, timestamp: str | None, signature: str | None, body: bytes,
                     *, now: float, tolerance_s: float = 300.0) -> bool:
    """Whether a received webhook is authentic and fresh (what a receiver should do)."""
    if not timestamp or not signature or not (timestamp.isascii() and timestamp.isdigit()):
        return False
    if abs(now - int(timestamp)) > tolerance_s:
        return False
    # Bytes: compare_digest raises TypeError on str with non-ASCII characters (any header).
    expected = sign(secret, int(timestamp), body).encode()
    return hmac.compare_digest(expected, signature.encode("utf-8", "surrogateescape"))


def webhook_body(delivery: DueDelivery, link: str) -> bytes:
    """The JSON body: the warning event (``geowarn.warning-events`` schema) and context."""
    return orjson.dumps({
        "type": "warning_event",
        "delivery_id": delivery.id,
        "subscription": {"id": delivery.subscription_id, "name": delivery.subscription_name},
        "link": link,
        "event": delivery.payload,
    })


def outcome_of_status(status: int) -> Outcome:
    """Delivered, retried or failed, from the receiver's HTTP status."""
    if 200 <= status < 300:
        return Outcome.ok(status)
    if status in RETRYABLE_STATUSES or status >= 500:
        return Outcome.temporary(status, f"HTTP {status}")
    return Outcome.permanent(status, f"HTTP {status}: refused by the receiver")


class WebhookSender:
    """Sends deliveries of webhook subscriptions; one connection pool, thread-safe."""

    def __init__(self, *, timeout_s: float, link: Callable[[dict], str],
                 clock: Callable[[], float] = time.time, user_agent: str = "geowarn-notifier"
                 ) -> None:
        self._client = httpx.Client(timeout=timeout_s, follow_redirects=False,
                                    headers={"User-Agent": user_agent})
        self._timeout_s = timeout_s
        self._link = link
        self._clock = clock

    def send(self, delivery: DueDelivery) -> Outcome:
        if not delivery.secret:
            return Outcome.permanent(None, "the subscription has no signing secret")
        body = webhook_body(delivery, self._link(delivery.payload))
        timestamp = int(self._clock())
        headers = {"Content-Type": "application/json", TIMESTAMP_HEADER: str(timestamp),
                   SIGNATURE_HEADER: sign(delivery.secret, timestamp, body),
                   DELIVERY_HEADER: delivery.id,
                   EVENT_HEADER: str(delivery.payload.get("event_id", ""))}
        try:
            # Streamed and closed unread: only the status matters, and a receiver's body
            # (of any size, or one that never ends) must not hold a sending thread.
            with self._client.stream("POST", delivery.target, content=body,
                                     headers=headers) as response:
                status = response.status_code
        except httpx.TimeoutException:
            return Outcome.temporary(None, f"no answer within {self._timeout_s:g} s")
        except httpx.TransportError as exc:
            return Outcome.temporary(None, f"{type(exc).__name__}: {exc}"[:ERROR_LIMIT])
        except httpx.HTTPError as exc:  # e.g. an unusable URL: retrying cannot help
            return Outcome.permanent(None, f"{type(exc).__name__}: {exc}"[:ERROR_LIMIT])
        return outcome_of_status(status)

    def close(self) -> None:
        self._client.close()
