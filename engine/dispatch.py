"""The VRRP sockets of this node and what arrives on them.

Sockets are shared per (interface, family): every instance on an interface
hears every advert sent to the groups joined there, so one socket serves
them all and a packet is demultiplexed by VRID (``on_packet``):

decode (``packet.decode_*``; a packet without a readable VRID is counted
per interface) → the instance's receive rules (``InstanceDriver.check``:
TTL, version, auth, interval; a reject is counted per reason) → the
machine (``InstanceDriver.accept``) → last, the advert view, with the
verdict, so what the view shows is what the instance judged.

A VRID no instance here runs is judged by the rules every VRRP router
shares (the decoder's, TTL 255 on multicast) and only shown.  Drops are
told once per (interface, family, kind) as an event; the counters are in
the snapshot (``drops``).

This is the path every advert a backup hears takes (issue 13 measures it:
``benchmarks/advert_receive.py``), so it does nothing per packet that can
be done once: sockets, per-VRID tables and the view's idea of our side are
built when an instance is added, not when a packet comes.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Container, Mapping, NamedTuple, Protocol

from vipdeck.engine.advert_view import AdvertView
from vipdeck.engine.config.model import VrrpInstance
from vipdeck.engine.control.schema import InterfaceVrrp
from vipdeck.engine.dumps.stats import TransitionCounters
from vipdeck.engine.events import Emit
from vipdeck.engine.net.vrrp_socket import Received, VrrpSocket
from vipdeck.engine.vrrp import machine as m
from vipdeck.engine.vrrp import packet
from vipdeck.engine.vrrp.driver import InstanceDriver

Key = tuple[str, int]           # (interface, socket family)

# called with (instance, source, priority, interval, loop time) for every advert an instance accepted
AdvertHeard = Callable[[str, str, int, float, float], None]


class Socket(Protocol):
    """What the dispatch needs of a VRRP socket beyond the driver's needs."""

    ifname: str
    source_from: str              # the interface its source address is read from (a VMAC's base)
    src: str | None
    family: int
    ifindex: int
    groups: tuple[str, ...]
    stats: object                 # .received, .dropped_own, .dropped_malformed

    def send(self, payload: bytes, dst: str | None = None, *, src: str | None = None,
             ttl: int | None = None) -> bool: ...
    def drain(self) -> None: ...
    def join(self, group: str) -> None: ...
    def rejoin(self) -> None: ...
    def refresh_source(self) -> str | None: ...
    def add_listener(self, fn: Callable[[Received], None]) -> None: ...
    # IPv4: called with each raw packet before it is parsed; True: taken (``AdvertDispatch.repeat``)
    fast: Callable[[bytes], bool] | None
    def start(self, loop: asyncio.AbstractEventLoop) -> None: ...
    def close(self) -> None: ...


# (interface, family, groups, local addresses, on_drop(kind, source), source_from) -> an open socket
OpenSocket = Callable[..., Socket]


def open_vrrp_socket(ifname: str, family: int, *, groups: list[str], local_addresses,
                     on_drop: Callable[[str, str | None], None], source_from: str | None = None) -> Socket:
    return VrrpSocket(ifname, family, groups=groups, local_addresses=local_addresses, on_drop=on_drop,
                      source_from=source_from)


@dataclass
class Link:
    """One (interface, family): its socket and the instances on it, by VRID."""

    sock: Socket
    drivers: dict[int, InstanceDriver]
    # packets dropped before any VRID could be read (too short for the VRRP header,
    # a broken IP header...), per reject reason; the socket counts its own drops
    drops: Counter = field(default_factory=Counter)
    sides: dict[int, "OurInstance"] = field(default_factory=dict)
    # per VRID: the last advert its machine accepted such that the same again
    # takes the fast path (``AdvertDispatch.on_packet``)
    heard: dict[int, "Heard"] = field(default_factory=dict)
    # the same, by the raw IPv4 packet from its source address on (``AdvertDispatch.repeat``)
    heard_raw: dict[bytes, "Heard"] = field(default_factory=dict)


class Heard(NamedTuple):
    """An accepted advert as it came off the wire, with what the slow path made
    of it: the same bytes from the same source, to the same destination, with
    the same TTL decode to an equal advert and pass the same receive rules."""

    data: bytes
    src: str
    dst: str
    ttl: int
    adv: packet.Advert
    d: InstanceDriver
    side: "OurInstance"
    view_key: tuple[str, int, int]
    raw_key: bytes | None           # IPv4: the packet from byte 12 (addresses, then VRRP)


class OurInstance:
    """One instance as the advert view sees it (``advert_view.OurSide``; read
    when needed, not per packet)."""

    __slots__ = ("d",)

    def __init__(self, d: InstanceDriver):
        self.d = d

    @property
    def name(self) -> str:
        return self.d.inst.name

    @property
    def source(self) -> str | None:
        return self.d.source

    def master_since(self) -> float | None:
        d = self.d
        if d.stopped or d.machine.state != m.State.MASTER:
            return None
        t = d.machine.last_transition
        return d.wall(t.at) if t is not None else None

    def priority(self) -> int:
        return self.d.machine.effective_priority

    def interval(self) -> float:
        return self.d.inst.advert_int

    def vips(self) -> tuple[str, ...]:
        return tuple(sorted(v.address for v in self.d.inst.virtual_ipaddresses))


def _plain_ipv4(p: bytes) -> bool:
    """An IPv4 packet of protocol 112 whose total length is what was read (no
    padding to trim): its decode depends on nothing but its VRRP part, TTL and
    addresses."""
    return len(p) > 9 and ((p[2] << 8) | p[3]) == len(p) and p[9] == packet.IPPROTO_VRRP


_DROP_WHY = {
    "own_source": "adverts carrying our own source address {src} (a looping switch, or another router "
                  "configured with our address)",
    "malformed": "packets without a usable IP header (from {src})",
}


class AdvertDispatch:
    """Opens the sockets instances need and hands each advert to its instance
    and to the advert view.

    ``stats`` are keepalived's per-instance counters the driver lacks (the
    priority-0 adverts received are counted here); ``advert_heard`` is the
    metrics exporter's timing hook (None: nobody times adverts).
    ``interface_of(inst)`` is where an instance's socket lives: its interface,
    or its VMAC (use_vmac; the source address is still its interface's).
    """

    def __init__(self, view: AdvertView, emit: Emit, *, local_addresses,
                 stats: Mapping[str, TransitionCounters], loop: asyncio.AbstractEventLoop,
                 open_socket: OpenSocket = open_vrrp_socket,
                 interface_of: Callable[[VrrpInstance], str] = lambda inst: inst.interface):
        self.view = view
        self.emit = emit
        self.local = local_addresses
        # a predicate rather than a container of our addresses (decided once, not per advert)
        self._local_pred = (local_addresses if callable(local_addresses) and not isinstance(local_addresses, Container)
                            else None)
        # engine.net.addresses.LocalAddresses says when it changed: the fast path keeps
        # the sources it found not ours until then (a set lookup, not a call per advert)
        self._counted = isinstance(getattr(local_addresses, "generation", None), int)
        self._foreign: set[str] = set()
        self._foreign_gen = -1
        self.stats = stats
        self.loop = loop
        self.open_socket = open_socket
        self.interface_of = interface_of
        self.links: dict[Key, Link] = {}
        self.advert_heard: AdvertHeard | None = None
        self._told: set[tuple[str, int, str]] = set()       # (interface, family, kind) with an event

    # ------------------------------------------------------------------ sockets and instances

    def link_for(self, inst: VrrpInstance) -> Link:
        """The instance's (interface, family) socket, opened on first use, with
        its multicast group joined."""
        fam = socket.AF_INET6 if inst.family == 6 else socket.AF_INET
        key = (self.interface_of(inst), fam)
        link = self.links.get(key)
        if link is None:
            link = self.links[key] = Link(self._open(key, [], inst.interface), {})
        if not inst.unicast_peers:
            group = inst.mcast_group          # the parser resolved it for the instance's family
            if group not in link.sock.groups:
                link.sock.join(group)
        return link

    def _open(self, key: Key, groups: list[str], source_from: str) -> Socket:
        sock = self.open_socket(key[0], key[1], groups=groups, local_addresses=self.local,
                                on_drop=lambda kind, src: self._socket_drop(key, kind, src), source_from=source_from)
        sock.add_listener(lambda rx: self.on_packet(key, rx))
        if key[1] == socket.AF_INET:
            sock.fast = functools.partial(self.repeat, key)     # a C call, not a lambda's frame per advert
        sock.start(self.loop)
        return sock

    def attach(self, d: InstanceDriver) -> None:
        self.link_for(d.inst).drivers[d.inst.vrid] = d

    def detach(self, d: InstanceDriver) -> None:
        link = self.links.get((d.sock.ifname, d.sock.family))
        if link is not None and link.drivers.get(d.inst.vrid) is d:
            del link.drivers[d.inst.vrid]

    def close(self) -> None:
        for link in self.links.values():
            link.sock.close()
        self.links.clear()

    # ------------------------------------------------------------------ the receive path

    def repeat(self, key: Key, p: bytes, at: float, wall: float) -> bool:
        """The fast path, for a raw IPv4 packet before the socket parses it: the
        same advert as the last one an instance's machine accepted (byte for
        byte from the source address on, same TTL, a plain 20-byte header and no
        padding) skips the parse, the decode and the receive rules, which would
        give the same answer, and the machine only moves its master-down
        deadline (``VrrpMachine.refresh``, which says no unless nothing else
        happened to it since).  The advert view still sees it, the very decoded
        advert, so what it counts is exact.  ``at`` and ``wall``: when it
        arrived, as loop time and as unix time.  False: take the usual path."""
        if len(p) < 28 or p[0] != 0x45:
            return False
        link = self.links.get(key)
        if link is None:
            return False
        h = link.heard_raw.get(p[12:])
        if (h is None or p[8] != h.ttl or ((p[2] << 8) | p[3]) != len(p) or p[9] != packet.IPPROTO_VRRP
                or h.src == link.sock.src):
            return False
        local = self.local
        if local is not None:
            src = h.src
            if self._counted:
                if local.generation != self._foreign_gen:
                    self._foreign.clear()
                    self._foreign_gen = local.generation
                if src not in self._foreign:
                    if src in local:
                        return False
                    self._foreign.add(src)
            elif src in local if self._local_pred is None else self._local_pred(src):
                return False
        return self._again(link, h, at, wall)

    def _again(self, link: Link, h: "Heard", at: float, wall: float) -> bool:
        d = h.d
        adv = h.adv
        if link.drivers.get(adv.vrid) is not d or not d.refresh(adv, at):
            return False
        if self.advert_heard is not None:
            self.advert_heard(d.inst.name, adv.src, adv.priority, adv.interval, at)
        self.view.observe_again(h.view_key, adv, h.side, wall)
        return True

    def on_packet(self, key: Key, rx: Received) -> None:
        """Decode, judge by the instance's rules, feed the machine, then show it in the view.

        An IPv6 advert takes the fast path here (IPv4 ones before the socket's
        parse, ``repeat``): the same VRRP bytes from the same source to the same
        destination with the same hop limit as the last one accepted."""
        link = self.links.get(key)
        if link is None:
            return
        # when it arrived (a packet made by hand, e.g. in tests, says nothing: now)
        at = self.loop.time() if rx.at is None else rx.at
        wall = time.time() if rx.wall is None else rx.wall
        data = rx.data
        if rx.family != socket.AF_INET and len(data) > 1:
            h = link.heard.get(data[1])
            if (h is not None and h.data == data and h.src == rx.src and h.ttl == rx.ttl and h.dst == rx.dst
                    and self._again(link, h, at, wall)):
                return
        fam = 4 if rx.family == socket.AF_INET else 6
        if rx.family == socket.AF_INET:
            adv = packet.decode_ipv4(rx.packet, expect_ttl=None)
        else:
            adv = packet.decode_vrrp(rx.data, rx.src, rx.dst, rx.ttl, expect_ttl=None)
        if isinstance(adv, packet.Reject):
            if adv.vrid is None:
                self._undecodable(key, link, adv)
                return
            d = link.drivers.get(adv.vrid)
            if d is not None:
                d.count_reject(adv)
            self.view.observe_reject((key[0], fam, adv.vrid), adv, self._side(link, d), wall)
            return
        d = link.drivers.get(adv.vrid)
        side = self._side(link, d)
        view_key = (key[0], fam, adv.vrid)
        if d is None:
            # another VRID: the advert view shows it, we do not act on it; the TTL rule
            # holds for multicast (a unicast peer may be set up with another TTL)
            verdict = None
            if adv.ttl != packet.VRRP_TTL and adv.dst and ipaddress.ip_address(adv.dst).is_multicast:
                verdict = packet.Reject(packet.RejectReason.TTL, f"ttl {adv.ttl} != 255", adv.src, adv.dst,
                                        adv.vrid, adv.version)
        else:
            verdict = d.check(adv)
            if verdict is None:
                d.accept(adv, at)
                if adv.priority == 0:
                    self.stats[d.inst.name].pri_zero_rcvd += 1
                if self.advert_heard is not None:
                    self.advert_heard(d.inst.name, adv.src, adv.priority, adv.interval, at)
                if d.machine.steady_advert is adv and side is not None:
                    self._remember(link, rx, adv, d, side, view_key)
        self.view.observe(view_key, adv, verdict, side, wall)

    def _remember(self, link: Link, rx: Received, adv: packet.Advert, d: InstanceDriver, side: "OurInstance",
                  view_key: tuple[str, int, int]) -> None:
        raw_key = None
        if rx.family == socket.AF_INET:
            p = rx.packet
            if len(p) < 28 or p[0] != 0x45 or not _plain_ipv4(p):
                return
            raw_key = p[12:]
        old = link.heard.get(adv.vrid)
        if old is not None and old.raw_key is not None:
            link.heard_raw.pop(old.raw_key, None)
        h = link.heard[adv.vrid] = Heard(rx.data, rx.src, rx.dst, rx.ttl, adv, d, side, view_key, raw_key)
        if raw_key is not None:
            link.heard_raw[raw_key] = h

    def _side(self, link: Link, d: InstanceDriver | None) -> OurInstance | None:
        if d is None:
            return None
        side = link.sides.get(d.inst.vrid)
        if side is None or side.d is not d:
            side = link.sides[d.inst.vrid] = OurInstance(d)
        return side

    def refresh_sides(self) -> None:
        """After a reload the advert view must not speak for instances that went
        (or judge a VRID by an instance's old settings)."""
        for v in self.view.views.values():
            link = self.links.get((v.interface, socket.AF_INET if v.family == 4 else socket.AF_INET6))
            d = link.drivers.get(v.vrid) if link is not None else None
            v.ours = self._side(link, d) if d is not None else None

    # ------------------------------------------------------------------ drops

    def _socket_drop(self, key: Key, kind: str, src: str | None) -> None:
        self._tell(key, kind, _DROP_WHY.get(kind, kind).format(src=src or "?"), src)

    def _undecodable(self, key: Key, link: Link, rej: packet.Reject) -> None:
        """Dropped before its VRID could be read (too short for the VRRP header, a
        broken IP header): counted per interface, one event per kind."""
        link.drops[rej.reason.value] += 1
        self._tell(key, rej.reason.value, str(rej), rej.src)

    def _tell(self, key: Key, kind: str, what: str, src: str | None) -> None:
        fam = 4 if key[1] == socket.AF_INET else 6
        told = (key[0], fam, kind)
        if told in self._told:
            return
        self._told.add(told)
        self.emit("advert", f"{key[0]} (IPv{fam}): dropped {what}; counted under the interface's VRRP drops",
                  "warning", interface=key[0], family=fam, source=src, flag=kind, vrid=None)

    def drops(self) -> dict[str, InterfaceVrrp]:
        """Per interface: packets its VRRP sockets read, and what was dropped before
        any instance or the advert view saw it, by kind."""
        out: dict[str, dict] = {}
        for (ifname, _fam), link in self.links.items():
            st = link.sock.stats
            e = out.setdefault(ifname, {"received": 0, "dropped": Counter()})
            e["received"] += st.received
            if st.dropped_own:
                e["dropped"]["own_source"] += st.dropped_own
            if st.dropped_malformed:
                e["dropped"]["malformed"] += st.dropped_malformed
            e["dropped"].update(link.drops)
        return {k: {"received": v["received"], "dropped": dict(v["dropped"])} for k, v in out.items()}

    # ------------------------------------------------------------------ links coming and going

    def link_up(self, ifname: str, index: int | None) -> None:
        """An interface came up: join the groups again, or, when it was deleted and
        made again (a new ifindex), open a new socket (a raw socket stays bound to
        the old one and would hear nothing)."""
        for key, link in self.links.items():
            if key[0] != ifname:
                continue
            if index is not None and index != link.sock.ifindex:
                self._reopen(key, link)
            else:
                link.sock.rejoin()

    def _reopen(self, key: Key, link: Link) -> None:
        old = link.sock
        try:
            new = self._open(key, list(old.groups), old.source_from)
        except OSError as exc:
            self.emit("daemon", f"{key[0]} re-created but its VRRP socket could not be re-opened: {exc}", "error")
            return
        link.sock = new
        for d in link.drivers.values():
            d.sock = new
            d.invalidate_adverts()
        old.close()
        self.emit("daemon", f"{key[0]} was re-created (ifindex {old.ifindex} -> {new.ifindex}): "
                  "VRRP socket re-opened", "warning", interface=key[0])

    def addresses_changed(self, ifname: str) -> None:
        """A socket whose source address went away (or never was) looks again,
        e.g. when a re-created interface gets its address after coming up."""
        for (ifn, _fam), link in self.links.items():
            if ifn != ifname or (link.sock.src is not None and link.sock.src in self.local):
                continue
            before = link.sock.src
            try:
                now = link.sock.refresh_source()
            except OSError:          # the interface is gone; its removal is handled as a link event
                continue
            if now != before:
                for d in link.drivers.values():
                    d.invalidate_adverts()
