"""When an instance may start electing: the start delay and the INIT hold.

Two things keep a new instance in INIT, as keepalived does:

* ``vrrp_startup_delay`` / ``vrrp_delay_after_boot`` (``startdelay.py``
  computes how long, from the uptime): every instance waits;
* a tracker the instance follows without a weight has no first result yet:
  keepalived does not elect on a guess, so the instance waits for it, but
  never longer than each pending script needs to run once and time out.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Callable, Protocol

from vipdeck.engine.config.model import GlobalDefs, VrrpInstance
from vipdeck.engine.events import Emit
from vipdeck.engine.vrrp.driver import InstanceDriver
from vipdeck.engine.vrrp.startdelay import start_delay

vrrp_log = logging.getLogger("vipdeck.vrrp")


class Trackers(Protocol):
    """What the gate needs of ``track.TrackingHub``."""

    def effective(self, inst: VrrpInstance): ...      # .pending: tracker names without a first result
    def tracker(self, name: str): ...                  # .script (.interval), .timeout


class StartGate:
    def __init__(self, loop: asyncio.AbstractEventLoop, emit: Emit, start_now: Callable[[InstanceDriver], None],
                 uptime: Callable[[], float | None]):
        self.loop = loop
        self.emit = emit
        self.start_now = start_now
        self.uptime = uptime
        self.tracking: Trackers | None = None
        self._delay: asyncio.TimerHandle | None = None            # vrrp_startup_delay running
        self._delayed: dict[str, InstanceDriver] = {}            # instances waiting for it
        self._held: dict[str, tuple[InstanceDriver, asyncio.TimerHandle]] = {}   # instance -> INIT hold

    # ------------------------------------------------------------------ the start delay

    def delay(self, gd: GlobalDefs) -> None:
        """vrrp_startup_delay / vrrp_delay_after_boot: instances wait in INIT."""
        if not gd.vrrp_startup_delay and not gd.vrrp_delay_after_boot:
            return
        delay = start_delay(gd.vrrp_startup_delay, gd.vrrp_delay_after_boot,
                            self.uptime() if gd.vrrp_delay_after_boot else None)
        if delay.problem:
            self.emit("daemon", delay.problem, "warning")
        if delay.seconds <= 0:
            return
        self._delay = self.loop.call_later(delay.seconds, self._delay_over)
        vrrp_log.info("Delaying startup for %g seconds (%s)", delay.seconds, delay.why)
        self.emit("daemon", f"VRRP instances wait {delay.seconds:g} s before starting ({delay.why})",
                  delay=delay.seconds, until=time.time() + delay.seconds)

    def _delay_over(self) -> None:
        self._delay = None
        vrrp_log.info("Delayed start completed")
        self.emit("daemon", "VRRP start delay over: instances start")
        delayed, self._delayed = self._delayed, {}
        for d in delayed.values():
            if not d.stopped:
                self.start(d)

    # ------------------------------------------------------------------ one instance

    def start(self, d: InstanceDriver) -> None:
        """Start the instance now, or once the delay is over and its trackers
        have spoken."""
        name = d.inst.name
        if self._delay is not None:
            self._delayed[name] = d
            return
        pending = self.tracking.effective(d.inst).pending if self.tracking else ()
        if pending:
            if name not in self._held:
                limit = self._hold_limit(pending)
                self._held[name] = (d, self.loop.call_later(limit, self.release, name))
                self.emit("tracker", f"{name} stays in INIT until {', '.join(pending)} "
                          f"report a first result (at most {limit:g}s)", instance=name)
            return
        self.start_now(d)

    def held(self, name: str) -> bool:
        return name in self._held

    def tracker_changed(self, d: InstanceDriver) -> None:
        """A tracker of a held instance reported: start it once none is pending."""
        if not self.tracking.effective(d.inst).pending:
            self.release(d.inst.name)

    def _hold_limit(self, pending: tuple[str, ...]) -> float:
        """Long enough for each pending script to run once and time out."""
        limit = 5.0
        for name in pending:
            t = self.tracking.tracker(name)
            script = getattr(t, "script", None)        # only script trackers have one
            if script is not None:
                limit = max(limit, float(script.interval) + float(getattr(t, "timeout", 0) or 0) + 1.0)
        return limit

    def release(self, name: str) -> None:
        held = self._held.pop(name, None)
        if held is None:
            return
        d, timer = held
        timer.cancel()
        if d.stopped:
            return
        pending = self.tracking.effective(d.inst).pending if self.tracking else ()
        if pending:
            self.emit("tracker", f"{name}: no first result from {', '.join(pending)}; starting anyway",
                      "warning", instance=name)
        self.start_now(d)

    def forget(self, name: str) -> None:
        """The instance goes (a reload replaced or removed it)."""
        held = self._held.pop(name, None)
        if held is not None:
            held[1].cancel()
        self._delayed.pop(name, None)

    def close(self) -> None:
        for _d, timer in self._held.values():
            timer.cancel()
        self._held.clear()
        if self._delay is not None:
            self._delay.cancel()
            self._delay = None
        self._delayed.clear()
