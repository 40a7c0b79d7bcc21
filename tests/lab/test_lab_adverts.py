"""The daemon's advert view: every advert heard, per VRID, with anomalies flagged.

A third lab node plays the troublemaker with hand-made adverts (our codec
encodes them; the socket options choose TTL), so each flag is provoked by
real packets on the wire: a foreign VRID, a wrong TTL, a wrong password, a
different VIP list.  Split brains, handovers and floods of forged adverts
are in test_lab_split_brain.py.
"""

from __future__ import annotations


import pytest

from vipdeck.engine.lab import wait_until
from vipdeck.engine.lab.peers import start_keepalived, start_vipdeck, status
from vipdeck.engine.vrrp import packet
from tests.support.forge import raw_sender, send
from tests.support.labconf import SEED_GROUP, VIP1, seed_pair

pytestmark = pytest.mark.lab


def vrid_view(router, vrid: int) -> dict | None:
    return next((v for v in status(router)["adverts"] if v["vrid"] == vrid and v["family"] == 4), None)


def flags(router, vrid: int) -> set[str]:
    v = vrid_view(router, vrid)
    return {f["kind"] for f in v["flags"]} if v else set()


def test_advert_view_sees_foreign_vrids_and_flags_anomalies(lab, keepalived_bin):
    n1 = lab.add_node("n1", "198.18.0.1/24")
    n2 = lab.add_node("n2", "198.18.0.2/24")
    bad = lab.add_node("bad", "198.18.0.66/24")
    r1 = start_vipdeck(n1, seed_pair("node1", 100, "MASTER"))
    # a keepalived router for a VRID we do not run
    start_keepalived(n2, seed_pair("ka", 120, "MASTER").replace("virtual_router_id 51", "virtual_router_id 60")
                     .replace(VIP1, "198.18.0.160"), binary=keepalived_bin)
    wait_until(lambda: n1.has_address(VIP1), 10)

    v60 = wait_until(lambda: vrid_view(r1, 60), 10, what="foreign VRID 60 in the view")
    assert not v60["ours"] and v60["sources"][0]["address"] == n2.ip and v60["sources"][0]["priority"] == 120
    assert v60["sources"][0]["vips"] == ["198.18.0.160"]

    s = raw_sender(bad)
    auth = packet.pass_auth_data("1111")
    # a lower-priority router claiming the VRID for a moment: a source, not yet a split brain
    for _ in range(3):
        send(s, bad, vrid=51, priority=90, auth_type=packet.AUTH_PASS, auth_data=auth)
    wait_until(lambda: (vrid_view(r1, 51) or {}).get("sources"), 5, what="the second router in the view")
    assert vrid_view(r1, 51)["sources"][0]["address"] == bad.ip
    # a wrong password is rejected, counted per reason, and flagged
    send(s, bad, vrid=51, priority=90, auth_type=packet.AUTH_PASS, auth_data=packet.pass_auth_data("nope"))
    wait_until(lambda: status(r1)["instances"][0]["counters"]["rejects"].get("auth_mismatch") == 1, 5)
    assert "auth_mismatch" in flags(r1, 51)
    rej = vrid_view(r1, 51)["rejected_sources"]
    assert [(r["address"], r["reason"], r["count"]) for r in rej] == [(bad.ip, "auth_mismatch", 1)]
    # a different VIP list
    send(s, bad, vrid=51, priority=90, auth_type=packet.AUTH_PASS, auth_data=auth, addresses=("198.18.0.99",))
    wait_until(lambda: "vip_mismatch" in flags(r1, 51), 5)
    s.close()
    # TTL 64 from a router: rejected (ttl) and flagged on screen
    s64 = raw_sender(bad, ttl=64)
    send(s64, bad, vrid=51, priority=90, auth_type=packet.AUTH_PASS, auth_data=auth)
    s64.close()
    wait_until(lambda: "ttl" in flags(r1, 51), 5, what="TTL flag")
    assert status(r1)["instances"][0]["counters"]["rejects"].get("ttl") == 1
    # anomalies become events too, once each
    evs = [e for e in _events(r1) if e["kind"] == "advert"]
    kinds = [e["flag"] for e in evs]
    assert {"auth_mismatch", "vip_mismatch", "ttl"} <= set(kinds)
    assert kinds.count("ttl") == 1 and "split_brain" not in kinds
    # the master is still node1, and it still holds the VIP
    assert vrid_view(r1, 51)["ours"] and n1.has_address(VIP1)


def _events(router) -> list[dict]:
    import asyncio

    from vipdeck.engine.control.client import SocketClient

    return asyncio.run(SocketClient(router.socket_path).events())


def test_master_hearing_a_lower_priority_master_runs_notify_master_rx_lower_pri(lab, tmp_path):
    n1 = lab.add_node("n1", "198.18.0.1/24")
    bad = lab.add_node("bad", "198.18.0.66/24")
    log = tmp_path / "lower.log"
    script = tmp_path / "lower.sh"
    script.write_text(f"#!/bin/sh\necho \"$@\" >> {log}\n")
    script.chmod(0o755)
    r1 = start_vipdeck(n1, seed_pair("node1", 100, "MASTER",
                                     more=[f'notify_master_rx_lower_pri "{script} lower"']))
    wait_until(lambda: n1.has_address(VIP1) and status(r1)["instances"][0]["state"] == "MASTER", 10)
    s = raw_sender(bad)
    send(s, bad, vrid=51, priority=90, auth_type=packet.AUTH_PASS, auth_data=packet.pass_auth_data("1111"))
    s.close()
    lines = wait_until(lambda: log.exists() and log.read_text().splitlines(), 5, what="the script ran")
    assert lines == ["lower"]
    ev = wait_until(lambda: [e for e in _events(r1) if e["kind"] == "notify"
                             and e.get("keyword") == "notify_master_rx_lower_pri"], 5, what="its notify event")
    assert ev[0]["exit_status"] == 0 and ev[0]["state"] == "MASTER_RX_LOWER_PRI"
    assert status(r1)["instances"][0]["state"] == "MASTER" and n1.has_address(VIP1)


def test_after_a_reload_the_view_speaks_only_for_the_instances_that_run(lab, keepalived_bin):
    import signal

    n1 = lab.add_node("n1", "198.18.0.1/24")
    n2 = lab.add_node("n2", "198.18.0.2/24")
    start_keepalived(n2, seed_pair("ka", 120, "MASTER", version=3, advert_int=0.1), binary=keepalived_bin)
    r1 = start_vipdeck(n1, seed_pair("node1", 50, "BACKUP", version=3, advert_int=0.1))
    v = wait_until(lambda: (vrid_view(r1, 51) or {}).get("sources") and vrid_view(r1, 51), 10)
    assert (v["ours"], v["instance"]) == (True, "VI_1")
    # VRID 51 is someone else's now: our instance moves to 52
    with open(r1.conf_path, "w") as f:
        f.write(seed_pair("node1", 50, "BACKUP", version=3, advert_int=0.1)
                .replace("virtual_router_id 51", "virtual_router_id 52").replace("VI_1", "VI_52"))
    r1.signal(signal.SIGHUP)
    wait_until(lambda: [i["name"] for i in status(r1)["instances"]] == ["VI_52"], 10, what="the reload")
    v = wait_until(lambda: (lambda x: x if not x["ours"] else None)(vrid_view(r1, 51)), 5, what="51 foreign now")
    assert v["instance"] is None and v["flags"] == [] and v["master"] == n2.ip


@pytest.mark.parametrize("no_advert", [False, True], ids=["default", "lower_prio_no_advert"])
def test_a_master_answers_lower_priority_adverts_unless_lower_prio_no_advert(lab, no_advert):
    """keepalived: by default a master answers each lower-priority advert with one of
    its own (RFC 9568); lower_prio_no_advert (and strict mode) keep to its interval.
    Either way it re-announces the VIPs."""
    from tests.support.netcut import ArpWatch

    n1 = lab.add_node("n1", "198.18.0.1/24")
    bad = lab.add_node("bad", "198.18.0.66/24")
    arp = ArpWatch(bad)
    sn = lab.sniffer()
    r1 = start_vipdeck(n1, seed_pair("node1", 100, "MASTER", advert_int=1,
                                     more=["garp_master_delay 0"] + (["lower_prio_no_advert"] if no_advert else [])))
    wait_until(lambda: status(r1)["instances"][0]["state"] == "MASTER", 10)
    wait_until(lambda: len(arp.announcements(VIP1)) >= 5, 10, what="the start-up GARP burst")
    s = raw_sender(bad)
    start = wait_until(lambda: sn.last(vrid=51, src=n1.ip), 5).time
    for k in range(10):                     # 10 lower-priority adverts between two of ours (1 s apart)
        send(s, bad, vrid=51, priority=90, auth_type=packet.AUTH_PASS, auth_data=packet.pass_auth_data("1111"))
    s.close()
    wait_until(lambda: [p for p in sn.snapshot(vrid=51, src=n1.ip) if p.time > start + 0.9], 3,
               what="our next regular advert")
    ours = [p for p in sn.snapshot(vrid=51, src=n1.ip) if start < p.time < start + 0.9]
    assert len(ours) == (0 if no_advert else 10), len(ours)
    wait_until(lambda: len(arp.announcements(VIP1)) >= 10, 3, what="the VIP re-announced")
    assert status(r1)["instances"][0]["state"] == "MASTER"
