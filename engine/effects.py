"""What an instance's machine actions do on this node: the drivers' hooks.

``InstanceDriver`` carries out the actions that are its own (adverts, its
timer) and hands the rest here (``driver.DriverHooks``): VIPs, virtual
routes and GARP (``vipops``), the transition's event, keepalived's log line,
counters and notify scripts, the sync group's cue (``vrrp.sync_driver``).
"""

from __future__ import annotations

import logging
from typing import Callable, Mapping, Protocol

from vipdeck.engine import logforms
from vipdeck.engine.config.model import VrrpInstance
from vipdeck.engine.dumps.stats import TransitionCounters
from vipdeck.engine.events import Emit
from vipdeck.engine.vipops import VipOps
from vipdeck.engine.vrrp import machine as m
from vipdeck.engine.vrrp.driver import InstanceDriver
from vipdeck.engine.vrrp.sync_driver import SyncGroups

vrrp_log = logging.getLogger("vipdeck.vrrp")

_NOTIFIED = (m.State.MASTER, m.State.BACKUP, m.State.FAULT, m.State.STOP)


class Notifier(Protocol):
    """What the hooks need of ``notify.scripts.NotifyDispatcher``."""

    def instance_transition(self, inst: VrrpInstance, state: str, priority: int) -> None: ...
    def master_rx_lower_pri(self, inst: VrrpInstance, priority: int, *, own_priority: int) -> None: ...


class Announcer(Protocol):
    """What the hooks need of ``hosting.HostSide`` beyond the VIP chain."""

    def garp_lower_prio(self, d: InstanceDriver) -> bool: ...


class Effects:
    """Implements ``driver.DriverHooks`` for every instance of the engine."""

    def __init__(self, *, drivers: Mapping[str, InstanceDriver], vips: VipOps, host: Announcer,
                 notifier: Notifier, sync: SyncGroups, stats: Mapping[str, TransitionCounters], emit: Emit,
                 on_state: Callable[[str], None] | None = None):
        self.drivers = drivers
        self.vips = vips
        self.host = host
        self.notifier = notifier
        self.sync = sync
        self.stats = stats
        self.emit = emit
        self.on_state = on_state            # (instance name) after each transition: lvs_sync_daemon follows one
        self._lower_logged: dict[str, float] = {}       # instance -> last "lower priority" log line

    def vips_add(self, d: InstanceDriver) -> None:
        self.vips.add(d)

    def vips_remove(self, d: InstanceDriver) -> None:
        self.vips.remove(d)

    def garp_start(self, d: InstanceDriver) -> None:
        self.vips.garp_start(d)

    def garp_stop(self, d: InstanceDriver) -> None:
        self.vips.garp_stop(d)

    def master_rx_lower_pri(self, d: InstanceDriver, heard: m.LowerPriorityMaster) -> None:
        """A master heard a lower-priority master, as after a split brain heals
        (keepalived's vrrp.c does the same): our advert has gone out; the VIPs
        are announced again (garp_lower_prio_repeat / _delay) so hosts that
        learnt the other router's MAC come back, so are those of the sync
        group's other masters, and notify_master_rx_lower_pri runs."""
        now = d.now()
        if now - self._lower_logged.get(d.inst.name, -1e9) >= 1.0:   # at most once a second per instance
            self._lower_logged[d.inst.name] = now
            vrrp_log.info("%s", logforms.lower_priority_advert(d.inst.name, heard.source, heard.priority,
                                                              d.machine.effective_priority))
        self.host.garp_lower_prio(d)
        for other in self.sync.peers(d.inst.name):
            if other is not d and other.machine.state == m.State.MASTER:
                self.host.garp_lower_prio(other)
        self.notifier.master_rx_lower_pri(d.inst, heard.priority, own_priority=d.machine.effective_priority)

    def transition(self, d: InstanceDriver, t: m.Transition) -> None:
        sev = "warning" if t.new in (m.State.FAULT,) else "info"
        counters = self.stats.get(d.inst.name)
        if counters is not None:
            counters.transition(str(t.old), str(t.new), t.reason)
        timing = {"master": t.master, "last_advert": d.wall(t.heard_at)}
        if t.timer is not None:
            timing["timer"] = round(t.timer, 6)
        self.emit("transition", f"{d.inst.name} {t.old} -> {t.new}: {t.reason} ({t.detail})", sev,
                  instance=d.inst.name, vrid=d.inst.vrid, **{"from": str(t.old), "to": str(t.new)},
                  reason=t.reason, detail=t.detail, priority=d.machine.effective_priority, **timing)
        vrrp_log.info("%s", logforms.transition(d.inst.name, str(t.old), str(t.new), t.reason, t.detail))
        if t.new in _NOTIFIED and t.old != t.new:
            self.notifier.instance_transition(d.inst, str(t.new), d.machine.effective_priority)
        if self.on_state is not None:
            self.on_state(d.inst.name)

    def sync_held(self, d: InstanceDriver, held: m.SyncHeld) -> None:
        """A member would be master by itself but its group keeps it BACKUP
        (its VIPs may be unserved: say so once, not at every timer)."""
        self.emit("transition", f"{d.inst.name} stays BACKUP, held by its sync group ({held.cause}: {held.detail})",
                  "warning", instance=d.inst.name, vrid=d.inst.vrid, reason=m.SYNC_GROUP, held=True,
                  cause=held.cause, detail=held.detail)

    def fed(self, d: InstanceDriver, transitions: list[m.Transition]) -> None:
        self.sync.fed(d, transitions)
