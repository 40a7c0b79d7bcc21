"""A real keepalived (Debian's 2.2.7) as vipdeck's peer, both roles, v2 and v3.

The lab runs the seed's pair shape; one side is keepalived, the other
vipdeck.  Checks: elections, crash failover and preemption both ways, no
rejected keepalived advert in our counters, no complaint about ours in
keepalived's log.  Failover figures for both are printed side by side
(``FIGURE`` lines; run pytest with -s to see them).
"""

from __future__ import annotations

import re

import pytest

from vipdeck.engine.lab import wait_until
from vipdeck.engine.lab.peers import instance, start_keepalived, start_vipdeck
from tests.support.labconf import VIP1, seed_pair

pytestmark = [pytest.mark.lab, pytest.mark.keepalived]

COMPLAINTS = re.compile(r"(?i)(invalid|bad|wrong|mismatch|error|ignoring|discard|check fail|different)")


def _mdi(prio: int, interval: float) -> float:
    return 3 * interval + (256 - prio) * interval / 256


def _first_after(sn, src: str, t: float):
    pkts = [p for p in sn.snapshot(vrid=51, src=src) if p.time > t and p.priority > 0]
    return pkts[0] if pkts else None


NORMAL = ("received lower priority",)   # keepalived's preemption log, not a packet problem


def _complaints(log: str) -> list[str]:
    """keepalived's lines about received packets it found wrong."""
    return [line for line in log.splitlines()
            if COMPLAINTS.search(line) and "VI_1" in line and not any(n in line for n in NORMAL)]


@pytest.mark.parametrize("version,interval", [(2, 1), (3, 0.1)], ids=["v2-1s", "v3-100ms"])
def test_keepalived_master_vipdeck_backup(lab, keepalived_bin, version, interval):
    n1 = lab.add_node("n1", "198.18.0.1/24")
    n2 = lab.add_node("n2", "198.18.0.2/24")
    sn = lab.sniffer()
    conf = dict(version=version, advert_int=interval)
    ka = start_keepalived(n1, seed_pair("node1", 100, "MASTER", **conf), binary=keepalived_bin)
    wait_until(lambda: n1.has_address(VIP1), 10, what="keepalived master holds the VIP")
    vd = start_vipdeck(n2, seed_pair("node2", 96, "BACKUP", **conf))
    wait_until(lambda: instance(vd, "VI_1")["counters"]["adverts_received"] >= 3, 10, what="vipdeck hears keepalived")
    i = instance(vd, "VI_1")
    assert i["state"] == "BACKUP" and i["master"]["address"] == n1.ip and i["master"]["priority"] == 100
    assert i["counters"]["rejects"] == {}
    assert not n2.has_address(VIP1)

    ka.crash()
    last = sn.last(vrid=51, src=n1.ip).time
    wait_until(lambda: n2.has_address(VIP1), 10 * interval + 5, what="vipdeck takes over")
    first = wait_until(lambda: _first_after(sn, n2.ip, last), 5)
    took = first.time - last
    assert _mdi(96, interval) - 0.1 * interval <= took <= _mdi(96, interval) + 0.2, took
    print(f"FIGURE v{version} {interval}s keepalived->vipdeck crash takeover: {took:.4f} s (MDI {_mdi(96, interval):.4f})")

    # keepalived comes back with priority 100: it preempts vipdeck
    ka = start_keepalived(n1, seed_pair("node1", 100, "MASTER", **conf), binary=keepalived_bin)
    wait_until(lambda: n1.has_address(VIP1) and not n2.has_address(VIP1), 10 * interval + 5, what="keepalived preempts")
    wait_until(lambda: instance(vd, "VI_1")["state"] == "BACKUP", 5)
    assert instance(vd, "VI_1")["counters"]["rejects"] == {}
    assert _complaints(ka.log()) == []


@pytest.mark.parametrize("version,interval", [(2, 1), (3, 0.1)], ids=["v2-1s", "v3-100ms"])
def test_vipdeck_master_keepalived_backup(lab, keepalived_bin, version, interval):
    n1 = lab.add_node("n1", "198.18.0.1/24")
    n2 = lab.add_node("n2", "198.18.0.2/24")
    sn = lab.sniffer()
    conf = dict(version=version, advert_int=interval)
    vd = start_vipdeck(n1, seed_pair("node1", 100, "MASTER", **conf))
    wait_until(lambda: n1.has_address(VIP1), 10, what="vipdeck master holds the VIP")
    ka = start_keepalived(n2, seed_pair("node2", 96, "BACKUP", **conf), binary=keepalived_bin)
    wait_until(lambda: "Entering BACKUP STATE" in ka.log(), 10)
    # keepalived stays backup while it hears us (several intervals past its MDI)
    wait_until(lambda: len([p for p in sn.snapshot(vrid=51, src=n1.ip)]) >= 8, 10 * interval + 10)
    assert not n2.has_address(VIP1)
    assert "Entering MASTER STATE" not in ka.log()

    vd.crash()
    last = sn.last(vrid=51, src=n1.ip).time
    wait_until(lambda: n2.has_address(VIP1), 10 * interval + 5, what="keepalived takes over")
    first = wait_until(lambda: _first_after(sn, n2.ip, last), 5)
    took = first.time - last
    print(f"FIGURE v{version} {interval}s vipdeck->keepalived crash takeover: {took:.4f} s (MDI {_mdi(96, interval):.4f})")
    assert took <= _mdi(96, interval) + 0.2

    # vipdeck comes back with 100 and preempts keepalived
    vd = start_vipdeck(n1, seed_pair("node1", 100, "MASTER", **conf))
    wait_until(lambda: n1.has_address(VIP1) and not n2.has_address(VIP1), 10 * interval + 5, what="vipdeck preempts")
    wait_until(lambda: ka.log().count("Entering BACKUP STATE") >= 2, 5)
    assert instance(vd, "VI_1")["counters"]["rejects"] == {}
    assert _complaints(ka.log()) == []

    # clean stop: priority 0, keepalived takes over after its skew time
    stop_mark = sn.last(vrid=51, src=n1.ip).time
    vd.stop()
    zero = wait_until(lambda: next((p for p in sn.snapshot(vrid=51, src=n1.ip) if p.priority == 0 and p.time >= stop_mark), None), 5)
    first = wait_until(lambda: _first_after(sn, n2.ip, zero.time), 5)
    print(f"FIGURE v{version} {interval}s vipdeck clean stop -> keepalived master: {first.time - zero.time:.4f} s")
    assert first.time - zero.time <= (256 - 96) * interval / 256 + 0.2


def test_keepalived_reference_figures(lab, keepalived_bin):
    """keepalived beside keepalived, same lab: the baseline for our figures."""
    n1 = lab.add_node("n1", "198.18.0.1/24")
    n2 = lab.add_node("n2", "198.18.0.2/24")
    sn = lab.sniffer()
    conf = dict(version=3, advert_int=0.1)
    k1 = start_keepalived(n1, seed_pair("node1", 100, "MASTER", **conf), binary=keepalived_bin)
    start_keepalived(n2, seed_pair("node2", 96, "BACKUP", **conf), binary=keepalived_bin)
    wait_until(lambda: n1.has_address(VIP1), 10)
    wait_until(lambda: len(sn.snapshot(vrid=51, src=n1.ip)) >= 5, 5)
    k1.crash()
    last = sn.last(vrid=51, src=n1.ip).time
    first = wait_until(lambda: _first_after(sn, n2.ip, last), 5)
    print(f"FIGURE v3 0.1s keepalived->keepalived crash takeover: {first.time - last:.4f} s")
    assert first.time - last <= _mdi(96, 0.1) + 0.2


def test_unicast_v3_pair_with_keepalived_both_ways(lab, keepalived_bin):
    """unicast_peer with VRRPv3: each side's checksum covers the peer's address;
    keepalived accepts ours (stays backup, no complaint) and we accept its."""
    n1 = lab.add_node("n1", "198.18.0.1/24")
    n2 = lab.add_node("n2", "198.18.0.2/24")

    def conf(router_id, prio, state, me, peer):
        return seed_pair(router_id, prio, state, version=3, advert_int=0.1, group=None,
                         more=[f"unicast_src_ip {me}", "unicast_peer {", f"    {peer}", "}"])

    vd = start_vipdeck(n1, conf("node1", 100, "MASTER", n1.ip, n2.ip))
    wait_until(lambda: n1.has_address(VIP1), 10, what="vipdeck master holds the VIP")
    ka = start_keepalived(n2, conf("node2", 96, "BACKUP", n2.ip, n1.ip), binary=keepalived_bin)
    wait_until(lambda: "Entering BACKUP STATE" in ka.log(), 10)
    # keepalived would have taken over after 0.36 s had it dropped our adverts
    wait_until(lambda: instance(vd, "VI_1")["counters"]["adverts_sent"] >= 30, 10, what="3 s of adverts")
    assert not n2.has_address(VIP1) and "Entering MASTER STATE" not in ka.log()
    assert _complaints(ka.log()) == []
    vd.crash()
    wait_until(lambda: n2.has_address(VIP1), 5, what="keepalived takes over")
    vd = start_vipdeck(n1, conf("node1", 100, "BACKUP", n1.ip, n2.ip).replace("priority 100", "priority 90"))
    wait_until(lambda: instance(vd, "VI_1")["counters"]["adverts_received"] >= 10, 10, what="vipdeck hears keepalived")
    i = instance(vd, "VI_1")
    assert i["state"] == "BACKUP" and i["master"]["address"] == n2.ip and i["counters"]["rejects"] == {}, i
