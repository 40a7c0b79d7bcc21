"""What every tracker offers the aggregator and the daemon.

A tracker owns the *state* of one tracked object (a script's up/down, a
file's value, a process count's quorum, a link's up/down).  What that state
does to an instance depends on the reference's weighting, so trackers answer
``effect(weighting)`` and ``detail(weighting)`` instead of holding one
contribution: the same script can weigh -20 for one instance and FAULT
another.

Listeners are called with the tracker's name when its state changes in a way
that can change an effect (not on every script run); a listener that raises
is logged and ignored so one bad consumer cannot stop tracking.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from vipdeck.engine.track.weights import Effect, Weighting

log = logging.getLogger("vipdeck.track")

Listener = Callable[[str], None]


class Tracker:
    kind = "tracker"

    def __init__(self, name: str, on_change: Listener | None = None):
        self.name = name
        self._listeners: list[Listener] = [on_change] if on_change else []
        self.changes = 0          # how many effect-relevant changes so far

    def add_listener(self, fn: Listener) -> None:
        self._listeners.append(fn)

    def _changed(self) -> None:
        self.changes += 1
        for fn in list(self._listeners):
            try:
                fn(self.name)
            except Exception:
                log.exception("tracker %s: change listener failed", self.name)

    # -- to override -------------------------------------------------------

    @property
    def up(self) -> bool | None:
        """Up/down for binary trackers; None while unknown."""
        return None

    def effect(self, w: Weighting) -> Effect:
        raise NotImplementedError

    def state_text(self) -> str:
        return "ok" if self.up else ("init" if self.up is None else "failed")

    def detail(self, w: Weighting) -> str:
        return self.state_text()

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass
