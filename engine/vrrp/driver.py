"""The asyncio driver of one VRRP instance: the I/O around the sans-IO machine.

The machine decides; this class carries out its actions (send adverts, add
and remove VIPs, gratuitous ARP, notify scripts, SMTP alerts, events) and
feeds it inputs (validated adverts, timers, tracker and link changes,
operator requests).  Everything slow (netlink, scripts, mail) runs in its own
task, serialised per instance where order matters, so a hung script or a
slow netlink reply never delays an advert or a timer.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Protocol

from vipdeck.engine.config.model import AuthType, VrrpInstance
from vipdeck.engine.control.schema import Instance, InstanceOperator, Tracker, Wire
from vipdeck.engine.vrrp import machine as m
from vipdeck.engine.vrrp import deadlines, packet

log = logging.getLogger("vipdeck.vrrp")


@dataclass
class Counters:
    adverts_sent: int = 0
    adverts_received: int = 0
    transitions: int = 0
    rejects: Counter = field(default_factory=Counter)


def machine_params(inst: VrrpInstance, primary: str | None) -> m.InstanceParams:
    return m.InstanceParams(
        name=inst.name, vrid=inst.vrid, version=inst.version, priority=inst.priority,
        advert_int=inst.advert_int, preempt=not inst.nopreempt, preempt_delay=inst.preempt_delay,
        initial_state=inst.state, primary_address=primary or ("::" if inst.family == 6 else "0.0.0.0"),
        family=inst.family, higher_prio_send_advert=inst.higher_prio_send_advert,
        lower_prio_no_advert=inst.lower_prio_no_advert,
    )


class AdvertSocket(Protocol):
    """What a driver needs of its VRRP socket (``engine.net.vrrp_socket.VrrpSocket``)."""

    src: str | None                  # the address adverts go out from (None: none yet)
    family: int

    def send(self, payload: bytes, dst: str | None = None, *, src: str | None = None,
             ttl: int | None = None) -> bool: ...

    def drain(self) -> None: ...     # read what has arrived now (before a timer decides)


class DriverHooks(Protocol):
    """The node's side of a driver's actions (``engine.effects.Effects``).

    Each hook gets the driver; ``fed`` comes after every input with the
    transitions it made (the sync group's cue), except a steady master's
    advert resent as it was (nothing changed: a sync group's update would
    return nothing, and it is 2550 calls a second at 255 x 0.1 s).
    """

    def vips_add(self, d: "InstanceDriver") -> None: ...
    def vips_remove(self, d: "InstanceDriver") -> None: ...
    def garp_start(self, d: "InstanceDriver") -> None: ...
    def garp_stop(self, d: "InstanceDriver") -> None: ...
    def master_rx_lower_pri(self, d: "InstanceDriver", heard: m.LowerPriorityMaster) -> None: ...
    def transition(self, d: "InstanceDriver", t: m.Transition) -> None: ...
    def sync_held(self, d: "InstanceDriver", held: m.SyncHeld) -> None: ...
    def fed(self, d: "InstanceDriver", transitions: list[m.Transition]) -> None: ...


class InstanceDriver:
    """Runs one ``vrrp_instance``: its machine, its timer, its adverts; what
    the actions mean for the node is the ``hooks``' business."""

    def __init__(self, inst: VrrpInstance, sock: AdvertSocket, hooks: DriverHooks, *, primary: str | None):
        self.inst = inst
        self.sock = sock
        self.hooks = hooks
        self.counters = Counters()
        self.loop = asyncio.get_running_loop()
        self.machine = m.VrrpMachine(machine_params(inst, primary))
        self._timer: deadlines.Ticket | None = None
        self._deadlines = deadlines.for_loop(self.loop)      # one asyncio timer for every instance's deadline
        self._timer_at = 0.0                # when the armed handle fires (a deadline, maybe passed)
        self._later: list | None = None     # actions left for after the run of due deadlines
        self._ahead_of: float | None = None  # the deadline the armed timer wakes a grid step ahead of
        self._fire = self._on_timer         # one bound method for every arming
        self._auth_type = packet.AUTH_PASS if (inst.authentication and inst.authentication.auth_type == AuthType.PASS
                                              and inst.version == 2) else packet.AUTH_NONE
        self._adverts: dict[tuple[int, str], bytes] = {}     # (priority, destination) -> payload
        # the advert the machine's timer answered last (advert_due hands the same object
        # while nothing changed) and what sending it was: (payload, destination, source, ttl)
        self._resend_for: m.SendAdvert | None = None
        self._resend: tuple[tuple[bytes, str, str | None, int | None], ...] = ()
        self.vips_present: dict[str, bool] = {str(v): False for v in inst.held_vips}
        self.last_garp: float | None = None
        self.stopped = False
        self._fed_at = float("-inf")      # the latest time an input was handed to the machine
        # check_unicast_src: each peer's TTL range (a reload only hands in an equal instance)
        self._peer_ttl = {str(ipaddress.ip_address(p)): (0, 255) for p in inst.unicast_peers}
        self._peer_ttl.update({str(ipaddress.ip_address(p)): (lo, hi) for p, lo, hi in inst.unicast_peer_ttl})

    # ------------------------------------------------------------------ clock

    def now(self) -> float:
        return self.loop.time()

    def _input_time(self, at: float | None) -> float:
        """The time an input is handed to the machine with: ``at`` (an advert's
        arrival, which can be up to a read batch before now) or now, and never
        before the time of an input the machine already had, so its clock only
        goes forward (an advert read after a timer decided, but stamped before it)."""
        t = self.loop.time() if at is None else at
        if t < self._fed_at:
            return self._fed_at
        self._fed_at = t
        return t

    def wall(self, mono: float | None) -> float | None:
        """Monotonic loop time -> unix time, for status and events."""
        return None if mono is None else time.time() - (self.loop.time() - mono)

    # ------------------------------------------------------------------ input

    def feed(self, event, at: float | None = None) -> None:
        """Give the machine one input and carry out what it answers; ``at``:
        when it happened, if not now (an advert's arrival)."""
        if self.stopped and not isinstance(event, m.Shutdown):
            return
        try:
            actions = self.machine.handle(self._input_time(at), event)
        except Exception:  # a machine bug must not take down the other instances
            log.exception("%s: state machine failed on %r", self.inst.name, event)
            return
        self._carry_out(actions)

    def _carry_out(self, actions: list) -> None:
        if self._later is not None:      # an earlier input's follow-ups go first: the order holds
            self._follow_up()
        if len(actions) > 1 and isinstance(actions[0], m.SendAdvert) and self._deadlines.after_run(self._follow_up):
            # in a run of due deadlines (a takeover, most often many at once): the
            # advert now, the rest once every due deadline has had its turn
            # (Deadlines.after_run says why); the machine's own state is already new
            self._do(actions[0])
            self._reschedule()
            self._later = actions[1:]
            return
        for action in actions:
            self._do(action)
        self._reschedule()
        self.hooks.fed(self, [a for a in actions if isinstance(a, m.Transition)])

    def _follow_up(self) -> None:
        """What ``_carry_out`` left for after the run of due deadlines."""
        rest, self._later = self._later, None
        if rest is None:
            return
        for action in rest:
            self._do(action)
        self.hooks.fed(self, [a for a in rest if isinstance(a, m.Transition)])

    def start(self) -> None:
        if self.inst.unicast_no_peer:
            # keepalived: "Cannot use unicast without any peers - going to fault state"
            self.feed(m.ConfigFault(True, "unicast without any unicast_peer (unicast_fault_no_peer)"))
        self.feed(m.Startup())

    def check(self, adv: packet.Advert) -> packet.Reject | None:
        """This instance's receive rules (TTL, version, auth, v2 interval, unicast peers):
        None when the advert is acceptable, else the reject (already counted)."""
        if adv.ttl != packet.VRRP_TTL and not self.inst.unicast_peers:
            # checked here, not in decode, so unicast peers can be exempt like keepalived's
            rej = packet.Reject(packet.RejectReason.TTL, f"ttl {adv.ttl} != 255", adv.src, adv.dst,
                                adv.vrid, adv.version)
        else:
            auth_pass = self.inst.authentication.auth_pass if self.inst.authentication else None
            rej = packet.validate(adv, vrid=self.inst.vrid, version=self.inst.version, auth_type=self._auth_type,
                                  auth_pass=auth_pass if self._auth_type == packet.AUTH_PASS else None,
                                  interval=self.inst.advert_int)
            if rej is None and self.inst.check_unicast_src:
                rej = self._unicast_rule(adv)      # last, as keepalived's vrrp_check_packet
        if rej is not None:
            self.count_reject(rej)
        return rej

    def _unicast_rule(self, adv: packet.Advert) -> packet.Reject | None:
        """check_unicast_src (or a peer's min_ttl / max_ttl): only a unicast peer's
        adverts, each with a TTL / hop limit in its range (an unknown one passes,
        as keepalived's -1)."""
        src = adv.src or ""
        rng = self._peer_ttl.get(src)
        if rng is None:
            return packet.Reject(packet.RejectReason.UNICAST_SRC, f"source {src or '?'} is not a unicast peer",
                                 adv.src, adv.dst, adv.vrid, adv.version)
        lo, hi = rng
        if adv.ttl is not None and adv.ttl >= 0 and not lo <= adv.ttl <= hi:
            return packet.Reject(packet.RejectReason.TTL, f"ttl {adv.ttl} not in {lo}-{hi} for unicast peer {src}",
                                 adv.src, adv.dst, adv.vrid, adv.version)
        return None

    def accept(self, adv: packet.Advert, at: float | None = None) -> None:
        """An advert that passed ``check``: the machine's input, as of ``at``
        (when it arrived; None: now)."""
        self.counters.adverts_received += 1
        self.feed(m.AdvertReceived(adv), at)

    def refresh(self, adv: packet.Advert, at: float | None = None) -> bool:
        """``accept`` for an advert the machine can take on its fast path
        (``VrrpMachine.refresh``: the very advert it accepted last, nothing
        since); False: not that case, nothing done, call ``accept``."""
        if self.stopped:
            return False
        if at is None:
            at = self.loop.time()
        if at < self._fed_at:            # _input_time, inline: the fast path's every advert
            at = self._fed_at
        else:
            self._fed_at = at
        deadline = self.machine.refresh(at, adv)
        if deadline is None:
            return False
        self.counters.adverts_received += 1
        # _reschedule's answer without its call: a deadline that moved later keeps the handle
        if self._timer is None or self._timer_at > deadline:
            self._reschedule()
        # no hooks.fed: nothing changed that a sync group looks at (its update, called
        # again with nothing new, returns nothing: engine/vrrp/sync.py); the call (two
        # hooks and a queued flush) was 26 of the 302 py-spy samples of this fast path
        # (issue 13; a sample count, not a measured A/B)
        return True

    def count_reject(self, rej: packet.Reject) -> None:
        """Counted per reason; the advert view reports it (once per reason and
        view, with the source, so a flood never floods the log)."""
        self.counters.rejects[rej.reason.value] += 1

    def _on_timer(self) -> None:
        ticket, self._timer = self._timer, None
        at = self._timer_at
        mc = self.machine
        deadline = mc.next_deadline()
        if deadline is not None and deadline > at and not self.stopped:
            if deadline == self._ahead_of:
                # the deadline _arm woke a grid step ahead of has not moved: wait for
                # it on the dot (a master-down about to expire, not up to a grid step late)
                self._timer_at, self._ahead_of = deadline, None
                self._timer = self._deadlines.call_at(deadline, self._fire, exact=True)
                return
            # adverts moved the deadline on since this handle was armed (they
            # never re-arm it: see _reschedule): sleep on to the real one, with the
            # ticket that fired (it has left the heap): a backup of 255 instances at
            # 0.1 s does this about 800 times a second
            self._arm(deadline, reuse=ticket)
            return
        now = self.loop.time()
        if now < at:
            # taken early in a wake-up's batch (engine/vrrp/deadlines.py): only a steady
            # master's advert goes, as of its deadline; anything else waits for it
            due = mc.due_advert
            if due is None or due is not self._resend_for or self.stopped:
                self._arm(at)
                return
            now = at
        elif mc.state is m.State.BACKUP:
            # read what has arrived before deciding the master is gone (a stall
            # leaves the timers overdue and the adverts queued); an advert read
            # here moves the deadline and the timer below finds nothing to do
            self.sock.drain()
            if self._timer is not None or self.stopped:
                return                 # an advert rescheduled us (or stopped us) meanwhile
        if self.stopped:
            return
        if now > self._fed_at:           # after the drain: what it read is as of its arrival
            self._fed_at = now
        try:
            actions = mc.advert_due(now)     # handle(now, Timer()), fast for a master
        except Exception:  # a machine bug must not take down the other instances
            log.exception("%s: state machine failed on its timer", self.inst.name)
            return
        if len(actions) == 1 and actions[0] is self._resend_for:
            # a steady master's advert, the very one sent last: nothing it says has
            # changed (the machine would have made a new one, and whatever changes the
            # payload here calls invalidate_adverts), so send those bytes again.  The
            # ticket that fired is armed again (it has left the heap) for the next one,
            # always later than now; no hooks.fed: no input changed anything (the sync
            # groups' update returns nothing then)
            self._send_all(self._resend)
            self._arm(mc.next_deadline(), reuse=ticket)
            return
        self._carry_out(actions)

    def _arm(self, when: float, reuse: deadlines.Ticket | None = None) -> None:
        """The one timer, for ``when``: precise for a master (its adverts' timing),
        batched otherwise (engine/vrrp/deadlines.py).  ``reuse``: the ticket that
        has just fired (it has left the heap), armed again instead of a new one
        when it is of the right kind."""
        precise = self.machine.state is m.State.MASTER
        self._ahead_of = None
        if not precise and self._deadlines.grid:
            # on a real loop the other deadlines wake it on a grid (up to a step late):
            # wake a step early, and _on_timer waits for the deadline exactly if it
            # has not moved by then (a backup's master-down mostly has: its master's
            # adverts move it on, and that wake-up only re-arms)
            self._ahead_of = when
            when -= self._deadlines.grid
        self._timer_at = when
        if reuse is not None and reuse.precise == precise and reuse.exact == precise:
            self._timer = self._deadlines.again(reuse, when)
        else:
            self._timer = self._deadlines.call_at(when, self._fire, precise=precise)

    def _reschedule(self) -> None:
        """The one timer follows the machine's deadline lazily: a deadline that
        moves later (a backup hearing its master, every advert) keeps the armed
        handle, which re-arms for the real deadline when it fires; one that moves
        earlier re-arms now.  A backup of 255 instances at 0.1 s thus wakes about
        once per Master_Down_Interval per instance instead of cancelling and
        re-arming an asyncio handle 2550 times a second."""
        t = self._timer
        deadline = None if self.stopped else self.machine.next_deadline()
        if deadline is None:
            if t is not None:
                t.cancel()
                self._timer = None
            return
        if t is not None:
            if self._timer_at <= deadline:
                return
            t.cancel()
        self._arm(deadline)

    # ---------------------------------------------------------------- actions

    def advert_payload(self, priority: int, dst: str | None = None) -> bytes:
        """The encoded advert; VRRPv3's checksum covers the destination, so a
        unicast peer gets its own (one cached per priority and destination)."""
        dst = dst or self.inst.mcast_group
        payload = self._adverts.get((priority, dst))
        if payload is None:
            auth = b""
            if self._auth_type == packet.AUTH_PASS:
                auth = packet.pass_auth_data(self.inst.authentication.auth_pass)
            adv = packet.Advert(version=self.inst.version, vrid=self.inst.vrid, priority=priority,
                                interval=self.inst.advert_int,
                                addresses=tuple(v.address for v in self.inst.virtual_ipaddresses),
                                auth_type=self._auth_type, auth_data=auth)
            payload = packet.encode(adv, self.source, dst)
            self._adverts[(priority, dst)] = payload
        return payload

    @property
    def source(self) -> str | None:
        return self.inst.unicast_src_ip or self.inst.mcast_src_ip or self.sock.src

    def wire(self) -> Wire:
        """Where this instance's adverts go: its multicast group, or its unicast peers
        (and its VMAC, which sends them unless vmac_xmit_base)."""
        peers = [str(p) for p in self.inst.unicast_peers]
        group = None if peers else self.inst.mcast_group    # resolved per family by the parser
        vm = self.inst.vmac
        vmac = None if vm is None else {"name": vm.name, "mac": vm.mac, "xmit_base": self.inst.vmac_xmit_base}
        return {"source": self.source, "mcast_group": group, "unicast_peers": peers, "vmac": vmac}

    def _send_advert(self, action: m.SendAdvert) -> None:
        priority, src = action.priority, self.source
        if self.inst.unicast_peers:
            ttl = self.inst.unicast_ttl
            sends = tuple((self.advert_payload(priority, peer), peer, src, ttl) for peer in self.inst.unicast_peers)
        else:
            sends = ((self.advert_payload(priority), self.inst.mcast_group, src, None),)
        self._send_all(sends)
        self._resend_for, self._resend = action, sends     # for _on_timer's next turn

    def _send_all(self, sends) -> None:
        """One advert: to the group, or to every unicast peer (counted once if any went)."""
        sent = 0
        for payload, dst, src, ttl in sends:
            sent += self.sock.send(payload, dst, src=src, ttl=ttl)
        if sent:
            self.counters.adverts_sent += 1

    def _do(self, action) -> None:
        if isinstance(action, m.SendAdvert):
            self._send_advert(action)
        elif isinstance(action, m.AddVips):
            self.hooks.vips_add(self)
        elif isinstance(action, m.RemoveVips):
            self.hooks.garp_stop(self)
            self.hooks.vips_remove(self)
        elif isinstance(action, m.SendGarp):
            self.hooks.garp_start(self)
        elif isinstance(action, m.LowerPriorityMaster):
            self.hooks.master_rx_lower_pri(self, action)
        elif isinstance(action, m.Transition):
            self.counters.transitions += 1
            self.hooks.transition(self, action)
        elif isinstance(action, m.SyncHeld):
            self.hooks.sync_held(self, action)
        else:  # unknown actions are a programming error, but never fatal
            log.error("%s: unknown action %r", self.inst.name, action)

    # -------------------------------------------------------------- lifetime

    def shutdown(self) -> None:
        """Leave cleanly: a master sends priority 0 and drops its VIPs."""
        self.feed(m.Shutdown())
        self.stopped = True
        self._reschedule()

    def invalidate_adverts(self) -> None:
        """Forget the encoded adverts: call it whenever what they say or where they
        go changes outside the machine (the source address, the socket, a reload
        handing in the instance).  What the machine decides (priority, state) needs
        no call: it answers with a new SendAdvert then, which is never resent."""
        self._adverts.clear()
        self._resend_for, self._resend = None, ()

    # ---------------------------------------------------------------- status

    def snapshot(self, trackers: list[Tracker], operator: InstanceOperator, sync_group: str | None,
                 master_mac: str | None = None) -> Instance:
        mc = self.machine
        t = mc.last_transition
        now = self.now()
        return {
            "name": self.inst.name, "vrid": self.inst.vrid, "interface": self.inst.interface,
            "family": self.inst.family, "version": self.inst.version, "advert_int": self.inst.advert_int,
            "configured_state": self.inst.state, "state": mc.state.value,
            "base_priority": mc.base_priority, "effective_priority": mc.effective_priority,
            "trackers": trackers,
            "vips": [{"address": str(v), "dev": v.dev or self.inst.interface, "label": v.label,
                      "present": self.vips_present.get(str(v), False), "last_garp": self.last_garp,
                      "excluded": k >= len(self.inst.virtual_ipaddresses)}
                     for k, v in enumerate(self.inst.held_vips)],
            "master": {
                "address": mc.master_address, "priority": mc.master_priority,
                "interval": mc.master_interval,
                "last_advert_age": None if mc.last_advert_at is None else round(now - mc.last_advert_at, 3),
                "mac": master_mac,
            },
            "counters": {"adverts_sent": self.counters.adverts_sent,
                         "adverts_received": self.counters.adverts_received,
                         "transitions": self.counters.transitions,
                         "rejects": dict(self.counters.rejects)},
            "last_transition": None if t is None else {
                "from": t.old.value, "to": t.new.value, "reason": t.reason, "detail": t.detail,
                "time": self.wall(t.at)},
            "wire": self.wire(),
            "sync_group": sync_group,
            "preempt": not self.inst.nopreempt, "preempt_delay": self.inst.preempt_delay,
            "operator": operator,
        }


