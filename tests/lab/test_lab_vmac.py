"""use_vmac for real: the macvlan, its MAC and sysctls, adverts and GARPs from
it, a client that never has to learn a new MAC, FRR vrrpd as the peer.

What must hold (keepalived's vrrp_vmac.c / vrrp_if_config.c, RFC 5798 7.3):

* each router makes ``vrrp.VRID``, a private-mode macvlan on the instance's
  interface with 00:00:5e:00:01:VRID (00:00:5e:00:02:VRID for IPv6), with
  keepalived's sysctls on it and on its base, and removes it (and gives the
  base its settings back) at exit; a crash's leftover is replaced at start;
* the master's VIPs are on the VMAC; its adverts and GARPs leave with the
  virtual MAC as source (with vmac_xmit_base the adverts leave from the base);
* a client's ARP entry for the VIP is the virtual MAC, and after a failover
  it still is: the new master's frames move the switch, not the client;
* the VMAC is made again when its base interface is re-created or someone
  deletes it, and the master's VIPs come back on it.
"""

from __future__ import annotations

import json
import socket
import struct

import pytest

from vipdeck.engine.lab import wait_until
from vipdeck.engine.lab.peers import (
    frr_macvlans, frr_missing, frr_vrrp_conf, instance, start_frr, start_keepalived, start_vipdeck, status, vrrp_conf,
    vtysh,
)
from tests.support.netcut import ArpWatch, neigh_mac
from tests.support.paths import require

pytestmark = pytest.mark.lab

VIP = "198.18.0.199"
VIP2 = "198.18.0.198"
VMAC51 = "00:00:5e:00:01:33"
VMAC52 = "00:00:5e:00:01:34"


ETH_P_IP = 0x0800
ETH_P_IPV6 = 0x86DD
VMAC6 = "00:00:5e:00:02:34"
VIP6 = "2001:db8::199"


class Frames:
    """Every frame of one ethertype arriving at a node, read without threads."""

    def __init__(self, node, ethertype: int = ETH_P_IPV6):
        self.sock = node.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ethertype))
        self.sock.bind((node.ifname, 0))
        self.sock.setblocking(False)
        self.frames: list[bytes] = []
        node.lab.on_close(self.sock.close)

    def drain(self) -> list[bytes]:
        while True:
            try:
                data, addr = self.sock.recvfrom(65535)
            except BlockingIOError:
                return self.frames
            if addr[2] != socket.PACKET_OUTGOING:
                self.frames.append(data)


def link(node, name: str) -> dict | None:
    out = node.run("ip", "-j", "-d", "link", "show", name, check=False)
    return json.loads(out.stdout)[0] if out.returncode == 0 and out.stdout.strip() else None


def sysctl(node, path: str) -> str:
    return node.run("cat", f"/proc/sys/net/{path}").stdout.strip()


def conf(router_id: str, priority: int, *, more: list[str] = (), second: bool = True) -> str:
    insts = [dict(name="VI_1", vrid=51, priority=priority, version=3, advert_int=0.1, vips=[VIP],
                  more=["use_vmac", *more])]
    if second:     # adverts from the base interface, VIPs on the VMAC
        insts.append(dict(name="VI_2", vrid=52, priority=priority, version=3, advert_int=0.1, vips=[VIP2],
                          more=["use_vmac", "vmac_xmit_base"]))
    return vrrp_conf(router_id=router_id, instances=insts)


def assert_vmac(node, name: str, mac: str) -> None:
    lk = link(node, name)
    assert lk is not None, f"{node.name} has no {name}"
    info = lk["linkinfo"]
    assert (lk["address"], info["info_kind"], info["info_data"]["mode"], lk.get("link")) == (
        mac, "macvlan", "private", node.ifname)
    assert lk["operstate"] == "UP"


def test_a_vmac_pair_the_client_keeps_the_virtual_mac_across_a_failover(lab):
    n1 = lab.add_node("n1", "198.18.0.1/24")
    n2 = lab.add_node("n2", "198.18.0.2/24")
    client = lab.add_node("client", "198.18.0.50/24")
    arp = ArpWatch(client)
    ip4 = Frames(client, ETH_P_IP)
    sn = lab.sniffer()
    r1 = start_vipdeck(n1, conf("node1", 150))
    r2 = start_vipdeck(n2, conf("node2", 100))
    wait_until(lambda: [i["state"] for i in status(r1)["instances"]] == ["MASTER", "MASTER"]
               and [i["state"] for i in status(r2)["instances"]] == ["BACKUP", "BACKUP"], 10)

    # both routers have the VMACs; the VIPs are on the master's
    for n in (n1, n2):
        assert_vmac(n, "vrrp.51", VMAC51)
        assert_vmac(n, "vrrp.52", VMAC52)
    assert wait_until(lambda: n1.has_address(VIP, "vrrp.51") and n1.has_address(VIP2, "vrrp.52"), 5)
    assert not n1.has_address(VIP) and not n2.has_address(VIP, "vrrp.51")
    # keepalived's sysctls, on the VMAC and its base
    assert [sysctl(n1, f"ipv4/conf/vrrp.51/{k}") for k in ("arp_ignore", "accept_local", "rp_filter",
                                                           "promote_secondaries")] == ["1", "1", "0", "1"]
    assert sysctl(n1, "ipv6/conf/vrrp.51/disable_ipv6") == "1"
    assert [sysctl(n1, f"ipv4/conf/eth0/{k}") for k in ("arp_ignore", "arp_filter", "arp_announce")] == [
        "1", "1", "2"]

    # adverts: VI_1's from its VMAC, VI_2's (vmac_xmit_base) from eth0; GARPs from the VMACs
    wait_until(lambda: len(sn.snapshot(vrid=52, src=n1.ip)) >= 5, 5)
    assert {p.src_mac for p in sn.snapshot(vrid=51, src=n1.ip)} == {VMAC51}
    assert {p.src_mac for p in sn.snapshot(vrid=52, src=n1.ip)} == {n1.mac}
    assert not sn.snapshot(src=n2.ip) or {p.priority for p in sn.snapshot(src=n2.ip)} == {0}
    wait_until(lambda: arp.announcements(VIP) and arp.announcements(VIP2), 5, what="GARPs")
    assert {mac for _t, mac, _a in arp.announcements(VIP)} == {VMAC51}
    assert {mac for _t, mac, _a in arp.announcements(VIP2)} == {VMAC52}
    assert instance(r1, "VI_1")["master"]["mac"] == VMAC51
    assert instance(r1, "VI_2")["wire"]["vmac"] == {"name": "vrrp.52", "mac": VMAC52, "xmit_base": True}

    # the VRRP sockets joined 224.0.0.18 on the VMACs; the IGMP reports left from eth0 (a
    # switch learning the virtual MAC from the backup's reports would send it the VIP's traffic)
    def igmp_sources() -> set[str]:
        return {f[6:12].hex(":") for f in ip4.drain() if len(f) > 34 and f[23] == 2}

    assert wait_until(igmp_sources, 5, what="IGMP reports") <= {n1.mac, n2.mac}
    assert n1.run("nft", "list", "map", "ip", "vipdeck", "vmac_map").stdout.count('"eth0"') == 2

    # the client reaches the VIP at the virtual MAC: the base never answers for it (arp_ignore)
    # nor asks with it as sender (arp_announce), which would teach the client the base's MAC
    assert client.run("ping", "-c3", "-i0.2", "-W1", VIP, check=False).returncode == 0
    assert neigh_mac(client, VIP) == VMAC51
    wait_until(lambda: n1.run("ip", "neigh", "show", client.ip, "dev", "eth0").stdout.strip(), 5,
               what="node1 resolving the client on eth0 (its replies leave there)")
    assert neigh_mac(client, VIP) == VMAC51

    # failover: the other router's VMAC takes the same MAC; the client's entry does not change
    r1.crash()
    wait_until(lambda: n2.has_address(VIP, "vrrp.51"), 5, what="node2 master, the VIP on its VMAC")
    got = wait_until(lambda: {m for _t, m, a in arp.announcements(VIP)} and
                     [x for x in sn.snapshot(vrid=51, src=n2.ip) if x.priority > 0], 5)
    assert {p.src_mac for p in got} == {VMAC51}
    assert client.run("ping", "-c1", "-W2", VIP, check=False).returncode == 0
    assert neigh_mac(client, VIP) == VMAC51
    assert igmp_sources() <= {n1.mac, n2.mac}

    # the crashed router's VMACs were left behind (with the VIPs); a new start replaces them
    assert n1.has_address(VIP, "vrrp.51")
    r1 = start_vipdeck(n1, conf("node1", 150))
    wait_until(lambda: instance(r1, "VI_1")["state"] == "MASTER" and not n2.has_address(VIP, "vrrp.51"), 10,
               what="node1 back as master (it preempts)")
    assert_vmac(n1, "vrrp.51", VMAC51)
    assert [ln["ifname"] for ln in json.loads(n1.run("ip", "-j", "link").stdout)].count("vrrp.51") == 1
    assert client.run("ping", "-c1", "-W2", VIP, check=False).returncode == 0
    assert neigh_mac(client, VIP) == VMAC51

    # a clean stop removes the VMACs and gives eth0 the ARP settings it had at start: node2's
    # had the kernel's; node1's were what its crashed run left (what it had before is unknown)
    for n, r, had in ((n2, r2, ["0", "0", "0"]), (n1, r1, ["1", "1", "2"])):
        r.stop()
        assert link(n, "vrrp.51") is None and link(n, "vrrp.52") is None
        assert [sysctl(n, f"ipv4/conf/eth0/{k}") for k in ("arp_ignore", "arp_filter", "arp_announce")] == had


def test_the_vmac_is_made_again_when_its_base_is_re_created_or_it_is_deleted(lab):
    n1 = lab.add_node("n1", "198.18.0.1/24")
    client = lab.add_node("client", "198.18.0.50/24")
    sn = lab.sniffer()
    r1 = start_vipdeck(n1, conf("node1", 150, second=False))
    wait_until(lambda: instance(r1, "VI_1")["state"] == "MASTER" and n1.has_address(VIP, "vrrp.51"), 10)

    # someone deletes it: made again, the master's VIP back on it
    n1.run("ip", "link", "del", "vrrp.51")
    wait_until(lambda: link(n1, "vrrp.51") and n1.has_address(VIP, "vrrp.51"), 5, what="VMAC and VIP back")
    assert_vmac(n1, "vrrp.51", VMAC51)

    # eth0 deleted and made again (an ifdown/ifup of a VLAN or bond): the kernel took the VMAC with it
    lab.replug(n1)
    wait_until(lambda: link(n1, "vrrp.51") and n1.has_address(VIP, "vrrp.51")
               and instance(r1, "VI_1")["state"] == "MASTER", 10, what="VMAC, VIP and MASTER after the replug")
    assert_vmac(n1, "vrrp.51", VMAC51)
    assert [sysctl(n1, f"ipv4/conf/eth0/{k}") for k in ("arp_ignore", "arp_filter")] == ["1", "1"]
    sn.clear()
    wait_until(lambda: len(sn.snapshot(vrid=51, src=n1.ip)) >= 3, 5, what="adverts after the replug")
    assert {p.src_mac for p in sn.snapshot(vrid=51, src=n1.ip)} == {VMAC51}
    assert client.run("ping", "-c1", "-W2", VIP, check=False).returncode == 0
    assert neigh_mac(client, VIP) == VMAC51


def test_keepalived_and_vipdeck_vmacs_hand_the_virtual_mac_over(lab, keepalived_bin):
    """A drop-in for keepalived: its use_vmac peer and ours, both ways."""
    ka = lab.add_node("ka", "198.18.0.2/24")
    n1 = lab.add_node("n1", "198.18.0.1/24")
    client = lab.add_node("client", "198.18.0.50/24")
    sn = lab.sniffer()
    # keepalived leaves arp_announce to the operator (its documentation's note on VMACs); we set it
    ka.run("sysctl", "-qw", "net.ipv4.conf.eth0.arp_announce=2")
    k = start_keepalived(ka, conf("ka", 200, second=False), binary=keepalived_bin)
    wait_until(lambda: ka.has_address(VIP, "vrrp.51"), 10, what="keepalived master on its VMAC")
    r1 = start_vipdeck(n1, conf("node1", 100, second=False))
    wait_until(lambda: instance(r1, "VI_1")["master"]["address"] == ka.ip, 10, what="vipdeck backing up keepalived")
    assert client.run("ping", "-c1", "-W2", VIP, check=False).returncode == 0
    assert neigh_mac(client, VIP) == VMAC51
    k.crash()
    wait_until(lambda: instance(r1, "VI_1")["state"] == "MASTER" and n1.has_address(VIP, "vrrp.51"), 5)
    assert client.run("ping", "-c1", "-W2", VIP, check=False).returncode == 0
    assert neigh_mac(client, VIP) == VMAC51
    # keepalived back (priority 200): it preempts on hearing our adverts, we step down
    k = start_keepalived(ka, conf("ka", 200, second=False), binary=keepalived_bin)
    wait_until(lambda: instance(r1, "VI_1")["state"] == "BACKUP" and ka.has_address(VIP, "vrrp.51"), 10)
    assert not n1.has_address(VIP, "vrrp.51")
    assert {p.src_mac for p in sn.snapshot(vrid=51) if p.priority > 0} == {VMAC51}
    assert client.run("ping", "-c1", "-W2", VIP, check=False).returncode == 0
    assert neigh_mac(client, VIP) == VMAC51


def test_frr_vrrpd_and_a_vipdeck_vmac_share_the_virtual_mac(lab):
    """FRR's vrrpd as the peer: its macvlan (its docs' setup) and our VMAC carry
    the same MAC; the client keeps it whoever is master."""
    why = frr_missing()
    require(why is None, why or "")
    frr = lab.add_node("frr", "198.18.0.5/24")
    n1 = lab.add_node("n1", "198.18.0.1/24")
    client = lab.add_node("client", "198.18.0.50/24")
    sn = lab.sniffer()
    frr_macvlans(frr, 51, ipv4=[VIP])
    # FRR leaves the host's ARP settings to the operator: what our VMACs set for themselves
    frr.run("sysctl", "-qw", "net.ipv4.conf.eth0.arp_ignore=1", "net.ipv4.conf.eth0.arp_announce=2")
    fr = start_frr(frr, frr_vrrp_conf(51, priority=200, interval_ms=100, ipv4=[VIP]))
    r1 = start_vipdeck(n1, conf("node1", 100, second=False))

    def frr_state() -> str:
        for ln in vtysh(fr, "show vrrp 51").splitlines():
            if ln.strip().startswith("Status (v4)"):
                return ln.split()[-1]
        return ""

    wait_until(lambda: frr_state() == "Master" and instance(r1, "VI_1")["state"] == "BACKUP"
               and instance(r1, "VI_1")["master"]["address"] == frr.ip, 15, what="FRR master, vipdeck backup")
    assert_vmac(n1, "vrrp.51", VMAC51)
    # FRR advertises from its macvlan too
    assert wait_until(lambda: instance(r1, "VI_1")["master"]["mac"], 5, what="FRR's MAC learnt") == VMAC51
    assert client.run("ping", "-c1", "-W2", VIP, check=False).returncode == 0
    assert neigh_mac(client, VIP) == VMAC51

    # FRR goes away: we take over on our VMAC; the client's entry is the same MAC
    fr.crash()
    wait_until(lambda: instance(r1, "VI_1")["state"] == "MASTER" and n1.has_address(VIP, "vrrp.51"), 5)
    wait_until(lambda: [p for p in sn.snapshot(vrid=51, src=n1.ip) if p.priority == 100], 5)
    assert {p.src_mac for p in sn.snapshot(vrid=51, src=n1.ip)} == {VMAC51}
    assert client.run("ping", "-c1", "-W2", VIP, check=False).returncode == 0
    assert neigh_mac(client, VIP) == VMAC51

    # FRR back (priority 200, preempting): it takes over from our adverts, we step down
    fr = start_frr(frr, frr_vrrp_conf(51, priority=200, interval_ms=100, ipv4=[VIP]))
    wait_until(lambda: frr_state() == "Master" and instance(r1, "VI_1")["state"] == "BACKUP", 15,
               what="FRR master again")
    assert not n1.has_address(VIP, "vrrp.51")
    assert client.run("ping", "-c1", "-W2", VIP, check=False).returncode == 0
    assert neigh_mac(client, VIP) == VMAC51


def test_an_ipv6_vmac_its_adverts_router_flagged_nas_and_no_mld_with_the_virtual_mac(lab):
    from scapy.layers.inet6 import ICMPv6MLReport2, ICMPv6ND_NA, ICMPv6NDOptDstLLAddr, IPv6
    from scapy.layers.l2 import Ether

    n1 = lab.add_node("n1", ["198.18.0.1/24", "2001:db8::1/64"])
    client = lab.add_node("client", ["198.18.0.50/24", "2001:db8::50/64"])
    frames = Frames(client)
    n1.run("sysctl", "-qw", "net.ipv6.conf.eth0.forwarding=1", "net.ipv6.conf.all.forwarding=1")
    c = vrrp_conf(router_id="node1", instances=[dict(name="VI_6", vrid=52, priority=150, version=3,
                                                     advert_int=0.1, vips=["fe80::52", VIP6], more=["use_vmac"])])
    r1 = start_vipdeck(n1, c)
    wait_until(lambda: instance(r1, "VI_6")["state"] == "MASTER" and n1.has_address(VIP6, "vrrp.52"), 10)
    assert_vmac(n1, "vrrp.52", VMAC6)
    assert sysctl(n1, "ipv6/conf/vrrp.52/disable_ipv6") == "0" and sysctl(n1, "ipv6/conf/vrrp.52/addr_gen_mode") == "1"
    base_ll = next(a.split("/")[0] for a in n1.addresses_on() if a.startswith("fe80"))
    assert n1.has_address(base_ll, "vrrp.52")               # the adverts' source, as keepalived

    def parsed():
        return [Ether(f) for f in frames.drain()]

    def adverts():
        return [p for p in parsed() if IPv6 in p and p[IPv6].nh == 112]

    ads = wait_until(lambda: len(adverts()) >= 3 and adverts(), 5, what="IPv6 adverts")
    assert {(p.src, p[IPv6].src, p[IPv6].dst) for p in ads} == {(VMAC6, base_ll, "ff02::12")}
    nas = wait_until(lambda: [p for p in parsed() if ICMPv6ND_NA in p and p[ICMPv6ND_NA].tgt == VIP6], 5, what="NA")
    na = nas[0]
    assert (na.src, na[ICMPv6NDOptDstLLAddr].lladdr) == (VMAC6, VMAC6)
    assert (na[ICMPv6ND_NA].R, na[ICMPv6ND_NA].S, na[ICMPv6ND_NA].O) == (1, 0, 1)   # a router: forwarding on
    assert client.run("ping", "-6", "-c1", "-W2", VIP6, check=False).returncode == 0
    assert json.loads(client.run("ip", "-j", "neigh", "show", VIP6).stdout)[0]["lladdr"] == VMAC6

    # the VMAC's MLD reports (all-routers, its addresses' solicited-node groups, made and
    # removed) leave from eth0 instead: a switch must never learn the virtual MAC from them
    def mld_sources() -> set[str]:
        return {p.src for p in parsed() if ICMPv6MLReport2 in p and p.src in (n1.mac, VMAC6)}

    assert wait_until(mld_sources, 5, what="MLD reports") == {n1.mac}
    r1.stop()                                            # removing the VIPs sends MLD reports too
    assert mld_sources() == {n1.mac}
    assert n1.run("nft", "list", "tables").stdout.strip() == ""      # our table went with us
    assert link(n1, "vrrp.52") is None


def test_a_reload_makes_and_removes_vmacs_and_moves_the_vips(lab):
    import signal

    n1 = lab.add_node("n1", "198.18.0.1/24")
    plain = vrrp_conf(router_id="node1", instances=[dict(name="VI_1", vrid=51, priority=150, version=3,
                                                         advert_int=0.1, vips=[VIP])])
    r1 = start_vipdeck(n1, plain)
    wait_until(lambda: instance(r1, "VI_1")["state"] == "MASTER" and n1.has_address(VIP, "eth0"), 10)

    def reload(text: str) -> None:
        with open(r1.conf_path, "w") as f:
            f.write(text)
        r1.signal(signal.SIGHUP)

    reload(conf("node1", 150, second=False))
    wait_until(lambda: link(n1, "vrrp.51") and n1.has_address(VIP, "vrrp.51") and not n1.has_address(VIP, "eth0")
               and instance(r1, "VI_1")["state"] == "MASTER", 10, what="the VIP on the new VMAC")
    assert instance(r1, "VI_1")["master"]["mac"] == VMAC51
    reload(plain)
    wait_until(lambda: link(n1, "vrrp.51") is None and n1.has_address(VIP, "eth0")
               and instance(r1, "VI_1")["state"] == "MASTER", 10, what="the VMAC gone, the VIP on eth0")
    assert [sysctl(n1, f"ipv4/conf/eth0/{k}") for k in ("arp_ignore", "arp_filter", "arp_announce")] == [
        "0", "0", "0"]


def test_use_vmac_addr_puts_an_other_family_vip_on_a_vmac_of_its_own(lab):
    """An IPv4 instance's IPv6 excluded VIP: with use_vmac_addr it gets vrrp6.51, with the
    IPv6 virtual MAC, and is announced from it."""
    from scapy.layers.inet6 import ICMPv6ND_NA, ICMPv6NDOptDstLLAddr
    from scapy.layers.l2 import Ether

    n1 = lab.add_node("n1", ["198.18.0.1/24", "2001:db8::1/64"])
    client = lab.add_node("client", ["198.18.0.50/24", "2001:db8::50/64"])
    frames = Frames(client)
    c = vrrp_conf(router_id="node1", instances=[dict(
        name="VI_1", vrid=51, priority=150, version=3, advert_int=0.1, vips=[VIP],
        more=["use_vmac", "use_vmac_addr", "virtual_ipaddress_excluded {", f"    {VIP6}", "}"])])
    r1 = start_vipdeck(n1, c)
    wait_until(lambda: instance(r1, "VI_1")["state"] == "MASTER" and n1.has_address(VIP6, "vrrp6.51"), 10)
    assert_vmac(n1, "vrrp.51", VMAC51)
    assert_vmac(n1, "vrrp6.51", "00:00:5e:00:02:33")
    assert n1.has_address(VIP, "vrrp.51") and not n1.has_address(VIP6, "vrrp.51")
    assert sysctl(n1, "ipv6/conf/vrrp6.51/disable_ipv6") == "0"

    def nas():
        return [p for p in (Ether(f) for f in frames.drain()) if ICMPv6ND_NA in p and p[ICMPv6ND_NA].tgt == VIP6]

    na = wait_until(nas, 5, what="the eVIP's NA")[0]
    assert (na.src, na[ICMPv6NDOptDstLLAddr].lladdr) == ("00:00:5e:00:02:33", "00:00:5e:00:02:33")
    r1.stop()
    assert link(n1, "vrrp6.51") is None and link(n1, "vrrp.51") is None
