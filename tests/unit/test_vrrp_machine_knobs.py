"""keepalived's knobs on what a master says: higher_prio_send_advert,
lower_prio_no_advert; and config faults (unicast_fault_no_peer, a VMAC that
cannot be made).  Sans-IO, on the virtual clock of test_vrrp_machine."""

from __future__ import annotations

from vipdeck.engine.vrrp.machine import (
    AddVips, ConfigFault, InterfaceChanged, LowerPriorityMaster, RemoveVips, SendAdvert, SendGarp, Startup, State,
    Timer, TrackChanged,
)
from tests.unit.test_vrrp_machine import HIGH_PEER, ME, PEER, Net, adv, master_at, mk, only_transition, started


def test_higher_prio_send_advert_sends_one_advert_at_our_priority_before_stepping_down():
    m = master_at(priority=96, higher_prio_send_advert=True)
    out = m.handle(4.0, adv(PEER, 100))
    assert out[:2] == [SendAdvert(96, 1.0), RemoveVips()]
    assert only_transition(out).reason == "higher_priority_seen" and m.state is State.BACKUP
    # the same for an equal priority from a higher address (it wins the tie)
    m = master_at(priority=100, higher_prio_send_advert=True)
    assert m.handle(4.0, adv(HIGH_PEER, 100))[0] == SendAdvert(100, 1.0)
    # off (keepalived's default): silent
    m = master_at(priority=96)
    assert not [a for a in m.handle(4.0, adv(PEER, 100)) if isinstance(a, SendAdvert)]


def test_a_drained_master_yielding_sends_it_at_its_drained_priority():
    """Drained, we advertise priority 1: any router beats us, and hearing our 1
    makes it re-announce the VIPs it takes over."""
    from vipdeck.engine.vrrp.machine import Drain

    m = master_at(priority=100, higher_prio_send_advert=True)
    m.handle(4.0, Drain(True))
    m.handle(m.next_deadline(), Timer())
    assert m.state is State.MASTER
    out = m.handle(20.0, adv(PEER, 50))
    assert m.state is State.BACKUP
    assert [a for a in out if isinstance(a, SendAdvert)] == [SendAdvert(1, 1.0)]


def test_lower_prio_no_advert_reannounces_the_vips_but_sends_nothing_and_keeps_the_timer():
    m = master_at(priority=100, lower_prio_no_advert=True)
    before = m.next_deadline()
    out = m.handle(4.0, adv(PEER, 50))
    assert out == [LowerPriorityMaster(PEER, 50)] and m.state is State.MASTER
    assert m.next_deadline() == before
    m = master_at(priority=100)                     # the default: an advert at once, timer restarted
    assert m.handle(4.0, adv(PEER, 50)) == [SendAdvert(100, 1.0), LowerPriorityMaster(PEER, 50)]
    assert m.next_deadline() == 5.0


def _split_brain_heal(knob: bool) -> Net:
    """node1 (priority 100) must win; node2 (90) was master during the cut.  At the heal
    node1's advert comes first: node2 steps down before node1 hears anything from it."""
    n1 = mk(name="node1", primary_address=PEER, priority=100, version=3, advert_int=0.1)
    n2 = mk(name="node2", primary_address=ME, priority=90, version=3, advert_int=2.0,
            higher_prio_send_advert=knob)
    net = Net(n1, n2)
    net.start_all()
    net.run_until(5.0)
    net.cut = True
    net.run_until(10.0)
    assert net.states() == {"node1": State.MASTER, "node2": State.MASTER}
    net.run_until(n2.next_deadline())               # node2 has just advertised: 2 s to its next one
    net.cut = False
    net.heard_lower.clear()
    net.run_until(net.now + 1.0)
    assert net.states() == {"node1": State.MASTER, "node2": State.BACKUP}
    return net


def test_a_split_brain_heal_where_the_winner_speaks_first_reannounces_only_with_higher_prio_send_advert():
    assert _split_brain_heal(knob=True).heard_lower == ["node1"]     # node1 re-announces its VIPs
    assert _split_brain_heal(knob=False).heard_lower == []           # hosts keep node2's MAC


def test_a_config_fault_keeps_the_instance_in_fault_from_the_start():
    m = mk(priority=100)
    assert m.handle(0.0, ConfigFault(True, "unicast without any unicast_peer")) == []
    t = only_transition(m.handle(0.0, Startup()))
    assert (t.new, t.reason, t.detail) == (State.FAULT, "startup", "unicast without any unicast_peer")
    assert m.own_fault and m.config_fault and m.next_deadline() is None
    assert m.handle(1.0, InterfaceChanged(up=True)) == [] and m.state is State.FAULT
    assert m.handle(2.0, TrackChanged(delta=0, fault=False)) == [] and m.state is State.FAULT
    t = only_transition(m.handle(3.0, ConfigFault(False, "VMAC vrrp.51 made")))
    assert (t.new, t.reason) == (State.BACKUP, "config") and not m.own_fault


def test_a_config_fault_while_master_resigns_and_removes_the_vips():
    m = master_at(priority=100)
    out = m.handle(4.0, ConfigFault(True, "VMAC vrrp.51 is gone and could not be made again"))
    assert out[:2] == [SendAdvert(0, 1.0), RemoveVips()]
    t = only_transition(out)
    assert (t.new, t.reason) == (State.FAULT, "config") and m.state is State.FAULT
    # another fault keeps it there when the config one clears, and it says which
    m.handle(5.0, InterfaceChanged(up=False, detail="eth0 down"))
    assert m.handle(6.0, ConfigFault(False)) == [] and m.state is State.FAULT
    out = m.handle(7.0, InterfaceChanged(up=True, detail="eth0 up"))
    assert only_transition(out).new is State.BACKUP
    assert not [a for a in out if isinstance(a, (AddVips, SendGarp))]
