"""notify_* scripts for VRRP instances and sync groups, run in transition order.

keepalived, for each transition, runs the state's own script
(``notify_master`` / ``notify_backup`` / ``notify_fault`` / ``notify_stop``)
with its configured arguments, then the generic ``notify`` script with four
arguments appended: ``INSTANCE``|``GROUP``, the name, the new state
(``MASTER``/``BACKUP``/``FAULT``/``STOP``) and the priority (0 for a group).
keepalived forks them and never waits; here each instance (and each sync
group) has one queue whose worker runs its scripts one after the other, so a
fast MASTER→BACKUP→MASTER flap's scripts finish in transition order, while
the engine only enqueues and never waits.  A script that hangs is killed after
``timeout`` (60 s by default; keepalived gives notify_stop 1 s) so one bad
script cannot stall its queue forever.

Each finished script becomes a :class:`NotifyEvent` given to ``on_event``;
a missing or failing script is an event with an error, never an exception.
Scripts run through :class:`engine.track.runner.ScriptRunner` (same rules as
vrrp_script: exec or shell, own process group, user/group or the global
``script_user``).

The same calls write keepalived's lines to the notify FIFOs (``fifo``, an
:class:`engine.notify.fifo.NotifyFifos`) at once, in call order, and queue
the SMTP alerts (``alerter``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from vipdeck.engine.config.model import Config, GlobalDefs, Notify, SyncGroup, VrrpInstance
from vipdeck.engine.track.runner import ScriptResult, ScriptRunner

log = logging.getLogger("vipdeck.notify")

NOTIFY_TIMEOUT = 60.0
STOP_TIMEOUT = 5.0
STATES = ("MASTER", "BACKUP", "FAULT", "STOP")


@dataclass(frozen=True)
class NotifyJob:
    """One script to run for one transition."""

    scope: str                  # "INSTANCE" | "GROUP"
    name: str                   # instance or group name
    state: str                  # "MASTER" | "BACKUP" | "FAULT" | "STOP" | "MASTER_RX_LOWER_PRI"
    priority: int
    keyword: str                # "notify_master", "notify", ...
    notify: Notify
    extra: tuple[str, ...] = ()


@dataclass(frozen=True)
class NotifyEvent:
    job: NotifyJob
    result: ScriptResult
    seq: int = field(default=0, compare=False)   # order in which scripts started, across queues

    @property
    def ok(self) -> bool:
        return self.result.ok

    def as_fields(self) -> dict:
        """Fields of the control schema's ``notify`` event."""
        r = self.result
        return {"instance" if self.job.scope == "INSTANCE" else "group": self.job.name,
                "script": self.job.notify.command, "keyword": self.job.keyword,
                "args": list(self.job.extra), "state": self.job.state,
                "exit_status": r.exit_status, "duration": round(r.duration, 3),
                "timed_out": r.timed_out, "error": r.error}

    def message(self) -> str:
        return f"{self.job.name}: {self.job.keyword} ({self.job.state}) {self.result.describe()}"


def plan(owner: VrrpInstance | SyncGroup, state: str, priority: int = 0) -> list[NotifyJob]:
    """The scripts keepalived runs for ``owner`` entering ``state``, in order."""
    state = state.upper()
    scope = "GROUP" if isinstance(owner, SyncGroup) else "INSTANCE"
    if scope == "GROUP":
        priority = 0
    jobs = []
    if state == "MASTER_RX_LOWER_PRI":
        n = getattr(owner, "notify_master_rx_lower_pri", None)
        return [NotifyJob(scope, owner.name, state, priority, "notify_master_rx_lower_pri", n)] if n else []
    specific = getattr(owner, f"notify_{state.lower()}", None) if state in STATES else None
    if specific is not None:
        jobs.append(NotifyJob(scope, owner.name, state, priority, f"notify_{state.lower()}", specific))
    if owner.notify is not None and state in STATES:
        jobs.append(NotifyJob(scope, owner.name, state, priority, "notify", owner.notify,
                              (scope, owner.name, state, str(priority))))
    return jobs


async def run_notify(notify: Notify, extra: Sequence[str] = (), global_defs: GlobalDefs | None = None, *,
                     runner: ScriptRunner | None = None, timeout: float | None = NOTIFY_TIMEOUT) -> ScriptResult:
    """Run one notify command with ``extra`` arguments appended; never raises."""
    if runner is None:
        gd = global_defs or GlobalDefs()
        runner = ScriptRunner(default_user=gd.script_user, default_group=gd.script_group,
                              secure=gd.enable_script_security)
    try:
        return await runner.run(notify.command, timeout=timeout, user=notify.user, group=notify.group,
                                extra_args=list(extra))
    except Exception as e:   # the runner should not raise; belt and braces for the engine
        log.exception("notify %s failed to run", notify.command)
        return ScriptResult(command=notify.command, error=f"internal error: {e}")


class NotifyDispatcher:
    """Per-owner queues of notify scripts; the engine calls the ``*_transition``
    methods (plain functions, they only enqueue) from the event loop."""

    def __init__(self, config: Config, on_event: Callable[[NotifyEvent], None] | None = None, *,
                 runner: ScriptRunner | None = None, timeout: float | None = NOTIFY_TIMEOUT,
                 stop_timeout: float | None = STOP_TIMEOUT, alerter=None, fifo=None):
        self.config = config
        self.on_event = on_event
        gd = config.global_defs
        self.runner = runner or ScriptRunner(default_user=gd.script_user, default_group=gd.script_group,
                                             secure=gd.enable_script_security)
        self.timeout = timeout
        self.stop_timeout = stop_timeout
        self.alerter = alerter           # engine.notify.smtp.SmtpAlerter, optional
        self.fifo = fifo                 # engine.notify.fifo.NotifyFifos, optional
        self._queues: dict[str, asyncio.Queue[NotifyJob | None]] = {}
        self._workers: dict[str, asyncio.Task] = {}
        self._seq = 0
        self.events: list[NotifyEvent] = []   # the last few, for status
        self.keep = 100

    # -- inputs ------------------------------------------------------------

    def instance_transition(self, inst: VrrpInstance | str, state: str, priority: int) -> list[NotifyJob]:
        obj = self.config.instance(inst) if isinstance(inst, str) else inst
        if obj is None:
            return []
        jobs = plan(obj, state, priority)
        for job in jobs:
            self._enqueue(f"instance {obj.name}", job)
        if self.fifo is not None:
            self.fifo.instance(obj.name, state.upper(), priority)
        if self.alerter is not None and obj.smtp_alert:
            self.alerter.instance_transition(obj.name, state.upper())
        return jobs

    def group_transition(self, group: SyncGroup | str, state: str) -> list[NotifyJob]:
        obj = (next((g for g in self.config.sync_groups if g.name == group), None)
               if isinstance(group, str) else group)
        if obj is None:
            return []
        jobs = plan(obj, state)
        for job in jobs:
            self._enqueue(f"group {obj.name}", job)
        if self.fifo is not None:
            self.fifo.group(obj.name, state.upper())
        if self.alerter is not None and obj.smtp_alert:
            self.alerter.group_transition(obj.name, state.upper())
        return jobs

    def master_rx_lower_pri(self, inst: VrrpInstance | str, priority: int,
                            own_priority: int | None = None) -> list[NotifyJob]:
        """``priority``: the lower one heard; the FIFO line carries ``own_priority``
        (the master's effective priority, as keepalived writes it)."""
        obj = self.config.instance(inst) if isinstance(inst, str) else inst
        if obj is None:
            return []
        jobs = plan(obj, "MASTER_RX_LOWER_PRI", priority)
        for job in jobs:
            self._enqueue(f"instance {obj.name}", job)
        if self.fifo is not None:
            self.fifo.instance(obj.name, "MASTER_RX_LOWER_PRI", priority if own_priority is None else own_priority)
        return jobs

    def state_after_reload(self, scope: str, name: str, state: str, priority: int = 0) -> None:
        """fifo_write_vrrp_states_on_reload: the state of an instance ("INSTANCE") or
        group ("GROUP") the reload left as it was, on the FIFOs only (keepalived)."""
        if self.fifo is None or not self.config.global_defs.fifo_write_vrrp_states_on_reload:
            return
        if scope == "GROUP":
            self.fifo.group(name, state.upper())
        else:
            self.fifo.instance(name, state.upper(), priority)

    # -- queues ------------------------------------------------------------

    def _enqueue(self, key: str, job: NotifyJob) -> None:
        q = self._queues.get(key)
        if q is None:
            q = self._queues[key] = asyncio.Queue()
            self._workers[key] = asyncio.get_running_loop().create_task(self._worker(key, q), name=f"notify {key}")
        q.put_nowait(job)

    async def _worker(self, key: str, q: asyncio.Queue) -> None:
        while True:
            job = await q.get()
            try:
                if job is None:
                    return
                self._seq += 1
                seq = self._seq
                timeout = self.stop_timeout if job.state == "STOP" else self.timeout
                result = await run_notify(job.notify, job.extra, runner=self.runner, timeout=timeout)
                event = NotifyEvent(job, result, seq)
                if not result.ok:
                    log.warning("%s", event.message())
                self.events.append(event)
                del self.events[:-self.keep]
                if self.on_event is not None:
                    try:
                        self.on_event(event)
                    except Exception:
                        log.exception("notify event consumer failed")
            finally:
                q.task_done()

    async def drain(self, timeout: float | None = None) -> bool:
        """Wait until every queued script has run; False if ``timeout`` hit first."""
        waits = [q.join() for q in self._queues.values()]
        if self.alerter is not None:
            waits.append(self.alerter.drain())
        if not waits:
            return True
        try:
            await asyncio.wait_for(asyncio.gather(*waits), timeout)
            return True
        except (asyncio.TimeoutError, TimeoutError):
            return False

    async def close(self, timeout: float = 5.0) -> None:
        """Let queued scripts (notify_stop among them) finish within ``timeout``, then stop."""
        if not await self.drain(timeout):
            log.warning("notify scripts still running at exit; abandoning them")
        for t in self._workers.values():
            t.cancel()
        for t in self._workers.values():
            with contextlib.suppress(asyncio.CancelledError):
                await t
        self._workers.clear()
        self._queues.clear()
        if self.alerter is not None:
            await self.alerter.close()
