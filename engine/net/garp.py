"""Gratuitous ARP and unsolicited neighbour advertisements for VIPs.

A new master must make its neighbours forget the old master's MAC for each
VIP at once.  Frames are built once per (VIP, interface) with ``struct`` and
kept (scapy would cost ~0.2 ms per frame and a socket per send); they go out
on one open AF_PACKET socket bound to the interface.

``GarpScheduler`` implements keepalived's timing: ``garp_master_repeat``
frames at once, another burst ``garp_master_delay`` later, then optionally
``garp_master_refresh_repeat`` frames every ``garp_master_refresh``;
``garp_interval`` / ``gna_interval`` space single frames.  A master that
hears a lower-priority master (a split brain healing) announces again:
``garp_lower_prio_repeat`` frames at once and as many
``garp_lower_prio_delay`` later (keepalived's defaults: the global master values).
Everything is cancelled when the instance leaves MASTER.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import struct
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, Iterable, Union

from vipdeck.engine.net import ifinfo
from vipdeck.engine.vrrp import deadlines
from vipdeck.engine.net.ifinfo import SocketFactory

log = logging.getLogger(__name__)

ETH_P_ARP = 0x0806
ETH_P_IPV6 = 0x86DD
BROADCAST = b"\xff" * 6
ALL_NODES = ipaddress.IPv6Address("ff02::1")
ALL_NODES_MAC = b"\x33\x33\x00\x00\x00\x01"
NA_ROUTER = 0x80000000
NA_SOLICITED = 0x40000000
NA_OVERRIDE = 0x20000000
_MIN_FRAME = 60   # Ethernet minimum without FCS


def arp_announcement(mac: bytes, address: str) -> bytes:
    """Gratuitous ARP request: sender = target = VIP, from our MAC to all.

    Linux (and most stacks) override an existing neighbour entry on such a
    request even within its locktime, which is exactly what a takeover needs.
    """
    ip = ipaddress.IPv4Address(address).packed
    eth = BROADCAST + mac + struct.pack("!H", ETH_P_ARP)
    arp = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, mac, ip, BROADCAST, ip)
    return (eth + arp).ljust(_MIN_FRAME, b"\0")


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def neighbour_advertisement(mac: bytes, address: str, source: str, router: bool = False) -> bytes:
    """Unsolicited NA (RFC 4861 §7.2.6) for ``address`` to all-nodes, override
    flag set, target link-layer option carrying ``mac``, hop limit 255 (a
    receiver drops neighbour discovery with any other)."""
    target = ipaddress.IPv6Address(address).packed
    src = ipaddress.IPv6Address(source).packed
    dst = ALL_NODES.packed
    flags = NA_OVERRIDE | (NA_ROUTER if router else 0)
    body = struct.pack("!BBHI16s", 136, 0, 0, flags, target) + struct.pack("!BB6s", 2, 1, mac)
    pseudo = src + dst + struct.pack("!I3xB", len(body), 58)
    csum = _checksum(pseudo + body)
    body = body[:2] + struct.pack("!H", csum) + body[4:]
    ip6 = struct.pack("!IHBB16s16s", 0x60000000, len(body), 58, 255, src, dst)
    eth = ALL_NODES_MAC + mac + struct.pack("!H", ETH_P_IPV6)
    return eth + ip6 + body


@dataclass
class GarpStats:
    sent: int = 0
    errors: int = 0
    last_error: str | None = None


Address = Union[str, Any]   # an address, or anything with .address (engine.net.vips.Vip)


def _addr(v) -> str:
    """``v``'s address in its canonical form (kept: a takeover of 255 VRIDs asked
    for each VIP's five times, 10 of the 141 samples py-spy took of it)."""
    a = getattr(v, "address", v)
    return _canonical(a if isinstance(a, str) else str(a))


@lru_cache(maxsize=4096)
def _canonical(a: str) -> str:
    return str(ipaddress.ip_address(a))


ROUTER_RECHECK = 5.0     # seconds between two looks at the interface's IPv6 forwarding (keepalived's)


class GarpSender:
    """Announces addresses on one interface through an open packet socket."""

    def __init__(self, ifname: str, *, sock: socket.socket | None = None,
                 factory: SocketFactory | None = None, mac: bytes | str | None = None,
                 ipv6_source: str | None = None, router: bool | None = None) -> None:
        """``sock`` is an AF_PACKET/SOCK_RAW socket (made in the interface's
        namespace); otherwise ``factory`` makes one.  ``mac`` defaults to
        the interface's; ``ipv6_source`` to its link-local address.

        ``router`` is the neighbour adverts' Router flag (RFC 5798 6.4.2 wants
        it on a router); None: on while the interface forwards IPv6
        (net.ipv6.conf.IF.forwarding, looked at again every 5 s), as keepalived
        does, so a host that is not a router never claims to be one (RFC 4861)."""
        ifinfo.check_ifname(ifname)
        self.ifname = ifname
        owned = sock is None
        if sock is None:
            sock = (factory or ifinfo.default_factory)(socket.AF_PACKET, socket.SOCK_RAW, 0)
        elif sock.family != socket.AF_PACKET:
            raise ValueError("sock: expected an AF_PACKET socket")
        self.sock = sock
        self._factory = factory or ifinfo.sibling_factory(sock)
        try:
            sock.bind((ifname, 0))
            sock.setblocking(False)
            if isinstance(mac, str):
                mac = bytes.fromhex(mac.replace(":", "").replace("-", ""))
            self.mac: bytes = mac if mac is not None else ifinfo.hwaddr(sock, ifname)
            if len(self.mac) != 6:
                raise ValueError(f"mac: {self.mac.hex(':')} is not a 6-byte MAC address")
        except BaseException:
            if owned:
                sock.close()
            raise
        self._ipv6_source = ipv6_source
        self._router = router
        self._router_seen: tuple[float, bool] | None = None    # (monotonic time, forwarding)
        self._frames: dict[tuple[str, bool], bytes] = {}
        self.stats = GarpStats()

    @property
    def ipv6_source(self) -> str | None:
        if self._ipv6_source is None:
            self._ipv6_source = ifinfo.ipv6_link_local(self._factory, self.ifname)
        return self._ipv6_source

    @property
    def router(self) -> bool:
        """The Router flag our neighbour adverts carry now."""
        if self._router is not None:
            return self._router
        now = time.monotonic()
        seen = self._router_seen
        if seen is None or now - seen[0] >= ROUTER_RECHECK:
            try:
                value = ifinfo.read_sysctl(self.sock, f"net/ipv6/conf/{self.ifname}/forwarding")
            except OSError:
                value = None
            seen = self._router_seen = (now, value not in (None, "", "0"))
        return seen[1]

    def frame(self, address: Address) -> bytes:
        """The frame announcing ``address`` (built once per Router flag, then cached)."""
        a = _addr(address)
        v6 = ":" in a
        key = (a, self.router if v6 else False)
        f = self._frames.get(key)
        if f is None:
            if v6:
                # RFC 4861 wants an address of the interface as source: the
                # link-local one, or the VIP itself while there is none yet
                f = neighbour_advertisement(self.mac, a, self.ipv6_source or a, key[1])
            else:
                f = arp_announcement(self.mac, a)
            self._frames[key] = f
        return f

    def send(self, address: Address) -> bool:
        try:
            self.sock.send(self.frame(address))
        except (OSError, ValueError) as exc:
            self.stats.errors += 1
            msg = f"{getattr(address, 'address', address)}: {exc}"
            if msg != self.stats.last_error:
                log.warning("GARP on %s failed: %s", self.ifname, msg)
            self.stats.last_error = msg
            return False
        self.stats.sent += 1
        return True

    async def announce(self, addresses: Iterable[Address], repeat: int = 1,
                       interval: float = 0.0, na_interval: float = 0.0) -> int:
        """Send ``repeat`` rounds over ``addresses``; ``interval`` separates
        an ARP from the next frame and ``na_interval`` an NA (0: back to
        back).  Returns the number of frames sent."""
        addrs = list(addresses)
        sent = 0
        gap = 0.0     # owed after the previous frame; none after the last one
        for _ in range(max(repeat, 0)):
            for a in addrs:
                if gap > 0:
                    await asyncio.sleep(gap)
                sent += self.send(a)
                gap = na_interval if ":" in str(getattr(a, "address", a)) else interval
        return sent

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> "GarpSender":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class GarpPolicy:
    """keepalived's knobs, defaults as keepalived's."""

    repeat: int = 5           # garp_master_repeat
    delay: float = 5.0        # garp_master_delay (0: no second burst)
    refresh: float = 0.0      # garp_master_refresh (0: off)
    refresh_repeat: int = 1   # garp_master_refresh_repeat
    interval: float = 0.0     # garp_interval
    na_interval: float = 0.0  # gna_interval
    lower_prio_repeat: int = 5      # garp_lower_prio_repeat (0: no announcement)
    lower_prio_delay: float = 5.0   # garp_lower_prio_delay (0: no second burst)

    def __post_init__(self) -> None:
        for name, kw in (("repeat", "garp_master_repeat"), ("refresh_repeat", "garp_master_refresh_repeat"),
                         ("lower_prio_repeat", "garp_lower_prio_repeat")):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 0:
                raise ValueError(f"{kw}: {v!r} must be a non-negative integer")
        for name, kw in (("delay", "garp_master_delay"), ("refresh", "garp_master_refresh"),
                         ("interval", "garp_interval"), ("na_interval", "gna_interval"),
                         ("lower_prio_delay", "garp_lower_prio_delay")):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or v < 0:
                raise ValueError(f"{kw}: {v!r} must be a non-negative number of seconds")

    @classmethod
    def from_instance(cls, inst) -> "GarpPolicy":
        """From a config ``VrrpInstance`` (its garp_* fields, already resolved:
        garp_lower_prio_* default to the global garp_master_* values there)."""
        return cls(inst.garp_master_repeat, inst.garp_master_delay, inst.garp_master_refresh,
                   inst.garp_master_refresh_repeat, inst.garp_interval, inst.gna_interval,
                   inst.garp_lower_prio_repeat, inst.garp_lower_prio_delay)


SenderFor = Callable[[str], GarpSender]
LOWER_PRIO_MIN_GAP = 1.0    # seconds between two immediate lower-priority bursts (keepalived: none)


class GarpScheduler:
    """The announcement schedule of one instance while it is MASTER."""

    def __init__(self, senders: GarpSender | SenderFor, policy: GarpPolicy = GarpPolicy()) -> None:
        """``senders`` is one sender (all VIPs on its interface) or a function
        giving the sender for an interface name (VIPs with ``.dev``)."""
        self._senders = senders
        self.policy = policy
        self._task: asyncio.Task | None = None
        self._lower_now: asyncio.Task | None = None     # the burst on hearing a lower priority
        self._lower_later: asyncio.Task | None = None   # ... and the one garp_lower_prio_delay later
        self._lower_at = float("-inf")                  # loop time of the last immediate one
        self.bursts = 0
        self.lower_prio_bursts = 0

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self, vips: Iterable[Address], on_first: Callable[[int], object] | None = None) -> asyncio.Task:
        """Begin the schedule (on becoming MASTER); restarts a running one.
        ``on_first(frames)`` once the first burst is out (the timeline's "GARP sent")."""
        self.cancel_nowait()
        self._task = task = asyncio.create_task(self._run(list(vips), on_first), name="garp")
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task) -> None:
        """A finished schedule is let go (255 masters kept 255 finished tasks
        with their coroutines), its failure said rather than left for the
        collector's "exception was never retrieved"."""
        if not task.cancelled() and task.exception() is not None:
            log.warning("gratuitous ARP schedule failed: %s", task.exception())
        if self._task is task:
            self._task = None
        if self._lower_now is task:
            self._lower_now = None
        if self._lower_later is task:
            self._lower_later = None

    def lower_prio(self, vips: Iterable[Address]) -> None:
        """A lower-priority master was heard: ``lower_prio_repeat`` frames per
        VIP now and again ``lower_prio_delay`` later (keepalived's
        vrrp_send_link_update + vrrp_lower_prio_gratuitous_arp_thread).

        keepalived does this for every such advert.  We send the first burst
        at once but the next no sooner than ``LOWER_PRIO_MIN_GAP`` later, and
        keep one second burst pending at a time: a router that keeps
        advertising below us (a one-way cut, or anyone who can forge a valid
        advert) must not turn each of its packets into
        ``lower_prio_repeat`` frames per VIP from us."""
        p = self.policy
        if p.lower_prio_repeat <= 0:
            return
        vips = list(vips)
        now = asyncio.get_running_loop().time()
        if (self._lower_now is None or self._lower_now.done()) and now - self._lower_at >= LOWER_PRIO_MIN_GAP:
            self._lower_at = now
            self._lower_now = asyncio.create_task(self._lower_burst(vips), name="garp lower prio")
            self._lower_now.add_done_callback(self._finished)
        if p.lower_prio_delay > 0 and (self._lower_later is None or self._lower_later.done()):
            self._lower_later = asyncio.create_task(self._lower_burst(vips, p.lower_prio_delay),
                                                    name="garp lower prio (delayed)")
            self._lower_later.add_done_callback(self._finished)

    async def _lower_burst(self, vips: list, delay: float = 0.0) -> None:
        if delay:
            await asyncio.sleep(delay)
        await self.burst(vips, self.policy.lower_prio_repeat)
        self.lower_prio_bursts += 1

    def _tasks(self) -> list[asyncio.Task]:
        return [t for t in (self._task, self._lower_now, self._lower_later) if t is not None and not t.done()]

    def cancel_nowait(self) -> None:
        for t in self._tasks():
            t.cancel()

    async def cancel(self) -> None:
        """Stop the schedule (on leaving MASTER) and wait until it has."""
        tasks = self._tasks()
        self._task = self._lower_now = self._lower_later = None
        for t in tasks:
            t.cancel()
        for t in tasks:
            try:
                await t
            except asyncio.CancelledError:
                pass

    def _groups(self, vips: list) -> list[tuple[GarpSender, list]]:
        if isinstance(self._senders, GarpSender):
            return [(self._senders, vips)]
        by_dev: dict[str, list] = {}
        for v in vips:
            by_dev.setdefault(v.dev, []).append(v)
        out = []
        for dev, group in by_dev.items():
            try:
                out.append((self._senders(dev), group))
            except Exception as exc:
                log.warning("no GARP sender for %s: %s", dev, exc)
        return out

    async def burst(self, vips: list, repeat: int) -> int:
        p = self.policy
        counts = await asyncio.gather(*(s.announce(g, repeat, p.interval, p.na_interval)
                                        for s, g in self._groups(vips)))
        self.bursts += 1
        return sum(counts)

    async def _run(self, vips: list, on_first: Callable[[int], object] | None = None) -> None:
        p = self.policy
        await deadlines.after_due()
        sent = await self.burst(vips, p.repeat)
        if on_first is not None:
            on_first(sent)
        if p.delay > 0:
            await asyncio.sleep(p.delay)
            await self.burst(vips, p.repeat)
        if p.refresh > 0:
            while True:
                await asyncio.sleep(p.refresh)
                await self.burst(vips, p.refresh_repeat)
