"""Short pauses of the cyclic garbage collector while the console runs.

Textual keeps a reference cycle for nearly every line it draws (the
compositor's ``Strip.divide`` caches ``[strip]`` in the strip's own cache
when a line needs no cut), so at 255 VRIDs and 10 snapshots a second the
console makes thousands of cycles a second.  Python then runs a full
collection every second or two, and a full collection walks every object
alive: everything imported, the widget tree, the stylesheet (~65,000
objects); it took 30-50 ms, the longest pauses a key press met in
``benchmarks/console_responsiveness.py``.  Once the first snapshot is on
screen what exists then is frozen (``gc.freeze``), so later collections
walk only what came after it.

What comes after it still grows (each screen's rows the first time it is
shown), and full collections of it still took ~25 ms, now and then in the
middle of a key press.  So after the freeze the collector's own full
collections are made rare (its third threshold) and ``idle()``, called
about once a second, runs one when nobody has pressed a key for
``QUIET`` seconds and the last one is ``EVERY`` seconds old, or in any
case after ``LONGEST``: garbage cycles wait at most that long, and the
pause falls where nobody is waiting for a frame.  The young generations
are collected as before (they hold the per-line cycles).

Everything is put back when the console exits, so an app started after it
in the same process (the tests) leaves no frozen object behind and the
collector as it was.
"""

from __future__ import annotations

import gc
import time
from typing import Callable

QUIET = 2.0        # no key for this long: a pause is not in anybody's way
EVERY = 30.0       # at most one full collection this often while quiet
LONGEST = 300.0    # ... and at least one this often, quiet or not
RARE = 1000        # the collector's third threshold meanwhile (default 10)


class Collector:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.frozen = False
        self.full_collections = 0        # run by idle()
        self._threshold: tuple[int, int, int] | None = None
        self._last_full = clock()
        self._last_key = self._last_full

    def settle(self) -> None:
        """Collect once, then keep what survived out of later collections,
        and leave full collections to ``idle()``."""
        if self.frozen:
            return
        gc.collect()
        gc.freeze()
        self.frozen = True
        self._threshold = gc.get_threshold()
        t0, t1, _ = self._threshold
        gc.set_threshold(t0, t1, RARE)
        self._last_full = self.clock()

    def key(self) -> None:
        """A key arrived: somebody may be waiting for the next frame."""
        self._last_key = self.clock()

    def idle(self) -> bool:
        """Run a full collection if it is time and nobody is typing; True if it ran."""
        if not self.frozen:
            return False
        now = self.clock()
        since = now - self._last_full
        if since < LONGEST and (since < EVERY or now - self._last_key < QUIET):
            return False
        gc.collect()
        self._last_full = self.clock()
        self.full_collections += 1
        return True

    def release(self) -> None:
        if self.frozen:
            gc.unfreeze()
            self.frozen = False
        if self._threshold is not None:
            gc.set_threshold(*self._threshold)
            self._threshold = None
