"""vrrp_script: run a command every ``interval`` and count rise/fall like keepalived.

keepalived keeps one counter ``result`` in ``0 .. rise+fall-1``; the script is
up when ``result >= rise``.  A success below ``rise-1`` counts up; the success
that reaches ``rise`` jumps to the top (so it then takes ``fall`` failures to
go down); a failure above ``rise`` counts down; the failure that gets there
drops to 0 (so it then takes ``rise`` successes to come up).  At start the
counter is ``rise-1`` and the state is *init*: the first result decides at
once, whichever it is.  ``init_fail`` starts at 0 in the failed state.

A run that has not finished when the next interval comes is not doubled: the
next run starts at the first interval tick after it ends (keepalived skips a
tick while the script is busy).  The timeout (default: the interval) kills the
script's process group; a timeout, a signal, "not found" and "permission
denied" all count as failures.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from vipdeck.engine import logforms
from vipdeck.engine.config.model import VrrpScript
from vipdeck.engine.track.base import Listener, Tracker
from vipdeck.engine.track.runner import Command, ScriptResult, ScriptRunner, parse_command
from vipdeck.engine.track.weights import Effect, Weighting, binary_effect, fmt_delta

log = logging.getLogger("vipdeck.track.script")


class ScriptTracker(Tracker):
    kind = "script"

    def __init__(self, script: VrrpScript, runner: ScriptRunner | None = None,
                 on_change: Listener | None = None):
        super().__init__(script.name, on_change)
        self.script = script
        self.runner = runner or ScriptRunner()
        self.rise = max(1, script.rise)
        self.fall = max(1, script.fall)
        self.timeout = script.timeout if script.timeout else script.interval
        self.result = 0 if script.init_fail else self.rise - 1
        self._up: bool | None = False if script.init_fail else None
        self.streak_ok = 0
        self.streak_fail = 0
        self.runs = 0
        self.last: ScriptResult | None = None
        self._task: asyncio.Task | None = None
        self._ran = asyncio.Event()
        try:
            self.command: Command | None = parse_command(script.script)
            self.command_error: str | None = None
        except ValueError as e:
            self.command, self.command_error = None, f"bad command line: {e}"

    @property
    def up(self) -> bool | None:
        return self._up

    # -- rise/fall (no I/O) ------------------------------------------------

    def feed(self, success: bool) -> bool:
        """Count one result; True when the up/down state changed."""
        self.runs += 1
        if success:
            self.streak_ok, self.streak_fail = self.streak_ok + 1, 0
        else:
            self.streak_ok, self.streak_fail = 0, self.streak_fail + 1
        top = self.rise + self.fall - 1
        if success:
            if self.result < self.rise - 1:
                self.result += 1
            elif self.result != top:
                self.result = top
        elif self.result > self.rise:
            self.result -= 1
        else:
            self.result = 0
        up = self.result >= self.rise
        changed = up != self._up        # from init (None) the first result always decides
        self._up = up
        if changed:
            self._changed()
        return changed

    # -- running -----------------------------------------------------------

    async def run_once(self) -> ScriptResult:
        """Run the script once and count its result."""
        if self.command is None:
            res = ScriptResult(command=self.script.script, error=self.command_error)
        else:
            res = await self.runner.run(self.command, timeout=self.timeout,
                                        user=self.script.user, group=self.script.group)
        self.last = res
        if res.error and (self.streak_fail == 0 or self.runs == 0):
            log.warning("vrrp_script %s: %s", self.name, res.describe())
        if self.feed(res.ok):       # keepalived logs a script's changes, not every run
            log.info("%s", logforms.script_result(self.name, bool(self._up), exit_status=res.exit_status,
                                                  signal=res.signal, timed_out=res.timed_out,
                                                  error=res.error))
        self._ran.set()
        return res

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        interval = max(self.script.interval, 0.01)
        nxt = loop.time()
        while True:
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:   # never let one bad run end tracking
                log.exception("vrrp_script %s: run failed", self.name)
            nxt += interval
            now = loop.time()
            if nxt < now:     # the run overran: skip the missed ticks
                nxt += ((now - nxt) // interval + 1) * interval
            await asyncio.sleep(nxt - now)

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._loop(), name=f"vrrp_script {self.name}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    # -- presentation ------------------------------------------------------

    def state_text(self) -> str:
        return {None: "init", True: "ok", False: "failed"}[self._up]

    def counting(self) -> str:
        if self._up is None:
            return "init"
        if self._up:
            s = "ok"
            if self.streak_fail:
                s += f", failing {self.streak_fail}/{self.fall}"
        else:
            s = f"failed {min(self.streak_fail, self.fall)}/{self.fall}"
            if self.streak_ok:
                s += f", rising {self.streak_ok}/{self.rise}"
        last = self.last
        if last is not None and not last.ok and (last.timed_out or last.error or last.signal):
            s += f", {last.describe()}"
        return s

    def effect(self, w: Weighting) -> Effect:
        return binary_effect(self._up, w)

    def detail(self, w: Weighting) -> str:
        e = self.effect(w)
        head = "FAULT" if e.fault else fmt_delta(e.delta)
        return f"{self.name} {head} ({self.counting()})"
