"""Fakes of what the engine opens on the host (``runtime.Net``), for unit tests.

``FakeNet().net()`` gives an Engine hosts and sockets that record what the
engine does (VIP operations with their virtual times, adverts sent) and let
a test deliver packets as a raw socket would (``FakeSocket.deliver``).  The
engine's own code runs unchanged on top: dispatch, drivers, machines, the
VIP chain, sync groups, the advert view.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from typing import Callable

from vipdeck.engine.net.vrrp_socket import Received, SocketStats
from vipdeck.engine.runtime import Net
from vipdeck.engine.vrrp import packet


def ipv4_packet(payload: bytes, src: str, dst: str, ttl: int = 255) -> bytes:
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0xC0, 20 + len(payload), 0, 0, ttl, 112, 0,
                       socket.inet_aton(src), socket.inet_aton(dst)) + payload


def advert_rx(adv: packet.Advert, src: str, dst: str = "224.0.0.18", ttl: int = 255, ifindex: int = 2) -> Received:
    """What a raw IPv4 VRRP socket hands over for ``adv`` sent by ``src``."""
    raw = ipv4_packet(packet.encode(adv, src, dst), src, dst, ttl)
    return Received(raw[20:], src, dst, ttl, raw, socket.AF_INET, ifindex)


class FakeSocket:
    """A VRRP socket on one (interface, family): what goes out is in ``sent``."""

    def __init__(self, net: "FakeNet", ifname: str, family: int, groups, local_addresses, on_drop,
                 source_from: str | None = None):
        self.net = net
        self.ifname = ifname
        self.source_from = source_from or ifname
        self.family = family
        self.ifindex = net.ifindex.get(ifname, 2)
        self.src: str | None = net.addresses.get(ifname)
        self._groups = list(groups)
        self.local = local_addresses
        self.on_drop = on_drop
        self.stats = SocketStats()
        self.sent: list[tuple[float, packet.Advert, str]] = []    # (loop time, decoded advert, destination)
        self.listeners: list[Callable[[Received], None]] = []
        self.closed = False
        self.rejoined = 0
        self.fast: Callable[[bytes, float, float], bool] | None = None      # as VrrpSocket.fast (IPv4)

    @property
    def groups(self) -> tuple[str, ...]:
        return tuple(self._groups)

    def join(self, group: str) -> None:
        self._groups.append(group)

    def rejoin(self) -> None:
        self.rejoined += 1

    def refresh_source(self) -> str | None:
        self.src = self.net.addresses.get(self.ifname)
        return self.src

    def send(self, payload: bytes, dst: str | None = None, *, src: str | None = None,
             ttl: int | None = None) -> bool:
        adv = packet.decode_vrrp(payload, src or self.src or "0.0.0.0", dst or "224.0.0.18", ttl or 255)
        self.sent.append((asyncio.get_running_loop().time(), adv, dst or "224.0.0.18"))
        return True

    def drain(self) -> None:
        pass

    def add_listener(self, fn: Callable[[Received], None]) -> None:
        self.listeners.append(fn)

    def start(self, loop) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def deliver(self, rx: Received) -> None:
        """A packet arrives (the real socket counts what it reads, then hands it on)."""
        self.stats.received += 1
        if (self.fast is not None and self.family == socket.AF_INET
                and self.fast(rx.packet, asyncio.get_running_loop().time() if rx.at is None else rx.at,
                              time.time() if rx.wall is None else rx.wall)):
            self.stats.delivered += 1
            return
        for fn in list(self.listeners):
            fn(rx)


class FakeHost:
    """``hosting.HostSide`` without netlink: every VIP operation is logged as
    (loop time, "add"/"remove"/"garp"/"garp_stop"/..., instance); ``delay``
    makes each add/remove take that long (to see the chain keep its order)."""

    def __init__(self, net: "FakeNet", emit, spawn, on_link, on_address, drivers=None):
        self.net = net
        self.emit, self.spawn, self.on_link, self.on_address = emit, spawn, on_link, on_address
        self.drivers = drivers
        self.local: set[str] = set(net.addresses.values())
        self.log: list[tuple[float, str, str]] = []
        self.delay = 0.0
        self.up: dict[str, bool] = {name: True for name in net.addresses}
        net.host = self

    def _note(self, what: str, name: str) -> None:
        self.log.append((asyncio.get_running_loop().time(), what, name))

    async def open(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def prepare(self, config) -> None:
        pass                                   # no VMACs, no nftables here

    def vrrp_interface(self, inst) -> str:
        return inst.interface

    def attach(self, d) -> None:
        pass

    def master_mac(self, inst) -> str | None:
        return self.mac_of(inst.interface)

    def is_up(self, ifname: str) -> bool:
        return self.up.get(ifname, True)

    def describe(self) -> list[dict]:
        return [{"name": n, "up": self.up.get(n, True), "mac": "02:00:c6:12:00:01", "addresses": [f"{a}/24"]}
                for n, a in sorted(self.net.addresses.items())]

    async def add_static(self, config) -> list[str]:
        return []

    async def add_all(self, inst) -> list[str]:
        self._note("add start", inst.name)
        await asyncio.sleep(self.delay)
        self._note("add", inst.name)
        return [str(v) for v in inst.held_vips]

    async def remove_all(self, inst) -> list[str]:
        self._note("remove start", inst.name)
        await asyncio.sleep(self.delay)
        self._note("remove", inst.name)
        return [str(v) for v in inst.held_vips]

    async def remove_stale(self, inst) -> list[str]:
        return []

    def garp_start(self, d, after: asyncio.Future | None = None) -> None:
        async def go() -> None:
            if after is not None and not after.done():
                await asyncio.wait([after])
            self._note("garp", d.inst.name)

        self.spawn(go(), f"{d.inst.name} GARP")

    def garp_lower_prio(self, d) -> bool:
        self._note("garp_lower_prio", d.inst.name)
        return True

    def garp_stop(self, d) -> None:
        self._note("garp_stop", d.inst.name)

    def mac_of(self, ifname: str) -> str | None:
        return "02:00:c6:12:00:01"

    def ops(self, name: str | None = None) -> list[str]:
        return [what for _t, what, n in self.log if name is None or n == name]


class FakeMacProbe:
    def __init__(self, found, *, loop=None):
        self.found = found
        self.asked: list[tuple[str, int, str]] = []

    def want(self, ifname: str, family: int, address: str, timeout: float | None = None) -> bool | None:
        self.asked.append((ifname, family, address))
        return True

    def close(self) -> None:
        pass


class FakeNet:
    """``addresses``: interface -> our address on it."""

    def __init__(self, addresses: dict[str, str] | None = None):
        self.addresses = dict(addresses or {"eth0": "198.18.0.1"})
        self.ifindex: dict[str, int] = {}
        self.sockets: dict[tuple[str, int], FakeSocket] = {}
        self.opened: list[FakeSocket] = []
        self.host: FakeHost | None = None

    def open_socket(self, ifname: str, family: int, *, groups, local_addresses, on_drop,
                    source_from: str | None = None) -> FakeSocket:
        s = FakeSocket(self, ifname, family, groups, local_addresses, on_drop, source_from)
        self.sockets[(ifname, family)] = s
        self.opened.append(s)
        return s

    def net(self) -> Net:
        return Net(host=lambda *a: FakeHost(self, *a), open_socket=self.open_socket, mac_probe=FakeMacProbe)

    def sock(self, ifname: str = "eth0", family: int = socket.AF_INET) -> FakeSocket:
        return self.sockets[(ifname, family)]
