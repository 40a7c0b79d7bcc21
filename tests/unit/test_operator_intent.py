"""engine.operator: the one translation of operator intent into machine events.

Pure on the events side; the machines here are the real sans-IO
``VrrpMachine`` on a virtual clock, fed through a minimal stand-in for the
driver (``now`` + ``feed``), so what is checked is what a machine does with
the intent, at start-up, after a reload and for a request.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from vipdeck.engine import operator
from vipdeck.engine.state import OperatorState, Stamp
from vipdeck.engine.vrrp.machine import (AdvertReceived, ClearHold, Drain, InstanceParams, Resign, SendAdvert,
                                         Startup, State, Takeover, Timer, VrrpMachine)
from vipdeck.engine.vrrp.packet import Advert

ME, PEER = "198.18.0.2", "198.18.0.1"
WALL = 1_800_000_000.0


@dataclass
class Inst:
    name: str


@dataclass
class VirtualDriver:
    """A machine on a virtual clock, fed like InstanceDriver.feed does."""

    machine: VrrpMachine
    t: float = 0.0
    actions: list = field(default_factory=list)

    @property
    def inst(self) -> Inst:
        return Inst(self.machine.name)

    def now(self) -> float:
        return self.t

    def feed(self, ev) -> None:
        self.actions += self.machine.handle(self.t, ev)

    def at(self, t: float, ev) -> list:
        self.t = t
        before = len(self.actions)
        self.feed(ev)
        return self.actions[before:]


def machine(priority: int = 100, state: str = "BACKUP") -> VrrpMachine:
    return VrrpMachine(InstanceParams(name="VI_1", vrid=51, primary_address=ME, priority=priority,
                                      initial_state=state))


def adv(prio: int) -> AdvertReceived:
    return AdvertReceived(Advert(2, 51, prio, 1.0, ("198.18.0.100",), src=PEER, dst="224.0.0.18", ttl=255))


def intent(**kw) -> OperatorState:
    st = OperatorState()
    for k, v in kw.items():
        setattr(st, k, v)
    return st


HOLD = {"until": None, "who": "ops", "when": WALL - 10, "why": "maintenance"}


def test_a_new_machine_gets_drain_and_hold_before_startup_and_takeover_after():
    st = intent(drained=Stamp("ops", WALL), holds={"VI_1": {**HOLD, "until": WALL + 30}},
                takeovers={"VI_1": {"who": "ops", "when": WALL}})
    pre, post = operator.for_new_machine(st, "VI_1", wall=WALL, mono=5.0)
    assert pre == [Drain(True), Resign(hold_until=35.0)]
    assert post == [Takeover(True)]
    assert operator.for_new_machine(st, "VI_2", wall=WALL, mono=5.0) == ([Drain(True)], [])
    assert operator.for_new_machine(OperatorState(), "VI_1", wall=WALL, mono=5.0) == ([], [])


def test_a_held_instance_rebuilt_by_a_reload_does_not_preempt_a_lower_master():
    """The reload bug: the new machine forgot the hold and took the VIPs back."""
    for st, preempts in ((intent(holds={"VI_1": HOLD}), False), (OperatorState(), True)):
        d = VirtualDriver(machine(100))
        operator.prepare(d, st, WALL)
        d.at(0.0, Startup())
        operator.started(d, st, WALL)
        for k in range(1, 6):                      # a lower-priority master keeps advertising
            d.at(float(k), adv(96))
            if d.machine.next_deadline() is not None and d.machine.next_deadline() <= k + 1:
                d.at(d.machine.next_deadline(), Timer())
        assert (d.machine.state is State.MASTER) == preempts, st
        assert d.machine.held == (not preempts)


def test_a_drained_address_owner_never_starts_as_master():
    d = VirtualDriver(machine(255, "MASTER"))
    st = intent(drained=Stamp("ops", WALL))
    operator.prepare(d, st, WALL)
    out = d.at(0.0, Startup())
    operator.started(d, st, WALL)
    assert d.machine.state is State.BACKUP
    assert not [a for a in out if isinstance(a, SendAdvert)]


def test_request_deltas_in_order():
    held = intent(holds={"VI_1": HOLD})
    took = intent(takeovers={"VI_1": {"who": "ops", "when": WALL}})
    ev = operator.events
    assert ev(held, took, "VI_1", wall=WALL, mono=1.0) == [ClearHold(), Takeover(True)]    # takeover
    assert ev(took, held, "VI_1", wall=WALL, mono=1.0) == [Resign(hold_until=None), Takeover(False)]
    assert ev(held, OperatorState(), "VI_1", wall=WALL, mono=1.0) == [ClearHold()]
    assert ev(held, held, "VI_1", wall=WALL, mono=1.0) == []
    assert ev(held, held, "VI_2", wall=WALL, mono=1.0) == []
    drained = intent(drained=Stamp("ops", WALL))
    assert ev(OperatorState(), drained, "VI_2", wall=WALL, mono=1.0) == [Drain(True)]
    assert ev(drained, intent(drained=Stamp("ops", WALL + 1)), "VI_2", wall=WALL, mono=1.0) == []
    assert ev(drained, OperatorState(), "VI_2", wall=WALL, mono=1.0) == [Drain(False)]


def test_a_repeated_failover_resigns_again_and_a_zero_hold_still_resigns():
    d = VirtualDriver(machine(100))
    d.at(0.0, Startup())
    d.at(d.machine.next_deadline(), Timer())
    assert d.machine.state is State.MASTER
    d.t = 10.0
    zero = intent(holds={"VI_1": {**HOLD, "until": WALL, "when": WALL}})     # --hold 0
    operator.apply_change({"VI_1": d}, OperatorState(), zero, WALL)
    assert d.machine.state is State.BACKUP and not d.machine.held
    assert SendAdvert(0, 1.0) in d.actions
