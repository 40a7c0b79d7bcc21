"""Rate limits for what clients can make the daemon write.

A client of the control socket must not be able to flood the daemon's log,
its event ring (5000 events: a flood would push real transitions out) or
its audit log (a full disk).  Each such write goes through a token bucket
per key (usually the peer's uid): a burst passes, then one per interval; the
next line that passes says how many were suppressed, so nothing is silently
lost and nothing floods.
"""

from __future__ import annotations

import time
from typing import Callable, Hashable


class RateLimit:
    def __init__(self, burst: int = 5, interval: float = 10.0, clock: Callable[[], float] = time.monotonic,
                 max_keys: int = 1024):
        self.burst = burst
        self.interval = interval
        self.clock = clock
        self.max_keys = max_keys
        self._buckets: dict[Hashable, list[float]] = {}    # key -> [tokens, last refill, suppressed]

    def allow(self, key: Hashable) -> tuple[bool, int]:
        """(may it be written now, how many were suppressed before it)."""
        now = self.clock()
        b = self._buckets.get(key)
        if b is None:
            if len(self._buckets) >= self.max_keys:
                self._prune(now)
            b = self._buckets[key] = [float(self.burst), now, 0]
        tokens = min(float(self.burst), b[0] + (now - b[1]) / self.interval)
        b[1] = now
        if tokens >= 1.0:
            b[0] = tokens - 1.0
            suppressed, b[2] = int(b[2]), 0
            return True, suppressed
        b[0] = tokens
        b[2] += 1
        return False, 0

    def _prune(self, now: float) -> None:
        for k, b in list(self._buckets.items()):
            if b[2] == 0 and b[0] + (now - b[1]) / self.interval >= self.burst:
                del self._buckets[k]
        if len(self._buckets) >= self.max_keys:     # all busy: forget the oldest
            oldest = min(self._buckets, key=lambda k: self._buckets[k][1])
            del self._buckets[oldest]
