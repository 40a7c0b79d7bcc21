"""Turns VRRP transitions into notify scripts and SMTP alerts, in order.

keepalived runs, for each transition, the state's own script
(notify_master/backup/fault/stop) and then the generic ``notify`` script
with ``INSTANCE|GROUP name state priority`` appended.  One queue per
instance keeps a fast MASTER→BACKUP→MASTER flap's scripts in transition
order, while the engine itself never waits for any of them.
"""

from __future__ import annotations

import asyncio
import logging

from engine.config.model import Config, Notify, SyncGroup, VrrpInstance
from engine.events import EventBus

log = logging.getLogger("vipdeck.notify")


class Notifier:
    def __init__(self, config: Config, bus: EventBus):
        self.config = config
        self.bus = bus
        self._queues: dict[str, asyncio.Queue] = {}
        self._workers: dict[str, asyncio.Task] = {}

    def _enqueue(self, key: str, job) -> None:
        q = self._queues.get(key)
        if q is None:
            q = self._queues[key] = asyncio.Queue()
            self._workers[key] = asyncio.get_running_loop().create_task(self._worker(q), name=f"notify {key}")
        q.put_nowait(job)

    async def _worker(self, q: asyncio.Queue) -> None:
        while True:
            job = await q.get()
            try:
                await job()
            except Exception:  # a broken script or mail never stops the queue
                log.exception("notify job failed")
            finally:
                q.task_done()

    def instance_transition(self, inst: VrrpInstance, state: str, priority: int) -> None:
        specific = getattr(inst, f"notify_{state.lower()}", None)
        scripts = []
        if specific is not None:
            scripts.append((specific, []))
        if inst.notify is not None:
            scripts.append((inst.notify, ["INSTANCE", inst.name, state, str(priority)]))
        for notify, extra in scripts:
            self._enqueue(inst.name, lambda n=notify, e=extra, name=inst.name: self._run(name, n, e))
        if inst.smtp_alert and state in ("MASTER", "BACKUP", "FAULT"):  # keepalived mails no STOP
            self._enqueue(inst.name, lambda: self._mail_instance(inst, state))

    def group_transition(self, group: SyncGroup, state: str) -> None:
        specific = getattr(group, f"notify_{state.lower()}", None)
        if specific is not None:
            self._enqueue(f"group {group.name}", lambda: self._run(group.name, specific, []))
        if group.notify is not None:
            self._enqueue(f"group {group.name}",
                          lambda: self._run(group.name, group.notify, ["GROUP", group.name, state, "0"]))

    async def _run(self, owner: str, notify: Notify, extra: list[str]) -> None:
        from engine.notify.scripts import run_notify

        result = await run_notify(notify, extra, self.config.global_defs)
        ok = result.exit_status == 0 and not result.error
        self.bus.emit("notify", f"{owner}: {result.describe()}", "info" if ok else "warning",
                      instance=owner, script=notify.command, args=extra, exit_status=result.exit_status,
                      duration=round(result.duration, 3), error=result.error)

    async def _mail_instance(self, inst: VrrpInstance, state: str) -> None:
        from engine.notify.smtp import send_vrrp_alert

        result = await send_vrrp_alert(self.config.global_defs, inst.name, state)
        self.bus.emit("smtp", f"{inst.name}: alert for {state} " + ("sent" if result.ok else f"failed: {result.error}"),
                      "info" if result.ok else "warning", to=list(self.config.global_defs.notification_email),
                      subject=result.subject, ok=result.ok, error=result.error)

    async def close(self, timeout: float = 5) -> None:
        """Let queued scripts (notify_stop among them) finish, within a bound."""
        waits = [q.join() for q in self._queues.values()]
        if waits:
            try:
                await asyncio.wait_for(asyncio.gather(*waits), timeout)
            except asyncio.TimeoutError:
                log.warning("notify scripts still running at exit; abandoning them")
        for t in self._workers.values():
            t.cancel()

