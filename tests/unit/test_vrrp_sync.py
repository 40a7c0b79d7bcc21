"""vrrp_sync_group rules (engine.vrrp.sync) and the machine's sync events, on a virtual clock.

Routers are sets of real ``VrrpMachine`` objects (one per VRID) with an
optional ``SyncGroupMachine`` on a zero-delay wire (``tests.support.vrrp_lan``).
The scenarios are the lab's (issue 9 item 2) and
keepalived 2.2.7's behaviour checked beside it in a namespace lab.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vipdeck.engine.vrrp.machine import (
    REASONS, SYNC_GROUP, Resign, SendAdvert, Shutdown, Startup, State, SyncBackup, SyncFault, SyncGate,
    SyncHeld, SyncMaster, Takeover, Timer, TrackChanged, Transition, VrrpMachine,
)

from tests.support.vrrp_lan import K_ADDR, V_ADDR, Lan, Router, adv, machine, mdi, only_configured, settled_pair


# ---- the scenario: our group beside ungrouped keepalived masters ----------------------------

def test_group_stays_backup_while_a_member_still_hears_its_master():
    lan = settled_pair(k_group=False)
    assert lan.states("K") == {"VI_51": State.MASTER, "VI_52": State.MASTER}
    assert lan.states("V") == {"VI_51": State.BACKUP, "VI_52": State.BACKUP}
    t_fault = lan.now
    lan.fault("K", "VI_51", True)
    assert lan.sent("K", 51, since=t_fault)[-1][2] == 0        # keepalived's VI_51 resigns
    lan.run_until(t_fault + 30)
    # our VI_51's timer expired (after Skew_Time, then every Master_Down_Interval) but VI_52 hears its master
    v51 = lan.r["V"].m["VI_51"]
    assert lan.states("V") == {"VI_51": State.BACKUP, "VI_52": State.BACKUP}
    assert v51.wants_master
    [held] = lan.held("V", "VI_51")                           # reported once, not every interval
    assert held.cause == "priority_zero_received" and held.at == pytest.approx(t_fault + (256 - 90) / 256)
    assert "VI_52 still hears its master 198.18.0.1" in held.detail
    assert lan.sent("V") == []                                 # no forged priority, no priority 0: nothing at all
    assert lan.state("K", "VI_52") is State.MASTER
    assert [t.new for t in lan.transitions("K", "VI_52")] == [State.BACKUP, State.MASTER]
    assert v51.next_deadline() - lan.now <= mdi(90)            # re-armed a full interval each time

    t_clear = lan.now
    lan.fault("K", "VI_51", False)
    lan.run_until(t_clear + 10)
    assert lan.states("K") == {"VI_51": State.MASTER, "VI_52": State.MASTER}
    assert lan.states("V") == {"VI_51": State.BACKUP, "VI_52": State.BACKUP}
    assert not v51.wants_master                                 # it accepted keepalived's VI_51 again
    assert lan.transitions("V", "VI_51")[-1].new is State.BACKUP and len(lan.transitions("V")) == 2
    assert [g.new for g in lan.group_log("V")] == [State.BACKUP]


def test_group_goes_master_once_every_member_lost_its_master():
    lan = settled_pair(k_group=False)
    t0 = lan.now
    lan.fault("K", "VI_51", True)
    lan.run_until(t0 + 5)
    lan.fault("K", "VI_52", True)                               # now the second master resigns too
    t1 = lan.now
    lan.run_until(t1 + 5)
    assert lan.states("V") == {"VI_51": State.MASTER, "VI_52": State.MASTER}
    t51, t52 = lan.transitions("V", "VI_51")[-1], lan.transitions("V", "VI_52")[-1]
    # the last to want MASTER (VI_52, priority 0 + Skew_Time) goes first and pulls VI_51 at the same instant
    assert (t52.reason, t52.at) == ("priority_zero_received", pytest.approx(t1 + (256 - 90) / 256))
    assert (t51.reason, t51.at) == (SYNC_GROUP, t52.at)
    assert "VI_52 became MASTER" in t51.detail
    only_configured(lan, "V", 90)
    assert [g.new for g in lan.group_log("V")] == [State.BACKUP, State.MASTER]


# ---- keepalived holds the sync group too ------------------------------------------------------------

def test_both_grouped_keepalived_master_faults_and_comes_back():
    lan = settled_pair(k_group=True)
    assert lan.states("K") == {"VI_51": State.MASTER, "VI_52": State.MASTER}
    t0 = lan.now
    lan.fault("K", "VI_51", True)
    # keepalived takes the whole group to FAULT: VI_52 sends priority 0 too (once), reason sync_group
    assert lan.states("K") == {"VI_51": State.FAULT, "VI_52": State.FAULT}
    assert [p[2] for p in lan.sent("K", 52, since=t0)] == [0]
    k52 = lan.transitions("K", "VI_52")[-1]
    assert (k52.new, k52.reason) == (State.FAULT, SYNC_GROUP)
    lan.run_until(t0 + 5)
    assert lan.states("V") == {"VI_51": State.MASTER, "VI_52": State.MASTER}
    assert [t.at for t in lan.transitions("V") if t.new is State.MASTER] == [t0 + (256 - 90) / 256] * 2
    only_configured(lan, "V", 90)

    t1 = lan.now
    lan.fault("K", "VI_51", False)
    assert lan.states("K") == {"VI_51": State.BACKUP, "VI_52": State.BACKUP}
    assert [(t.reason) for t in lan.transitions("K") if t.at == t1] == ["tracker", SYNC_GROUP]
    lan.run_until(t1 + 10)
    # keepalived preempts (it discards our 90 adverts) and the whole group moves back
    assert lan.states("K") == {"VI_51": State.MASTER, "VI_52": State.MASTER}
    assert lan.states("V") == {"VI_51": State.BACKUP, "VI_52": State.BACKUP}
    reasons = sorted(t.reason for t in lan.transitions("V") if t.at > t1)
    assert reasons in (["higher_priority_seen", "higher_priority_seen"], ["higher_priority_seen", SYNC_GROUP])
    only_configured(lan, "V", 90)                              # and no priority 0 from us when following
    assert [g.new for g in lan.group_log("K")] == [State.BACKUP, State.MASTER, State.FAULT, State.BACKUP,
                                                   State.MASTER]


def test_both_grouped_our_fault_takes_the_group_to_fault_and_back():
    lan = settled_pair(k_group=True, k_prio=90, v_prio=100)
    assert lan.states("V") == {"VI_51": State.MASTER, "VI_52": State.MASTER}
    t0 = lan.now
    lan.fault("V", "VI_51", True)
    assert lan.states("V") == {"VI_51": State.FAULT, "VI_52": State.FAULT}
    # keepalived sends priority 0 for a master the group takes to FAULT; so do we, once per member
    assert sorted(lan.sent("V", since=t0)) == [(t0, 51, 0), (t0, 52, 0)]
    lan.run_until(t0 + 5)
    assert lan.states("K") == {"VI_51": State.MASTER, "VI_52": State.MASTER}
    t1 = lan.now
    lan.fault("V", "VI_51", False)
    left = {n: lan.transitions("V", n)[-1] for n in ("VI_51", "VI_52")}
    assert (left["VI_51"].new, left["VI_51"].reason) == (State.BACKUP, "tracker")
    assert (left["VI_52"].new, left["VI_52"].reason) == (State.BACKUP, SYNC_GROUP)
    lan.run_until(t1 + 10)
    assert lan.states("V") == {"VI_51": State.MASTER, "VI_52": State.MASTER}
    assert lan.states("K") == {"VI_51": State.BACKUP, "VI_52": State.BACKUP}
    assert {p[2] for p in lan.sent("V")} == {100, 0}
    assert [p for p in lan.sent("V") if p[2] == 0] == [(t0, 51, 0), (t0, 52, 0)]


# ---- the transition matrix, one rule at a time -------------------------------------------------------

def test_master_to_backup_pushes_the_others_down_without_priority_zero():
    lan = Lan(Router("K", K_ADDR, {"VI_51": 90, "VI_52": 90}, False),
              Router("V", V_ADDR, {"VI_51": 100, "VI_52": 100}, True))
    lan.start_all()
    lan.run_until(20)
    assert lan.states("V") == {"VI_51": State.MASTER, "VI_52": State.MASTER}
    # keepalived's VI_51 becomes the better router (say a reload to 110): it preempts our VI_51
    lan.r["K"].m["VI_51"] = machine("VI_51", K_ADDR, 110)
    t0 = lan.now
    lan.do("K", "VI_51", Startup())
    lan.run_until(t0 + 10)
    v51, v52 = lan.transitions("V", "VI_51")[-1], lan.transitions("V", "VI_52")[-1]
    assert (v51.new, v51.reason) == (State.BACKUP, "higher_priority_seen")
    assert (v52.new, v52.reason, v52.at) == (State.BACKUP, SYNC_GROUP, v51.at)
    assert all(p[2] == 100 for p in lan.sent("V"))             # no priority 0 when following
    assert lan.state("K", "VI_52") is State.MASTER             # took over after its Master_Down_Interval
    last52 = max(t for t, _v, _p in lan.sent("V", 52))
    assert last52 <= v51.at and lan.transitions("K", "VI_52")[-1].at == pytest.approx(last52 + mdi(90))


def test_operator_resign_of_one_member_moves_the_group_and_only_it_sends_priority_zero():
    """The core's rule for a Resign that reaches one member; the control API gives it to
    every member (engine.operator.scope, tests/unit/test_operator_sync_group.py)."""
    lan = settled_pair(k_group=False, k_prio=90, v_prio=100)
    t0 = lan.now
    lan.do("V", "VI_51", Resign(hold_until=t0 + 60))
    assert [t.reason for t in lan.transitions("V") if t.at == t0] == ["operator", SYNC_GROUP]
    assert sorted(lan.sent("V", since=t0)) == [(t0, 51, 0)]
    assert lan.states("V") == {"VI_51": State.BACKUP, "VI_52": State.BACKUP}


def test_fault_latches_until_no_member_has_its_own_fault():
    lan = settled_pair(k_group=False, k_prio=90, v_prio=100)
    v = lan.r["V"].m
    t0 = lan.now
    lan.fault("V", "VI_51", True)
    assert lan.states("V") == {"VI_51": State.FAULT, "VI_52": State.FAULT}
    assert v["VI_52"].sync_fault and not v["VI_52"].own_fault
    lan.run_until(t0 + 1)
    lan.fault("V", "VI_52", True)                              # now VI_52 has a fault of its own too
    lan.fault("V", "VI_51", False)                             # VI_51 is fine, but the group stays FAULT
    assert lan.states("V") == {"VI_51": State.FAULT, "VI_52": State.FAULT}
    assert lan.r["V"].group.state is State.FAULT
    n = len(lan.transitions("V"))
    lan.run_until(t0 + 5)
    assert len(lan.transitions("V")) == n                       # no BACKUP blip for VI_51
    t1 = lan.now
    lan.fault("V", "VI_52", False)
    assert lan.states("V") == {"VI_51": State.BACKUP, "VI_52": State.BACKUP}
    assert [t.reason for t in lan.transitions("V") if t.at == t1] == ["tracker", "tracker"]
    assert [g.new for g in lan.group_log("V")][-2:] == [State.FAULT, State.BACKUP]


def test_a_member_that_stops_does_not_push_the_others_down():
    lan = settled_pair(k_group=False, k_prio=90, v_prio=100)
    t0 = lan.now
    lan.do("V", "VI_51", Shutdown())
    assert lan.states("V") == {"VI_51": State.STOP, "VI_52": State.MASTER}
    lan.do("V", "VI_52", Shutdown())
    assert sorted(lan.sent("V", since=t0)) == [(t0, 51, 0), (t0, 52, 0)]   # each leaves with its own priority 0
    assert lan.group_log("V")[-1].new is State.STOP


def test_startup_waits_for_every_member_and_the_last_to_want_master_pulls_the_others():
    v = Router("V", V_ADDR, {"VI_51": 100, "VI_52": 100}, True)
    lan = Lan(v)
    assert v.group.state is State.INIT
    assert not v.m["VI_51"].sync_gate and not v.m["VI_52"].sync_gate
    lan.do("V", "VI_51", Startup())
    lan.run_until(5.0)                                          # VI_52 not started: VI_51 is held
    assert lan.states("V") == {"VI_51": State.BACKUP, "VI_52": State.INIT}
    assert v.m["VI_51"].wants_master and "VI_52 is INIT" in lan.held("V", "VI_51")[0].detail
    assert v.group.state is State.INIT
    lan.do("V", "VI_52", Startup())
    assert v.group.state is State.BACKUP
    lan.run_until(12.0)
    assert lan.states("V") == {"VI_51": State.MASTER, "VI_52": State.MASTER}
    t51, t52 = lan.transitions("V", "VI_51")[-1], lan.transitions("V", "VI_52")[-1]
    assert (t52.reason, t52.at) == ("master_down_timer", 5.0 + mdi(100))
    assert (t51.reason, t51.at) == (SYNC_GROUP, t52.at)
    assert [g.new for g in lan.group_log("V")] == [State.BACKUP, State.MASTER]


def test_members_timing_out_together_both_go_master_at_once():
    lan = Lan(Router("V", V_ADDR, {"VI_51": 100, "VI_52": 100}, True))
    lan.start_all()
    lan.run_until(10)
    ts = [t for t in lan.transitions("V") if t.new is State.MASTER]
    assert len(ts) == 2 and {t.at for t in ts} == {mdi(100)}


def test_all_owner_group_starts_master_a_mixed_one_holds_the_owner():
    owners = Lan(Router("V", V_ADDR, {"VI_51": 255, "VI_52": 255}, True, initial_state="MASTER"))
    owners.start_all()
    assert owners.states("V") == {"VI_51": State.MASTER, "VI_52": State.MASTER}
    assert {t.at for t in owners.transitions("V")} == {0.0}

    mixed = Router("V", V_ADDR, {"VI_51": 255, "VI_52": 100}, True, initial_state="MASTER")
    lan = Lan(mixed)
    lan.start_all()
    assert lan.states("V") == {"VI_51": State.BACKUP, "VI_52": State.BACKUP}
    assert mixed.m["VI_51"].next_deadline() == pytest.approx(1.0 + 1 / 256)   # one interval + Skew_Time
    lan.run_until(10)
    assert lan.states("V") == {"VI_51": State.MASTER, "VI_52": State.MASTER}


def test_operator_takeover_of_a_member_pulls_the_group_at_its_own_priorities():
    """The operator forges VI_51's priority (that is what takeover is); the group does not forge VI_52's.
    (The control API gives a takeover to every member: engine.operator.scope.)"""
    lan = settled_pair(k_group=True)
    t0 = lan.now
    lan.do("V", "VI_51", Takeover(True))
    lan.run_until(t0 + 10)
    assert lan.states("V") == {"VI_51": State.MASTER, "VI_52": State.MASTER}
    assert lan.states("K") == {"VI_51": State.BACKUP, "VI_52": State.BACKUP}
    assert [t.reason for t in lan.transitions("V") if t.at == t0] == ["operator", SYNC_GROUP]
    assert {p for _t, v, p in lan.sent("V", 51)} == {101} and {p for _t, v, p in lan.sent("V", 52)} == {90}


# ---- the machine's sync events -------------------------------------------------------------------------

def started(**kw) -> VrrpMachine:
    x = machine("VI_51", V_ADDR, kw.pop("priority", 90), **kw)
    x.handle(0.0, Startup())
    return x


def test_closed_gate_holds_at_expiry_and_reports_once():
    x = started()
    x.handle(0.0, SyncGate(False, "VI_52 still hears its master"))
    x.handle(0.5, adv(K_ADDR, 51, 100))
    d = x.next_deadline()
    [held] = x.handle(d, Timer())
    assert isinstance(held, SyncHeld) and held.cause == "master_down_timer" and held.at == d
    assert "VI_52 still hears its master" in held.detail and "no advert from 198.18.0.1" in held.detail
    assert x.state is State.BACKUP and x.wants_master and x.next_deadline() == d + mdi(90)
    assert x.handle(x.next_deadline(), Timer()) == []          # the next expiry says nothing new
    assert x.state is State.BACKUP


def test_wish_ends_on_an_accepted_advert_not_on_priority_zero_or_a_discarded_lower_one():
    x = started()
    x.handle(0.0, SyncGate(False))
    x.handle(x.next_deadline(), Timer())
    assert x.wants_master
    x.handle(5.0, adv(K_ADDR, 51, 0))
    assert x.wants_master
    x.handle(5.1, adv(K_ADDR, 51, 50))                          # lower, preempt: discarded
    assert x.wants_master
    x.handle(5.2, adv(K_ADDR, 51, 100))
    assert not x.wants_master
    y = started(preempt=False)
    y.handle(0.0, SyncGate(False))
    y.handle(y.next_deadline(), Timer())
    y.handle(5.0, adv(K_ADDR, 51, 50))                          # nopreempt accepts a lower master
    assert not y.wants_master


def test_gate_opening_for_a_member_that_wants_master_makes_it_master_with_its_own_reason():
    x = started()
    x.handle(0.0, SyncGate(False))
    x.handle(1.0, adv(K_ADDR, 51, 0))
    x.handle(x.next_deadline(), Timer())
    assert x.wants_master
    acts = x.handle(2.0, SyncGate(True))
    t = acts[-1]
    assert (t.new, t.reason) == (State.MASTER, "priority_zero_received")
    assert acts[0] == SendAdvert(90, 1.0)
    assert not x.wants_master
    z = started()                                               # open gate, no wish: nothing happens
    assert z.handle(1.0, SyncGate(True)) == [] and z.state is State.BACKUP


def test_sync_master_and_backup_only_act_in_their_state_and_never_forge_or_resign():
    x = started()
    x.handle(0.5, adv(K_ADDR, 51, 100))
    acts = x.handle(1.0, SyncMaster("sync group G: VI_52 became MASTER"))
    assert acts[0] == SendAdvert(90, 1.0)                       # its own priority, not the master's + 1
    assert (acts[-1].new, acts[-1].reason) == (State.MASTER, SYNC_GROUP)
    assert x.handle(1.5, SyncMaster()) == []
    acts = x.handle(2.0, SyncBackup("sync group G: VI_52 left MASTER"))
    assert not any(isinstance(a, SendAdvert) for a in acts)
    assert (acts[-1].new, acts[-1].reason) == (State.BACKUP, SYNC_GROUP)
    assert x.handle(2.5, SyncBackup()) == []
    assert x.effective_priority == 90 and not x.takeover


def test_sync_fault_from_master_sends_priority_zero_and_holds_past_own_recovery():
    x = started()
    x.handle(x.next_deadline(), Timer())
    assert x.state is State.MASTER
    acts = x.handle(5.0, SyncFault(True, "sync group G: VI_52 in FAULT"))
    assert acts[0] == SendAdvert(0, 1.0)
    assert (acts[-1].new, acts[-1].reason) == (State.FAULT, SYNC_GROUP)
    assert x.handle(6.0, TrackChanged(fault=False)) == []      # nothing of its own: still held
    assert x.handle(7.0, TrackChanged(fault=True, detail="ff FAULT")) == []
    assert x.handle(8.0, TrackChanged(fault=False, detail="ff ok")) == []
    t = x.handle(9.0, SyncFault(False))[-1]
    assert (t.new, t.reason) == (State.BACKUP, "tracker") and "ff ok" in t.detail
    y = started()
    y.handle(1.0, SyncFault(True))
    assert y.handle(2.0, TrackChanged(fault=False)) == []
    t = y.handle(3.0, SyncFault(False, "sync group G left FAULT"))[-1]
    assert (t.new, t.reason) == (State.BACKUP, SYNC_GROUP)
    assert y.handle(4.0, SyncFault(False)) == []


def test_sync_fault_before_startup_starts_in_fault():
    x = machine("VI_51", V_ADDR, 90)
    x.handle(0.0, SyncFault(True, "sync group G: VI_52 in FAULT"))
    t = x.handle(0.0, Startup())[-1]
    assert t.new is State.FAULT and "VI_52 in FAULT" in t.detail


# ---- invariants under random events: never a forged priority, never "operator" -------------------------

EVENTS = st.one_of(
    st.tuples(st.just("K"), st.sampled_from(["VI_51", "VI_52"]), st.sampled_from(["fault", "clear"])),
    st.tuples(st.just("V"), st.sampled_from(["VI_51", "VI_52"]), st.sampled_from(["fault", "clear"])),
    st.tuples(st.just("K"), st.sampled_from(["VI_51", "VI_52"]), st.just("restart")),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.floats(0.1, 8), EVENTS), max_size=12), st.booleans(),
       st.sampled_from([(100, 90), (90, 100)]))
def test_random_faults_never_forge_a_priority(steps, k_group, prios):
    kp, vp = prios
    lan = settled_pair(k_group=k_group, k_prio=kp, v_prio=vp, until=10.0)
    for dt, (rn, inst, what) in steps:
        lan.run_until(lan.now + dt)
        if what == "restart":
            lan.do(rn, inst, Shutdown())
            lan.do(rn, inst, Startup())
        else:
            lan.fault(rn, inst, what == "fault")
    lan.run_until(lan.now + 10)
    for t, _rn, inst, a in lan.log:
        if isinstance(a, Transition):
            assert a.reason != "operator"
    # our adverts: our priority, or 0 only when one of ours went to FAULT at that instant
    faults_at = {t.at for t in lan.transitions("V") if t.new is State.FAULT}
    for t, vrid, p in lan.sent("V"):
        assert p == vp or (p == 0 and t in faults_at), (t, vrid, p)
    # settled: the group's members agree (all MASTER, or none)
    g = lan.r["V"].group
    st_ = set(lan.states("V").values())
    assert State.MASTER not in st_ or st_ == {State.MASTER}, lan.states("V")
    assert g.state in (State.MASTER, State.BACKUP, State.FAULT)


MACHINE_EVENTS = st.one_of(
    st.just(Timer()), st.just(Startup()), st.just(Shutdown()),
    st.builds(lambda p: adv(K_ADDR, 51, p), st.integers(0, 255)),
    st.builds(TrackChanged, st.integers(-50, 50), st.booleans()),
    st.builds(SyncGate, st.booleans()), st.just(SyncMaster()), st.just(SyncBackup()),
    st.builds(SyncFault, st.booleans()),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 5), MACHINE_EVENTS), max_size=40), st.integers(1, 254))
def test_sync_events_keep_the_machine_invariants(steps, prio):
    x = machine("VI_51", V_ADDR, prio)
    now, vips = 0.0, False
    for dt, ev in steps:
        now += dt
        out = x.handle(now, ev)
        for a in out:
            if isinstance(a, Transition):
                assert a.reason in REASONS and a.detail and a.reason != "operator"
                if isinstance(ev, (SyncMaster, SyncBackup)) or (isinstance(ev, SyncFault) and ev.on):
                    assert a.reason == SYNC_GROUP
            elif isinstance(a, SendAdvert):
                assert a.priority in (0, x.effective_priority)      # never a forged priority
                if a.priority == 0:                                 # only a master leaving for FAULT/STOP
                    assert x.state in (State.FAULT, State.STOP)
            elif type(a).__name__ == "AddVips":
                assert not vips
                vips = True
            elif type(a).__name__ == "RemoveVips":
                assert vips
                vips = False
        assert vips == (x.state is State.MASTER)
        assert not x.wants_master or x.state is State.BACKUP
        assert not (x.state in (State.MASTER, State.BACKUP) and (x.sync_fault or x.own_fault))
