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
grid (engine/net/vrrp_socket.py).  The driver arms such a deadline a grid
step early and, when it has not moved by then (its master has really gone
quiet), waits for it as an ``exact`` ticket, off the grid: a master-down
expires on its deadline, and only the lazy re-arms pay the grid's lateness.
The exact tickets (and the precise ones) have a heap of their own, so the
grid point of a backup's deadline never holds back a master's advert due
before it.  Measured at 255 x 0.1 s beside a keepalived master, backup CPU
over eight alternating rounds: median 6.76 % of a core without the grid
(2 ms rests), 5.65 % with it (4 ms rests on the grid); keepalived as that
backup 4.54 % (issue 13).

In a run, a deadline's callback may leave its follow-up work for after the
run (``after_run``), done in slices between the loop's other work: 255 VRIDs
taking over at once send every advert before any VRID's transition, VIPs and
gratuitous ARPs, and the readers and the deadlines that fall due meanwhile
are not held up by them.
"""

from __future__ import annotations

import asyncio
import collections
import heapq
import itertools
import math
import sys
import weakref
from typing import Callable

from vipdeck.engine.vrrp import wakeup


class Ticket:
    """One armed deadline; ``cancel()`` drops it.  ``precise``: a master's
    advert (on the dot, may be taken ``EARLY``); ``exact``: never on the grid
    (every precise one is exact)."""

    __slots__ = ("when", "fn", "precise", "exact")

    def __init__(self, when: float, fn: Callable[[], None] | None, precise: bool, exact: bool):
        self.when = when
        self.fn = fn
        self.precise = precise
        self.exact = exact

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

# how long one turn of the follow-ups may run before the loop has its turn
FOLLOW_UP_SLICE = 0.0005

# the step of the grid the loop wakes on for deadlines that are not exact, and
# how many of those must be pending before it is used
GRID = 0.004
GRID_MIN = 16


def on_grid(when: float) -> float:
    """The first point of the grid at or after ``when``; a time that is a point
    but for a float's rounding (8258.576000000001) is that point, not the next."""
    return math.ceil(when / GRID - 1e-6) * GRID


class Deadlines:
    """Two heaps of ``(when, seq, ticket)``: the exact tickets and the others
    (on the grid), so a master's advert never waits for the grid point of a
    backup's deadline just before it (a node that is master of some VRIDs and
    backup of many more)."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self._soft: list[tuple[float, int, Ticket]] = []     # on the grid while many
        self._sharp: list[tuple[float, int, Ticket]] = []    # exact (and precise)
        self._seq = itertools.count()
        self._handle: asyncio.TimerHandle | None = None
        self._at: float | None = None
        self._wakeup = wakeup.for_loop(loop)
        self._precise = 0             # precise tickets in the heaps
        self._running = False         # in _run: it arms the loop once, when done
        self._after: collections.deque[Callable[[], None]] = collections.deque()   # see after_run
        self._follow_handle: asyncio.Handle | None = None     # the next turn of _follow_ups
        self.early = EARLY if self._wakeup is not None else 0.0
        self.grid = GRID if self._wakeup is not None else 0.0      # exact on a virtual clock

    def call_at(self, when: float, fn: Callable[[], None], *, precise: bool = False,
                exact: bool = False) -> Ticket:
        """``fn()`` at ``when``; ``precise``: wake the loop on the dot for it
        (a master's advert: see engine/vrrp/wakeup.py), not up to a millisecond
        late; ``exact``: not on the grid (a master-down that is about to expire)."""
        t = Ticket(when, fn, precise, precise or exact)
        self._push(t)
        return t

    def again(self, t: Ticket, when: float) -> Ticket:
        """Arm ``t`` once more, for ``when``: only from ``t``'s own callback (it
        has left the heap then), which saves a steady master a new Ticket per advert."""
        t.when = when
        self._push(t)
        return t

    def _push(self, t: Ticket) -> None:
        heapq.heappush(self._sharp if t.exact else self._soft, (t.when, next(self._seq), t))
        self._precise += t.precise
        if not self._running:
            at = self._wake_for(t)
            if self._at is None or at < self._at:
                self._arm(at, t)

    def after_run(self, fn: Callable[[], None]) -> bool:
        """Queue ``fn()`` for after the run under way, when every deadline due
        in it has had its turn (False: no run is under way, nothing queued: do
        it now).  The follow-ups then run in slices between the loop's other
        work (``_follow_ups``).

        A takeover's advert is the urgent part of it (the wire, the peers'
        Master_Down_Timer); its transition (event, log line, notify scripts) and
        the VIP and gratuitous ARP work are not.  255 VRIDs whose master died
        together fall due within a few tens of milliseconds, and each takeover
        done whole cost ~115 us before the next VRID's advert could go: the last
        ones left ~15 ms after their Master_Down_Interval (issue 13).  The caller
        keeps its own order (engine/vrrp/driver.py runs an instance's follow-ups
        before its next input)."""
        if not self._running:
            return False
        self._after.append(fn)
        return True

    def due(self) -> bool:
        """Whether the loop's wake-up for a deadline has come and its run has not."""
        at = self._at
        return at is not None and at <= self.loop.time()

    def _wake_for(self, t: Ticket) -> float:
        """When the loop wakes for ``t``: on the dot for an exact one, at the next
        point of the grid for the others while many are pending."""
        when = t.when
        if t.exact or not self.grid or len(self._soft) < GRID_MIN:
            return when
        return math.ceil(when / self.grid - 1e-6) * self.grid

    def _arm(self, at: float, t: Ticket) -> None:
        """Wake the loop at ``at``, for ``t``: on the timerfd for an exact ticket, unless
        it is one of more than PRECISE_MAX masters' adverts pending (a master-down
        about to expire is rare: always)."""
        if self._handle is not None:
            self._handle.cancel()
        self._at = at
        self._handle = self.loop.call_at(at, self._run)
        if t.exact and self._wakeup is not None and (not t.precise or self._precise <= PRECISE_MAX):
            self._wakeup.at(at)

    def _run(self) -> None:
        at = self._at or 0.0
        due = max(self.loop.time(), at)
        self._handle, self._at = None, None
        soft, sharp = self._soft, self._sharp
        pop = heapq.heappop
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
            while True:
                # the earlier (by time, then by arming) of the two heaps' first that may run:
                # what is due, and a master's advert within early armed before the run
                e = soft[0] if soft and soft[0][0] <= due else None
                if sharp:
                    x = sharp[0]
                    if (x[0] <= due or (x[0] <= early and x[1] < first and x[2].precise)) and (
                            e is None or x[0] < e[0] or (x[0] == e[0] and x[1] < e[1])):
                        e = x
                if e is None:
                    break
                pop(sharp if e[2].exact else soft)
                t = e[2]
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
        for h in (soft, sharp):
            while h and h[0][2].fn is None:
                self._precise -= pop(h)[2].precise
        t = None
        if soft:
            t = soft[0][2]
            at = self._wake_for(t)
            if sharp and sharp[0][0] < at:
                at, t = sharp[0][0], sharp[0][2]
        elif sharp:
            at, t = sharp[0][0], sharp[0][2]
        if t is not None and (self._at is None or at < self._at):
            self._arm(at, t)
        if self._after:
            self._follow_ups()

    def _follow_ups(self, scheduled: bool = False) -> None:
        """Run queued follow-ups, in order, for up to FOLLOW_UP_SLICE and only
        while no wake-up for a deadline has come; the rest in the loop's next
        turns (call_soon), so the socket readers and the deadlines falling due
        meanwhile (the next VRIDs' master-down, the priority-0 adverts still
        queued in a socket) go in between instead of after all of them."""
        if scheduled:
            self._follow_handle = None
        after = self._after
        loop = self.loop
        end = loop.time() + FOLLOW_UP_SLICE
        while after and not self.due():
            fn = after.popleft()
            try:
                fn()
            except Exception:
                loop.call_exception_handler({"message": "VRRP deadline follow-up failed",
                                             "exception": sys.exc_info()[1]})
            if loop.time() >= end:
                break
        if after and self._follow_handle is None:
            self._follow_handle = loop.call_soon(self._follow_ups, True)


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
