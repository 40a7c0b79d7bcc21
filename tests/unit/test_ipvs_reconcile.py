"""The reconciler's plan: smallest change set, foreign services untouched.

``plan`` is pure, so these run on plain values; the same plans are applied to
a real kernel in tests/uml/guest/guest_ipvs.py.
"""

from __future__ import annotations

import pytest

from vipdeck.engine.ipvs.model import (
    Dest,
    DestKey,
    DestStatus,
    ModelError,
    Service,
    ServiceKey,
    ServiceStatus,
    Snapshot,
    VirtualService,
)
from vipdeck.engine.ipvs.reconcile import AddDest, AddService, DelDest, DelService, EditDest, EditService, plan

WEB = ServiceKey.of("TCP", "198.19.0.100", 80)
DNS = ServiceKey.of("UDP", "198.19.0.100", 53)
FWM = ServiceKey.fwm(5)
OTHER = ServiceKey.of("TCP", "198.19.0.200", 8080)


def web(*dests: Dest, sched: str = "rr") -> VirtualService:
    return VirtualService(Service(WEB, sched), dests)


def nat(last: int, weight: int = 1, port: int = 80) -> Dest:
    return Dest(f"198.18.0.{last}", port, weight, "masq")


def test_from_empty_adds_services_then_their_dests():
    desired = [web(nat(22), nat(21)), VirtualService(Service(DNS, "wlc"), (nat(21, port=53),))]
    changes = plan(desired, [])
    assert [type(c) for c in changes] == [AddService, AddService, AddDest, AddDest, AddDest]
    assert {c.service.key for c in changes[:2]} == {WEB, DNS}
    web_dests = [c.dest.key for c in changes[2:] if c.service == WEB]
    assert web_dests == [DestKey("198.18.0.21", 80), DestKey("198.18.0.22", 80)]


def test_same_state_needs_nothing():
    desired = [web(nat(21), nat(22))]
    assert plan(desired, [web(nat(22), nat(21))], owned_keys=[WEB]) == []


def test_weight_change_is_one_edit_carrying_the_whole_dest():
    changes = plan([web(nat(21, weight=5), nat(22))], [web(nat(21), nat(22))], [WEB])
    assert changes == [EditDest(WEB, nat(21, weight=5), nat(21))]
    assert changes[0].dest.forward == "masq"
    assert str(changes[0]) == "edit dest 198.18.0.21:80 of TCP 198.19.0.100:80: weight 1 -> 5"


def test_forwarding_method_change_is_an_edit():
    dr = Dest("198.18.0.21", 80, 1, "route")
    assert plan([web(dr)], [web(nat(21))], [WEB]) == [EditDest(WEB, dr, nat(21))]


def test_port_change_is_a_new_destination_added_before_the_old_goes():
    changes = plan([web(nat(21, port=8080))], [web(nat(21))], [WEB])
    assert changes == [AddDest(WEB, nat(21, port=8080)), DelDest(WEB, DestKey("198.18.0.21", 80))]


def test_scheduler_change_edits_the_service_in_place():
    changes = plan([web(nat(21), sched="wrr")], [web(nat(21))], [WEB])
    assert changes == [EditService(Service(WEB, "wrr"), Service(WEB, "rr"))]


def test_persistence_change_edits_the_service():
    want = VirtualService(Service(FWM, "sh", persistence_timeout=300, persistence_netmask="255.255.255.0"))
    have = VirtualService(Service(FWM, "sh"))
    assert plan([want], [have], [FWM]) == [EditService(want.service, have.service)]


def test_foreign_services_are_never_touched():
    foreign = VirtualService(Service(OTHER, "lc"), (nat(30, port=8080),))
    # not desired, not owned: left alone
    assert plan([web(nat(21))], [web(nat(21)), foreign], owned_keys=[WEB]) == []
    # not desired but ours (we programmed it before): deleted, nothing else
    assert plan([web(nat(21))], [web(nat(21)), foreign], owned_keys=[WEB, OTHER]) == [DelService(OTHER)]


def test_a_desired_service_someone_else_created_is_adopted():
    handmade = VirtualService(Service(WEB, "lc"), (nat(21), nat(99)))
    changes = plan([web(nat(21))], [handmade], owned_keys=[])
    assert changes == [EditService(Service(WEB, "rr"), Service(WEB, "lc")),
                       DelDest(WEB, DestKey("198.18.0.99", 80))]


def test_order_is_adds_then_edits_then_removals():
    have = [web(nat(21), nat(22)), VirtualService(Service(DNS, "wlc"), (nat(21, port=53),))]
    want = [web(nat(21, weight=3), nat(23), sched="wrr"), VirtualService(Service(FWM, "sh"), (Dest("198.18.0.9", 0),))]
    changes = plan(want, have, owned_keys=[WEB, DNS])
    assert [type(c) for c in changes] == [AddService, EditService, AddDest, AddDest, EditDest, DelDest, DelService]
    assert changes[0].service.key == FWM and changes[-1].key == DNS


def test_a_kernel_snapshot_is_accepted_as_actual_state():
    status = ServiceStatus(Service(WEB, "rr"), (DestStatus(nat(21), active_conns=3, inactive_conns=9),))
    assert plan([web(nat(21))], Snapshot((status,)), [WEB]) == []   # counters are not settings


def test_a_service_given_twice_is_refused():
    with pytest.raises(ModelError, match="appears twice"):
        plan([web(nat(21)), web(nat(22))], [])


def test_model_errors_name_the_field():
    with pytest.raises(ModelError, match="^forward:"):
        Dest("198.18.0.21", 80, 1, "NAT")
    with pytest.raises(ModelError, match="^weight:"):
        Dest("198.18.0.21", 80, -1)
    with pytest.raises(ModelError, match="^dest address:"):
        Dest("not-an-ip", 80)
    with pytest.raises(ModelError, match="^protocol:"):
        ServiceKey.of("ICMP", "198.18.0.1", 0)
    with pytest.raises(ModelError, match="^persistence_netmask:"):
        Service(WEB, persistence_timeout=60, persistence_netmask="255.0.255.0")
    with pytest.raises(ModelError, match="^sched_flags:"):
        Service(WEB, sched_flags=("flag-9",))
    with pytest.raises(ModelError, match="^dests:"):
        web(nat(21), nat(21, weight=2))


def test_equal_settings_compare_equal_however_spelt():
    assert Service(WEB, "sh", sched_flags=("sh-port", "sh-fallback")) == \
        Service(WEB, "sh", sched_flags=("flag-1", "flag-2"))
    assert Service(WEB, persistence_timeout=1, persistence_netmask="32") == Service(WEB, persistence_timeout=1)
    assert ServiceKey.of("tcp", "2001:DB8::0001", 443) == ServiceKey.of("TCP", "2001:db8::1", 443)
