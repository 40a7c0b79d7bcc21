"""Unicast safety with forged packets: check_unicast_src, a peer's min_ttl /
max_ttl, unicast_fault_no_peer (keepalived's vrrp_check_packet and
vrrp_complete_instance).

A unicast instance hears adverts sent to its own address, from anywhere: a
router elsewhere (TTL below 255 after a hop) or anyone who can forge a source.
With check_unicast_src only its peers count, each within its TTL range; an
advert that breaks the rule changes nothing and is counted (reject reasons
``unicast_src`` and ``ttl``).
"""

from __future__ import annotations

import pytest

from vipdeck.engine.lab import wait_until
from vipdeck.engine.lab.peers import instance, start_vipdeck, status, vrrp_conf
from vipdeck.engine.vrrp import packet
from tests.support.forge import Forger

pytestmark = pytest.mark.lab

VIP = "198.18.0.199"


def test_only_unicast_peers_within_their_ttl_range_are_heard_and_no_peer_is_a_fault(lab):
    n1 = lab.add_node("n1", "198.18.0.1/24")
    bad = lab.add_node("bad", "198.18.0.66/24")
    conf = vrrp_conf(router_id="node1", instances=[
        dict(name="VI_U", vrid=61, priority=100, state="MASTER", version=3, advert_int=0.1, vips=[VIP],
             more=["unicast_src_ip 198.18.0.1", "unicast_peer {", "    198.18.0.2 min_ttl 250", "}"]),
        dict(name="VI_F", vrid=62, priority=100, version=3, advert_int=0.1, vips=["198.18.0.198"],
             more=["unicast_fault_no_peer", "unicast_peer {", "}"]),
    ])
    r1 = start_vipdeck(n1, conf)
    wait_until(lambda: instance(r1, "VI_U")["state"] == "MASTER", 10)
    f = Forger(bad, n1.ip)                    # to node1's own address: unicast

    def forge(src: str, ttl: int, prio: int = 200) -> None:
        f.send(packet.encode(packet.Advert(3, 61, prio, 0.1, (VIP,)), src, n1.ip), src, ttl=ttl)

    def rejects() -> dict:
        return instance(r1, "VI_U")["counters"]["rejects"]

    # not a peer: would win (priority 200) but is not heard
    for _ in range(5):
        forge(bad.ip, 255)
    wait_until(lambda: rejects().get("unicast_src", 0) >= 5, 5, what="5 adverts from a non-peer rejected")
    # the peer's address, but from too far (TTL 64 < min_ttl 250): forged, or routed from elsewhere
    for _ in range(5):
        forge("198.18.0.2", 64)
    wait_until(lambda: rejects().get("ttl", 0) >= 5, 5, what="5 adverts outside the peer's TTL range")
    i = instance(r1, "VI_U")
    assert i["state"] == "MASTER" and i["master"]["address"] == n1.ip and n1.has_address(VIP)
    assert i["counters"]["adverts_received"] == 0
    view = next(v for v in status(r1)["adverts"] if v["vrid"] == 61)
    assert {r["address"]: r["reason"] for r in view["rejected_sources"]} == {bad.ip: "unicast_src",
                                                                              "198.18.0.2": "ttl"}
    # the peer itself, within its range: heard, and it wins
    forge("198.18.0.2", 255)
    wait_until(lambda: instance(r1, "VI_U")["state"] == "BACKUP", 5, what="the peer's advert taking over")
    assert instance(r1, "VI_U")["master"]["address"] == "198.18.0.2"

    # unicast_fault_no_peer with no peer: FAULT, not multicast
    f2 = instance(r1, "VI_F")
    assert f2["state"] == "FAULT" and "unicast without any unicast_peer" in f2["last_transition"]["detail"]
    assert f2["counters"]["adverts_sent"] == 0
