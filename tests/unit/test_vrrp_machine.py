"""The sans-IO VRRP state machine under a virtual clock (plain floats).

Covers every row of RFC 5798's Initialize/Backup/Master tables, keepalived's
FAULT and STOP states and timing choices, tracker clamping, and the operator
actions (drain, resign with hold, takeover).  A tiny in-test "wire" runs
several machines against each other for end-to-end election timings.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vipdeck.engine.vrrp.machine import (
    REASONS, AddVips, AdvertReceived, ClearHold, ConfigFault, Drain, InstanceParams, InterfaceChanged,
    LowerPriorityMaster, RemoveVips, Resign, SendAdvert, SendGarp, Shutdown, Startup, State, Takeover, Timer,
    TrackChanged, Transition, VrrpMachine,
)
from vipdeck.engine.vrrp.packet import Advert

from tests.support.vrrp_lan import Net

ME, PEER, HIGH_PEER = "198.18.0.2", "198.18.0.1", "198.18.0.3"   # PEER < ME < HIGH_PEER
VIPS = ("198.18.0.100",)


def mk(**kw) -> VrrpMachine:
    kw.setdefault("name", "VI_1")
    kw.setdefault("vrid", 51)
    kw.setdefault("primary_address", ME)
    return VrrpMachine(InstanceParams(**kw))


def adv(src: str, prio: int, interval: float = 1.0, version: int = 2) -> AdvertReceived:
    return AdvertReceived(Advert(version, 51, prio, interval, VIPS, src=src, dst="224.0.0.18", ttl=255))


def started(t: float = 0.0, **kw) -> VrrpMachine:
    m = mk(**kw)
    m.handle(t, Startup())
    return m


def master_at(t: float = 0.0, **kw) -> VrrpMachine:
    """A machine that became master by its down timer (nobody else around)."""
    m = started(t, **kw)
    m.handle(m.next_deadline(), Timer())
    assert m.state is State.MASTER
    return m


def transitions(actions) -> list[Transition]:
    return [a for a in actions if isinstance(a, Transition)]


def only_transition(actions) -> Transition:
    ts = transitions(actions)
    assert len(ts) == 1, actions
    return ts[0]


# ---- parameters --------------------------------------------------------------------

@pytest.mark.parametrize("kw,field", [
    (dict(vrid=0), "vrid"),
    (dict(priority=0), "priority"),
    (dict(priority=256), "priority"),
    (dict(version=4), "version"),
    (dict(advert_int=0.5), "advert_int"),              # v2: whole seconds
    (dict(version=3, advert_int=0.001), "advert_int"),
    (dict(version=3, advert_int=41), "advert_int"),
    (dict(primary_address="eth0"), "primary_address"),
    (dict(primary_address="2001:db8::1"), "version"),   # v2 over IPv6
    (dict(family=6), "family"),
    (dict(initial_state="master"), "initial_state"),
    (dict(preempt_delay=-1), "preempt_delay"),
])
def test_params_refuse_bad_values_naming_the_field(kw, field):
    with pytest.raises(ValueError) as e:
        mk(**kw)
    assert f"VI_1: {field}:" in str(e.value)


def test_params_ipv6_v3():
    m = mk(version=3, primary_address="2001:db8::2", advert_int=0.1)
    assert m.params.family == 6 and m.master_interval == 0.1


# ---- Initialize ----------------------------------------------------------------------

def test_owner_with_state_master_is_master_at_once():
    m = mk(priority=255, initial_state="MASTER")
    assert m.state is State.INIT and m.next_deadline() is None
    out = m.handle(5.0, Startup())
    assert out[:3] == [SendAdvert(255, 1.0), AddVips(), SendGarp()]
    t = out[3]
    assert (t.old, t.new, t.reason, t.at) == (State.INIT, State.MASTER, "startup", 5.0)
    assert m.next_deadline() == 6.0
    assert m.master_address == ME and m.master_priority == 255


def test_owner_with_state_backup_waits_like_keepalived():
    m = mk(priority=255)
    t = only_transition(m.handle(0.0, Startup()))
    assert (t.old, t.new, t.reason) == (State.INIT, State.BACKUP, "startup")
    assert m.next_deadline() == 3 + 1 / 256          # keepalived measured 3.03 s


def test_state_master_below_255_starts_backup_and_wins_after_master_down_interval():
    m = mk(priority=100, initial_state="MASTER")
    out = m.handle(0.0, Startup())
    assert only_transition(out).new is State.BACKUP
    assert not [a for a in out if isinstance(a, (SendAdvert, AddVips))]
    assert m.next_deadline() == 3 + 156 / 256         # keepalived measured 3.64 s
    out = m.handle(3 + 156 / 256, Timer())
    assert out[:3] == [SendAdvert(100, 1.0), AddVips(), SendGarp()]
    t = out[3]
    assert (t.new, t.reason, t.detail) == (State.MASTER, "master_down_timer", "no advert heard since startup")


def test_startup_with_interface_down_goes_to_fault():
    m = mk()
    assert m.handle(0.0, InterfaceChanged(False, "eth0 down")) == []
    t = only_transition(m.handle(0.0, Startup()))
    assert (t.new, t.reason, t.detail) == (State.FAULT, "startup", "eth0 down")
    assert m.next_deadline() is None


def test_startup_twice_is_harmless():
    m = started()
    assert m.handle(1.0, Startup()) == []
    assert m.state is State.BACKUP


# ---- Backup -----------------------------------------------------------------------------

def test_backup_shutdown_goes_to_stop_quietly():
    m = started(priority=96)
    out = m.handle(1.0, Shutdown())
    assert [type(a) for a in out] == [Transition]
    assert (out[0].new, out[0].reason) == (State.STOP, "shutdown")
    assert m.next_deadline() is None
    assert m.handle(9.0, Timer()) == [] and m.handle(9.0, adv(PEER, 100)) == []


def test_backup_becomes_master_exactly_3_625_s_after_last_advert():
    m = started(priority=96)
    for t in (0.5, 1.5, 2.5):
        assert m.handle(t, adv(PEER, 100)) == []
        assert m.next_deadline() == t + 3.625
    assert m.handle(6.124, Timer()) == []                # early timer: nothing
    assert m.state is State.BACKUP
    out = m.handle(6.125, Timer())
    t = out[-1]
    assert (t.old, t.new, t.reason, t.at) == (State.BACKUP, State.MASTER, "master_down_timer", 6.125)
    assert t.detail == f"no advert from {PEER} for 3.625 s"
    assert out[:3] == [SendAdvert(96, 1.0), AddVips(), SendGarp()]
    assert m.next_deadline() == 7.125


def test_backup_priority_zero_sets_timer_to_skew_time():
    m = started(priority=96)
    m.handle(1.0, adv(PEER, 100))
    assert m.handle(2.0, adv(PEER, 0)) == []
    assert m.next_deadline() == 2.625
    assert m.master_priority == 0
    t = m.handle(2.625, Timer())[-1]
    assert (t.new, t.reason) == (State.MASTER, "priority_zero_received")
    assert PEER in t.detail and "priority 0" in t.detail


def test_a_transition_says_whom_it_replaced_when_it_last_heard_it_and_which_timer():
    """The failover timeline's engine side: the wire cannot say when a backup decided."""
    m = started(priority=96)
    m.handle(2.5, adv(PEER, 100))
    t = m.handle(6.125, Timer())[-1]
    assert (t.master, t.heard_at, t.timer) == (PEER, 2.5, 3.625)        # Master_Down_Interval
    m = started(priority=96)
    m.handle(1.0, adv(PEER, 100))
    m.handle(2.0, adv(PEER, 0))
    t = m.handle(2.625, Timer())[-1]
    assert (t.master, t.heard_at, t.timer) == (PEER, 2.0, 0.625)        # Skew_Time
    m = master_at(0.0, priority=96)
    t = m.handle(10.0, adv(HIGH_PEER, 120))[-1]
    assert (t.new, t.reason, t.master, t.heard_at, t.timer) == (State.BACKUP, "higher_priority_seen",
                                                                 HIGH_PEER, 10.0, None)


def test_backup_equal_priority_resets_timer():
    m = started(priority=100)
    m.handle(1.0, adv(PEER, 100))
    assert m.next_deadline() == 1.0 + 3 + 156 / 256


def test_backup_preempts_lower_priority_after_master_down_interval():
    """RFC 5798 and keepalived 2.2.7: lower adverts are discarded, not obeyed."""
    m = started(priority=100)
    m.handle(0.2, adv(PEER, 96))                       # discarded: timer not reset
    assert m.next_deadline() == 3 + 156 / 256
    assert m.master_address == PEER and m.master_priority == 96
    for t in (1.2, 2.2, 3.2):
        m.handle(t, adv(PEER, 96))
    t = m.handle(3 + 156 / 256, Timer())[-1]
    assert (t.new, t.reason, t.detail) == (State.MASTER, "preempt", f"master {PEER} prio 96 < 100")


def test_nopreempt_backup_obeys_lower_master_while_it_lives():
    m = started(priority=100, preempt=False)
    for t in range(1, 20):
        assert m.handle(float(t), adv(PEER, 96)) == []
        assert m.handle(float(t) + 0.5, Timer()) == []
    assert m.state is State.BACKUP
    t = m.handle(19 + 3 + 156 / 256, Timer())[-1]
    assert (t.new, t.reason) == (State.MASTER, "master_down_timer")


def test_v3_backup_learns_master_interval():
    m = started(priority=96, version=3, advert_int=1.0)
    m.handle(1.0, adv(PEER, 100, interval=0.1, version=3))
    assert m.master_interval == 0.1
    assert m.next_deadline() == pytest.approx(1.3625, abs=1e-12)
    assert m.master_down_interval() == pytest.approx(0.3625, abs=1e-15)
    m.handle(2.0, adv(PEER, 0, interval=0.1, version=3))
    assert m.next_deadline() == pytest.approx(2.0625, abs=1e-12)
    # as master again it advertises its own interval
    out = m.handle(m.next_deadline(), Timer())
    assert out[0] == SendAdvert(96, 1.0) and m.master_interval == 1.0


def test_v3_own_interval_0_1():
    m = started(priority=96, version=3, advert_int=0.1)
    assert m.next_deadline() == pytest.approx(0.3625, abs=1e-15)


def test_v2_does_not_learn_interval():
    m = started(priority=96, advert_int=2)
    m.handle(1.0, adv(PEER, 100, interval=1.0))     # validate() would reject; the machine ignores it
    assert m.master_interval == 2.0 and m.next_deadline() == 1.0 + 7.25


def test_adverts_from_ourselves_are_ignored():
    m = started(priority=96)
    m.handle(1.0, adv(ME, 200))
    assert m.next_deadline() == 3.625 and m.last_advert_at is None


# ---- Master --------------------------------------------------------------------------------

def test_master_sends_adverts_on_time_without_drift_or_bursts():
    m = master_at(priority=96)                       # master at 3.625
    sent = []
    t = 3.625
    for _ in range(5):
        t = m.next_deadline()
        sent.append((t, m.handle(t, Timer())))
    assert [s[0] for s in sent] == [4.625, 5.625, 6.625, 7.625, 8.625]
    assert all(s[1] == [SendAdvert(96, 1.0)] for s in sent)
    assert m.handle(9.0, Timer()) == []               # early
    late = m.handle(12.0, Timer())                    # driver stalled 3.4 s: one advert, no burst
    assert late == [SendAdvert(96, 1.0)] and m.next_deadline() == 13.0


def test_master_priority_zero_received_sends_advert_at_once():
    m = master_at(priority=96)
    out = m.handle(4.0, adv(PEER, 0))
    assert out == [SendAdvert(96, 1.0)]
    assert m.next_deadline() == 5.0 and m.state is State.MASTER


def test_master_higher_priority_seen_goes_backup():
    m = master_at(priority=96)
    out = m.handle(4.0, adv(PEER, 100))
    assert out[0] == RemoveVips()
    t = out[1]
    assert (t.old, t.new, t.reason) == (State.MASTER, State.BACKUP, "higher_priority_seen")
    assert t.detail == f"advert from {PEER} prio 100 > 96"
    assert not [a for a in out if isinstance(a, SendAdvert)]
    assert m.next_deadline() == 4.0 + 3.625
    assert m.master_address == PEER and m.master_priority == 100


def test_master_v3_learns_interval_when_yielding():
    m = master_at(priority=96, version=3, advert_int=1.0)
    m.handle(4.0, adv(PEER, 100, interval=0.1, version=3))
    assert m.next_deadline() == pytest.approx(4.3625, abs=1e-12)


def test_master_tie_break_on_primary_address():
    m = master_at(priority=100)
    out = m.handle(4.0, adv(PEER, 100))              # PEER < ME: we stay, re-assert and re-announce
    assert out == [SendAdvert(100, 1.0), LowerPriorityMaster(PEER, 100)] and m.state is State.MASTER
    out = m.handle(4.5, adv(HIGH_PEER, 100))          # HIGH_PEER > ME: we yield
    t = only_transition(out)
    assert (t.new, t.reason) == (State.BACKUP, "higher_priority_seen")
    assert "higher address" in t.detail


def test_master_tie_break_is_numeric_not_textual():
    m = master_at(priority=100, primary_address="198.18.0.10")
    out = m.handle(4.0, adv("198.18.0.9", 100))      # "198.18.0.9" > "198.18.0.10" as text
    assert m.state is State.MASTER and out == [SendAdvert(100, 1.0), LowerPriorityMaster("198.18.0.9", 100)]


def test_master_reasserts_on_lower_priority_advert():
    """keepalived: an advert at once, then the VIPs announced again (garp_lower_prio_*)."""
    m = master_at(priority=100)
    out = m.handle(4.0, adv(PEER, 50))
    assert out == [SendAdvert(100, 1.0), LowerPriorityMaster(PEER, 50)] and m.next_deadline() == 5.0


def test_master_hearing_priority_zero_or_a_higher_master_announces_nothing_again():
    m = master_at(priority=100)
    assert m.handle(4.0, adv(PEER, 0)) == [SendAdvert(100, 1.0)]       # a resign: nobody else claims the VIPs
    out = m.handle(4.5, adv(PEER, 150))
    assert not any(isinstance(a, (LowerPriorityMaster, SendGarp)) for a in out) and m.state is State.BACKUP


def test_drained_master_yields_instead_of_reannouncing():
    m = master_at(priority=100)
    m.handle(4.0, Drain(True))
    m.handle(m.next_deadline(), Timer())              # alone on the link: master again, at priority 1
    assert m.state is State.MASTER
    out = m.handle(20.0, adv(PEER, 50))
    assert not any(isinstance(a, LowerPriorityMaster) for a in out) and m.state is State.BACKUP


def test_master_shutdown_sends_priority_zero_and_removes_vips():
    m = master_at(priority=100)
    out = m.handle(5.0, Shutdown())
    assert out[:2] == [SendAdvert(0, 1.0), RemoveVips()]
    assert (out[2].new, out[2].reason) == (State.STOP, "shutdown")
    assert m.next_deadline() is None
    # restart from STOP
    assert only_transition(m.handle(6.0, Startup())).new is State.BACKUP


# ---- FAULT (keepalived) ----------------------------------------------------------------------

def test_interface_down_master_goes_fault_and_back_to_backup():
    m = master_at(priority=100)
    out = m.handle(5.0, InterfaceChanged(False, "eth0 carrier lost"))
    assert out[0] == RemoveVips()
    assert not [a for a in out if isinstance(a, SendAdvert)]   # the link is down
    t = out[1]
    assert (t.new, t.reason, t.detail) == (State.FAULT, "interface", "eth0 carrier lost")
    assert m.next_deadline() is None
    assert m.handle(6.0, adv(PEER, 50)) == [] and m.handle(6.0, Timer()) == []
    t = only_transition(m.handle(7.0, InterfaceChanged(True, "eth0 up")))
    assert (t.old, t.new, t.reason) == (State.FAULT, State.BACKUP, "interface")
    assert m.next_deadline() == 7.0 + 3 + 156 / 256


def test_interface_down_backup_goes_fault():
    m = started(priority=96)
    t = only_transition(m.handle(1.0, InterfaceChanged(False)))
    assert (t.old, t.new) == (State.BACKUP, State.FAULT)


def test_tracker_fault_master_resigns_with_priority_zero():
    m = master_at(priority=100)
    out = m.handle(5.0, TrackChanged(fault=True, detail="chk_nginx failed"))
    assert out[:2] == [SendAdvert(0, 1.0), RemoveVips()]
    assert (out[2].new, out[2].reason, out[2].detail) == (State.FAULT, "tracker", "chk_nginx failed")
    t = only_transition(m.handle(6.0, TrackChanged(fault=False, detail="chk_nginx ok")))
    assert (t.new, t.reason) == (State.BACKUP, "tracker")


def test_fault_needs_every_cause_cleared():
    m = started()
    m.handle(1.0, InterfaceChanged(False))
    m.handle(1.0, TrackChanged(fault=True))
    assert m.handle(2.0, InterfaceChanged(True)) == [] and m.state is State.FAULT
    assert only_transition(m.handle(3.0, TrackChanged(fault=False))).new is State.BACKUP


def test_owner_leaving_fault_is_master_again():
    m = mk(priority=255, initial_state="MASTER")
    m.handle(0.0, Startup())
    m.handle(1.0, InterfaceChanged(False))
    out = m.handle(2.0, InterfaceChanged(True))
    assert out[:3] == [SendAdvert(255, 1.0), AddVips(), SendGarp()]
    assert (out[3].old, out[3].new, out[3].reason) == (State.FAULT, State.MASTER, "interface")


# ---- priorities -----------------------------------------------------------------------------

def test_tracker_deltas_clamp_to_1_254():
    m = started(priority=100)
    m.handle(1.0, TrackChanged(delta=+200))
    assert m.effective_priority == 254 and m.base_priority == 100
    m.handle(1.0, TrackChanged(delta=-150))
    assert m.effective_priority == 1
    m.handle(1.0, TrackChanged(delta=-20))
    assert m.effective_priority == 80


def test_owner_keeps_255_whatever_the_trackers():
    m = started(priority=255, initial_state="MASTER")
    m.handle(1.0, TrackChanged(delta=-100))
    assert m.effective_priority == 255
    assert m.handle(m.next_deadline(), Timer()) == [SendAdvert(255, 1.0)]


def test_master_advertises_effective_priority():
    m = master_at(priority=100)
    m.handle(4.0, TrackChanged(delta=-20, detail="chk_down weight -20"))
    assert m.handle(m.next_deadline(), Timer()) == [SendAdvert(80, 1.0)]
    assert m.master_priority == 80


def test_backup_timer_uses_effective_priority():
    m = started(priority=100)
    m.handle(0.0, TrackChanged(delta=-4))
    m.handle(1.0, adv(PEER, 100))
    assert m.next_deadline() == 1.0 + 3.625            # priority 96 skew


def test_lowered_master_is_preempted_by_backup():
    """The seed's tracker scenario: master 100 drops to 80, backup 99 takes over."""
    net = Net(mk(name="node1", primary_address=PEER, priority=100, initial_state="MASTER"),
              mk(name="node2", primary_address=ME, priority=99))
    net.start_all()
    net.run_until(10.0)
    assert net.states() == {"node1": State.MASTER, "node2": State.BACKUP}
    net.do(net["node1"], TrackChanged(delta=-20))
    net.run_until(20.0)
    assert net.states() == {"node1": State.BACKUP, "node2": State.MASTER}
    t = net.transitions("node2")[-1]
    assert t.reason == "preempt" and "prio 80 < 99" in t.detail


# ---- preempt_delay ---------------------------------------------------------------------------

def test_preempt_delay_accepts_lower_adverts_until_it_has_run_out():
    """keepalived 2.2.7 measured: takeover = first lower advert + delay + Master_Down_Interval."""
    m = started(priority=100, preempt_delay=2.0)
    mdi = 3 + 156 / 256
    m.handle(0.5, adv(PEER, 96))                      # starts the delay, accepted
    assert m.next_deadline() == 0.5 + mdi
    m.handle(1.5, adv(PEER, 96))                      # inside the delay: accepted
    assert m.next_deadline() == 1.5 + mdi
    m.handle(2.5, adv(PEER, 96))                      # delay over: discarded
    m.handle(3.5, adv(PEER, 96))
    assert m.next_deadline() == 1.5 + mdi
    t = m.handle(1.5 + mdi, Timer())[-1]
    assert (t.new, t.reason, t.at) == (State.MASTER, "preempt", 1.5 + mdi)


def test_preempt_delay_does_not_delay_a_lone_startup():
    m = started(priority=100, preempt_delay=5.0)
    assert m.next_deadline() == 3 + 156 / 256


def test_preempt_delay_restarts_after_a_higher_master():
    m = started(priority=100, preempt_delay=2.0)
    m.handle(0.5, adv(PEER, 96))
    m.handle(1.0, adv(HIGH_PEER, 200))                # a real master shows up: delay cleared
    m.handle(3.0, adv(PEER, 96))                      # starts a new delay: accepted
    assert m.next_deadline() == 3.0 + 3 + 156 / 256


# ---- operator: drain ---------------------------------------------------------------------------

def test_drain_master_resigns_at_once():
    m = master_at(priority=100)
    out = m.handle(5.0, Drain(True))
    assert out[:2] == [SendAdvert(0, 1.0), RemoveVips()]
    t = out[2]
    assert (t.old, t.new, t.reason) == (State.MASTER, State.BACKUP, "operator")
    assert m.drained and m.effective_priority == 1
    assert m.next_deadline() == 5.0 + 3 + 255 / 256    # slowest possible skew


def test_drained_backup_never_preempts_a_live_master():
    m = started(priority=200)
    m.handle(0.0, Drain(True))
    for t in range(1, 30):
        m.handle(float(t), adv(PEER, 50))
        assert m.handle(float(t) + 0.9, Timer()) == []
    assert m.state is State.BACKUP


def test_drained_backup_takes_over_only_when_no_router_is_left():
    m = started(priority=200)
    m.handle(0.0, Drain(True))
    m.handle(1.0, adv(PEER, 50))
    t = m.handle(1.0 + 3 + 255 / 256, Timer())[-1]
    assert (t.new, t.reason) == (State.MASTER, "master_down_timer")
    # as a drained master it advertises priority 1 ...
    assert m.handle(m.next_deadline(), Timer()) == [SendAdvert(1, 1.0)]
    # ... and steps down for any router that speaks up
    out = m.handle(7.0, adv(PEER, 1))
    t = only_transition(out)
    assert (t.new, t.reason, t.detail) == (State.BACKUP, "operator", f"drained: yielding to {PEER} prio 1")


def test_drained_master_yields_to_returning_preempting_peer():
    net = Net(mk(name="a", primary_address=ME, priority=200), mk(name="b", primary_address=PEER, priority=50))
    net.start_all()
    net.run_until(10.0)
    assert net.states() == {"a": State.MASTER, "b": State.BACKUP}
    net.do(net["a"], Drain(True))
    net.run_until(20.0)
    assert net.states() == {"a": State.BACKUP, "b": State.MASTER}
    net.crash("b")
    net.run_until(30.0)
    assert net["a"].state is State.MASTER              # nobody else: the drained node serves
    net.revive("b")
    net.run_until(40.0)
    assert net.states() == {"a": State.BACKUP, "b": State.MASTER}


def test_drain_of_a_backup_just_marks_it_and_undrain_restores_preemption():
    m = started(priority=100)
    assert m.handle(0.0, Drain(True)) == [] and m.drained
    m.handle(1.0, adv(PEER, 96))
    assert m.next_deadline() == 1.0 + 3 + 255 / 256
    assert m.handle(1.5, Drain(False)) == [] and not m.drained
    assert m.effective_priority == 100
    m.handle(2.0, adv(PEER, 96))                      # now discarded: preempt
    t = m.handle(1.0 + 3 + 255 / 256, Timer())[-1]
    assert (t.new, t.reason) == (State.MASTER, "preempt")


# ---- operator: resign with hold ---------------------------------------------------------------

def test_resign_holds_preemption_until_the_given_time():
    m = master_at(priority=100)
    out = m.handle(5.0, Resign(hold_until=20.0))
    assert out[:2] == [SendAdvert(0, 1.0), RemoveVips()]
    t = out[2]
    assert (t.new, t.reason) == (State.BACKUP, "operator") and "15 s" in t.detail
    assert m.held and m.hold_until == 20.0
    for s in range(6, 21):                             # the lower peer took over; we wait
        m.handle(float(s), adv(PEER, 96))
        assert m.state is State.BACKUP
    assert not m.held                                  # expired at 20.0
    m.handle(21.0, adv(PEER, 96))                      # discarded now
    t = m.handle(20.0 + 3 + 156 / 256, Timer())[-1]
    assert (t.new, t.reason) == (State.MASTER, "preempt")


def test_resign_until_cleared():
    m = master_at(priority=100)
    m.handle(5.0, Resign())
    for s in range(6, 40):
        m.handle(float(s), adv(PEER, 96))
    assert m.state is State.BACKUP and m.held and m.hold_until is None
    assert m.handle(40.0, ClearHold()) == [] and not m.held
    m.handle(41.0, adv(PEER, 96))
    assert m.handle(39.0 + 3 + 156 / 256, Timer())[-1].reason == "preempt"


def test_resign_with_nobody_else_comes_back():
    m = master_at(priority=100)
    m.handle(5.0, Resign(hold_until=100.0))
    t = m.handle(5.0 + 3 + 156 / 256, Timer())[-1]
    assert (t.new, t.reason) == (State.MASTER, "master_down_timer")


def test_manual_failover_end_to_end_takes_skew_time():
    net = Net(mk(name="node1", primary_address=PEER, priority=100),
              mk(name="node2", primary_address=ME, priority=96))
    net.start_all()
    net.run_until(10.0)
    assert net["node1"].state is State.MASTER
    net.do(net["node1"], Resign(hold_until=60.0))
    resigned = net.now
    net.run_until(30.0)
    t = net.transitions("node2")[-1]
    assert (t.new, t.reason, t.at - resigned) == (State.MASTER, "priority_zero_received", 0.625)
    assert net["node1"].state is State.BACKUP
    net.run_until(70.0)                                  # hold over: node1 preempts again
    assert net.states() == {"node1": State.MASTER, "node2": State.BACKUP}
    assert net.transitions("node1")[-1].reason == "preempt"


# ---- operator: takeover -------------------------------------------------------------------------

def test_takeover_raises_priority_above_master_and_wins_at_once():
    m = started(priority=90, preempt=False)
    m.handle(1.0, adv(PEER, 100))
    out = m.handle(1.5, Takeover(True))
    assert out[:3] == [SendAdvert(101, 1.0), AddVips(), SendGarp()]
    t = out[3]
    assert (t.new, t.reason, t.detail) == (State.MASTER, "operator", f"takeover: priority 101 > 100 of {PEER}")
    assert m.effective_priority == 101 and m.takeover
    # the old master hears 101 and yields; we keep winning against it
    assert m.handle(2.0, adv(PEER, 100)) == [SendAdvert(101, 1.0), LowerPriorityMaster(PEER, 100)]
    m.handle(3.0, Takeover(False))
    assert m.effective_priority == 90 and not m.takeover


def test_takeover_is_capped_at_254_and_respects_tie_break():
    m = started(priority=90)
    m.handle(1.0, adv(HIGH_PEER, 254))
    assert m.handle(1.5, Takeover(True)) == [] and m.state is State.BACKUP
    assert m.effective_priority == 254
    m2 = started(priority=90)
    m2.handle(1.0, adv(PEER, 254))                   # lower address: the tie goes to us
    assert only_transition(m2.handle(1.5, Takeover(True))).new is State.MASTER


def test_takeover_cannot_beat_an_owner():
    m = started(priority=90)
    m.handle(1.0, adv(PEER, 255))
    assert m.handle(1.5, Takeover(True)) == [] and m.effective_priority == 254


def test_takeover_without_a_master_waits_for_the_timer():
    m = started(priority=90)
    assert m.handle(1.0, Takeover(True)) == [] and m.effective_priority == 90
    assert m.handle(m.next_deadline(), Timer())[-1].reason == "master_down_timer"


def test_takeover_ignored_while_drained_and_clears_a_hold():
    m = started(priority=90)
    m.handle(0.5, Drain(True))
    m.handle(1.0, adv(PEER, 100))
    assert m.handle(1.5, Takeover(True)) == [] and not m.takeover
    m.handle(2.0, Drain(False))
    m.handle(2.5, Resign(hold_until=50.0))
    assert m.held
    assert only_transition(m.handle(3.0, Takeover(True))).new is State.MASTER
    assert not m.held


def test_takeover_end_to_end():
    net = Net(mk(name="node1", primary_address=PEER, priority=100),
              mk(name="node2", primary_address=ME, priority=96))
    net.start_all()
    net.run_until(10.0)
    net.do(net["node2"], Takeover(True))
    at = net.now
    assert net.states() == {"node1": State.BACKUP, "node2": State.MASTER}
    assert net.transitions("node1")[-1].at == at
    net.run_until(30.0)
    assert net.states() == {"node1": State.BACKUP, "node2": State.MASTER}


# ---- read-only view ------------------------------------------------------------------------------

def test_status_properties():
    m = started(priority=96)
    assert m.state is State.BACKUP and m.name == "VI_1"
    assert m.master_address is None and m.master_priority is None and m.last_advert_at is None
    m.handle(1.25, adv(PEER, 100))
    assert (m.master_address, m.master_priority, m.master_interval, m.last_advert_at) == (PEER, 100, 1.0, 1.25)
    assert m.last_transition.new is State.BACKUP
    m.handle(m.next_deadline(), Timer())
    assert m.master_address == ME and m.master_priority == 96
    assert str(m.last_transition).startswith("BACKUP -> MASTER (master_down_timer:")
    assert m.interface_up and not m.track_fault


def test_two_nodes_elect_and_fail_over_on_crash_in_3_625_s():
    net = Net(mk(name="node1", primary_address=PEER, priority=100, initial_state="MASTER"),
              mk(name="node2", primary_address=ME, priority=96))
    net.start_all()
    net.run_until(10.0)
    assert net.states() == {"node1": State.MASTER, "node2": State.BACKUP}
    assert net.transitions("node1")[-1].at == 3 + 156 / 256
    last = max(t for t in (3 + 156 / 256 + k for k in range(10)) if t <= 10.0)
    net.crash("node1")
    net.run_until(20.0)
    t = net.transitions("node2")[-1]
    assert (t.new, t.reason) == (State.MASTER, "master_down_timer")
    assert t.at - last == pytest.approx(3.625, abs=1e-9)


def test_two_nodes_clean_stop_fails_over_in_skew_time():
    net = Net(mk(name="node1", primary_address=PEER, priority=100),
              mk(name="node2", primary_address=ME, priority=96))
    net.start_all()
    net.run_until(10.0)
    net.do(net["node1"], Shutdown())
    stopped = net.now
    net.run_until(20.0)
    t = net.transitions("node2")[-1]
    assert (t.new, t.reason, t.at - stopped) == (State.MASTER, "priority_zero_received", 0.625)


def test_v3_fast_interval_crash_takeover_0_3625_s():
    net = Net(mk(name="node1", primary_address=PEER, priority=100, version=3, advert_int=0.1),
              mk(name="node2", primary_address=ME, priority=96, version=3, advert_int=1.0))
    net.start_all()
    net.run_until(10.0)
    assert net["node1"].state is State.MASTER and net["node2"].master_interval == 0.1
    last = [n for n, a in net.log if n == "node1" and isinstance(a, SendAdvert)]
    assert last
    last_at = net["node2"].last_advert_at
    net.crash("node1")
    net.run_until(20.0)
    t = net.transitions("node2")[-1]
    assert t.at - last_at == pytest.approx(0.3625, abs=1e-9)


def test_simultaneous_start_first_timer_wins_and_equals_accept_it():
    """RFC backups accept an advert of equal priority: the tie-break is only between masters."""
    net = Net(mk(name="a", primary_address=PEER, priority=100), mk(name="b", primary_address=ME, priority=100),
              mk(name="c", primary_address=HIGH_PEER, priority=50))
    net.start_all()
    net.run_until(30.0)
    assert net.states() == {"a": State.MASTER, "b": State.BACKUP, "c": State.BACKUP}
    assert len(net.transitions("b")) == 1 and len(net.transitions("c")) == 1


@pytest.mark.parametrize("prio1,prio2,winner", [(100, 96, "node1"), (100, 100, "node2")])
def test_split_brain_heals_to_the_rightful_master(prio1, prio2, winner):
    net = Net(mk(name="node1", primary_address=PEER, priority=prio1),
              mk(name="node2", primary_address=ME, priority=prio2))
    net.start_all()
    net.run_until(10.0)
    first = next(n for n, x in net.m.items() if x.state is State.MASTER)
    net.cut = True
    net.run_until(20.0)
    assert net.states() == {"node1": State.MASTER, "node2": State.MASTER}
    net.cut = False
    net.run_until(30.0)
    loser = "node2" if winner == "node1" else "node1"
    assert net.states() == {winner: State.MASTER, loser: State.BACKUP}
    if loser != first:
        assert net.transitions(loser)[-1].reason == "higher_priority_seen"


# ---- invariants under random event sequences ---------------------------------------------------------

EVENTS = st.one_of(
    st.just(Timer()), st.just(Startup()), st.just(Shutdown()), st.just(ClearHold()),
    st.builds(lambda s, p: adv(s, p), st.sampled_from([PEER, HIGH_PEER, ME]), st.integers(0, 255)),
    st.builds(TrackChanged, st.integers(-300, 300), st.booleans()),
    st.builds(InterfaceChanged, st.booleans()),
    st.builds(ConfigFault, st.booleans()),
    st.builds(Drain, st.booleans()),
    st.builds(Resign, st.one_of(st.none(), st.floats(0, 100))),
    st.builds(Takeover, st.booleans()),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 5), EVENTS), max_size=40), st.sampled_from([2, 3]),
       st.integers(1, 255), st.booleans())
def test_random_event_sequences_keep_invariants(steps, version, prio, preempt):
    m = mk(version=version, priority=prio, preempt=preempt,
           initial_state="MASTER" if prio == 255 else "BACKUP")
    now, vips = 0.0, False
    for dt, ev in steps:
        now += dt
        out = m.handle(now, ev)
        for a in out:
            if isinstance(a, AddVips):
                assert not vips
                vips = True
            elif isinstance(a, RemoveVips):
                assert vips
                vips = False
            elif isinstance(a, Transition):
                assert a.reason in REASONS and a.detail and a.at == now
            elif isinstance(a, SendAdvert):
                assert 0 <= a.priority <= 255
        assert vips == (m.state is State.MASTER)
        assert 1 <= m.effective_priority <= 255
        if prio != 255:
            assert m.effective_priority <= 254
        d = m.next_deadline()
        assert (d is not None) == (m.state in (State.MASTER, State.BACKUP))
        if d is not None and isinstance(ev, Timer):
            assert d > now          # a handled timer never leaves an expired deadline behind


# ---- the master's advert fast path (advert_due) ------------------------------------------------------

DUE = object()      # a step that fires the timer at the machine's own deadline (or a little after)


def _protocol_state(m: VrrpMachine) -> dict:
    """Everything the machine holds but advert_due's own memo of the last advert."""
    return {k: v for k, v in vars(m).items() if k != "_due"}


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 2), st.one_of(EVENTS, st.builds(Resign, st.floats(0, 10)),   # holds that run out
                                                     st.just(DUE), st.just(DUE), st.just(DUE))),
                max_size=60),
       st.sampled_from([2, 3]), st.integers(1, 255), st.booleans(), st.sampled_from([0.0, 0.0004, 0.25]))
def test_advert_due_answers_exactly_as_handle_timer_does(steps, version, prio, preempt, late):
    """The fast path may never differ from the general one: the same actions and the
    same state after, for any history (priority changes, holds, faults, operator
    actions between the timers), timers on the deadline, late, early or spurious."""
    kw = dict(version=version, priority=prio, preempt=preempt, initial_state="MASTER" if prio >= 200 else "BACKUP",
              advert_int=1.0 if version == 2 else 0.1)
    _side_by_side(kw, steps, late)


def _side_by_side(kw: dict, steps, late: float) -> tuple[VrrpMachine, VrrpMachine]:
    general, fast = mk(**kw), mk(**kw)
    now = 0.0
    for dt, ev in steps:
        if ev is DUE:
            d = general.next_deadline()
            now = max(now, d + late) if d is not None else now + dt
            ev = Timer()
        else:
            now += dt
        want = general.handle(now, ev)
        got = fast.advert_due(now) if isinstance(ev, Timer) else fast.handle(now, ev)
        assert got == want, (now, ev)
        assert _protocol_state(fast) == _protocol_state(general), (now, ev)
    return general, fast


def test_advert_due_lets_a_masters_hold_run_out_as_handle_does():
    """A backup resigned with a hold becomes master when nobody else is left; the hold
    still runs out at its time (``held``) though only timers come in meanwhile."""
    general, fast = _side_by_side(dict(advert_int=1.0), [(0, Startup()), (0.5, Resign(6.0))] + [(0, DUE)] * 8, 0.0)
    assert fast.state is State.MASTER and not fast.held and not general.held


def test_advert_due_takes_its_fast_path_for_a_steady_master_and_leaves_it_on_any_input():
    m = master_at(advert_int=1.0, priority=100)
    first = m.advert_due(m.next_deadline())
    assert first == [SendAdvert(100, 1.0)]
    again = [m.advert_due(m.next_deadline())[0] for _ in range(5)]
    assert all(a is first[0] for a in again)            # remembered, not made again
    t = m.next_deadline()
    assert m.advert_due(t - 0.5) == [] and m.next_deadline() == t      # early: nothing moves
    m.handle(t - 0.1, TrackChanged(delta=-20))                         # any input forgets it
    assert m.advert_due(t) == [SendAdvert(80, 1.0)]


# ---- operator: a takeover given before any master is heard (pending) -----------------------------

def test_a_pending_takeover_takes_effect_on_the_first_advert_heard():
    """The restart bug: the persisted takeover reached a machine that had heard no master
    yet, pinned its own priority and then stayed BACKUP under the old master for ever."""
    m = started(priority=90)
    assert m.handle(0.5, Takeover(True)) == []
    assert m.takeover and m.takeover_pending and m.effective_priority == 90
    out = m.handle(1.0, adv(PEER, 100))
    assert out[:3] == [SendAdvert(101, 1.0), AddVips(), SendGarp()]
    t = out[3]
    assert (t.new, t.reason, t.detail) == (State.MASTER, "operator", f"takeover: priority 101 > 100 of {PEER}")
    assert m.takeover and not m.takeover_pending and m.effective_priority == 101
    assert m.handle(2.0, adv(PEER, 100)) == [SendAdvert(101, 1.0), LowerPriorityMaster(PEER, 100)]  # it yields; we re-announce


def test_a_takeover_given_in_init_or_fault_waits_for_a_master():
    m = mk(priority=90)
    m.handle(0.0, Takeover(True))                    # before Startup (INIT)
    assert m.takeover_pending
    m.handle(0.0, Startup())
    assert only_transition(m.handle(0.5, adv(PEER, 100))).reason == "operator"

    f = started(priority=90)
    f.handle(0.1, InterfaceChanged(up=False))
    f.handle(0.2, Takeover(True))
    assert f.state is State.FAULT and f.takeover_pending
    f.handle(0.3, adv(PEER, 100))                   # heard in FAULT: nothing yet
    f.handle(0.4, InterfaceChanged(up=True))
    assert f.state is State.BACKUP
    t = only_transition(f.handle(0.5, adv(PEER, 100)))
    assert (t.new, t.reason) == (State.MASTER, "operator") and f.effective_priority == 101


def test_a_pending_takeover_overrides_nopreempt_against_a_lower_master():
    m = started(priority=90, preempt=False)
    m.handle(0.5, Takeover(True))
    t = only_transition(m.handle(1.0, adv(PEER, 80)))
    assert (t.new, t.reason, t.detail) == (State.MASTER, "operator", f"takeover: priority 90 > 80 of {PEER}")


def test_a_takeover_that_cannot_beat_an_owner_stays_pending_and_takes_the_next_master():
    m = started(priority=90, preempt=False)
    m.handle(0.5, adv(PEER, 255))
    m.handle(1.0, Takeover(True))
    assert m.state is State.BACKUP and m.takeover_pending and m.effective_priority == 254
    m.handle(1.5, adv(PEER, 255))
    assert m.state is State.BACKUP
    t = only_transition(m.handle(2.0, adv(HIGH_PEER, 100)))    # the owner was replaced by a router at 100
    assert (t.new, t.reason) == (State.MASTER, "operator") and not m.takeover_pending


def test_a_pending_takeover_of_a_master_stays_above_the_master_it_then_hears():
    """A sync group member pulled up before it heard its own master (the group's other
    member took over first): when that master's advert comes, it stays above it."""
    m = started(priority=90)
    m.handle(0.5, Takeover(True))
    m.handle(m.next_deadline(), Timer())               # nobody heard: master anyway (or pulled up)
    assert m.state is State.MASTER and m.effective_priority == 90
    assert m.handle(5.0, adv(PEER, 100)) == [SendAdvert(101, 1.0), LowerPriorityMaster(PEER, 100)]
    assert m.state is State.MASTER and m.effective_priority == 101
    # once: a takeover somewhere else that outbids it now wins (no bidding war)
    out = m.handle(6.0, adv(PEER, 102))
    assert only_transition(out).reason == "higher_priority_seen" and m.state is State.BACKUP
    assert m.effective_priority == 101 and m.takeover_pending
    assert m.handle(7.0, adv(PEER, 102)) == [] and m.state is State.BACKUP
    # without a takeover the same master yields at once (unchanged)
    n = started(priority=90)
    n.handle(n.next_deadline(), Timer())
    assert only_transition(n.handle(5.0, adv(PEER, 100))).reason == "higher_priority_seen"


def test_a_taken_over_backup_beats_a_returning_lower_master_at_once():
    """Taken over at 101, pushed down (its sync group, an owner that came and went): a
    master at 100 is beaten at once, nopreempt or not."""
    m = started(priority=90, preempt=False)
    m.handle(0.5, adv(PEER, 100))
    m.handle(1.0, Takeover(True))
    m.handle(2.0, adv(HIGH_PEER, 255))
    assert m.state is State.BACKUP
    t = only_transition(m.handle(3.0, adv(PEER, 100)))
    assert (t.new, t.reason) == (State.MASTER, "operator") and m.effective_priority == 101


def test_release_of_a_pending_takeover_leaves_normal_election():
    m = started(priority=90)
    m.handle(0.5, Takeover(True))
    m.handle(0.6, Takeover(False))
    assert not m.takeover and not m.takeover_pending
    assert m.handle(1.0, adv(PEER, 100)) == [] and m.state is State.BACKUP
    d = started(priority=90)
    d.handle(0.5, Takeover(True))
    d.handle(0.6, Drain(True))                        # a drain ends a takeover too
    assert not d.takeover and d.handle(1.0, adv(PEER, 100)) == []


def test_a_restarted_router_with_a_persisted_takeover_becomes_master_again():
    """End to end on the wire: node2 took over, restarts (a new machine gets the takeover
    right after its Startup, before any advert), and takes the VIPs back at node1's first advert."""
    net = Net(mk(name="node1", primary_address=PEER, priority=100),
              mk(name="node2", primary_address=ME, priority=96))
    net.start_all()
    net.run_until(10.0)
    net.do(net["node2"], Takeover(True))
    assert net.states() == {"node1": State.BACKUP, "node2": State.MASTER}
    net.do(net["node2"], Shutdown())                  # priority 0: node1 takes over after Skew_Time
    net.crash("node2")
    net.run_until(12.0)
    assert net.states()["node1"] is State.MASTER
    net.m["node2"] = mk(name="node2", primary_address=ME, priority=96)
    net.alive.add("node2")
    net.do(net["node2"], Startup())
    net.do(net["node2"], Takeover(True))              # operator.started: right after Startup
    assert net["node2"].takeover_pending
    took_over = net.transitions("node1")[-1].at
    assert took_over == 10 + 156 / 256                # Skew_Time of priority 100
    net.run_until(30.0)
    assert net.states() == {"node1": State.BACKUP, "node2": State.MASTER}
    t = net.transitions("node2")[-1]
    assert (t.reason, t.at) == ("operator", took_over + 2.0)       # node1's first advert after the restart
    assert net["node2"].effective_priority == 101 and not net["node2"].takeover_pending


def test_two_takeovers_of_one_vrid_do_not_outbid_each_other():
    net = Net(mk(name="node1", primary_address=PEER, priority=100),
              mk(name="node2", primary_address=ME, priority=96))
    net.start_all()
    net.run_until(10.0)
    net.do(net["node2"], Takeover(True))
    assert net.states() == {"node1": State.BACKUP, "node2": State.MASTER}
    before = len(net.log)
    net.do(net["node1"], Takeover(True))               # the later takeover wins, at once
    assert net.states() == {"node1": State.MASTER, "node2": State.BACKUP}
    assert (net["node1"].effective_priority, net["node2"].effective_priority) == (102, 101)
    assert len([a for _n, a in net.log[before:] if isinstance(a, SendAdvert)]) == 1     # no bidding war
    net.run_until(30.0)
    assert net.states() == {"node1": State.MASTER, "node2": State.BACKUP}
