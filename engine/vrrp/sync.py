"""Sans-IO vrrp_sync_group: keepalived 2.2.7's rules for members that move together.

A :class:`SyncGroupMachine` watches the machines of one sync group and
answers, after any member has handled an event, what the other members
must do — as machine events (``SyncGate``, ``SyncMaster``, ``SyncBackup``,
``SyncFault`` of ``engine.vrrp.machine``), never as operator actions.  So a
member that follows its group advertises its own (configured or
tracker-adjusted) priority, sends priority 0 only where keepalived does
(a master taken to FAULT), and its transition says ``sync_group``.  It
reads no clock and touches no socket: the runtime passes the time and the
member's transitions, and feeds the returned orders to the drivers.

Why keepalived's rules and not "members copy each other": vipdeck is
dropped in beside keepalived, and a sync group that deposes a healthy peer
instance (the old behaviour: a member pulled up to MASTER by a forged
priority of the seen master + 1) breaks a cluster that worked.

keepalived's transition matrix (vrrp_scheduler.c's VRRP_TSM plus the
handlers it calls from vrrp_sync.c, vrrp_track.c and vrrp_scheduler.c),
as implemented here — "member" is the one that moved by itself:

===================  ================================================================
member moves         the group
===================  ================================================================
BACKUP -> MASTER     only allowed if every other member wants MASTER (see *gate*) or
(timer expired)      the group is already MASTER; then the group goes MASTER and every
                     other BACKUP member goes MASTER at once (``SyncMaster``).
                     keepalived: ``vrrp_sync_master``.
any -> MASTER        (operator takeover, an owner starting) the same: the group goes
                     MASTER and pulls the BACKUP members up.
MASTER -> BACKUP     (it heard a higher priority, or the operator resigned it): the
                     group goes BACKUP and every MASTER member leaves for BACKUP without
                     a priority-0 advert (``SyncBackup``).  keepalived:
                     ``vrrp_sync_backup``.
own FAULT            (its link or an unweighted tracker): the group goes FAULT; every
                     other member goes FAULT (``SyncFault(True)``), a master first
                     sending priority 0.  keepalived: ``down_instance`` →
                     ``vrrp_sync_fault``.
own fault clears     the group stays FAULT while any member still has a fault of its
                     own (keepalived's ``num_member_fault``); when the last one clears,
                     the group goes BACKUP and every member starts afresh in BACKUP
                     (``SyncFault(False)``).  keepalived: ``try_up_instance`` →
                     ``vrrp_sync_backup``.
-> STOP              nothing for the others (shutdown stops them all; a member that
                     stops must not take the others down without their priority 0).
===================  ================================================================

*Gate* (keepalived's ``vrrp_sync_can_goto_master``): a member may become
MASTER by itself only if the group is MASTER, or every other member is
MASTER or is a BACKUP that *wants* MASTER (its own timer expired while it
was held, and it has accepted no advert since).  A member held at its
timer stays BACKUP, re-arms a full Master_Down_Interval and wants MASTER;
accepting an advert ends the wish (keepalived sets wantstate BACKUP there),
a priority-0 or discarded lower advert does not.  So a group stays BACKUP
while any member still hears its master, and the VIPs of a member whose
own master died stay unserved until every member's master is gone — as in
keepalived (checked in the lab: keepalived's VI_51 in a group kept logging
"Receive advertisement timeout" and stayed BACKUP while its VI_52 heard
its master).  The last member to want MASTER goes first and pulls the
others.  A group whose members are all address owners with ``state
MASTER`` starts MASTER (gates open), as keepalived's does.

Group state (for notify_* of the group, SMTP, events): INIT until every
member has left INIT, then BACKUP, MASTER or FAULT as above; STOP once
every member has stopped.  Group notifies run on each change of the group
state (keepalived's ``send_group_notifies``), the first one when the group
leaves INIT.

Tracking weights: without ``sync_group_tracking_weight`` a member's
weighted trackers are ignored (or made unweighted) by ``engine.vrrp.track``
— keepalived's rule, so members do not fight over priorities.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from vipdeck.engine.vrrp import machine as m

__all__ = ["Member", "Order", "GroupTransition", "SyncGroupMachine"]

OWNER = 255


class Member(Protocol):
    """What the group reads of a member (``VrrpMachine`` is one)."""

    params: m.InstanceParams

    @property
    def state(self) -> m.State: ...
    @property
    def wants_master(self) -> bool: ...
    @property
    def own_fault(self) -> bool: ...
    @property
    def sync_fault(self) -> bool: ...
    @property
    def sync_gate(self) -> bool: ...
    @property
    def master_address(self) -> str | None: ...


@dataclass(frozen=True)
class Order:
    """Feed ``event`` to member ``member``."""

    member: str
    event: m.Event


@dataclass(frozen=True)
class GroupTransition:
    group: str
    old: m.State
    new: m.State
    reason: str        # always sync_group; the cause is in detail
    detail: str
    at: float

    def __str__(self) -> str:
        return f"sync group {self.group} {self.old} -> {self.new} ({self.detail})"


Output = Order | GroupTransition


class SyncGroupMachine:
    """One vrrp_sync_group over its members' machines; see the module docstring."""

    def __init__(self, name: str, members: Mapping[str, Member]):
        self.name = name
        self.members: dict[str, Member] = dict(members)
        self._all_owners = bool(self.members) and all(
            x.params.priority == OWNER and x.params.initial_state == "MASTER" for x in self.members.values())
        self._gate_sent: dict[str, tuple[bool, str]] = {}
        self._state = self._derive()
        self._last: GroupTransition | None = None

    @property
    def state(self) -> m.State:
        return self._state

    @property
    def last_transition(self) -> GroupTransition | None:
        return self._last

    def faulted(self) -> list[str]:
        """Members with a fault of their own (the group is FAULT while there is one)."""
        return [n for n, x in self.members.items() if x.own_fault and x.state is not m.State.STOP]

    def _derive(self) -> m.State:
        """The group state that fits the members as they are (at start, or rebuilt on reload)."""
        states = [x.state for x in self.members.values()]
        if states and all(s is m.State.STOP for s in states):
            return m.State.STOP
        if self.faulted():
            return m.State.FAULT
        if all(s in (m.State.INIT, m.State.STOP) for s in states):
            return m.State.INIT
        if any(s is m.State.MASTER for s in states):
            return m.State.MASTER
        return m.State.BACKUP

    # ---- the one entry point ------------------------------------------------

    def update(self, now: float, member: str | None = None,
               transitions: Sequence[m.Transition] = ()) -> list[Output]:
        """``member`` has just handled an event and made ``transitions`` (maybe
        none); return the orders for the members, then any group transition.

        Orders already carried out show in the members' states, so calling
        this again with nothing new returns nothing (the rules are guarded by
        the group state, like keepalived's handlers, and the gate orders are
        only sent when they change)."""
        orders: list[Order] = []
        changes: list[GroupTransition] = []

        def go(new: m.State, detail: str) -> None:
            if new is not self._state:
                t = GroupTransition(self.name, self._state, new, m.SYNC_GROUP, detail, now)
                self._state = new
                self._last = t
                changes.append(t)

        def others(name: str | None):
            return [(n, x) for n, x in self.members.items() if n != name]

        # 1. what the member did by itself (the group-state guards skip what the group ordered)
        if member in self.members:
            for t in transitions:
                if (t.new is m.State.MASTER and self._state in (m.State.BACKUP, m.State.INIT)
                        and not self.faulted()):
                    why = f"{member} became MASTER ({t.reason})"
                    go(m.State.MASTER, why)
                    orders += [Order(n, m.SyncMaster(f"sync group {self.name}: {why}"))
                               for n, x in others(member) if x.state is m.State.BACKUP]
                elif t.old is m.State.MASTER and t.new is m.State.BACKUP and self._state is m.State.MASTER:
                    why = f"{member} left MASTER ({t.reason})"
                    go(m.State.BACKUP, why)
                    orders += [Order(n, m.SyncBackup(f"sync group {self.name}: {why}"))
                               for n, x in others(member) if x.state is m.State.MASTER]

        # 2. faults: the group is FAULT while some member has a fault of its own
        faulted = self.faulted()
        if faulted:
            why = f"{', '.join(faulted)} in FAULT"
            go(m.State.FAULT, why)
            orders += [Order(n, m.SyncFault(True, f"sync group {self.name}: {why}"))
                       for n, x in self.members.items() if not x.sync_fault]
        else:
            if self._state is m.State.FAULT:
                go(m.State.BACKUP, "no member in FAULT any more")
            orders += [Order(n, m.SyncFault(False, f"sync group {self.name} left FAULT"))
                       for n, x in self.members.items() if x.sync_fault]

        # 3. start and stop
        states = [x.state for x in self.members.values()]
        if states and all(s is m.State.STOP for s in states):
            go(m.State.STOP, "every member stopped")
        elif self._state in (m.State.INIT, m.State.STOP) and not faulted and m.State.INIT not in states:
            go(m.State.MASTER if m.State.MASTER in states else m.State.BACKUP, "every member started")

        # 4. gates: who may become MASTER by itself
        for n, x in self.members.items():
            gate = self._gate(n)
            if self._gate_sent.get(n) != gate or x.sync_gate != gate[0]:
                self._gate_sent[n] = gate
                orders.append(Order(n, m.SyncGate(*gate)))
        return [*orders, *changes]

    def _gate(self, name: str) -> tuple[bool, str]:
        if self._state is m.State.MASTER or self._all_owners:
            return True, ""
        blockers = []
        for n, x in self.members.items():
            if n == name or x.state is m.State.MASTER or (x.state is m.State.BACKUP and x.wants_master):
                continue
            if x.state is m.State.BACKUP:
                blockers.append(f"{n} still hears its master {x.master_address}" if x.master_address
                                else f"{n} is BACKUP and has not timed out")
            else:
                blockers.append(f"{n} is {x.state}")
        if not blockers:
            return True, ""
        return False, f"sync group {self.name}: " + "; ".join(blockers)
