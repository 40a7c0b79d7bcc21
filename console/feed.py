"""One node's data feed: what an engine says, delivered to the app as messages.

A feed owns everything about listening to one engine through one ``Client``:
it follows the event stream (reconnecting with a capped backoff, resuming
after the last event seen), fetches snapshots at a bounded pace and keeps the
link's state: connected, stale, reconnecting, last heard.  The app only
receives messages, so a console watching several nodes (the cluster view:
the local daemon plus peers over ssh) runs one feed per node and merges
their messages; nothing in a feed knows about screens.

Pacing (why the console stays responsive with 255 VRIDs at 10 adverts/s):
events mark the snapshot dirty (except kinds that do not change it); a tick
every ``coalesce`` seconds posts the events gathered since the last one as
one batch and fetches at most one snapshot, at least one per
``refresh_interval``, never two within ``4 x`` the time the app took to show
(and paint) the last one, and never a second before the app has painted the
first (``shown``), so a slow screen slows the feed instead of queueing snapshots.

Link state: ``connected`` and ``error`` come from the last snapshot request
(an event stream that ends or fails only asks for a snapshot at once: if
the engine is gone that request says so, if not the stream resumes after
its backoff and nothing was lost).  A failed request is retried after 0.5 s,
1 s, 2 s ... at most 5 s; a request gets no more than ``fetch_timeout``
(a peer behind a stalled ssh neither answers nor fails).  ``stale``: no
reply at all for more than ``stale_after`` seconds, so what is shown of the
node may be out of date.

``FeedCore`` makes every decision from the time it is given (no clock, no
sleeping, no I/O: unit tests run it on plain numbers); ``NodeFeed`` is its
asyncio driver.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from textual.message import Message

from vipdeck.engine.control.schema import ControlError

log = logging.getLogger("vipdeck.console.feed")

# event kinds that do not change what a snapshot shows; every other kind
# (including ones added to the engine later) makes the snapshot dirty
QUIET_KINDS = frozenset({"notify", "smtp"})

# what a request to an engine that went away raises (anything else is a bug, reported as one)
EXPECTED_ERRORS = (ControlError, OSError, EOFError, ValueError, KeyError)


@dataclass(frozen=True)
class LinkState:
    """How the console hears one node.  ``last_heard`` (monotonic) is left
    out of equality: a new state is posted when what it says changes, not
    on every reply."""

    node: str
    connected: bool = False
    error: str | None = None           # why not connected (None: not tried yet, or fine)
    reconnecting: bool = False          # a retry is scheduled (at ``retry_at``)
    retry_at: float | None = None
    stale: bool = False                 # nothing heard for more than ``stale_after``
    stale_after: float = 0.0
    last_heard: float | None = field(default=None, compare=False)

    def heard_ago(self, now: float) -> float | None:
        return None if self.last_heard is None else max(0.0, now - self.last_heard)


class Backoff:
    """0.5 s, 1 s, 2 s ... capped: how long to wait after consecutive failures."""

    def __init__(self, base: float = 0.5, cap: float = 5.0):
        self.base, self.cap = base, cap
        self.attempts = 0               # consecutive failures
        self.retry_at: float | None = None

    def failed(self, now: float) -> None:
        """One failure; a second one while the first is still being waited out
        does not lengthen the wait."""
        if self.retry_at is not None and now < self.retry_at:
            return
        self.attempts += 1
        self.retry_at = now + min(self.cap, self.base * 2 ** (self.attempts - 1))

    def ok(self) -> None:
        self.attempts = 0
        self.retry_at = None

    def wait(self, now: float) -> float:
        """Seconds before the next attempt (0: now)."""
        return 0.0 if self.retry_at is None else max(0.0, self.retry_at - now)


class FeedCore:
    """The feed's decisions, sans-IO: the caller passes ``now`` (monotonic)."""

    def __init__(self, node: str, *, coalesce: float = 0.25, refresh_interval: float = 1.0,
                 stale_after: float | None = None, max_events: int = 2000,
                 backoff_base: float = 0.5, backoff_cap: float = 5.0):
        self.node = node
        self.coalesce = coalesce
        self.refresh_interval = refresh_interval
        self.stale_after = stale_after if stale_after is not None else max(3.0, 3 * refresh_interval)
        self.max_events = max_events
        self.snapshots = Backoff(backoff_base, backoff_cap)
        self.stream = Backoff(backoff_base, backoff_cap)
        self.last_seq = 0
        self.pending: list[dict] = []
        self.dirty = True
        self.in_flight = False
        self.unshown = False            # a snapshot was handed over and not shown yet
        self.last_fetch = float("-inf")
        self.min_gap = coalesce
        self.fetch_count = 0
        self.connected = False
        self.error: str | None = None
        self.stream_error: str | None = None
        self.last_heard: float | None = None

    # -- events ----------------------------------------------------------------------------

    def event(self, ev: dict, now: float) -> bool:
        """An event from the stream; False for one seen already (a resumed stream)."""
        seq = ev.get("seq")
        if isinstance(seq, int):
            if seq <= self.last_seq:
                return False
            self.last_seq = seq
        self.last_heard = now
        self.stream.ok()
        self.stream_error = None
        self.pending.append(ev)
        if len(self.pending) > self.max_events:
            del self.pending[: len(self.pending) - self.max_events]
        if ev.get("kind") not in QUIET_KINDS:
            self.dirty = True
        return True

    def take_events(self) -> list[dict]:
        batch, self.pending = self.pending, []
        return batch

    def stream_ended(self, now: float, error: str) -> None:
        """The event stream ended or failed: retry it after the backoff, and
        check the engine with a snapshot at once."""
        self.stream_error = error
        self.stream.failed(now)
        self.dirty = True

    def stream_lasted(self, seconds: float) -> None:
        """A stream that stayed open this long was healthy, events or not."""
        if seconds >= self.stream.cap:
            self.stream.ok()

    # -- snapshots ---------------------------------------------------------------------------

    def refresh(self) -> None:
        """Fetch a snapshot at the next tick (after a change was sent, say)."""
        self.dirty = True

    def fetch_due(self, now: float) -> bool:
        if self.in_flight or self.unshown or self.snapshots.wait(now) > 0:
            return False
        if now - self.last_fetch < self.min_gap:
            return False        # a big snapshot costs a lot to show: keep the console's share of CPU bounded
        return self.dirty or now - self.last_fetch >= self.refresh_interval

    def fetch_started(self, now: float) -> None:
        self.dirty = False
        self.in_flight = True
        self.last_fetch = now

    def fetch_ok(self, now: float) -> None:
        self.in_flight = False
        self.fetch_count += 1
        self.unshown = True
        self.connected = True
        self.error = None
        self.last_heard = now
        self.snapshots.ok()

    def fetch_failed(self, now: float, error: str) -> None:
        self.in_flight = False
        self.fetch_count += 1
        self.connected = False
        self.error = error
        self.snapshots.failed(now)
        self.dirty = True                # retry as soon as the backoff allows

    def shown(self, cost: float) -> None:
        """The app showed the last snapshot, which took ``cost`` seconds."""
        self.unshown = False
        self.min_gap = max(self.coalesce, 4 * cost)

    # -- state -------------------------------------------------------------------------------

    def state(self, now: float) -> LinkState:
        stale = self.last_heard is None or now - self.last_heard > self.stale_after
        waiting = not self.connected and self.snapshots.retry_at is not None
        return LinkState(self.node, self.connected, self.error, waiting,
                         self.snapshots.retry_at if waiting else None,
                         stale and self.last_heard is not None, self.stale_after, self.last_heard)


class NodeFeed:
    """The asyncio driver of one node's ``FeedCore``: posts ``NodeFeed.Events``,
    ``NodeFeed.Snapshot`` and ``NodeFeed.Status`` through ``post`` (the app's
    ``post_message``; a list's ``append`` in unit tests)."""

    class Events(Message):
        """A batch of new events from one node, oldest first."""

        def __init__(self, feed: "NodeFeed", events: list[dict]):
            super().__init__()
            self.feed, self.node, self.events = feed, feed.node, events

    class Snapshot(Message):
        """A snapshot of one node; the handler calls ``feed.shown(cost)`` once it is on screen."""

        def __init__(self, feed: "NodeFeed", raw: dict):
            super().__init__()
            self.feed, self.node, self.raw = feed, feed.node, raw

    class Status(Message):
        """The link state of one node changed."""

        def __init__(self, feed: "NodeFeed", state: LinkState):
            super().__init__()
            self.feed, self.node, self.state = feed, feed.node, state

    def __init__(self, client: Any, post: Callable[[Message], Any], *, node: str = "local",
                 coalesce: float = 0.25, refresh_interval: float = 1.0, stale_after: float | None = None,
                 fetch_timeout: float = 5.0, max_events: int = 2000,
                 backoff_base: float = 0.5, backoff_cap: float = 5.0,
                 clock: Callable[[], float] = time.monotonic):
        self.client = client
        self.node = node
        self.post = post
        self.clock = clock
        self.fetch_timeout = fetch_timeout
        self.core = FeedCore(node, coalesce=coalesce, refresh_interval=refresh_interval,
                             stale_after=stale_after, max_events=max_events,
                             backoff_base=backoff_base, backoff_cap=backoff_cap)
        self._posted: LinkState | None = None
        self._tasks: set[asyncio.Task] = set()
        self._running = False

    # -- what the app reads and says -----------------------------------------------------------

    @property
    def state(self) -> LinkState:
        return self.core.state(self.clock())

    @property
    def last_seq(self) -> int:
        return self.core.last_seq

    @property
    def fetch_count(self) -> int:
        return self.core.fetch_count

    def refresh(self) -> None:
        self.core.refresh()

    def shown(self, cost: float) -> None:
        self.core.shown(cost)

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self) -> None:
        if self._running:
            return
        self._running = True
        self._spawn(self._follow_loop(), f"follow {self.node}")
        self._spawn(self._tick_loop(), f"tick {self.node}")

    async def stop(self) -> None:
        self._running = False
        tasks = list(self._tasks)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _spawn(self, coro, name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=f"vipdeck feed: {name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- the loops ----------------------------------------------------------------------------------

    def tick(self) -> None:
        """Post the events gathered, start a snapshot fetch if one is due, post a
        changed link state.  Called every ``coalesce`` seconds."""
        now = self.clock()
        batch = self.core.take_events()
        if batch:
            self.post(NodeFeed.Events(self, batch))
        if self.core.fetch_due(now):
            self.core.fetch_started(now)
            self._spawn(self._fetch(), f"snapshot {self.node}")
        self._post_state()

    async def _tick_loop(self) -> None:
        while self._running:
            self.tick()
            await asyncio.sleep(self.core.coalesce)

    async def _fetch(self) -> None:
        try:
            raw = await asyncio.wait_for(self.client.snapshot(), self.fetch_timeout)
        except asyncio.TimeoutError:
            self.core.fetch_failed(self.clock(), f"no snapshot within {self.fetch_timeout:g} s")
        except ControlError as exc:
            self.core.fetch_failed(self.clock(), exc.message)
        except EXPECTED_ERRORS as exc:
            self.core.fetch_failed(self.clock(), f"snapshot failed: {exc}")
        except asyncio.CancelledError:
            self.core.in_flight = False
            raise
        except Exception as exc:   # a bug: shown as the node's error, the console goes on
            log.exception("snapshot of %s failed", self.node)
            self.core.fetch_failed(self.clock(), f"snapshot failed: {type(exc).__name__}: {exc}")
        else:
            self.core.fetch_ok(self.clock())
            self._post_state()
            self.post(NodeFeed.Snapshot(self, raw))
            return
        self._post_state()

    async def _follow_loop(self) -> None:
        while self._running:
            wait = self.core.stream.wait(self.clock())
            if wait > 0:
                await asyncio.sleep(wait)      # retry pacing while the engine is away
            opened = self.clock()
            try:
                async for ev in self.client.follow(self.core.last_seq):
                    self.core.event(ev, self.clock())
                error = "event stream closed"
            except ControlError as exc:
                error = exc.message
            except EXPECTED_ERRORS as exc:
                error = f"event stream failed: {exc}"
            except Exception as exc:   # a bug: reported, retried like a failure
                log.exception("event stream of %s failed", self.node)
                error = f"event stream failed: {type(exc).__name__}: {exc}"
            now = self.clock()
            self.core.stream_lasted(now - opened)
            self.core.stream_ended(now, error)

    def _post_state(self) -> None:
        state = self.core.state(self.clock())
        if state != self._posted:
            self._posted = state
            self.post(NodeFeed.Status(self, state))

    def __repr__(self) -> str:
        return f"NodeFeed({self.node!r})"

