"""One asyncio timer for every VRRP instance's deadline on a loop.

A backup of 255 instances at 0.1 s has a master-down deadline per instance
that its master's adverts keep moving; the drivers re-arm lazily (see
``InstanceDriver._reschedule``), which still leaves several hundred wake-ups
a second.  Each asyncio TimerHandle costs an object and a push into the
loop's heap, whose comparisons are Python code (``TimerHandle.__lt__``);
here the deadlines live in one heap of tuples (compared in C) and the loop
holds a single handle, for the earliest.  When it fires, every deadline due
by then runs, in order of time and then of arming, as asyncio would run them.

A master of 255 instances at 0.1 s has an advert due every 0.4 ms, and a
wake-up of the loop (epoll, its timer handle, the timerfd) costs about as
much as the advert itself.  So a wake-up also runs the precise deadlines
(masters' adverts) that fall within ``EARLY`` after it, early: an advert may
leave up to ``EARLY`` before its deadline (those within ``EARLY`` of the
deadline the loop woke for), never after it because of this.
Only on a loop of asyncio's own clock (where the timerfd wake-ups are): a
loop on a virtual clock (tests) keeps every deadline exact.  The callback
sees the loop's time before its deadline and decides (engine/vrrp/driver.py
sends a steady master's advert as of its deadline and re-arms anything else
for the very deadline).  A deadline
armed during the run is never taken early in it, so such a re-arm cannot
loop.

A backup's deadlines (master-down, re-armed lazily about 800 times a second
at 255 instances x 0.1 s) are not precise: with ``GRID_MIN`` or more of
them pending, they wake the loop only at points of a ``GRID`` grid (the
times k x GRID), so those due within one grid step share a wake-up, with
each other and with the VRRP socket's reader, whose rests end on the same
grid (engine/net/vrrp_socket.py).  A master-down expiry is then up to GRID
later than its deadline (the failover goal: within 10 ms of
Master_Down_Interval); a backup of a few instances keeps exact deadlines.
Measured at 255 x 0.1 s beside a keepalived master, backup CPU over eight
alternating rounds: median 6.76 % of a core without the grid (2 ms rests),
5.65 % with it (4 ms rests on the grid); keepalived as that backup 4.54 %
(issue 13).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import sys
import weakref
from typing import Callable

from vipdeck.engine.vrrp import wakeup


class Ticket:
    """One armed deadline; ``cancel()`` drops it."""

    __slots__ = ("when", "fn", "precise")

    def __init__(self, when: float, fn: Callable[[], None] | None, precise: bool):
        self.when = when
        self.fn = fn
        self.precise = precise

    def cancel(self) -> None:
        self.fn = None

    def cancelled(self) -> bool:
        return self.fn is None


# a timerfd wake-up per precise deadline costs a loop iteration each (measured: a
# master of 255 instances at 0.1 s used twice the CPU with it); beyond this many
# pending, the loop's millisecond batching is the better trade
PRECISE_MAX = 32

# how early a precise deadline may run, in the batch of a wake-up before it
EARLY = 0.001

# the step of the grid the loop wakes on for deadlines that are not precise, and
# how many of those must be pending before it is used
GRID = 0.004
GRID_MIN = 16


def on_grid(when: float) -> float:
    """The first point of the grid at or after ``when``."""
    return math.ceil(when / GRID) * GRID


class Deadlines:
    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self._heap: list[tuple[float, int, Ticket]] = []
        self._seq = itertools.count()
        self._handle: asyncio.TimerHandle | None = None
        self._at: float | None = None
        self._wakeup = wakeup.for_loop(loop)
        self._precise = 0             # precise tickets in the heap
        self._running = False         # in _run: it arms the loop once, when done
        self.early = EARLY if self._wakeup is not None else 0.0
        self.grid = GRID if self._wakeup is not None else 0.0      # exact on a virtual clock

    def call_at(self, when: float, fn: Callable[[], None], *, precise: bool = False) -> Ticket:
        """``fn()`` at ``when``; ``precise``: wake the loop on the dot for it
        (a master's advert: see engine/vrrp/wakeup.py), not up to a millisecond late."""
        t = Ticket(when, fn, precise)
        heapq.heappush(self._heap, (when, next(self._seq), t))
        self._precise += precise
        if not self._running and (self._at is None or self._wake_for(when, precise) < self._at):
            self._arm(when, precise)
        return t

    def again(self, t: Ticket, when: float) -> Ticket:
        """Arm ``t`` once more, for ``when``: only from ``t``'s own callback (it
        has left the heap then), which saves a steady master a new Ticket per advert."""
        t.when = when
        heapq.heappush(self._heap, (when, next(self._seq), t))
        self._precise += t.precise
        if not self._running and (self._at is None or self._wake_for(when, t.precise) < self._at):
            self._arm(when, t.precise)
        return t

    def due(self) -> bool:
        """Whether the loop's wake-up for a deadline has come and its run has not."""
        at = self._at
        return at is not None and at <= self.loop.time()

    def _wake_for(self, when: float, precise: bool) -> float:
        """When the loop wakes for a deadline at ``when``: on the dot for a precise
        one, at the next point of the grid for the others while many are pending."""
        if precise or not self.grid or len(self._heap) - self._precise < GRID_MIN:
            return when
        return math.ceil(when / self.grid) * self.grid

    def _arm(self, when: float, precise: bool) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._at = when = self._wake_for(when, precise)
        self._handle = self.loop.call_at(when, self._run)
        if precise and self._wakeup is not None and self._precise <= PRECISE_MAX:
            self._wakeup.at(when)

    def _run(self) -> None:
        at = self._at or 0.0
        due = max(self.loop.time(), at)
        self._handle, self._at = None, None
        heap = self._heap
        # the callbacks re-arm (a master's next advert): without this the first of
        # them armed a loop handle that the end of the run then cancelled for the
        # earliest, two TimerHandles and their heap pushes per wake-up instead of one
        self._running = True
        first = next(self._seq)       # what is armed from here on waits for its own wake-up
        # the window follows the deadline woken for, not the wake-up (up to a millisecond
        # late, asyncio's rounding): which adverts share a wake-up stays the same from one
        # round to the next, so each keeps its interval
        early = at + self.early
        try:
            while heap:
                when, seq, t = heap[0]
                if when > due and (when > early or not t.precise or seq > first):
                    break             # not due, and not a master's advert to take early
                heapq.heappop(heap)
                self._precise -= t.precise
                fn = t.fn
                if fn is not None:
                    try:
                        fn()
                    except Exception:  # as asyncio would: report, go on with the others
                        self.loop.call_exception_handler({"message": "VRRP deadline callback failed",
                                                          "exception": sys.exc_info()[1]})
        finally:
            self._running = False
        while heap and heap[0][2].fn is None:
            self._precise -= heapq.heappop(heap)[2].precise
        if heap and (self._at is None or heap[0][0] < self._at):
            self._arm(heap[0][0], heap[0][2].precise)


_BY_LOOP: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Deadlines]" = weakref.WeakKeyDictionary()


def for_loop(loop: asyncio.AbstractEventLoop) -> Deadlines:
    d = _BY_LOOP.get(loop)
    if d is None:
        d = _BY_LOOP[loop] = Deadlines(loop)
    return d


async def after_due() -> None:
    """Return once no VRRP deadline of this loop is due: follow-up work (a
    takeover's VIPs and gratuitous ARPs, run as tasks) lets the adverts of the
    instances whose master-down has come go first.  asyncio runs the tasks
    already queued before the timers that fell due meanwhile, so 255 VRIDs
    taking over at once had each later advert wait behind the earlier ones'
    VIP and GARP work."""
    d = _BY_LOOP.get(asyncio.get_running_loop())
    while d is not None and d.due():
        await asyncio.sleep(0)
