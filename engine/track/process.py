"""vrrp_track_process: count matching processes with psutil, like keepalived.

One :class:`ProcessScanner` walks the process table once per ``interval``
(in a worker thread, so the event loop never stalls on /proc) and hands every
process tracker its count; N trackers cost one scan, not N.  The command
line is read only when some tracker needs it (``full_command`` or
parameters), as keepalived avoids reading ``cmdline`` otherwise.  Zombies do
not count.  keepalived learns of forks/exits from the proc connector at once;
polling means a change is seen within one interval (1 s by default).

Matching (keepalived's, exact, not a regex):

* by default the process *name* (``/proc/PID/comm`` as psutil reports it)
  must equal ``process``;
* with ``full_command``, ``argv[0]`` must equal ``process``;
* with parameters (which imply ``full_command`` and exact matching) or
  ``param_match``: *exact* - the arguments equal the configured ones;
  *partial* - the first N arguments equal the N configured; *initial* - like
  partial, but the last configured one need only be a prefix.  Exact matching
  with no parameters means "no arguments at all".

Quorum: up when ``quorum <= count <= quorum_max`` (``quorum_max 0`` means
"must not run").  ``fork_delay`` / ``terminate_delay`` (both default to
``delay``) hold a gain / loss of quorum until it has lasted that long, so a
restart does not bounce the instance.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from vipdeck.engine.config.model import TrackProcess
from vipdeck.engine.track.base import Listener, Tracker
from vipdeck.engine.track.weights import Effect, Weighting, binary_effect, fmt_delta

log = logging.getLogger("vipdeck.track.process")

SCAN_INTERVAL = 1.0


@dataclass(frozen=True)
class ProcInfo:
    pid: int
    name: str
    cmdline: tuple[str, ...] | None    # None when not read


def match_mode(tp: TrackProcess) -> str | None:
    """None (name/argv0 only), "exact", "partial" or "initial"."""
    if tp.param_match:
        return tp.param_match
    return "exact" if tp.parameters else None


def params_match(mode: str, want: Sequence[str], have: Sequence[str]) -> bool:
    if mode == "exact":
        return tuple(want) == tuple(have)
    if len(have) < len(want):
        return False
    if mode == "partial" or not want:
        return tuple(have[:len(want)]) == tuple(want)
    # initial: all but the last exactly, the last as a prefix
    return (tuple(have[:len(want) - 1]) == tuple(want[:-1])
            and have[len(want) - 1].startswith(want[-1]))


class ProcessTracker(Tracker):
    kind = "process"

    def __init__(self, track: TrackProcess, on_change: Listener | None = None):
        super().__init__(track.name, on_change)
        self.track = track
        self.mode = match_mode(track)
        self.needs_cmdline = track.full_command or self.mode is not None
        if track.quorum_max == 0:
            self.quorum, self.quorum_max = 0, 0
        else:
            self.quorum, self.quorum_max = track.quorum, track.quorum_max
        self.fork_delay = track.fork_delay if track.fork_delay is not None else track.delay
        self.terminate_delay = track.terminate_delay if track.terminate_delay is not None else track.delay
        self.count: int | None = None
        self.pids: tuple[int, ...] = ()
        self._up: bool | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_target: bool | None = None

    @property
    def up(self) -> bool | None:
        return self._up

    def matches(self, p: ProcInfo) -> bool:
        if self.needs_cmdline:
            argv = p.cmdline or ()
            if not argv or argv[0] != self.track.process:
                return False
            if self.mode is not None:
                return params_match(self.mode, self.track.parameters, argv[1:])
            return True
        return p.name == self.track.process

    def quorum_ok(self, count: int) -> bool:
        return count >= self.quorum and (self.quorum_max is None or count <= self.quorum_max)

    def observe(self, count: int, pids: Sequence[int] = ()) -> None:
        """Take a new count; commits at once, or after fork/terminate delay."""
        self.count, self.pids = count, tuple(pids)
        raw = self.quorum_ok(count)
        if self._up is None:          # first scan: keepalived reads /proc at start, no delay
            self._up = raw
            self._changed()
            return
        if raw == self._up:
            self._cancel_timer()
            return
        delay = self.fork_delay if raw else self.terminate_delay
        if not delay:
            self._commit(raw)
        elif self._timer is None or self._timer_target != raw:
            self._cancel_timer()
            self._timer_target = raw
            self._timer = asyncio.get_running_loop().call_later(delay, self._commit, raw)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer, self._timer_target = None, None

    def _commit(self, up: bool) -> None:
        self._timer, self._timer_target = None, None
        if up != self._up:
            self._up = up
            self._changed()

    async def stop(self) -> None:
        self._cancel_timer()

    def effect(self, w: Weighting) -> Effect:
        return binary_effect(self._up, w)

    def state_text(self) -> str:
        return {None: "init", True: "ok", False: "failed"}[self._up]

    def detail(self, w: Weighting) -> str:
        e = self.effect(w)
        head = "FAULT" if e.fault else fmt_delta(e.delta)
        if self.count is None:
            return f"{self.name} {head} (not scanned yet)"
        q = f"quorum {self.quorum}" + (f"..{self.quorum_max}" if self.quorum_max is not None else "")
        pending = ""
        if self._timer_target is not None:
            pending = ", " + ("gaining" if self._timer_target else "losing") + " after delay"
        return f"{self.name} {head} ({self.count} running, {q}{pending})"


class ProcessScanner:
    """One psutil scan per interval, shared by every process tracker."""

    def __init__(self, trackers: Sequence[ProcessTracker] = (), interval: float = SCAN_INTERVAL):
        self.trackers: list[ProcessTracker] = list(trackers)
        self.interval = interval
        self.scans = 0
        self.last_duration = 0.0
        self.last_error: str | None = None
        self._task: asyncio.Task | None = None

    def add(self, tracker: ProcessTracker) -> None:
        self.trackers.append(tracker)

    @staticmethod
    def snapshot(with_cmdline: bool) -> list[ProcInfo]:
        # imported on the first scan: a daemon with no vrrp_track_process does
        # not keep psutil (about 1.3 MB resident, issue 13)
        import psutil

        attrs = ["name", "status"] + (["cmdline"] if with_cmdline else [])
        out = []
        for p in psutil.process_iter(attrs, ad_value=None):
            info = p.info
            if info.get("status") == psutil.STATUS_ZOMBIE or info.get("name") is None:
                continue
            cmd = info.get("cmdline")
            out.append(ProcInfo(p.pid, info["name"], tuple(cmd) if cmd is not None else None))
        return out

    async def scan_now(self) -> None:
        if not self.trackers:
            return
        with_cmdline = any(t.needs_cmdline for t in self.trackers)
        t0 = time.perf_counter()
        try:
            procs = await asyncio.to_thread(self.snapshot, with_cmdline)
            self.last_error = None
        except Exception as e:     # psutil trouble must not end tracking
            self.last_error = str(e)
            log.warning("process scan failed: %s", e)
            return
        self.last_duration = time.perf_counter() - t0
        self.scans += 1
        for t in self.trackers:
            pids = [p.pid for p in procs if t.matches(p)]
            t.observe(len(pids), pids)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self.scan_now()

    async def start(self) -> None:
        if self._task is None and self.trackers:
            await self.scan_now()
            self._task = asyncio.get_running_loop().create_task(self._loop(), name="track_process scan")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for t in self.trackers:
            await t.stop()
