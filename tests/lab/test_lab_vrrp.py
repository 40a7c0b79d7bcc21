"""vipdeck daemons on the wire, in namespace labs (issue: VRRP on the wire).

Timings are measured from the lab sniffer's kernel timestamps, never from
the daemons' own view.
"""

from __future__ import annotations

import os
import re
import signal

import pytest

from vipdeck.engine.lab import wait_until
from vipdeck.engine.lab.peers import instance, start_vipdeck, status
from vipdeck.engine.vrrp import packet
from tests.support.labconf import SEED_GROUP, VIP1, VIP_VI1, VIP_VI2, dual_master, nginx_track, seed_pair

pytestmark = pytest.mark.lab


def master_down_interval(priority: int, interval: float) -> float:
    skew = (256 - priority) * interval / 256
    return 3 * interval + skew


@pytest.fixture
def pair(lab):
    n1 = lab.add_node("n1", "198.18.0.1/24")
    n2 = lab.add_node("n2", "198.18.0.2/24")
    sn = lab.sniffer()
    return lab, n1, n2, sn


def first_master_advert(sn, vrid: int, src: str, after: float):
    pkts = [p for p in sn.snapshot(vrid=vrid, src=src) if p.time > after and p.priority > 0]
    return pkts[0] if pkts else None


def test_seed_pair_crash_failover_and_preemption(pair):
    lab, n1, n2, sn = pair
    r1 = start_vipdeck(n1, seed_pair("node1", 100, "MASTER"))
    r2 = start_vipdeck(n2, seed_pair("node2", 96, "BACKUP"))
    wait_until(lambda: n1.has_address(VIP1), 10, what="node1 holds the VIP")
    assert not n2.has_address(VIP1)
    # node1 advertises once per second: v2, prio 100, to the seed's group, TTL 255
    wait_until(lambda: len(sn.snapshot(vrid=51, src=n1.ip)) >= 4, 10, what="four adverts from node1")
    pkts = sn.snapshot(vrid=51, src=n1.ip)[-4:]
    gaps = [b.time - a.time for a, b in zip(pkts, pkts[1:])]
    assert all(0.9 < g < 1.1 for g in gaps), gaps
    assert {(p.version, p.priority, p.dst, p.ttl, p.interval) for p in pkts} == {(2, 100, "224.1.101.33", 255, 1.0)}
    assert instance(r2, "VI_1")["state"] == "BACKUP"

    r1.crash()
    last = sn.last(vrid=51, src=n1.ip).time
    wait_until(lambda: n2.has_address(VIP1), 10, what="node2 takes the VIP")
    first = wait_until(lambda: first_master_advert(sn, 51, n2.ip, last), 5, what="node2's first advert")
    takeover = first.time - last
    assert takeover <= master_down_interval(96, 1) + 0.2, takeover
    assert takeover >= master_down_interval(96, 1) - 0.1, takeover
    snap = instance(r2, "VI_1")
    assert snap["state"] == "MASTER" and snap["last_transition"]["reason"] == "master_down_timer"

    # node1 comes back: higher priority, preempts, the VIP returns
    r1 = start_vipdeck(n1, seed_pair("node1", 100, "MASTER"))
    wait_until(lambda: n1.has_address(VIP1) and not n2.has_address(VIP1), 10, what="VIP back on node1")
    wait_until(lambda: instance(r2, "VI_1")["state"] == "BACKUP", 5)
    print(f"FIGURE vipdeck crash takeover (v2, 1 s, prio 96): {takeover:.4f} s")


def test_seed_pair_clean_stop_resigns_with_priority_zero(pair):
    lab, n1, n2, sn = pair
    r1 = start_vipdeck(n1, seed_pair("node1", 100, "MASTER"))
    start_vipdeck(n2, seed_pair("node2", 96, "BACKUP"))
    wait_until(lambda: n1.has_address(VIP1), 10)
    wait_until(lambda: len(sn.snapshot(vrid=51, src=n2.ip)) == 0 and len(sn.snapshot(vrid=51, src=n1.ip)) >= 2, 10)
    assert r1.stop() == 0
    zero = wait_until(lambda: next((p for p in sn.snapshot(vrid=51, src=n1.ip) if p.priority == 0), None), 5,
                      what="priority-0 advert")
    assert not n1.has_address(VIP1)
    first = wait_until(lambda: first_master_advert(sn, 51, n2.ip, zero.time), 5)
    takeover = first.time - zero.time
    assert takeover <= (256 - 96) / 256 + 0.2, takeover
    wait_until(lambda: n2.has_address(VIP1), 5)
    print(f"FIGURE vipdeck clean-stop takeover (v2, 1 s, prio 96): {takeover:.4f} s")


def test_dual_master_both_vips_move_to_the_survivor(pair):
    lab, n1, n2, sn = pair
    r1 = start_vipdeck(n1, dual_master("node1", True))
    r2 = start_vipdeck(n2, dual_master("node2", False))
    wait_until(lambda: n1.has_address(VIP_VI1) and n2.has_address(VIP_VI2), 10, what="each node masters one VIP")
    assert not n1.has_address(VIP_VI2) and not n2.has_address(VIP_VI1)
    # the label from `dev eth0 label eth0:0`
    out = n1.run("ip", "-4", "addr", "show", "dev", "eth0").stdout
    assert "eth0:0" in out
    r2.crash()
    wait_until(lambda: n1.has_address(VIP_VI1) and n1.has_address(VIP_VI2), 5, what="node1 holds both")
    r2 = start_vipdeck(n2, dual_master("node2", False))
    wait_until(lambda: n2.has_address(VIP_VI2) and not n1.has_address(VIP_VI2), 5, what="VI_2 back on node2")
    r1.crash()
    wait_until(lambda: n2.has_address(VIP_VI1) and n2.has_address(VIP_VI2), 5, what="node2 holds both")


def test_tracking_down_file_and_nginx_process(pair, tmp_path):
    lab, n1, n2, sn = pair
    down = tmp_path / "down"
    nginx = tmp_path / "nginx"
    os.symlink("/bin/sleep", nginx)
    fake = n1.popen(str(nginx), "600")
    r1 = start_vipdeck(n1, nginx_track("node1", str(down)))
    conf2 = nginx_track("node2", str(tmp_path / "never")).replace("priority 100", "priority 96").replace("state MASTER", "state BACKUP")
    conf2 = conf2.replace("pidof nginx", "true ||")
    start_vipdeck(n2, conf2)
    wait_until(lambda: n1.has_address(VIP_VI1), 10)
    wait_until(lambda: (sn.last(vrid=51, src=n1.ip) or 0) and sn.last(vrid=51, src=n1.ip).priority == 100, 5)

    down.touch()
    wait_until(lambda: sn.last(vrid=51, src=n1.ip).priority == 80, 5, what="advertised priority 80")
    wait_until(lambda: n2.has_address(VIP_VI1) and not n1.has_address(VIP_VI1), 8, what="VIP to the backup")
    tr = {t["name"]: t for t in instance(r1, "VI_1")["trackers"]}
    assert tr["chk_down"]["contribution"] == -20

    down.unlink()
    wait_until(lambda: n1.has_address(VIP_VI1), 8, what="VIP back after removing the down file")

    t_stop = sn.last(vrid=51, src=n1.ip).time
    fake.kill()
    fake.wait()
    p97 = wait_until(lambda: next((p for p in sn.snapshot(vrid=51, src=n1.ip) if p.priority == 97), None), 8,
                     what="priority 97 after nginx stops")
    # fall 2 at interval 1: not before the second failed run
    assert p97.time - t_stop > 1.0
    assert instance(r1, "VI_1")["effective_priority"] == 97
    assert n1.has_address(VIP_VI1)  # 97 still beats 96


def test_status_json_shape_and_no_secrets(pair):
    lab, n1, n2, sn = pair
    r1 = start_vipdeck(n1, seed_pair("node1", 100, "MASTER"))
    wait_until(lambda: n1.has_address(VIP1), 10)
    snap = status(r1)
    i = snap["instances"][0]
    for key in ("name", "vrid", "interface", "state", "base_priority", "effective_priority", "vips", "wire"):
        assert key in i
    assert i["wire"] == {"source": n1.ip, "mcast_group": SEED_GROUP, "unicast_peers": [], "vmac": None}
    assert i["master"]["address"] is None or "address" in i["master"]
    assert i["last_transition"]["reason"]
    # the secret as a value anywhere (timestamps may contain the digits 1111 by chance)
    assert not [s for s in _strings(snap) if "1111" in s]
    r = n1.run(os.sys.executable, "-m", "vipdeck", "status", "--socket", r1.socket_path)
    assert "VI_1" in r.stdout and "MASTER" in r.stdout and not re.search(r"\b1111\b", r.stdout)
    assert f"adverts    multicast to {SEED_GROUP} from {n1.ip}" in r.stdout
    assert not re.search(r"\b1111\b", r1.log())


def _strings(obj):
    """Every string key and value in a JSON-like tree."""
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from _strings(k)
            yield from _strings(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from _strings(v)


def test_sighup_reload_bad_config_keeps_running_good_one_applies(pair):
    lab, n1, n2, sn = pair
    r1 = start_vipdeck(n1, seed_pair("node1", 100, "MASTER"))
    wait_until(lambda: n1.has_address(VIP1), 10)
    with open(r1.conf_path, "a") as f:
        f.write("vrrp_instance BROKEN {\n  virtual_router_id 999\n")
    r1.signal(signal.SIGHUP)
    wait_until(lambda: "refused" in r1.log() and "keepalived.conf:" in r1.log(), 5, what="reload refused in log")
    assert r1.alive() and instance(r1, "VI_1")["state"] == "MASTER"
    with open(r1.conf_path, "w") as f:
        f.write(seed_pair("node1", 100, "MASTER").replace("virtual_ipaddress {", "virtual_ipaddress {\n    198.18.0.77"))
    r1.signal(signal.SIGHUP)
    wait_until(lambda: n1.has_address("198.18.0.77"), 5, what="reloaded VIP added")
    assert instance(r1, "VI_1")["state"] == "MASTER" and n1.has_address(VIP1)


def test_interface_down_goes_fault_and_back(pair, tmp_path):
    lab, n1, n2, sn = pair
    log = tmp_path / "notify.log"
    script = tmp_path / "notify.sh"
    script.write_text(f"#!/bin/sh\necho \"$@\" >> {log}\n")
    script.chmod(0o755)
    conf = seed_pair("node1", 100, "MASTER", version=3, advert_int=0.1,
                     notify={"master": f"{script} master", "backup": f"{script} backup",
                             "fault": f"{script} fault", "any": str(script)})
    r1 = start_vipdeck(n1, conf)
    wait_until(lambda: n1.has_address(VIP1), 10)
    n1.link_set("down")
    wait_until(lambda: instance(r1, "VI_1")["state"] == "FAULT", 5, what="FAULT on link down")
    assert not n1.has_address(VIP1)
    n1.link_set("up")
    wait_until(lambda: instance(r1, "VI_1")["state"] == "MASTER", 5, what="back to MASTER")
    lines = wait_until(lambda: log.exists() and len(log.read_text().splitlines()) >= 10
                       and log.read_text().splitlines(), 5, what="ten notify lines")
    # specific script first, then the generic one with keepalived's arguments;
    # like keepalived, the start in BACKUP runs notify_backup too
    assert lines[:4] == ["backup", "INSTANCE VI_1 BACKUP 100", "master", "INSTANCE VI_1 MASTER 100"], lines
    i = lines.index("fault")
    assert lines[i:i + 6] == ["fault", "INSTANCE VI_1 FAULT 100", "backup", "INSTANCE VI_1 BACKUP 100",
                              "master", "INSTANCE VI_1 MASTER 100"], lines


def test_stale_vips_from_a_crashed_run_are_removed_at_start(pair):
    lab, n1, n2, sn = pair
    start_vipdeck(n2, seed_pair("node2", 100, "MASTER", version=3, advert_int=0.1))
    wait_until(lambda: n2.has_address(VIP1), 10)
    # what a crashed master leaves behind: the VIP still on node1's interface
    n1.run("ip", "addr", "add", f"{VIP1}/32", "dev", "eth0", "label", "eth0:0")
    assert n1.has_address(VIP1)
    r1 = start_vipdeck(n1, seed_pair("node1", 96, "BACKUP", version=3, advert_int=0.1))
    wait_until(lambda: not n1.has_address(VIP1), 5, what="stale VIP removed")
    assert instance(r1, "VI_1")["state"] == "BACKUP" and n2.has_address(VIP1)
    assert "stale" in r1.log()


def test_an_unweighted_script_without_a_first_result_holds_the_instance_in_init(pair, tmp_path):
    """keepalived does not elect on a guess: until chk_slow has answered once,
    VI_1 stays in INIT (no adverts, no VIP), then starts as usual."""
    import asyncio

    from vipdeck.engine.control.client import SocketClient

    lab, n1, n2, sn = pair
    scripts = ("vrrp_script chk_slow {\n    script \"/bin/sleep 1.5\"\n    interval 3\n    timeout 5\n}\n")
    conf = seed_pair("node1", 100, "MASTER", version=3, advert_int=0.1, more=["track_script {", "    chk_slow", "}"])
    conf = conf.replace("vrrp_instance VI_1", scripts + "vrrp_instance VI_1", 1)
    r1 = start_vipdeck(n1, conf)
    i = instance(r1, "VI_1")
    assert i["state"] == "INIT" and i["trackers"][0]["state"] == "init", i
    assert not n1.has_address(VIP1)
    wait_until(lambda: instance(r1, "VI_1")["state"] == "MASTER" and n1.has_address(VIP1), 10, what="MASTER")
    events = asyncio.run(SocketClient(r1.socket_path).events())
    held = next(e for e in events if e["kind"] == "tracker" and "stays in INIT" in e["message"])
    first = next(e for e in events if e["kind"] == "transition" and e.get("instance") == "VI_1")
    assert first["from"] == "INIT" and first["time"] - held["time"] >= 1.2, (held, first)
    # nothing was sent for VRID 51 while the instance waited
    assert not [p for p in sn.snapshot(vrid=51) if p.time < first["time"] - 0.05]


def test_a_re_created_interface_gets_a_new_socket_and_the_backup_keeps_hearing(pair):
    """ifdown/ifup of a VLAN or bond makes a new interface of the same name; a
    socket left on the old ifindex hears nothing and the backup would take over
    (split brain).  The daemon re-opens it and stays backup."""
    lab, n1, n2, sn = pair
    start_vipdeck(n1, seed_pair("node1", 100, "MASTER", version=3, advert_int=0.1))
    r2 = start_vipdeck(n2, seed_pair("node2", 96, "BACKUP", version=3, advert_int=0.1))
    wait_until(lambda: n1.has_address(VIP1) and instance(r2, "VI_1")["state"] == "BACKUP", 10)
    old_index = n2.ifindex
    lab.replug(n2)
    assert n2.ifindex != old_index
    wait_until(lambda: "re-created" in r2.log(), 5, what="the socket re-opened")
    wait_until(lambda: instance(r2, "VI_1")["state"] == "BACKUP", 5, what="node2 BACKUP again")
    heard = instance(r2, "VI_1")["counters"]["adverts_received"]
    # 20 adverts heard on the new interface: many master-down intervals (0.36 s) passed
    wait_until(lambda: instance(r2, "VI_1")["counters"]["adverts_received"] >= heard + 20, 5,
               what="adverts heard on the new interface")
    i2 = instance(r2, "VI_1")
    assert i2["state"] == "BACKUP" and i2["master"]["address"] == n1.ip, i2
    assert not n2.has_address(VIP1) and n1.has_address(VIP1)


def test_a_master_puts_back_a_vip_that_was_removed_or_flushed(pair):
    """Removed by hand, or flushed with the IPv6 addresses of a link that went
    down (a VIP on another device than the VRRP interface): the master re-adds it.
    virtual_ipaddress_excluded addresses are held like the others."""
    lab, n1, n2, sn = pair
    # a second device inside node1 (a veth pair with both ends there)
    n1.run("ip", "link", "add", "dum0", "type", "veth", "peer", "name", "dum1")
    n1.run("sysctl", "-qw", "net.ipv6.conf.dum0.accept_dad=0")
    n1.run("ip", "link", "set", "dum1", "up")
    n1.run("ip", "link", "set", "dum0", "up")
    conf = seed_pair("node1", 100, "MASTER", version=3, advert_int=0.1,
                     more=["virtual_ipaddress_excluded {", "    2001:db8:5::100/64 dev dum0", "}"])
    r1 = start_vipdeck(n1, conf)
    wait_until(lambda: n1.has_address(VIP1) and n1.has_address("2001:db8:5::100", "dum0"), 10, what="MASTER with VIPs")
    vips = {v["address"]: v for v in instance(r1, "VI_1")["vips"]}
    assert vips["2001:db8:5::100/64"]["excluded"] and not vips[f"{VIP1}/32"]["excluded"]
    # the adverts carry only the advertised VIP
    adv = packet.decode_ipv4(wait_until(lambda: sn.snapshot(vrid=51, src=n1.ip), 5)[-1].raw, expect_ttl=None)
    assert adv.addresses == (VIP1,)
    n1.run("ip", "addr", "del", f"{VIP1}/32", "dev", "eth0")
    wait_until(lambda: n1.has_address(VIP1), 5, what="the removed VIP back")
    assert "re-adding" in r1.log()
    # a link going down drops its IPv6 addresses; the VIP comes back with the link
    n1.run("ip", "link", "set", "dum0", "down")
    n1.run("ip", "link", "set", "dum0", "up")
    wait_until(lambda: n1.has_address("2001:db8:5::100", "dum0"), 5, what="the flushed IPv6 VIP back")
    assert instance(r1, "VI_1")["state"] == "MASTER"
    n1.run("ip", "link", "del", "dum0")


def test_a_stalled_backup_reads_the_queued_adverts_before_declaring_the_master_down(lab, keepalived_bin):
    """After a stall (a paused VM, a swap storm: here SIGSTOP for 0.6 s) the
    master-down timers of every instance are overdue while hundreds of the
    master's adverts wait in the socket.  They are read first: no backup may
    take over from a master that never stopped advertising."""
    import signal as sig
    import time

    n1 = lab.add_node("n1", "198.18.0.1/16")
    n2 = lab.add_node("n2", "198.18.0.2/16")
    count = 100

    def conf(router_id, prio):
        from vipdeck.engine.lab.peers import vrrp_conf
        return vrrp_conf(router_id=router_id, instances=[
            dict(name=f"VI_{k}", vrid=k, priority=prio, advert_int=0.1, version=3,
                 vips=[f"198.18.2.{k}/32"]) for k in range(1, count + 1)])

    from vipdeck.engine.lab.peers import start_keepalived
    start_keepalived(n2, conf("ka", 150), binary=keepalived_bin)
    r1 = start_vipdeck(n1, conf("node1", 100))

    def states():
        return [i["state"] for i in status(r1)["instances"]]

    wait_until(lambda: states().count("BACKUP") == count, 30, interval=0.2, what="all backups")
    before = sum(i["counters"]["transitions"] for i in status(r1)["instances"])
    for _ in range(3):
        r1.proc.send_signal(sig.SIGSTOP)
        time.sleep(0.6)            # the stall itself is what is being tested
        r1.proc.send_signal(sig.SIGCONT)
        wait_until(lambda: states().count("BACKUP") == count, 10, interval=0.2, what="answering again")
    after = sum(i["counters"]["transitions"] for i in status(r1)["instances"])
    assert after == before, f"{after - before} transitions after stalls"


def test_unicast_peers_elect_fail_over_and_send_with_unicast_ttl(lab):
    """unicast_peer mode (no multicast, as in clouds): adverts go to each peer
    from unicast_src_ip, with unicast_ttl; a crash of the master still fails over."""
    n1 = lab.add_node("n1", "198.18.0.1/24")
    n2 = lab.add_node("n2", "198.18.0.2/24")
    sn = lab.sniffer(address="198.18.0.250/24")     # a third peer of node1's, to see its adverts

    def conf(router_id, prio, state, src, peers, extra=()):
        return seed_pair(router_id, prio, state, version=3, advert_int=0.1, group=None, more=[
            f"unicast_src_ip {src}", "unicast_peer {", *(f"    {p}" for p in peers), "}", *extra])

    r1 = start_vipdeck(n1, conf("node1", 100, "MASTER", n1.ip, [n2.ip, "198.18.0.250"], ["unicast_ttl 7"]))
    r2 = start_vipdeck(n2, conf("node2", 96, "BACKUP", n2.ip, [n1.ip]))
    wait_until(lambda: n1.has_address(VIP1) and instance(r2, "VI_1")["state"] == "BACKUP"
               and instance(r2, "VI_1")["master"]["address"] == n1.ip, 10, what="node1 master over unicast")
    assert instance(r1, "VI_1")["wire"] == {"source": n1.ip, "mcast_group": None,
                                             "unicast_peers": [n2.ip, "198.18.0.250"], "vmac": None}
    seen = wait_until(lambda: sn.snapshot(vrid=51, src=n1.ip), 5, what="node1's adverts at the third peer")
    assert {(p.dst, p.ttl) for p in seen} == {("198.18.0.250", 7)}
    r1.crash()
    wait_until(lambda: n2.has_address(VIP1) and instance(r2, "VI_1")["state"] == "MASTER", 5,
               what="node2 took over")


def test_virtual_routes_and_rules_follow_the_master(pair):
    """virtual_routes / virtual_rules are in the kernel while MASTER (after the
    VIPs, so a route may use a VIP as its source) and gone after it resigns."""
    lab, n1, n2, sn = pair
    more = ["virtual_routes {", f"    src {VIP1} 198.19.7.0/24 via 198.18.0.254 dev eth0 table 100",
            "    blackhole 198.19.8.0/24", "}",
            "virtual_rules {", f"    from {VIP1} table 100 priority 100", "}"]
    r1 = start_vipdeck(n1, seed_pair("node1", 100, "MASTER", version=3, advert_int=0.1, more=more))

    def kernel() -> tuple[str, str]:
        return (n1.run("ip", "route", "show", "table", "all").stdout, n1.run("ip", "rule", "show").stdout)

    # routes and rules are separate netlink requests: wait for the last of them (the rule)
    wait_until(lambda: n1.has_address(VIP1) and "198.19.8.0/24" in kernel()[0]
               and f"from {VIP1} lookup 100" in kernel()[1], 10, what="MASTER with its routes and rules")
    routes, rules = kernel()
    assert f"198.19.7.0/24 via 198.18.0.254 dev eth0 table 100 src {VIP1}" in routes
    assert "blackhole 198.19.8.0/24" in routes
    assert f"100:\tfrom {VIP1} lookup 100" in rules
    assert r1.stop() == 0
    routes, rules = kernel()
    assert "198.19.7.0/24" not in routes and "198.19.8.0/24" not in routes and "lookup 100" not in rules
    assert not n1.has_address(VIP1)
    # what a crashed master leaves behind is removed when the daemon starts as a backup
    start_vipdeck(n2, seed_pair("node2", 150, "MASTER", version=3, advert_int=0.1))
    wait_until(lambda: n2.has_address(VIP1), 10, what="node2 master")
    n1.run("ip", "route", "add", "blackhole", "198.19.8.0/24")
    n1.run("ip", "rule", "add", "from", VIP1, "table", "100", "priority", "100")
    r1 = start_vipdeck(n1, seed_pair("node1", 100, "MASTER", version=3, advert_int=0.1, more=more))
    wait_until(lambda: instance(r1, "VI_1")["state"] == "BACKUP", 10, what="node1 backup")
    wait_until(lambda: "198.19.8.0/24" not in kernel()[0] and "lookup 100" not in kernel()[1], 5,
               what="the crashed master's routes and rules gone")


def test_static_addresses_and_routes_are_there_whatever_the_state(pair):
    lab, n1, n2, sn = pair
    start_vipdeck(n2, seed_pair("node2", 150, "MASTER", version=3, advert_int=0.1))
    wait_until(lambda: n2.has_address(VIP1), 10, what="node2 master")
    static = ("static_ipaddress {\n    198.18.5.1/24 dev eth0\n    198.18.5.9/24\n}\n"
              "static_routes {\n    198.19.9.0/24 via 198.18.0.254 dev eth0\n}\n")
    r1 = start_vipdeck(n1, static + seed_pair("node1", 100, "MASTER", version=3, advert_int=0.1))
    wait_until(lambda: instance(r1, "VI_1")["state"] == "BACKUP", 10, what="node1 backup")
    assert n1.has_address("198.18.5.1") and "198.19.9.0/24 via 198.18.0.254" in n1.run("ip", "route").stdout
    # an entry without dev is refused with its line; the others still apply
    assert not n1.has_address("198.18.5.9")
    assert "keepalived.conf:3" in r1.log() and "needs 'dev'" in r1.log()
    assert r1.stop() == 0
    assert n1.has_address("198.18.5.1")     # like keepalived, static addresses stay


def test_the_daemon_thread_asks_for_the_shortest_slice(pair):
    """engine/sched.py: so a woken master preempts a busy process (Linux >= 6.12;
    the unit test covers the policy and nice)."""
    from vipdeck.engine.sched import current_slice_ns

    if current_slice_ns() is None:
        pytest.skip("this kernel shows no se.slice")
    lab, n1, n2, sn = pair
    r1 = start_vipdeck(n1, seed_pair("node1", 100, "MASTER", version=3, advert_int=1))
    assert current_slice_ns(r1.proc.pid) == 100_000
