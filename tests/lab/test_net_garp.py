"""Gratuitous ARP / unsolicited NA: a real neighbour's cache must follow.

The scene for each family: node c holds the VIP first and peer b learns c's
MAC for it; the VIP moves to a, a announces it, and b's neighbour entry must
switch to a's MAC.  The frames are also captured at b and dissected with
scapy, independently of the struct code that built them.
"""

from __future__ import annotations

import json
import socket
import struct

import pytest

from vipdeck.engine.lab.wait import async_wait_until
from vipdeck.engine.net.garp import GarpPolicy, GarpScheduler, GarpSender, arp_announcement, neighbour_advertisement
from vipdeck.engine.net.vips import Vip
from tests.support.tstamp import SO_TIMESTAMPNS, timestamps

ETH_P_ALL = 0x0003
MAC_A = bytes.fromhex("02aa00000001")


class Capture:
    """Frames of one ethertype arriving at a node, with kernel timestamps;
    read without threads (drain() inside a wait predicate)."""

    def __init__(self, node, ethertype: int, outgoing: bool = False):
        self.outgoing = outgoing      # the sender's own frames, timestamped as they leave
        self.ethertype = ethertype
        # outgoing frames reach only ETH_P_ALL taps; those are filtered by ethertype below
        self.sock = node.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3 if outgoing else ethertype))
        self.sock.bind((node.ifname, 0))
        timestamps(self.sock, node)
        self.sock.setblocking(False)
        self.frames: list[tuple[float, bytes]] = []

    def drain(self) -> list[tuple[float, bytes]]:
        while True:
            try:
                data, anc, _f, addr = self.sock.recvmsg(2048, socket.CMSG_SPACE(16))
            except BlockingIOError:
                return self.frames
            if (addr[2] == socket.PACKET_OUTGOING) != self.outgoing or addr[1] != self.ethertype:
                continue
            t = next(struct.unpack("qq", d[:16]) for lvl, typ, d in anc if typ == SO_TIMESTAMPNS)
            self.frames.append((t[0] + t[1] / 1e9, data))

    def close(self) -> None:
        self.sock.close()


def neigh(node, addr: str) -> str | None:
    out = json.loads(node.run("ip", "-j", "neigh", "show", addr, "dev", node.ifname).stdout or "[]")
    return out[0].get("lladdr") if out else None


def poke(node, addr: str) -> None:
    """Make ``node`` resolve ``addr`` (a UDP datagram needs the neighbour)."""
    fam = "socket.AF_INET6" if ":" in addr else "socket.AF_INET"
    node.run("python3", "-c", f"import socket; socket.socket({fam}, socket.SOCK_DGRAM).sendto(b'x', ('{addr}', 9))")


def move_vip(vip_cidr: str, old, new) -> None:
    old.run("ip", "addr", "del", vip_cidr, "dev", old.ifname)
    new.run("ip", "addr", "add", vip_cidr, "dev", new.ifname, "nodad")


@pytest.fixture
def closing():
    things: list = []
    yield things
    for t in things:
        t.close()


@pytest.mark.lab
async def test_gratuitous_arp_moves_the_peers_arp_entry(lab, closing):
    from scapy.layers.l2 import ARP, Ether

    a = lab.add_node("a", "198.18.0.1/24", mac="02:aa:00:00:00:01")
    b = lab.add_node("b", "198.18.0.2/24")
    c = lab.add_node("c", "198.18.0.3/24")
    vip = "198.18.0.100"
    c.run("ip", "addr", "add", f"{vip}/32", "dev", "eth0")
    poke(b, vip)
    await async_wait_until(lambda: neigh(b, vip) == c.mac, 5, what="b to learn c's MAC for the VIP")

    move_vip(f"{vip}/32", c, a)
    cap = Capture(b, 0x0806)
    closing.append(cap)
    sender = GarpSender("eth0", sock=a.socket(socket.AF_PACKET, socket.SOCK_RAW, 0))
    closing.append(sender)
    assert sender.mac == MAC_A                  # read from the interface in a's namespace
    assert await sender.announce([Vip(vip, None, "eth0")], repeat=2) == 2

    await async_wait_until(lambda: neigh(b, vip) == a.mac, 5, what="b's ARP entry to switch to a's MAC")
    frames = await async_wait_until(lambda: len(cap.drain()) >= 2 and cap.frames, 5, what="captured GARPs")
    for _t, raw in frames[:2]:
        pkt = Ether(raw)
        assert (pkt.dst, pkt.src, pkt.type) == ("ff:ff:ff:ff:ff:ff", a.mac, 0x0806)
        arp = pkt[ARP]
        assert (arp.op, arp.psrc, arp.pdst, arp.hwsrc, arp.hwlen, arp.plen) == (1, vip, vip, a.mac, 6, 4)
    assert sender.stats.sent == 2 and sender.stats.errors == 0


@pytest.mark.lab
async def test_unsolicited_na_moves_the_peers_neighbour_entry(lab, closing):
    from scapy.layers.inet6 import ICMPv6ND_NA, ICMPv6NDOptDstLLAddr, IPv6
    from scapy.layers.l2 import Ether

    a = lab.add_node("a", ["198.18.0.1/24", "2001:db8::1/64"], mac="02:aa:00:00:00:01")
    b = lab.add_node("b", ["198.18.0.2/24", "2001:db8::2/64"])
    c = lab.add_node("c", ["198.18.0.3/24", "2001:db8::3/64"])
    vip = "2001:db8::100"
    c.run("ip", "addr", "add", f"{vip}/128", "dev", "eth0", "nodad")
    poke(b, vip)
    await async_wait_until(lambda: neigh(b, vip) == c.mac, 5, what="b to learn c's MAC for the IPv6 VIP")

    move_vip(f"{vip}/128", c, a)
    cap = Capture(b, 0x86DD)
    closing.append(cap)
    sender = GarpSender("eth0", sock=a.socket(socket.AF_PACKET, socket.SOCK_RAW, 0))
    closing.append(sender)
    assert sender.ipv6_source and sender.ipv6_source.startswith("fe80:")
    assert await sender.announce([vip]) == 1

    await async_wait_until(lambda: neigh(b, vip) == a.mac, 5, what="b's neighbour entry to switch to a's MAC")

    def na_frames():
        return [Ether(raw) for _t, raw in cap.drain() if ICMPv6ND_NA in Ether(raw)]

    pkt = (await async_wait_until(na_frames, 5, what="captured NA"))[0]
    ip6, na = pkt[IPv6], pkt[ICMPv6ND_NA]
    assert (pkt.dst, pkt.src) == ("33:33:00:00:00:01", a.mac)
    assert (ip6.src, ip6.dst, ip6.hlim) == (sender.ipv6_source, "ff02::1", 255)
    assert (na.tgt, na.R, na.S, na.O) == (vip, 0, 0, 1)
    assert pkt[ICMPv6NDOptDstLLAddr].lladdr == a.mac
    sent_cksum = na.cksum
    na.cksum = None
    assert IPv6(bytes(ip6))[ICMPv6ND_NA].cksum == sent_cksum   # scapy recomputes the same checksum


@pytest.mark.lab
async def test_unsolicited_na_carries_the_router_flag_while_the_interface_forwards(lab, closing):
    """RFC 5798 6.4.2 (issue 10): a router's NA has R set; keepalived sets it while
    net.ipv6.conf.IF.forwarding is on (FRR always), and so do we now."""
    from scapy.layers.inet6 import ICMPv6ND_NA
    from scapy.layers.l2 import Ether

    a = lab.add_node("a", ["198.18.0.1/24", "2001:db8::1/64"])
    b = lab.add_node("b", ["198.18.0.2/24", "2001:db8::2/64"])
    cap = Capture(b, 0x86DD)
    closing.append(cap)

    def flags_of_na(target: str):
        for _t, raw in cap.drain():
            pkt = Ether(raw)
            if ICMPv6ND_NA in pkt and pkt[ICMPv6ND_NA].tgt == target:
                na = pkt[ICMPv6ND_NA]
                return (na.R, na.S, na.O)
        return None

    a.run("sysctl", "-qw", "net.ipv6.conf.eth0.forwarding=1")
    router = GarpSender("eth0", sock=a.socket(socket.AF_PACKET, socket.SOCK_RAW, 0))
    closing.append(router)
    assert router.router and await router.announce(["2001:db8::100"]) == 1
    assert await async_wait_until(lambda: flags_of_na("2001:db8::100"), 5, what="the router's NA") == (1, 0, 1)
    a.run("sysctl", "-qw", "net.ipv6.conf.eth0.forwarding=0")
    host = GarpSender("eth0", sock=a.socket(socket.AF_PACKET, socket.SOCK_RAW, 0))
    closing.append(host)
    assert not host.router and await host.announce(["2001:db8::101"]) == 1
    assert await async_wait_until(lambda: flags_of_na("2001:db8::101"), 5, what="the host's NA") == (0, 0, 1)


@pytest.mark.lab
async def test_scheduler_repeat_delay_refresh_and_cancel(lab, closing):
    a = lab.add_node("a", "198.18.0.1/24")
    b = lab.add_node("b", "198.18.0.2/24")
    # the scheduler's timing is read where the frames leave (a's own outgoing frames): a
    # receiver's timestamps also carry the bridge namespace's delivery jitter, which
    # bunched two frames 0.16 ms apart on a loaded machine
    cap = Capture(a, 0x0806, outgoing=True)
    closing.append(cap)
    sender = GarpSender("eth0", sock=a.socket(socket.AF_PACKET, socket.SOCK_RAW, 0))
    closing.append(sender)
    policy = GarpPolicy(repeat=3, delay=0.3, refresh=0.2, refresh_repeat=1, interval=0.01)
    sched = GarpScheduler(sender, policy)
    sched.start(["198.18.0.100"])
    # 3 at once, 3 after the delay, then 1 per refresh: 8 frames = two refreshes
    vip = socket.inet_aton("198.18.0.100")
    # only our announcements (ARP sender address = the VIP): the kernel's own ARP traffic
    # on the link (a frame 0.2 ms after a GARP was seen) is not the scheduler's
    ours = lambda: [ts for ts, raw in cap.drain() if raw[28:32] == vip]  # noqa: E731
    await async_wait_until(lambda: len(ours()) >= 8, 5, what="two bursts and two refreshes")
    await sched.cancel()
    assert not sched.running
    sent = sender.stats.sent
    t = sorted(ours())                              # identical frames: only the times matter
    assert t[1] - t[0] >= 0.009 and t[2] - t[1] >= 0.009           # garp_interval between frames
    assert t[3] - t[2] >= 0.29                                       # garp_master_delay before burst 2
    assert t[6] - t[5] >= 0.19 and t[7] - t[6] >= 0.19               # garp_master_refresh
    assert sched.bursts >= 4
    # the task is finished, so nothing can be sent any more; a restart starts afresh
    sched.start(["198.18.0.100"])
    await async_wait_until(lambda: sender.stats.sent >= sent + 3, 5, what="first burst after restart")
    await sched.cancel()


def test_frames_dissect_cleanly():
    """The struct-built frames, as scapy reads them (no lab needed)."""
    from scapy.layers.inet6 import ICMPv6ND_NA, IPv6
    from scapy.layers.l2 import ARP, Ether

    arp = Ether(arp_announcement(MAC_A, "198.18.0.100"))
    assert len(bytes(arp)) == 60
    assert (arp[ARP].op, arp[ARP].psrc, arp[ARP].pdst, arp[ARP].hwsrc) == (1, "198.18.0.100", "198.18.0.100",
                                                                           "02:aa:00:00:00:01")
    na = Ether(neighbour_advertisement(MAC_A, "2001:db8::100", "fe80::aa:ff:fe00:1", router=True))
    assert (na[IPv6].plen, na[IPv6].nh, na[ICMPv6ND_NA].R, na[ICMPv6ND_NA].O) == (32, 58, 1, 1)
    want = na[ICMPv6ND_NA].cksum
    na[ICMPv6ND_NA].cksum = None
    assert IPv6(bytes(na[IPv6]))[ICMPv6ND_NA].cksum == want


@pytest.mark.parametrize("kw, field", [
    (dict(repeat=-1), "garp_master_repeat"),
    (dict(delay=-0.5), "garp_master_delay"),
    (dict(refresh="soon"), "garp_master_refresh"),
    (dict(na_interval=-1), "gna_interval"),
])
def test_policy_validation_names_the_keyword(kw, field):
    with pytest.raises(ValueError, match=f"^{field}:"):
        GarpPolicy(**kw)
