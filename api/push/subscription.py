"""One WebSocket client's view of the push hub: its filters and its bounded queue.

The queue is bounded so that a client that stops reading costs a fixed
amount of memory and never slows the others down: when it is full the
subscription is closed with a reason and the socket handler disconnects the
client, which can reconnect and reload the current state over REST.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Protocol

import orjson

from streams.schemas import WarningEvent
from warning_models.levels import Level

CLOSE_POLICY = 1008        # policy violation: a bad filter, or the client did not keep up
CLOSE_GOING_AWAY = 1001    # the server is shutting down
CLOSE_INTERNAL = 1011      # the server cannot serve the subscription (e.g. no database)


def close_reason(text: str) -> str:
    """``text`` cut to the 123 bytes a close frame allows, on a character boundary."""
    return text.encode()[:123].decode(errors="ignore")


class Pushed(Protocol):
    """What a hub fans out: an event serialised once (``text``) with its id."""

    @property
    def event_id(self) -> str: ...

    @property
    def text(self) -> str: ...


class Matcher(Protocol):
    """A subscription's filter over the events of its hub."""

    def matches(self, event) -> bool: ...


@dataclass(frozen=True, slots=True)
class PushedEvent:
    """A warning event serialised once for every client, with what the filters look at."""

    event_id: str
    province: str | None
    rank: int
    text: str
    jurisdictions: frozenset[str] = frozenset()

    @classmethod
    def of(cls, event: WarningEvent) -> PushedEvent:
        rank = max(Level.parse(event.from_level), Level.parse(event.to_level))
        text = orjson.dumps({"type": "warning_event",
                             "event": event.model_dump(mode="json")}).decode()
        return cls(event.event_id, event.province, int(rank), text,
                   frozenset(event.jurisdictions))


@dataclass(frozen=True, slots=True)
class Filters:
    """``provinces``: names to keep (None: all). ``min_level``: keep events whose
    from- or to-level reaches it, so a client watching orange and above also
    hears when such a warning is downgraded or lifted."""

    provinces: frozenset[str] | None = None
    min_level: Level | None = None
    scope: Scope | None = None
    """The caller's provinces (None: the whole country); always applied."""

    def matches(self, event: PushedEvent) -> bool:
        if self.scope is not None and not self.scope.matches(event):
            return False
        if self.provinces is not None and event.province not in self.provinces:
            return False
        return self.min_level is None or event.rank >= self.min_level


@dataclass(frozen=True, slots=True)
class Scope:
    """A scoped caller's provinces: by name (events name their point's province) and by
    adcode (events list the jurisdictions concerned across borders)."""

    names: frozenset[str]
    adcodes: frozenset[str]

    def matches(self, event: PushedEvent) -> bool:
        return event.province in self.names or bool(self.adcodes & event.jurisdictions)


class Subscription:
    """Lives on the event loop; ``offer`` is called from the hub's fan-out only."""

    def __init__(self, filters: Matcher, queue_size: int) -> None:
        self.filters = filters
        self.queue: asyncio.Queue[str] = asyncio.Queue(maxsize=queue_size)
        self.closed = asyncio.Event()
        self.close_code: int | None = None
        self.close_reason: str | None = None

    def offer(self, event: Pushed) -> bool:
        """Queue the event if it matches; False when the client fell too far behind."""
        if self.closed.is_set():
            return False
        if not self.filters.matches(event):
            return True
        try:
            self.queue.put_nowait(event.text)
        except asyncio.QueueFull:
            self.close(CLOSE_POLICY,
                       f"client too slow: more than {self.queue.maxsize} events not yet received")
            return False
        return True

    def close(self, code: int, reason: str) -> None:
        if not self.closed.is_set():
            self.close_code, self.close_reason = code, close_reason(reason)
            self.closed.set()
