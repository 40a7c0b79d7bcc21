"""The event spine: every happening in the engine is appended here once.

Consumers (control socket followers, the embedded console, the log, the
audit trail) read the same ring buffer; slow consumers get their own bounded
queue and lose the oldest events rather than slowing the engine down.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from typing import Any, Callable

from vipdeck.engine.control.schema import Event

log = logging.getLogger("vipdeck.events")

_LEVELS = {"info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}
# kinds whose owners log keepalived's own line for them (engine.logforms): the
# event's copy is for -D only, so syslog reads like keepalived's, one line each
_LOGGED_BY_OWNER = frozenset({"transition", "check", "rs_state"})

# emit(kind, message, severity="info", **fields) -> the event: what a part gets instead of the bus
Emit = Callable[..., dict]


class EventBus:
    def __init__(self, capacity: int = 5000, clock: Callable[[], float] = time.time):
        self._ring: collections.deque[dict] = collections.deque(maxlen=capacity)
        self._seq = 0
        self._queues: set[asyncio.Queue] = set()
        self._listeners: list[Callable[[dict], None]] = []
        self._clock = clock

    @property
    def last_seq(self) -> int:
        return self._seq

    def emit(self, kind: str, message: str, severity: str = "info", **fields: Any) -> Event:
        self._seq += 1
        event = {"seq": self._seq, "time": self._clock(), "kind": kind, "severity": severity,
                 "message": message, **fields}
        self._ring.append(event)
        level = _LEVELS.get(severity, logging.INFO)
        if kind in _LOGGED_BY_OWNER and level < logging.ERROR and (kind != "transition" or "to" in fields):
            level = logging.DEBUG
        log.log(level, "%s: %s", kind, message, extra={"event_kind": kind})
        for q in list(self._queues):
            if q.full():
                try:
                    q.get_nowait()  # drop the oldest for this slow reader
                except asyncio.QueueEmpty:
                    pass
            q.put_nowait(event)
        for fn in list(self._listeners):
            try:
                fn(event)
            except Exception:  # a listener never breaks the engine
                log.exception("event listener failed")
        return event

    def since(self, seq: int = 0, limit: int | None = None, kinds: set[str] | None = None) -> list[Event]:
        out = [e for e in self._ring if e["seq"] > seq and (kinds is None or e["kind"] in kinds)]
        return out[-limit:] if limit else out

    def follow(self, since: int = 0) -> "Follower":
        """The events after ``since``, then each new one (``Follower``)."""
        return Follower(self, since)

    def subscribe(self, maxsize: int = 10000) -> asyncio.Queue:
        q: asyncio.Queue = asyncio.Queue(maxsize)
        self._queues.add(q)
        return q

    def unsubscribe(self, q: asyncio.Queue) -> None:
        self._queues.discard(q)

    def add_listener(self, fn: Callable[[dict], None]) -> None:
        self._listeners.append(fn)


class Follower:
    """One reader of the stream: ``backlog`` (the ring's events after ``since``),
    then every new event by ``async for``, none lost or repeated between the
    two (it subscribes before it reads the ring).  The control socket's
    ``events`` with ``follow`` and the embedded client both read through one;
    a slow follower loses the oldest events, not the engine its speed."""

    def __init__(self, bus: EventBus, since: int = 0):
        self._bus = bus
        self._queue = bus.subscribe()
        self.backlog = bus.since(since)
        self.last = self.backlog[-1]["seq"] if self.backlog else since

    def __aiter__(self) -> "Follower":
        return self

    async def __anext__(self) -> Event:
        while True:
            ev = await self._queue.get()
            if ev["seq"] > self.last:
                self.last = ev["seq"]
                return ev

    def close(self) -> None:
        self._bus.unsubscribe(self._queue)

    def __enter__(self) -> "Follower":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
