"""The asyncio side of vrrp_sync_groups: what ``driver.py`` is to ``machine.py``.

``sync.SyncGroupMachine`` decides (sans-IO); this feeds it the members'
transitions and feeds its orders (``SyncGate``, ``SyncMaster``,
``SyncBackup``, ``SyncFault``) back to the other members' drivers.

Why a queue and ``call_soon``: a batch of events given to several members
in one callback (an operator drain, a reload) must reach every member
before the group reacts, or the group would answer the first member's
change with orders the next event contradicts.  So a member's driver only
queues its transitions (``fed``); the group looks at them once the current
callback is done (``flush``).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Callable, Mapping

from vipdeck.engine import logforms
from vipdeck.engine.config.model import Config, SyncGroup
from vipdeck.engine.events import Emit
from vipdeck.engine.vrrp import machine as m
from vipdeck.engine.vrrp import sync
from vipdeck.engine.vrrp.driver import InstanceDriver

log = logging.getLogger("vipdeck.engine")
vrrp_log = logging.getLogger("vipdeck.vrrp")

MAX_STEPS = 10000          # queued changes handled in one flush: more is a bug, not a state

# notify(group config, new state) for the group's notify scripts, mails and FIFO lines
GroupNotify = Callable[[SyncGroup, str], None]

_NOTIFIED = (m.State.MASTER, m.State.BACKUP, m.State.FAULT, m.State.STOP)


class SyncGroups:
    def __init__(self, drivers: Mapping[str, InstanceDriver], emit: Emit, notify: GroupNotify,
                 loop: asyncio.AbstractEventLoop):
        self.drivers = drivers             # the engine's, kept current by it
        self.emit = emit
        self.notify = notify
        self.loop = loop
        self.groups: dict[str, sync.SyncGroupMachine] = {}     # vrrp_sync_group name -> its rules
        self._config: dict[str, SyncGroup] = {}
        self._of: dict[str, sync.SyncGroupMachine] = {}        # member instance -> its group
        self._queue: deque = deque()                            # (group, member, transitions) to look at
        self._handle: asyncio.Handle | None = None
        self._flushing = False

    def build(self, config: Config) -> None:
        """One ``SyncGroupMachine`` per vrrp_sync_group over its running members'
        machines (at start, before any member starts, and again after a
        reload), gates set at once."""
        self.groups, self._of, self._config = {}, {}, {}
        for grp in config.sync_groups:
            members = {n: self.drivers[n].machine for n in grp.group if n in self.drivers}
            if not members:
                continue
            g = sync.SyncGroupMachine(grp.name, members)
            self.groups[grp.name] = g
            self._config[grp.name] = grp
            for n in members:
                self._of[n] = g
            self._queue.append((g, None, ()))
        for name, d in self.drivers.items():
            if name not in self._of:       # left its group on a reload: nothing holds it any more
                if not d.machine.sync_gate:
                    d.feed(m.SyncGate(True))
                if d.machine.sync_fault:
                    d.feed(m.SyncFault(False, "no longer in a sync group"))
        self.flush()

    def state(self, name: str) -> str | None:
        """The state a sync group is in as a whole (None when it has no running member)."""
        g = self.groups.get(name)
        return None if g is None else str(g.state)

    def peers(self, name: str) -> list[InstanceDriver]:
        """The running members of ``name``'s group, itself included (none: not in one)."""
        g = self._of.get(name)
        if g is None:
            return []
        return [self.drivers[n] for n in self._config[g.name].group if n in self.drivers]

    def fed(self, d: InstanceDriver, transitions: list[m.Transition]) -> None:
        """Driver hook after every input: a member's group looks at it once the
        current callback is done."""
        g = self._of.get(d.inst.name)
        if g is None or self.drivers.get(d.inst.name) is not d:
            return
        self._queue.append((g, d.inst.name, tuple(transitions)))
        if self._handle is None and not self._flushing:
            self._handle = self.loop.call_soon(self.flush)

    def flush(self) -> None:
        """Hand queued member changes to their groups and feed back the orders."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if self._flushing:
            return
        self._flushing = True
        try:
            steps = 0
            while self._queue:
                g, name, ts = self._queue.popleft()
                if self.groups.get(g.name) is not g:
                    continue                      # replaced by a reload
                steps += 1
                if steps > MAX_STEPS:
                    log.error("sync groups did not settle; dropping %d queued changes", len(self._queue))
                    self._queue.clear()
                    break
                try:
                    outputs = g.update(self.loop.time(), name, ts)
                except Exception:
                    log.exception("sync group %s failed on %s %r", g.name, name, ts)
                    continue
                for out in outputs:
                    if isinstance(out, sync.Order):
                        target = self.drivers.get(out.member)
                        if target is not None:
                            target.feed(out.event)
                    else:
                        self._transition(out)
        finally:
            self._flushing = False

    def _transition(self, t: sync.GroupTransition) -> None:
        self.emit("transition", f"sync group {t.group} {t.old} -> {t.new}: {t.reason} ({t.detail})",
                  "warning" if t.new is m.State.FAULT else "info", group=t.group,
                  **{"from": str(t.old), "to": str(t.new)}, reason=t.reason, detail=t.detail)
        vrrp_log.info("%s", logforms.sync_group(t.group, str(t.new), f"{t.reason}: {t.detail}"))
        grp = self._config.get(t.group)
        if grp is not None and t.new in _NOTIFIED:
            self.notify(grp, str(t.new))
