"""What one received advert costs in the engine's receive path, by stage.

A backup spends its life receiving its master's adverts (255 instances at
0.1 s: 2550 a second), so each stage of ``AdvertDispatch.on_packet`` is
timed on its own with the real code, no sockets: decode (``packet.decode_ipv4``),
the instance's receive rules (``InstanceDriver.check`` equivalent:
``packet.validate`` and the TTL test), and the advert view
(``AdvertView.observe``) in steady state (one master, heard before) and
while a second master advertises (the split-brain judgement runs); then the
whole path, ``AdvertDispatch.on_packet`` with a real ``InstanceDriver`` and
machine (a backup hearing its master) on a socket that sends nothing.  The
MAC of a source is learnt outside this path (engine/net/macprobe.py), so
nothing here stands for it.

Numbers only; no thresholds.  Run: python benchmarks/advert_receive.py
"""

from __future__ import annotations

import asyncio
import socket
import struct
import time

from vipdeck.engine.advert_view import AdvertView
from vipdeck.engine.config import loads
from vipdeck.engine.dispatch import AdvertDispatch
from vipdeck.engine.dumps.stats import TransitionCounters
from vipdeck.engine.net.vrrp_socket import Received, SocketStats
from vipdeck.engine.vrrp import packet
from vipdeck.engine.vrrp.driver import InstanceDriver

N = 200_000


class Us:
    name = "VI_1"
    source = "198.18.0.1"

    def master_since(self):
        return None

    def priority(self):
        return 100

    def interval(self):
        return 0.1

    def vips(self):
        return ("198.18.0.199",)


def ipv4(payload: bytes, src: str) -> bytes:
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0xC0, 20 + len(payload), 0, 0, 255, 112, 0,
                      socket.inet_aton(src), socket.inet_aton("224.0.0.18"))
    return hdr + payload


def per_call(fn, n: int = N) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n * 1e6


def main() -> None:
    adv = packet.Advert(3, 51, 200, 0.1, ("198.18.0.199",))
    raw = ipv4(packet.encode(adv, "198.18.0.2", "224.0.0.18"), "198.18.0.2")
    decoded = packet.decode_ipv4(raw, expect_ttl=None)
    assert isinstance(decoded, packet.Advert)
    print(f"decode_ipv4            {per_call(lambda: packet.decode_ipv4(raw, expect_ttl=None)):6.2f} us/advert")

    def rules():
        if decoded.ttl != 255:
            return None
        return packet.validate(decoded, vrid=51, version=3, interval=0.1)

    print(f"receive rules          {per_call(rules):6.2f} us/advert")
    view = AdvertView(lambda *a, **k: None, want_mac=lambda *a: None)
    us = Us()
    clock = [0.0]

    def steady():
        clock[0] += 0.1
        view.observe(("eth0", 4, 51), decoded, None, us, clock[0])

    print(f"view, one master       {per_call(steady):6.2f} us/advert")
    other = packet.decode_ipv4(ipv4(packet.encode(packet.Advert(3, 51, 90, 0.1, ("198.18.0.199",)), "198.18.0.3",
                                                  "224.0.0.18"), "198.18.0.3"), expect_ttl=None)
    view2 = AdvertView(lambda *a, **k: None, want_mac=lambda *a: None)
    flip = [0]

    def two():
        clock[0] += 0.05
        flip[0] ^= 1
        view2.observe(("eth0", 4, 51), decoded if flip[0] else other, None, us, clock[0])

    print(f"view, two masters      {per_call(two):6.2f} us/advert (split-brain judgement on every advert)")
    rej = packet.Reject(packet.RejectReason.TTL, "ttl 64 != 255", "198.18.0.9", "224.0.0.18", 51, 3)
    view3 = AdvertView(lambda *a, **k: None, want_mac=lambda *a: None)

    def rejected():
        clock[0] += 0.01
        view3.observe(("eth0", 4, 51), decoded, rej, us, clock[0])

    print(f"view, rejected advert  {per_call(rejected):6.2f} us/advert")


BACKUP = """
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    priority 100
    advert_int 0.1
    version 3
    state BACKUP
    virtual_ipaddress { 198.18.0.199 }
}
"""


class QuietSocket:
    """A VRRP socket that sends nothing and is never read (the packets are handed in)."""

    src, family, ifindex, groups = "198.18.0.1", socket.AF_INET, 2, ()

    def __init__(self, *a, **k):
        self.stats = SocketStats()

    def send(self, *a, **k):
        return True

    def drain(self):
        pass

    def join(self, group):
        self.groups = (*self.groups, group)

    def add_listener(self, fn):
        pass

    def start(self, loop):
        pass


class NoHooks:
    def __getattr__(self, name):
        return lambda *a, **k: None


async def whole_path(n: int = N // 2) -> float:
    inst = loads(BACKUP).config.vrrp_instances[0]
    loop = asyncio.get_running_loop()
    stats = {"VI_1": TransitionCounters()}
    dispatch = AdvertDispatch(AdvertView(lambda *a, **k: None, want_mac=lambda *a: None), lambda *a, **k: None,
                              local_addresses=(), stats=stats, loop=loop, open_socket=QuietSocket)
    link = dispatch.link_for(inst)
    d = InstanceDriver(inst, link.sock, NoHooks(), primary="198.18.0.1")
    dispatch.attach(d)
    d.start()
    raw = ipv4(packet.encode(packet.Advert(3, 51, 200, 0.1, ("198.18.0.199",)), "198.18.0.2", "224.0.0.18"),
               "198.18.0.2")
    rx = Received(raw[20:], "198.18.0.2", "224.0.0.18", 255, raw, socket.AF_INET, 2)
    key = ("eth0", socket.AF_INET)
    # as the socket does: the raw packet to the fast path first, else parsed to on_packet
    return per_call(lambda: dispatch.repeat(key, raw, loop.time(), time.time()) or dispatch.on_packet(key, rx), n)


if __name__ == "__main__":
    main()
    print(f"whole path             {asyncio.run(whole_path()):6.2f} us/advert (decode, rules, machine, view)")
