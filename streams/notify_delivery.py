"""The notifier's delivery loop: send due deliveries, record each attempt.

Every round claims as many due pending deliveries as it sends at once
(``store.notifications.claim_due``: a lease, so two notifier processes never
send one row at once), sends them on that many threads and records each
outcome in its own transaction as soon as it is known, so that a crash loses
at most the attempts in flight; those fall due again when their lease ends
(receivers drop the rare repeat by the delivery id). Claiming more than it
sends at once would leave claimed rows queued behind slow receivers until
their lease ran out and another notifier claimed and sent them too. Retries follow the ``RetryPolicy``: exponential backoff up to
``max_attempts``, then ``failed``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Protocol

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from store.db import session_scope
from store.notifications import DueDelivery, Outcome, RetryPolicy, claim_due, record_outcome

log = logging.getLogger(__name__)


class Sender(Protocol):
    """One channel (webhook, email): sends a delivery, never raises."""

    def send(self, delivery: DueDelivery) -> Outcome: ...


def warning_link(public_url: str) -> Callable[[dict], str]:
    """The link to a warning in notifications: ``<public_url>/warnings/<id>``."""
    base = public_url.rstrip("/")
    return lambda payload: f"{base}/warnings/{payload['warning_id']}"


class Dispatcher:
    """Sends due deliveries through the sender of their channel."""

    def __init__(self, sessions: sessionmaker[Session], senders: Mapping[str, Sender], *,
                 policy: RetryPolicy, clock: Callable[[], datetime], concurrency: int = 4
                 ) -> None:
        self._sessions = sessions
        self._senders = dict(senders)
        self.policy = policy
        self._clock = clock
        self._concurrency = concurrency
        self._pool = ThreadPoolExecutor(max_workers=concurrency,
                                        thread_name_prefix="notify-send")
        self._wake = threading.Event()

    def wake(self) -> None:
        """New deliveries were written: look for due ones now instead of after the interval."""
        self._wake.set()

    def run_once(self) -> dict[str, str]:
        """Claim and send one round of due deliveries (at most one per sending thread, all
        sent at once); returns delivery id -> new status."""
        with session_scope(self._sessions, write_lock=True) as session:
            due = claim_due(session, now=self._clock(), limit=self._concurrency,
                            lease_s=self.policy.lease_s)
        results = self._pool.map(self._deliver, due)
        return dict(zip((d.id for d in due), results, strict=True))

    def run(self, stop: threading.Event, interval_s: float) -> None:
        """Rounds until ``stop``; waits ``interval_s`` (or a wake-up) when nothing was due."""
        while not stop.is_set():
            try:
                sent = self.run_once()
            except DBAPIError as exc:
                log.warning("notifier could not read due deliveries (%s); retrying", exc)
                sent = {}
            except Exception:  # a bug must not silently end the deliveries of a live worker
                log.exception("notifier delivery round failed; retrying")
                sent = {}
            if not sent:
                self._wake.wait(interval_s)
                self._wake.clear()

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        for sender in self._senders.values():
            close = getattr(sender, "close", None)
            if close is not None:
                close()

    def _deliver(self, delivery: DueDelivery) -> str:
        sender = self._senders.get(delivery.channel)
        if sender is None:
            outcome = Outcome.permanent(None, f"no sender for channel {delivery.channel!r}")
        else:
            try:
                outcome = sender.send(delivery)
            except Exception as exc:  # one broken send must not stop the others
                log.exception("notifier: sending delivery %s failed unexpectedly", delivery.id)
                outcome = Outcome.temporary(None, f"{type(exc).__name__}: {exc}"[:500])
        try:
            with session_scope(self._sessions, write_lock=True) as session:
                status = record_outcome(session, delivery.id, outcome, now=self._clock(),
                                        policy=self.policy)
        except DBAPIError as exc:
            # The lease ends and the delivery is sent again: at least once.
            log.warning("notifier could not record delivery %s (%s)", delivery.id, exc)
            return "pending"
        level = logging.INFO if outcome.delivered else logging.WARNING
        log.log(level, "notifier: delivery %s by %s to %r, attempt %d: %s%s", delivery.id,
                delivery.channel, delivery.subscription_name, delivery.attempts + 1, status,
                "" if outcome.delivered else f" ({outcome.error})")
        return status
