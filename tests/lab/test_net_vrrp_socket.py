"""VrrpSocket over real raw sockets in lab namespaces.

Adverts are built by hand with struct (the codec is someone else's piece);
the lab sniffer, which decodes independently, is the referee for what went on
the wire.
"""

from __future__ import annotations

import socket
import struct

import pytest

from vipdeck.engine.lab.wait import async_wait_until
from vipdeck.engine.net.addresses import LocalAddresses
from vipdeck.engine.net.vrrp_socket import Received, VrrpSocket
from tests.support.forge import Forger
from tests.support.forge import hand_advert as advert

pytestmark = pytest.mark.lab


@pytest.fixture
def sockets():
    made: list[VrrpSocket] = []
    yield made
    for s in made:
        s.close()


def vsock(node, made, family=socket.AF_INET, **kw) -> VrrpSocket:
    s = VrrpSocket(node.ifname, family, sock=node.socket(family, socket.SOCK_RAW, 112), **kw)
    made.append(s)
    s.start()
    return s


def inbox(s: VrrpSocket) -> list[Received]:
    got: list[Received] = []
    s.add_listener(got.append)
    return got


async def test_multicast_on_rfc_and_routable_group_with_ttl_255(lab, sockets):
    a = lab.add_node("a", "198.18.0.1/24")
    b = lab.add_node("b", "198.18.0.2/24")
    sn = lab.sniffer()
    groups = ["224.0.0.18", "224.1.101.33"]
    sa = vsock(a, sockets, groups=groups)
    sb = vsock(b, sockets, groups=groups)
    assert sa.src == a.ip and sb.src == b.ip          # primary address found in the node's namespace
    got_a, got_b = inbox(sa), inbox(sb)

    assert sa.send(advert(51, 150))                    # default: first joined group
    assert sa.send(advert(52, 150), "224.1.101.33")
    assert sb.send(advert(51, 100), "224.0.0.18")

    await async_wait_until(lambda: len(got_b) == 2 and len(got_a) == 1, 5, what="adverts both ways")
    by_vrid = {r.data[1]: r for r in got_b}
    assert by_vrid[51].dst == "224.0.0.18" and by_vrid[52].dst == "224.1.101.33"
    for r in got_b:
        assert (r.src, r.ttl) == (a.ip, 255)
        assert r.packet[8] == 255 and r.packet[20:] == r.data   # whole IPv4 packet handed over too
        assert r.packet[1] == 0xC0                               # TOS: network control
    assert got_a[0].src == b.ip and got_a[0].data == advert(51, 100)

    seen = await async_wait_until(lambda: len(sn.snapshot(src=a.ip)) >= 2 and sn.snapshot(src=a.ip), 5,
                                  what="sniffer to see a's adverts")
    assert {p.dst for p in seen} == set(groups)
    assert all(p.ttl == 255 and p.src_mac == a.mac and p.vrid in (51, 52) for p in seen)
    assert sa.stats.sent == 2 and sb.stats.delivered == 2


async def test_own_packets_are_not_delivered(lab, sockets):
    """Multicast loop is off, and a packet carrying one of our addresses as
    source (a looping switch, a misconfigured peer) is dropped and counted."""
    a = lab.add_node("a", ["198.18.0.1/24", "198.18.0.50/24"])
    c = lab.add_node("c", "198.18.0.3/24")
    # by default the kernel itself drops IPv4 packets with a local source
    # ("martian"); hosts with accept_local=1 do not, and then only the
    # socket's own filter stands between the daemon and its echo
    a.run("sysctl", "-qw", "net.ipv4.conf.all.accept_local=1", "net.ipv4.conf.eth0.accept_local=1")
    local = LocalAddresses(["198.18.0.1", "198.18.0.50"])
    sa = vsock(a, sockets, local_addresses=local)
    got = inbox(sa)

    # a raw sender in c that writes its own IP headers, so it can forge a's source
    forger = Forger(c, "224.0.0.18")
    sa.send(advert(9, 200))                                         # own multicast: not looped back
    forger.send(advert(10, 100), a.ip)                              # forged primary
    forger.send(advert(11, 100), "198.18.0.50")                     # forged secondary
    forger.send(advert(12, 100), c.ip)                              # a genuine peer
    await async_wait_until(lambda: got, 5, what="the genuine advert")
    assert [r.data[1] for r in got] == [12]
    assert sa.stats.dropped_own == 2
    assert sa.stats.received == 3          # the looped-back own multicast never arrived at all


async def test_unicast_peers_and_unicast_src_ip(lab, sockets):
    a = lab.add_node("a", ["198.18.0.1/24", "198.18.0.51/24"])
    b = lab.add_node("b", "198.18.0.2/24")
    c = lab.add_node("c", "198.18.0.3/24")
    sa = vsock(a, sockets, groups=[])                  # unicast only: joins nothing
    sb, sc = vsock(b, sockets, groups=[]), vsock(c, sockets, groups=[])
    got_b, got_c = inbox(sb), inbox(sc)
    assert sa.groups == ()

    assert sa.send(advert(60, 120), b.ip) and sa.send(advert(60, 120), c.ip)
    await async_wait_until(lambda: got_b and got_c, 5, what="unicast adverts at both peers")
    assert (got_b[0].src, got_b[0].dst, got_b[0].ttl) == (a.ip, b.ip, 255)
    assert (got_c[0].src, got_c[0].dst, got_c[0].ttl) == (a.ip, c.ip, 255)

    assert sa.send(advert(61, 120), b.ip, src="198.18.0.51")
    await async_wait_until(lambda: len(got_b) == 2, 5, what="advert from unicast_src_ip")
    assert (got_b[1].src, got_b[1].data[1]) == ("198.18.0.51", 61)

    assert sa.send(advert(62, 120), c.ip, ttl=7)                      # unicast_ttl
    await async_wait_until(lambda: len(got_c) == 2, 5, what="advert with a chosen TTL")
    assert (got_c[1].ttl, got_c[1].data[1]) == (7, 62)


async def test_each_send_goes_from_its_own_source_with_its_own_ttl_to_one_destination(lab, sockets):
    """The socket keeps what it prepared per (destination, source, ttl): sends to the
    same peer that differ in source or TTL only must each keep theirs."""
    a = lab.add_node("a", ["198.18.0.1/24", "198.18.0.51/24"])
    b = lab.add_node("b", "198.18.0.2/24")
    sa = vsock(a, sockets, groups=[])
    got = inbox(vsock(b, sockets, groups=[]))
    sends = [(None, None), ("198.18.0.51", None), (None, 7), ("198.18.0.51", 9), (None, None), (None, 7)]
    for k, (src, ttl) in enumerate(sends):
        assert sa.send(advert(90 + k, 120), b.ip, src=src, ttl=ttl)
    await async_wait_until(lambda: len(got) == len(sends), 5, what="the adverts at b")
    assert [(r.data[1], r.src, r.ttl) for r in got] == [
        (90, a.ip, 255), (91, "198.18.0.51", 255), (92, a.ip, 7), (93, "198.18.0.51", 9), (94, a.ip, 255),
        (95, a.ip, 7)]


async def test_mcast_src_ip_override(lab, sockets):
    a = lab.add_node("a", ["198.18.0.1/24", "198.18.0.60/24"])
    b = lab.add_node("b", "198.18.0.2/24")
    sn = lab.sniffer()
    sa = vsock(a, sockets, src="198.18.0.60")
    got = inbox(vsock(b, sockets))
    assert sa.send(advert(70, 110))
    await async_wait_until(lambda: got, 5, what="advert at b")
    assert got[0].src == "198.18.0.60"
    p = await async_wait_until(lambda: sn.last(vrid=70), 5, what="sniffed advert")
    assert (p.src, p.ttl, p.src_mac) == ("198.18.0.60", 255, a.mac)


async def test_ipv6_multicast_and_unicast_with_hop_limit(lab, sockets):
    a = lab.add_node("a", ["198.18.0.1/24", "2001:db8::1/64"])
    b = lab.add_node("b", ["198.18.0.2/24", "2001:db8::2/64"])
    sn = lab.sniffer()
    sa = vsock(a, sockets, socket.AF_INET6)
    sb = vsock(b, sockets, socket.AF_INET6)
    assert sa.groups == ("ff02::12",)
    assert sa.src and sa.src.startswith("fe80:")       # RFC 5798: link-local source
    got = inbox(sb)

    v3 = struct.pack("!BBBBHH16s", 0x31, 80, 130, 1, 100, 0, socket.inet_pton(socket.AF_INET6, "2001:db8::100"))
    assert sa.send(v3)
    assert sa.send(v3, "2001:db8::2", src="2001:db8::1")
    await async_wait_until(lambda: len(got) == 2, 5, what="IPv6 adverts at b")
    mc, uc = got
    assert (mc.src, mc.dst, mc.ttl, mc.data) == (sa.src, "ff02::12", 255, v3)
    assert (uc.src, uc.dst, uc.ttl) == ("2001:db8::1", "2001:db8::2", 255)
    assert mc.ifindex == sb.ifindex
    p = await async_wait_until(lambda: sn.last(vrid=80), 5, what="sniffed IPv6 advert")
    assert (p.src, p.dst, p.ttl, p.version) == (sa.src, "ff02::12", 255, 3)


async def test_bad_input_names_the_field(lab, sockets):
    a = lab.add_node("a", "198.18.0.1/24")
    with pytest.raises(ValueError, match="mcast_group"):
        VrrpSocket("eth0", sock=a.socket(socket.AF_INET, socket.SOCK_RAW, 112), groups=["198.18.0.9"])
    with pytest.raises(ValueError, match="mcast_src_ip"):
        VrrpSocket("eth0", sock=a.socket(socket.AF_INET, socket.SOCK_RAW, 112), src="2001:db8::1")
    with pytest.raises(ValueError, match="sock"):
        VrrpSocket("eth0", sock=a.socket(socket.AF_INET, socket.SOCK_DGRAM, 0))
    sa = vsock(a, sockets)
    assert sa.send(advert(1, 1), "not-an-address") is False      # counted, never raised
    assert sa.stats.send_errors == 1 and "not-an-address" in (sa.stats.last_error or "")


async def test_a_queue_of_adverts_is_read_in_batches_with_the_reader_left_off(lab, sockets):
    """While adverts keep coming, the receiver reads a burst every batch wait
    with its loop reader left off; the reader comes back only once a read
    finds the socket empty, and every advert is delivered.  640 adverts are
    queued before the loop runs: ten bursts of 64, then one empty read."""
    import asyncio

    a = lab.add_node("a", "198.18.0.1/24")
    b = lab.add_node("b", "198.18.0.2/24")
    sa = vsock(a, sockets, groups=["224.0.0.18"])
    sb = vsock(b, sockets, groups=["224.0.0.18"])
    got = inbox(sb)
    loop = asyncio.get_running_loop()
    added = []
    real_add = loop.add_reader

    def counting_add(fd, cb, *args):
        if fd == sb.sock.fileno():
            added.append(loop.time())
        return real_add(fd, cb, *args)

    loop.add_reader = counting_add
    try:
        for _ in range(640):                    # no await: the loop reads nothing meanwhile
            assert sa.send(advert(51, 150))
        await async_wait_until(lambda: len(got) == 640, 5, what="every advert delivered")
        await async_wait_until(lambda: added, 2, what="the reader back on once the queue is empty")
    finally:
        del loop.add_reader
    assert len(added) == 1, added              # (it was turned on again for every burst)
    assert sb.stats.received == 640


async def test_sparse_adverts_are_read_as_they_come_and_only_frequent_ones_are_batched(lab, sockets):
    """The reader rests (left off for the batch wait) only while adverts come
    more often than every _BUSY_GAP: a backup of a few instances would pay a
    timer, two epoll_ctl and a second wake-up per advert for nothing.  Five
    adverts 30 ms apart: each read at once, no rest; then adverts 1 ms apart:
    the reader rests, and every advert is still delivered."""
    import asyncio

    from vipdeck.engine.net import vrrp_socket
    from vipdeck.engine.vrrp.deadlines import on_grid

    a = lab.add_node("a", "198.18.0.1/24")
    b = lab.add_node("b", "198.18.0.2/24")
    sa = vsock(a, sockets, groups=["224.0.0.18"])
    sb = vsock(b, sockets, groups=["224.0.0.18"])
    got = inbox(sb)
    gap = vrrp_socket._BUSY_GAP * 3
    for i in range(5):
        assert sa.send(advert(51, 150))
        await async_wait_until(lambda: len(got) == i + 1, 2, what=f"advert {i + 1} delivered")
        await asyncio.sleep(gap)                # the input: adverts 30 ms apart
    assert sb.rests == 0 and sb._resting is None
    loop = asyncio.get_running_loop()
    rest_ends = []
    real_call_at = loop.call_at

    def spying_call_at(when, cb, *args, **kw):
        if cb == sb._rested:
            rest_ends.append((loop.time(), when))
        return real_call_at(when, cb, *args, **kw)

    loop.call_at = spying_call_at
    try:
        for i in range(20):
            assert sa.send(advert(52, 150))
            await asyncio.sleep(0.001)          # the input: adverts 1 ms apart
        await async_wait_until(lambda: len(got) == 25, 2, what="every advert delivered")
    finally:
        del loop.call_at
    assert sb.rests >= 1 and rest_ends
    # each rest lasts at least the batch wait and ends on the grid a busy backup's
    # deadlines wake the loop on (engine/vrrp/deadlines.py), to share their wake-ups
    for now, end in rest_ends:
        assert end - now >= vrrp_socket._BATCH_WAIT - 1e-9, (now, end)
        assert end == on_grid(end), (now, end)


@pytest.mark.parametrize("family", [socket.AF_INET, socket.AF_INET6], ids=["ipv4", "ipv6"])
async def test_a_packet_read_late_carries_when_it_arrived(lab, sockets, family):
    """A busy backup reads its socket every 4 to 8 ms, and a master-down
    deadline counted from the read would be that late: each packet carries
    the kernel's receive stamp instead (as loop time and as unix time).  A
    stamp more than _STAMP_TRUST before the read (a stall, or a step of the
    real-time clock the kernel stamps with) is not believed: the read time
    stands in, never an arrival that old."""
    import select
    import time as _time

    from vipdeck.engine.net import vrrp_socket

    six = family == socket.AF_INET6
    a = lab.add_node("a", ["198.18.0.1/24", "2001:db8::1/64"])
    b = lab.add_node("b", ["198.18.0.2/24", "2001:db8::2/64"])
    sa = vsock(a, sockets, family)
    sb = VrrpSocket(b.ifname, family, sock=b.socket(family, socket.SOCK_RAW, 112))   # not started: read by hand
    sockets.append(sb)
    assert sb.stamped
    got = inbox(sb)
    payload = (struct.pack("!BBBBHH16s", 0x31, 80, 130, 1, 100, 0, socket.inet_pton(socket.AF_INET6, "2001:db8::100"))
               if six else advert(51, 150))

    async def arrive() -> tuple[float, float]:
        """Send one; the monotonic times before the send and once it is queued at b."""
        sent = _time.monotonic()
        assert sa.send(payload)
        r, _, _ = select.select([sb.sock], [], [], 5)      # readable: queued, not read
        assert r, "the packet never reached b"
        return sent, _time.monotonic()

    # read 30 ms after it was queued: the packet says when it came
    sent, queued = await arrive()
    await async_wait_until(lambda: _time.monotonic() >= queued + 0.03, 1, interval=0.005, what="30 ms")
    read = _time.monotonic()
    sb.drain()
    assert len(got) == 1
    rx = got[0]
    assert rx.at is not None and sent <= rx.at <= queued, (sent, rx.at, queued, read)
    assert abs((rx.wall - rx.at) - (_time.time() - _time.monotonic())) < 0.002

    # read well past the trust window: the read time, not a believed old stamp
    sent, queued = await arrive()
    wait = vrrp_socket._STAMP_TRUST + 0.05
    await async_wait_until(lambda: _time.monotonic() >= queued + wait, 2, interval=0.005, what="past trust")
    read = _time.monotonic()
    sb.drain()
    assert len(got) == 2
    assert read <= got[1].at <= _time.monotonic(), (queued, got[1].at, read)
