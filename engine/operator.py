"""Operator intent → VRRP machine events: the one translation.

The operator's intent (``state.OperatorState``: node drain, failover holds,
takeovers) reaches the state machines in three situations: a request changes
it, the daemon starts with it persisted, and a reload builds a new machine
for a changed or added instance (the new machine knows nothing).  When each
of these had its own translation they drifted apart: a reload re-applied
drain and takeovers but forgot failover holds, while state.json and the
snapshot still showed the hold.  So there is exactly one: ``events(before,
after, ...)`` is what moves one instance from intent ``before`` to intent
``after``; a new machine is the move from no intent (``NOTHING``) to the
current one.

``events`` is pure (the caller passes wall-clock and machine time: holds are
persisted as unix times, machines run on the loop's monotonic clock).  The
small ``apply_*`` functions below feed drivers; ``runtime.Engine`` calls
them when it creates and starts a machine, ``control.api`` after it has
committed a change.

Order of events for one instance: drain, then hold, then takeover (a
takeover clears a hold first, so the machine sees ClearHold before
Takeover).  A new machine gets drain and hold *before* its Startup, so a
drained address owner never starts as master for an instant, and the
takeover after it (the machine keeps it pending until it hears a master to
take over from: a restarted daemon has heard nobody yet).

Sync groups: an operator action on one member of a vrrp_sync_group acts on
the whole group (``scope``).  keepalived moves a sync group as one, and so
does vipdeck's (``engine.vrrp.sync``); an action on one member only fights
that.  A takeover of one member forged only its priority: the group pulled
the others up at their own priorities, and beside an ungrouped peer whose
other instance was healthy, that member heard its master, went BACKUP and
took the group back down.  A failover of one member moved the group, but
only that member sent priority 0 and held, so the others preempted back.
So takeover, failover, clear-hold and release of any member give every
member running here the same intent, in one transaction (one commit, one
audit entry naming the group), and each record says which group it was
given to.  ``scope`` is the only place that rule lives: the control API
applies it, and the snapshot states it (``operator.scope`` of each
instance) so the console's and the CLI's previews say what will move.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

from vipdeck.engine.state import OperatorState
from vipdeck.engine.vrrp import machine as m

NOTHING = OperatorState()


def events(before: OperatorState, after: OperatorState, name: str, *, wall: float,
           mono: float) -> list[m.Event]:
    """Machine events taking instance ``name`` from intent ``before`` to ``after``.

    ``wall`` is the unix time and ``mono`` the machine's clock at the same
    moment (for a hold's deadline).  A record that changed (a new failover,
    a repeated takeover: new who/when) is applied again, because the
    request is also a command ("resign now", "take over now"); a hold whose
    time has passed still resigns a master and then holds nothing (the
    machine drops a deadline in the past).
    """
    out: list[m.Event] = []
    if (after.drained is None) != (before.drained is None):
        out.append(m.Drain(after.drained is not None))
    hb, ha = before.holds.get(name), after.holds.get(name)
    if ha != hb:
        if ha is None:
            out.append(m.ClearHold())
        else:
            until = ha.get("until")
            out.append(m.Resign(hold_until=None if until is None else mono + (until - wall)))
    tb, ta = before.takeovers.get(name), after.takeovers.get(name)
    if ta != tb:
        out.append(m.Takeover(ta is not None))
    return out


def for_new_machine(intent: OperatorState, name: str, *, wall: float,
                    mono: float) -> tuple[list[m.Event], list[m.Event]]:
    """(events before its Startup, events after it) for a machine that has none yet."""
    evs = events(NOTHING, intent, name, wall=wall, mono=mono)
    return ([e for e in evs if not isinstance(e, m.Takeover)],
            [e for e in evs if isinstance(e, m.Takeover)])


def apply_change(drivers: Mapping[str, object], before: OperatorState, after: OperatorState,
                 wall: float, names: Iterable[str] | None = None) -> None:
    """Feed each driver (or the named ones) what a committed change means for it."""
    for name in (drivers if names is None else names):
        d = drivers.get(name)
        if d is None:
            continue
        for ev in events(before, after, name, wall=wall, mono=d.now()):
            d.feed(ev)


def prepare(d, intent: OperatorState, wall: float) -> None:
    """A new machine, before its Startup: drain and hold."""
    pre, _post = for_new_machine(intent, d.inst.name, wall=wall, mono=d.now())
    for ev in pre:
        d.feed(ev)


def started(d, intent: OperatorState, wall: float) -> None:
    """A new machine, right after its Startup: takeover."""
    _pre, post = for_new_machine(intent, d.inst.name, wall=wall, mono=d.now())
    for ev in post:
        d.feed(ev)


# ---- what an action on one instance acts on -------------------------------------------

@dataclass(frozen=True)
class Scope:
    """The instances an operator action on instance ``named`` acts on."""

    named: str
    group: str | None               # its vrrp_sync_group, if it is in one
    members: tuple[str, ...]        # the group's members running here (config order), or ``named``

    def label(self) -> str:
        """How requests, audit entries and previews name what moved."""
        if self.group is None:
            return self.named
        return f"sync group {self.group} ({', '.join(self.members)})"


def scope(config, name: str, running: Iterable[str]) -> Scope:
    """What takeover, failover, clear-hold and release of ``name`` act on: every
    member of its sync group that runs here (``running``: instance names), or
    ``name`` alone (see the module docstring for why)."""
    grp = config.sync_group_of(name)
    if grp is None:
        return Scope(name, None, (name,))
    here = set(running)
    return Scope(name, grp.name, tuple(n for n in grp.group if n in here or n == name))


def _record(stamp: dict, sc: Scope) -> dict:
    return {**stamp, "group": sc.group} if sc.group else dict(stamp)


def take_over(st: OperatorState, sc: Scope, stamp: dict) -> None:
    """Edit proposal ``st``: every member of ``sc`` takes over (a takeover clears a hold)."""
    for n in sc.members:
        st.takeovers[n] = _record(stamp, sc)
        st.holds.pop(n, None)


def fail_over(st: OperatorState, sc: Scope, stamp: dict, until: float | None) -> None:
    """Edit proposal ``st``: every member of ``sc`` resigns and holds until ``until``
    (unix time; None: until cleared); a failover ends a takeover."""
    for n in sc.members:
        st.holds[n] = {"until": until, **_record(stamp, sc)}
        st.takeovers.pop(n, None)


def clear_hold(st: OperatorState, sc: Scope) -> list[str]:
    """Edit proposal ``st``: no member of ``sc`` holds any more; the ones that did."""
    return [n for n in sc.members if st.holds.pop(n, None) is not None]


def release(st: OperatorState, sc: Scope) -> list[str]:
    """Edit proposal ``st``: no member of ``sc`` takes over any more; the ones that did."""
    return [n for n in sc.members if st.takeovers.pop(n, None) is not None]
