"""Real sans-IO VRRP machines on a zero-delay wire, on a virtual clock.

``Net``: single machines against each other (crash, revive, a cut link),
for the machine's RFC timings.  ``Lan``: routers of several machines with
an optional sync group each.


Routers are sets of real ``VrrpMachine`` objects (one per VRID) with an
optional ``SyncGroupMachine``; a zero-delay wire delivers every advert to
the machines of the same VRID on the other routers, after each router has
done its local work (a machine's actions, then its group's orders, as the
runtime runs them with ``loop.call_soon``): crossing the link takes longer
than reacting.  Used by the sync group tests and the operator tests (which
feed a batch of operator events through ``Lan.drivers``, as the control API
does, before the group reacts).
"""

from __future__ import annotations

from vipdeck.engine.vrrp.machine import REASONS, AdvertReceived, InstanceParams, LowerPriorityMaster, SendAdvert, Shutdown
from vipdeck.engine.vrrp.machine import Startup, State
from vipdeck.engine.vrrp.machine import SyncHeld, Timer, TrackChanged, Transition, VrrpMachine
from vipdeck.engine.vrrp.packet import Advert
from vipdeck.engine.vrrp.sync import GroupTransition, Order, SyncGroupMachine

K_ADDR, V_ADDR = "198.18.0.1", "198.18.0.2"      # keepalived-side router, vipdeck-side router
VIDS = {"VI_51": 51, "VI_52": 52}


def machine(name: str, addr: str, prio: int, **kw) -> VrrpMachine:
    kw.setdefault("advert_int", 1.0)
    return VrrpMachine(InstanceParams(name=name, vrid=VIDS.get(name, kw.pop("vrid", 60)), primary_address=addr,
                                      priority=prio, **kw))


def adv(src: str, vrid: int, prio: int) -> AdvertReceived:
    return AdvertReceived(Advert(2, vrid, prio, 1.0, ("198.18.0.100",), src=src, dst="224.0.0.18", ttl=255))


class Net:
    """Runs machines against each other; adverts reach every other live machine at once."""

    def __init__(self, *machines: VrrpMachine, vips: tuple[str, ...] = ("198.18.0.100",)):
        self.m = {x.name: x for x in machines}
        self.vips = vips
        self.heard_lower: list[str] = []     # machines that asked to re-announce (LowerPriorityMaster)
        self.alive = set(self.m)
        self.now = 0.0
        self.cut = False                     # True: adverts are lost (a partition)
        self.log: list[tuple[str, object]] = []

    def __getitem__(self, name: str) -> VrrpMachine:
        return self.m[name]

    def states(self) -> dict[str, State]:
        return {n: x.state for n, x in self.m.items()}

    def transitions(self, name: str) -> list[Transition]:
        return [a for n, a in self.log if n == name and isinstance(a, Transition)]

    def start_all(self) -> None:
        for x in self.m.values():
            self.do(x, Startup())

    def crash(self, name: str) -> None:
        self.alive.discard(name)

    def revive(self, name: str) -> None:
        self.alive.add(name)
        x = self.m[name]
        x.handle(self.now, Shutdown())       # the process is gone; a new one starts
        self.do(x, Startup())

    def do(self, machine: VrrpMachine, event) -> None:
        queue = [(machine, event)]
        while queue:
            x, ev = queue.pop(0)
            for a in x.handle(self.now, ev):
                self.log.append((x.name, a))
                if isinstance(a, LowerPriorityMaster):
                    self.heard_lower.append(x.name)
                assert not isinstance(a, Transition) or a.reason in REASONS
                if isinstance(a, SendAdvert) and not self.cut:
                    out = AdvertReceived(Advert(x.params.version, x.params.vrid, a.priority, a.interval, self.vips,
                                                src=x.params.primary_address, ttl=255))
                    queue += [(y, out) for n, y in self.m.items() if n in self.alive and y is not x]

    def run_until(self, end: float) -> None:
        while True:
            due = [(d, n) for n in sorted(self.alive) if (d := self.m[n].next_deadline()) is not None]
            if not due or min(due)[0] > end:
                self.now = end
                return
            self.now, name = min(due)
            self.do(self.m[name], Timer())


class Router:
    def __init__(self, name: str, addr: str, prios: dict[str, int], group: bool, **kw):
        self.name, self.addr = name, addr
        self.m = {n: machine(n, addr, p, **kw) for n, p in prios.items()}
        self.group = SyncGroupMachine("G", self.m) if group else None


class Lan:
    def __init__(self, *routers: Router):
        self.r = {x.name: x for x in routers}
        self.now = 0.0
        self.log: list[tuple[float, str, str, object]] = []     # (time, router, instance, action or output)
        self._pending: list[tuple[Router, str | None, tuple]] = []
        self._wire: list = []            # adverts on their way: delivered after local work
        for x in routers:
            if x.group is not None:
                self._pending.append((x, None, ()))
        self._settle()

    # -- reading
    def state(self, router: str, inst: str) -> State:
        return self.r[router].m[inst].state

    def states(self, router: str) -> dict[str, State]:
        return {n: x.state for n, x in self.r[router].m.items()}

    def sent(self, router: str, vrid: int | None = None, since: float = -1.0) -> list[tuple[float, int, int]]:
        """Adverts on the wire from ``router``: (time, vrid, priority)."""
        out = []
        for t, rn, inst, a in self.log:
            if rn == router and isinstance(a, SendAdvert) and t >= since:
                v = self.r[rn].m[inst].params.vrid
                if vrid is None or v == vrid:
                    out.append((t, v, a.priority))
        return out

    def transitions(self, router: str, inst: str | None = None) -> list[Transition]:
        return [a for _t, rn, i, a in self.log
                if rn == router and isinstance(a, Transition) and (inst is None or i == inst)]

    def held(self, router: str, inst: str) -> list[SyncHeld]:
        return [a for _t, rn, i, a in self.log if rn == router and i == inst and isinstance(a, SyncHeld)]

    def group_log(self, router: str) -> list[GroupTransition]:
        return [a for _t, rn, _i, a in self.log if rn == router and isinstance(a, GroupTransition)]

    # -- driving
    def do(self, router: str, inst: str, event) -> None:
        self._run([(self.r[router], inst, event)])

    def start_all(self) -> None:
        self._run([(x, n, Startup()) for x in self.r.values() for n in x.m])

    def _settle(self) -> None:
        self._run([])

    def _run(self, local: list) -> None:
        """Local work first (a machine's actions, then its group's orders), the wire
        last: a packet takes longer to cross the link than a router to react."""
        wire = self._wire
        guard = 0
        while local or self._pending or wire:
            guard += 1
            assert guard < 100000, "did not settle"
            if local:
                self._handle(local.pop(0), wire)
            elif self._pending:
                router, inst, ts = self._pending.pop(0)
                for out in router.group.update(self.now, inst, ts):
                    if isinstance(out, Order):
                        local.append((router, out.member, out.event))
                    else:
                        self.log.append((self.now, router.name, "", out))
            else:
                local.append(wire.pop(0))

    def _handle(self, item, wire: list) -> None:
        router, inst, ev = item
        mc = router.m[inst]
        ts = []
        for a in mc.handle(self.now, ev):
            self.log.append((self.now, router.name, inst, a))
            if isinstance(a, Transition):
                assert a.reason in REASONS and a.detail
                ts.append(a)
            if isinstance(a, SendAdvert):
                wire += [(other, n, adv(router.addr, mc.params.vrid, a.priority))
                         for other in self.r.values() if other is not router
                         for n, y in other.m.items() if y.params.vrid == mc.params.vrid]
        if router.group is not None:
            self._pending.append((router, inst, tuple(ts)))

    # -- driving as the runtime does: events fed at once, the groups and the wire after
    def drivers(self, router: str) -> dict[str, "LanDriver"]:
        """``operator.apply_change``'s drivers for the machines of ``router``."""
        x = self.r[router]
        return {n: LanDriver(self, x, n) for n in x.m}

    def feed(self, router: Router, inst: str, event) -> None:
        """Handle ``event`` now; its group looks at it, and its adverts cross the
        wire, at the next ``settle`` (the runtime's ``call_soon``)."""
        self._handle((router, inst, event), self._wire)

    def settle(self) -> None:
        self._run([])

    def run_until(self, end: float) -> None:
        while True:
            due = [(d, rn, n) for rn, x in sorted(self.r.items()) for n, y in sorted(x.m.items())
                   if (d := y.next_deadline()) is not None]
            if not due or min(due)[0] > end:
                self.now = end
                return
            self.now, rn, n = min(due)
            self._run([(self.r[rn], n, Timer())])

    def fault(self, router: str, inst: str, on: bool) -> None:
        self.do(router, inst, TrackChanged(fault=on, detail="ff " + ("FAULT" if on else "ok")))


class LanDriver:
    """What ``engine.operator`` needs of an ``InstanceDriver``: the machine, its
    clock and ``feed`` (the group reacts once the whole batch is fed)."""

    def __init__(self, lan: Lan, router: Router, name: str):
        self.lan, self.router, self.name = lan, router, name

    @property
    def machine(self) -> VrrpMachine:
        return self.router.m[self.name]

    @property
    def inst(self):
        return self.machine.params

    def now(self) -> float:
        return self.lan.now

    def feed(self, event) -> None:
        self.lan.feed(self.router, self.name, event)


def mdi(prio: int, interval: float = 1.0) -> float:
    return 3 * interval + (256 - prio) * interval / 256


def settled_pair(k_group: bool, k_prio: int = 100, v_prio: int = 90, until: float = 20.0) -> Lan:
    lan = Lan(Router("K", K_ADDR, {"VI_51": k_prio, "VI_52": k_prio}, k_group),
              Router("V", V_ADDR, {"VI_51": v_prio, "VI_52": v_prio}, True))
    lan.start_all()
    lan.run_until(until)
    return lan


def only_configured(lan: Lan, router: str, prio: int, since: float = -1.0) -> None:
    bad = [p for p in lan.sent(router, since=since) if p[2] != prio]
    assert not bad, f"{router} advertised a priority other than {prio}: {bad}"


