"""What a reload keeps, restarts and removes, and what it tells the FIFOs again.

An instance whose configuration is equal to the running one keeps running
untouched (its state, its timers, its master): a restart would be a
failover.  Equal means equal as configured, not where it is written
(config objects compare without file:line), so comments added above an
instance restart nothing.
"""

from __future__ import annotations

from typing import Mapping, NamedTuple, Protocol

from vipdeck.engine.config.model import Config
from vipdeck.engine.vrrp.driver import InstanceDriver
from vipdeck.engine.vrrp.sync_driver import SyncGroups

SETTLED = ("MASTER", "BACKUP", "FAULT")


class Plan(NamedTuple):
    kept: list[str]          # running unchanged
    replaced: list[str]      # changed: restarted with the new configuration
    gone: list[str]          # no longer configured


def plan(old: Config, new: Config) -> Plan:
    kept, replaced = [], []
    for inst in new.vrrp_instances:
        was = old.instance(inst.name)
        if was is not None and was == inst:
            kept.append(inst.name)
        elif was is not None:
            replaced.append(inst.name)
    gone = [i.name for i in old.vrrp_instances if new.instance(i.name) is None]
    return Plan(kept, replaced, gone)


class States(NamedTuple):
    instances: dict[str, tuple[str, int]]     # name -> (state, effective priority)
    groups: dict[str, str]                    # sync group -> its state


def states(drivers: Mapping[str, InstanceDriver], sync: SyncGroups) -> States:
    return States({n: (str(d.machine.state), d.machine.effective_priority) for n, d in drivers.items()},
                  {n: str(g.state) for n, g in sync.groups.items()})


class Restater(Protocol):
    def state_after_reload(self, scope: str, name: str, state: str, priority: int = 0) -> None: ...


def restate(notifier: Restater, kept: list[str], before: States, after: States) -> None:
    """fifo_write_vrrp_states_on_reload: what the reload left as it was goes to the
    FIFOs once more (a change is written anyway, as its transition)."""
    for name in kept:
        now = after.instances.get(name)
        if now is not None and now[0] in SETTLED and before.instances.get(name, ("",))[0] == now[0]:
            notifier.state_after_reload("INSTANCE", name, now[0], now[1])
    for name, state in after.groups.items():
        if state in SETTLED and before.groups.get(name) == state:
            notifier.state_after_reload("GROUP", name, state)
