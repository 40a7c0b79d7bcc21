"""Operator actions on a member of a vrrp_sync_group act on the whole group.

The scenario is the lab's: vipdeck's sync group {VI_51, VI_52} at priority
90 beside a keepalived-like router that masters both at 100 without a sync
group.  The machines are the real sans-IO ones on a zero-delay wire
(``tests.support.vrrp_lan``); requests go through the real ``EngineApi``
and ``StateStore`` (on disk in tmp_path) with the lab router's machines as
its drivers, so what is checked is the whole path of a request: the rule
(``engine.operator.scope``), one transaction, one audit entry, the machine
events and what the wire then does.

Before the rule, ``takeover VI_51`` gave only VI_51 a takeover: VI_51 went
MASTER at 101, the group pulled VI_52 up at its own 90, keepalived's
healthy VI_52 (100) re-asserted, our VI_52 went BACKUP and took the group
down with it — the takeover did not hold.
"""

from __future__ import annotations

import asyncio
import json
import os

import pytest

from vipdeck.engine import operator
from vipdeck.engine.config import loads
from vipdeck.engine.control.api import EngineApi
from vipdeck.engine.control.schema import ControlError
from vipdeck.engine.events import EventBus
from vipdeck.engine.lab.peers import vrrp_conf
from vipdeck.engine.state import StateStore
from vipdeck.engine.vrrp.machine import Shutdown, Startup, State

from tests.support.vrrp_lan import K_ADDR, V_ADDR, Lan, Router, machine, mdi, settled_pair

WALL = 1_800_000_000.0
GROUP = "vrrp_sync_group G {\n    group {\n        VI_51\n        VI_52\n    }\n}\n"


def config(group: bool = True, more: tuple[str, ...] = ()):
    insts = [dict(name=n, vrid=v, priority=90, vips=[f"198.18.0.{v + 100}"]) for n, v in
             (("VI_51", 51), ("VI_52", 52), *((n, 60 + k) for k, n in enumerate(more)))]
    res = loads(vrrp_conf(router_id="vd", instances=insts, extra=GROUP if group else ""))
    assert res.config is not None and res.ok, res.diagnostics
    return res.config


class LanEngine:
    """What ``EngineApi`` uses of an ``Engine``, over router V of a ``Lan``."""

    def __init__(self, lan, state_dir: str, cfg=None):
        self.lan = lan
        self.bus = EventBus()
        self.state = StateStore(state_dir)
        self.config = cfg or config()
        self.drivers = lan.drivers("V")
        self.lvs = None

    def emit(self, kind: str, message: str, severity: str = "info", **fields):
        return self.bus.emit(kind, message, severity, **fields)


def request(engine: LanEngine, op: str, **args) -> dict:
    api = EngineApi(engine)
    out = asyncio.run(api.handle(op, {"who": "ops", **args}, 0))
    engine.lan.settle()                   # the groups react and the adverts cross the wire
    return out


def audit(engine: LanEngine) -> list[dict]:
    with open(engine.state.audit_path) as f:
        return [json.loads(x) for x in f]


def on_disk(engine: LanEngine) -> dict:
    with open(engine.state.path) as f:
        return json.load(f)


def test_scope_is_the_sync_group_of_the_member_or_the_instance_alone():
    cfg = config(more=("VI_9",))
    assert operator.scope(cfg, "VI_52", ["VI_51", "VI_52", "VI_9"]) == operator.Scope("VI_52", "G", ("VI_51", "VI_52"))
    assert operator.scope(cfg, "VI_9", ["VI_51", "VI_52", "VI_9"]) == operator.Scope("VI_9", None, ("VI_9",))
    assert operator.scope(cfg, "VI_51", ["VI_51"]).members == ("VI_51",)          # VI_52 not running here
    assert operator.scope(cfg, "VI_51", ["VI_51", "VI_52"]).label() == "sync group G (VI_51, VI_52)"
    assert operator.scope(config(group=False), "VI_51", ["VI_51", "VI_52"]).label() == "VI_51"


def test_takeover_of_one_member_takes_the_whole_group_and_holds_beside_an_ungrouped_peer(tmp_path):
    lan = settled_pair(k_group=False)                      # K masters both at 100, V's group BACKUP at 90
    eng = LanEngine(lan, str(tmp_path))
    t0 = lan.now
    out = request(eng, "takeover", instance="VI_51", reason="move traffic")
    assert out["message"] == ("sync group G (VI_51, VI_52): taking over "
                              "(VI_51 effective priority 101, VI_52 effective priority 101)")
    assert lan.states("V") == {"VI_51": State.MASTER, "VI_52": State.MASTER}
    lan.run_until(t0 + 60)
    # it holds: keepalived's instances stay BACKUP, ours never left MASTER, at 101 on both
    assert lan.states("K") == {"VI_51": State.BACKUP, "VI_52": State.BACKUP}
    assert lan.states("V") == {"VI_51": State.MASTER, "VI_52": State.MASTER}
    since = [t for t in lan.transitions("V") if t.at >= t0]
    assert [(t.new, t.reason) for t in since] == [(State.MASTER, "operator")] * 2
    assert {p for _t, _v, p in lan.sent("V", since=t0)} == {101}
    # one transaction for both, one audit entry and one event naming the group
    st = on_disk(eng)["takeovers"]
    assert sorted(st) == ["VI_51", "VI_52"]
    assert {(r["group"], r["who"], r["why"]) for r in st.values()} == {("G", "ops", "move traffic")}
    [entry] = audit(eng)
    assert (entry["op"], entry["ok"], entry["group"], entry["instances"]) == ("takeover", True, "G",
                                                                             ["VI_51", "VI_52"])
    [ev] = [e for e in eng.bus.since(0) if e["kind"] == "operator"]
    assert ev["group"] == "G" and ev["instances"] == ["VI_51", "VI_52"]

    t1 = lan.now
    out = request(eng, "release", instance="VI_52")        # either member releases the group
    assert out["message"] == "sync group G (VI_51, VI_52): takeover released, normal election"
    assert on_disk(eng)["takeovers"] == {}
    lan.run_until(t1 + 10)
    assert lan.states("K") == {"VI_51": State.MASTER, "VI_52": State.MASTER}     # keepalived preempts back
    assert lan.states("V") == {"VI_51": State.BACKUP, "VI_52": State.BACKUP}
    assert {p for _t, _v, p in lan.sent("V", since=t1 + 1e-6)} == {90}            # normal priorities again
    assert [a["op"] for a in audit(eng)] == ["takeover", "release"]


def test_failover_of_one_member_resigns_and_holds_every_member(tmp_path):
    lan = settled_pair(k_group=False, k_prio=90, v_prio=100)     # V's group masters both at 100
    eng = LanEngine(lan, str(tmp_path))
    assert lan.states("V") == {"VI_51": State.MASTER, "VI_52": State.MASTER}
    t0 = lan.now
    out = request(eng, "failover", instance="VI_52", hold=30, reason="maintenance")
    assert out["message"] == ("sync group G (VI_51, VI_52): VI_51, VI_52 resigned; "
                              "preemption held for 30s on every member")
    # every member sends priority 0 (the peer takes over after Skew_Time, not Master_Down_Interval)
    assert sorted(lan.sent("V", since=t0)) == [(t0, 51, 0), (t0, 52, 0)]
    assert [t.reason for t in lan.transitions("V") if t.at == t0] == ["operator", "operator"]
    lan.run_until(t0 + 25)
    assert lan.states("K") == {"VI_51": State.MASTER, "VI_52": State.MASTER}
    assert lan.states("V") == {"VI_51": State.BACKUP, "VI_52": State.BACKUP}      # held: no preemption
    assert all(lan.r["V"].m[n].held for n in ("VI_51", "VI_52"))
    holds = on_disk(eng)["holds"]
    assert sorted(holds) == ["VI_51", "VI_52"] and {h["group"] for h in holds.values()} == {"G"}
    assert len({h["until"] for h in holds.values()}) == 1
    [entry] = audit(eng)
    assert (entry["op"], entry["group"], entry["instances"]) == ("failover", "G", ["VI_51", "VI_52"])

    out = request(eng, "clear_hold", instance="VI_51")
    assert out["message"] == "sync group G (VI_51, VI_52): failover hold cleared"
    assert on_disk(eng)["holds"] == {}
    t1 = lan.now
    lan.run_until(t1 + 10)
    assert lan.states("V") == {"VI_51": State.MASTER, "VI_52": State.MASTER}      # preempts back, both
    assert all(t.at <= t1 + mdi(100) + 1e-9 for t in lan.transitions("V") if t.at > t1)


def test_group_requests_are_refused_as_a_whole_and_change_nothing(tmp_path):
    lan = settled_pair(k_group=False)
    eng = LanEngine(lan, str(tmp_path))
    for op, text in (("failover", "sync group G: no member is MASTER here (VI_51 BACKUP, VI_52 BACKUP)"),
                     ("clear_hold", "sync group G: no member has a failover hold"),
                     ("release", "sync group G: no member has a takeover to release")):
        with pytest.raises(ControlError) as e:
            request(eng, op, instance="VI_52")
        assert text in e.value.message, op
    # a member in FAULT: the group cannot take over (and keepalived's group would be FAULT too)
    lan.fault("V", "VI_52", True)
    with pytest.raises(ControlError) as e:
        request(eng, "takeover", instance="VI_51")
    assert e.value.message == "sync group G: VI_51 is FAULT: cannot take over"
    assert not os.path.exists(eng.state.path)                    # nothing was ever committed
    assert [a["ok"] for a in audit(eng)] == [False] * 4          # but every refusal is audited


def test_a_takeover_against_an_address_owner_is_refused(tmp_path):
    lan = settled_pair(k_group=False, k_prio=255)
    eng = LanEngine(lan, str(tmp_path))
    with pytest.raises(ControlError) as e:
        request(eng, "takeover", instance="VI_51")
    assert "VI_51's master 198.18.0.1 is the address owner (priority 255)" in e.value.message
    assert eng.state.state.takeovers == {}


def test_a_lone_instance_still_acts_alone(tmp_path):
    lan = Lan(Router("K", K_ADDR, {"VI_51": 100, "VI_52": 100}, False),
              Router("V", V_ADDR, {"VI_51": 90, "VI_52": 90}, False))
    lan.start_all()
    lan.run_until(20)
    eng = LanEngine(lan, str(tmp_path), cfg=config(group=False))
    out = request(eng, "takeover", instance="VI_51")
    assert out["message"] == "VI_51: taking over (effective priority 101)"
    assert sorted(on_disk(eng)["takeovers"]) == ["VI_51"] and "group" not in on_disk(eng)["takeovers"]["VI_51"]
    [entry] = audit(eng)
    assert "group" not in entry and "instances" not in entry
    assert lan.states("V") == {"VI_51": State.MASTER, "VI_52": State.BACKUP}


def test_a_persisted_group_takeover_is_reapplied_to_new_machines_and_waits_for_their_masters(tmp_path):
    """A restart: the new machines get the takeover right after Startup, before any
    advert; each takes over at its master's first advert (pending until then)."""
    lan = settled_pair(k_group=False)
    eng = LanEngine(lan, str(tmp_path))
    request(eng, "takeover", instance="VI_51")
    intent = eng.state.state
    # the daemon stops (priority 0 from both) and keepalived takes both back
    t0 = lan.now
    for n in ("VI_51", "VI_52"):
        lan.feed(lan.r["V"], n, Shutdown())
    lan.settle()
    del lan.r["V"]
    lan.run_until(t0 + 2)
    assert lan.states("K") == {"VI_51": State.MASTER, "VI_52": State.MASTER}
    v = Router("V", V_ADDR, {"VI_51": 90, "VI_52": 90}, True)     # the restarted daemon's machines
    lan.r["V"] = v
    lan._pending.append((v, None, ()))
    drivers = lan.drivers("V")
    for d in drivers.values():
        operator.prepare(d, intent, WALL)
        d.feed(Startup())
        operator.started(d, intent, WALL)
        assert d.machine.takeover_pending
    lan.settle()
    t1 = lan.now
    lan.run_until(t1 + 30)
    assert lan.states("V") == {"VI_51": State.MASTER, "VI_52": State.MASTER}
    assert lan.states("K") == {"VI_51": State.BACKUP, "VI_52": State.BACKUP}
    # once each: the first to hear its master takes over (operator) and its group pulls the
    # other up (sync_group), which advertises its own 90 until it hears its master, then 101
    ups = [t for t in lan.transitions("V") if t.at > t1]
    assert sorted(t.new for t in ups) == [State.MASTER] * 2 and "operator" in {t.reason for t in ups}
    assert not any(x.takeover_pending for x in v.m.values())
    assert all(x.effective_priority == 101 for x in v.m.values())
    late = lan.sent("V", since=t1 + 5)
    assert late and {p for _t, _v, p in late} == {101}
    assert [t for t in lan.transitions("K") if t.at > t1 and t.new is State.MASTER] == []


def test_a_group_takeover_one_member_cannot_hold_leaves_the_group_backup_without_flapping(tmp_path):
    """keepalived's VI_52 rises above our takeover (its trackers: 110 > 101): our VI_52
    yields and the group follows it down; our VI_51 still beats keepalived's VI_51 but
    waits for its group (held, wanting MASTER) instead of pulling the group up at every
    advert, and the group takes both again once VI_52 can win."""
    lan = settled_pair(k_group=False)
    eng = LanEngine(lan, str(tmp_path))
    request(eng, "takeover", instance="VI_51")
    lan.run_until(lan.now + 5)
    assert lan.states("V") == {"VI_51": State.MASTER, "VI_52": State.MASTER}
    k = lan.r["K"]
    t0 = lan.now
    k.m["VI_52"] = machine("VI_52", K_ADDR, 110)          # keepalived's VI_52, reloaded at 110
    lan.do("K", "VI_52", Startup())
    lan.run_until(t0 + 30)
    assert lan.states("V") == {"VI_51": State.BACKUP, "VI_52": State.BACKUP}
    assert lan.states("K") == {"VI_51": State.MASTER, "VI_52": State.MASTER}
    ups = [t for t in lan.transitions("V") if t.at > t0 and t.new is State.MASTER]
    assert ups == []                                        # no flapping
    v51 = lan.r["V"].m["VI_51"]
    assert v51.wants_master and v51.takeover_pending
    [held] = lan.held("V", "VI_51")
    assert held.cause == "operator" and "VI_52 still hears its master 198.18.0.1" in held.detail
    t1 = lan.now
    k.m["VI_52"] = machine("VI_52", K_ADDR, 100)          # and back to 100
    lan.do("K", "VI_52", Startup())
    lan.run_until(t1 + 30)
    assert lan.states("V") == {"VI_51": State.MASTER, "VI_52": State.MASTER}
    assert lan.states("K") == {"VI_51": State.BACKUP, "VI_52": State.BACKUP}
    assert len([t for t in lan.transitions("V") if t.at > t1]) == 2
