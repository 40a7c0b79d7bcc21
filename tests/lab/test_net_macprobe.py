"""The on-demand MAC probe: a filtered packet socket per new source, closed after
one frame (engine/net/macprobe.py).  Real frames between lab nodes."""

from __future__ import annotations

import socket

import pytest

from vipdeck.engine.lab.wait import async_wait_until
from vipdeck.engine.net.ifinfo import sibling_factory
from vipdeck.engine.net.macprobe import MacProbe
from vipdeck.engine.vrrp import packet

pytestmark = pytest.mark.lab


def vrrp_sender(node, family: int = socket.AF_INET) -> socket.socket:
    s = node.socket(family, socket.SOCK_RAW, 112)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, node.ifname.encode())
    return s


async def test_probe_learns_the_senders_mac_from_its_vrrp_only_and_closes(lab):
    a = lab.add_node("a", ["198.18.0.1/24", "2001:db8::1/64"])
    b = lab.add_node("b", ["198.18.0.2/24", "2001:db8::2/64"], mac="02:bb:00:00:00:02")
    c = lab.add_node("c", "198.18.0.3/24", mac="02:cc:00:00:00:03")
    found = []
    anchor = a.socket(socket.AF_INET, socket.SOCK_DGRAM)          # makes the probes in a's namespace
    probe = MacProbe(lambda *f: found.append(f), factory=sibling_factory(anchor), timeout=3.0)
    try:
        assert probe.want("eth0", 4, b.ip) and probe.want("eth0", 4, b.ip)    # one probe per source
        assert probe.open_count == 1
        adv = packet.encode(packet.Advert(2, 51, 100, 1.0, ("198.18.0.199",)))
        sc, sb = vrrp_sender(c), vrrp_sender(b)
        sc.sendto(adv, (a.ip, 0))                  # another router's advert: filtered out in the kernel
        udp = b.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.sendto(b"x", (a.ip, 9))                # b, but not VRRP: filtered out too
        udp.close()
        sb.sendto(adv, (a.ip, 0))
        await async_wait_until(lambda: found, 5, what="b's MAC")
        assert found == [("eth0", 4, b.ip, b.mac)] and probe.open_count == 0 and probe.learnt == 1
        # IPv6: the 16-byte source is matched whole
        six = "2001:db8::2"
        assert probe.want("eth0", 6, six)
        s6 = vrrp_sender(b, socket.AF_INET6)
        s6.sendto(packet.encode(packet.Advert(3, 51, 100, 1.0, ("2001:db8::199",)), six, "2001:db8::1"),
                  ("2001:db8::1", 0))
        s6.close()
        await async_wait_until(lambda: len(found) == 2, 5, what="b's MAC over IPv6")
        assert found[1] == ("eth0", 6, six, b.mac)
        sc.close()
        sb.close()
        # nothing heard: the probe gives up and closes; at most max_open at once
        probe.max_open = 2
        assert probe.want("eth0", 4, "198.18.0.77", timeout=0.2) and probe.want("eth0", 4, "198.18.0.78", timeout=0.2)
        assert probe.want("eth0", 4, "198.18.0.79") is False and probe.refused == 1     # busy: ask again
        await async_wait_until(lambda: probe.open_count == 0, 3, what="the silent probes to time out")
        assert probe.want("nosuch0", 4, "198.18.0.80") is None and probe.failed == 1 and probe.open_count == 0
    finally:
        probe.close()
        anchor.close()
