"""The raw VRRP socket of one (interface, address family).

This is the I/O half of the sans-IO design: it moves bytes and addresses and
knows nothing about VRRP states or the packet format beyond the IP header.
Several instances on the same interface share one socket (and its multicast
groups); demultiplexing by VRID is the caller's job.

Choices worth knowing:

* Reading is driven by ``loop.add_reader`` -- no threads.
* The source address is chosen per packet with IP_PKTINFO / IPV6_PKTINFO
  instead of ``bind()``: binding a raw socket to an address also filters what
  it receives to that destination, which would lose the multicast adverts.
  It also lets instances sharing the socket use different
  mcast_src_ip / unicast_src_ip.
* Packets whose source is one of this host's addresses are dropped and
  counted: with multicast loop off they only come back through a looping
  switch or a peer misconfigured with our address, and a router must never
  treat its own advert as a peer's.
* The socket can be handed in already made (e.g. inside a lab namespace), or
  made by a factory; helper sockets are then made in the same namespace.
* Each packet carries when it arrived (SO_TIMESTAMPNS, the kernel's receive
  time), not when it was read: a busy backup reads in batches every 4 to 8
  ms (below), and a master-down deadline counted from the read would be that
  much late, as would the advert view's ages and intervals.  The kernel
  stamps with the real-time clock, which NTP can step; a stamp is therefore
  trusted only within ``_STAMP_TRUST`` before the read (never after it), and
  the read time stands in otherwise: a step can make an advert look at most
  that much older, never newer.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import struct
import time
from dataclasses import dataclass
from typing import Callable, Container, Iterable, NamedTuple

from vipdeck.engine.net import ifinfo
from vipdeck.engine.net.ifinfo import SocketFactory
from vipdeck.engine.vrrp.deadlines import on_grid

log = logging.getLogger(__name__)

VRRP_PROTO = 112
DEFAULT_GROUPS = {socket.AF_INET: "224.0.0.18", socket.AF_INET6: "ff02::12"}
VRRP_TTL = 255
VRRP_TOS = 0xC0          # DSCP CS6, network control (what keepalived sets)

IP_PKTINFO = 8
IP_MULTICAST_ALL = 49
IPV6_MULTICAST_ALL = 29
_READ_BURST = 64         # packets drained per wake-up before yielding to the loop
_DRAIN_LIMIT = 8192      # packets a drain() reads at most (a full 1 MiB receive buffer)
_BUFSIZE = 65535
_MSG_TRUNC = int(socket.MSG_TRUNC)   # an int: the IntFlag's & costs microseconds per packet
# after a wake-up that read something, the reader rests this long so that what
# arrives meanwhile is read as one batch: a backup of 255 instances at 0.1 s
# wakes a few hundred times a second instead of 2550 (the event loop's cost per
# wake-up is most of what an advert costs).  A timer that is about to decide on
# the adverts drains the socket first (``drain``), so nothing is judged late.
# A rest ends on the grid a busy backup's deadlines wake the loop on
# (engine/vrrp/deadlines.py), so the reader and the timers share wake-ups: 4 to
# 8 ms; each packet still carries when it arrived (SO_TIMESTAMPNS, below).
_BATCH_WAIT = 0.004
# ... but only while adverts come often: when the wake-up before read something
# less than this long ago, or a read filled its burst.  A backup of a few instances
# (10 adverts/s) would otherwise pay a timer, two epoll_ctl and a second wake-up per
# advert with nothing to batch: its CPU at 1 x 0.1 s was 9 x keepalived's
_BUSY_GAP = 0.010
_RCVBUF = 1 << 20
# SO_TIMESTAMPNS (asm-generic/socket.h; SCM_TIMESTAMPNS is the same number): not
# in Python's socket module.  Its control message is a struct timespec.
SO_TIMESTAMPNS = 35
_STAMP = struct.Struct("@qq")
_STAMP_SPACE = socket.CMSG_SPACE(_STAMP.size)
# how much earlier than its read a packet's kernel stamp may be and still be
# believed (see the module's docstring): a read batch waits at most 8 ms, a
# timer's drain reads what is queued; older stamps come from a stall, when the
# read time is the safe answer (the next advert, one interval later, is stamped
# right), or from a step of the real-time clock.  With at least three intervals
# in a master-down interval, an advert made to look 50 ms older never lets the
# deadline pass before the next advert of a master sending at 0.1 s.
_STAMP_TRUST = 0.05
_PREPARED_MAX = 1024     # (destination, source, ttl) sends kept prepared


def _arrival(cdata: bytes, wall_now: float) -> float:
    """A packet's arrival as unix time, from its SO_TIMESTAMPNS control message
    read at ``wall_now``: the stamp when it is at most ``_STAMP_TRUST`` before the
    read (and not after it), else the read time (see the module's docstring).
    ``_read4`` has the same rule written inline: it is the hot path."""
    if len(cdata) != _STAMP.size:
        return wall_now
    sec, nsec = _STAMP.unpack(cdata)
    t = sec + nsec * 1e-9
    return t if wall_now - _STAMP_TRUST <= t < wall_now else wall_now


class Received(NamedTuple):
    """One packet as read from the wire.

    ``data`` is the VRRP message (IP header stripped).  ``packet`` is the
    whole IPv4 packet including its header (the codec may want TTL and
    addresses from it); the kernel never shows IPv6 headers to a raw socket,
    so for IPv6 it is the VRRP message too, and ``ttl``/``dst`` come from
    IPV6_HOPLIMIT / IPV6_PKTINFO.
    """

    data: bytes
    src: str
    dst: str
    ttl: int               # IPv4 TTL or IPv6 hop limit; -1 when unknown
    packet: bytes
    family: int
    ifindex: int
    at: float | None = None     # loop time it arrived (None: now, for packets made by hand)
    wall: float | None = None   # the same as unix time (the advert view's clock)


@dataclass
class SocketStats:
    received: int = 0          # packets read from the socket
    delivered: int = 0         # handed to listeners
    dropped_own: int = 0       # source was one of our addresses
    dropped_malformed: int = 0  # not even a sane IP header
    sent: int = 0
    send_errors: int = 0
    recv_errors: int = 0
    last_error: str | None = None


Listener = Callable[[Received], None]
DropListener = Callable[[str, str | None], None]    # (kind: "own_source" | "malformed", source or None)
LocalAddrs = Container[str] | Callable[[str], bool]


def _norm(addr: str, family: int, field: str) -> str:
    try:
        ip = ipaddress.ip_address(addr.split("%")[0])
    except ValueError:
        raise ValueError(f"{field}: {addr!r} is not an IP address") from None
    want = 4 if family == socket.AF_INET else 6
    if ip.version != want:
        raise ValueError(f"{field}: {addr} is not an IPv{want} address")
    return str(ip)


class VrrpSocket:
    """Raw IP protocol 112 socket bound to one interface."""

    def __init__(self, ifname: str, family: int = socket.AF_INET, *,
                 groups: Iterable[str] | None = None,
                 src: str | None = None,
                 sock: socket.socket | None = None,
                 factory: SocketFactory | None = None,
                 local_addresses: LocalAddrs | None = None,
                 on_packet: Listener | None = None,
                 on_drop: DropListener | None = None,
                 source_from: str | None = None) -> None:
        """``groups`` None joins the RFC group (224.0.0.18 / ff02::12); an
        empty list joins nothing (unicast only).  ``src`` is the default
        source (mcast_src_ip); without it the interface's primary IPv4
        address / IPv6 link-local address is used.  ``sock`` is an already
        made raw socket (AF, SOCK_RAW, 112); otherwise ``factory`` makes one.
        ``on_drop(kind, source)`` hears of each packet dropped here (counted
        in ``stats`` too), so the drops can be shown, not only counted.
        ``source_from`` names the interface the source is read from when it is
        not ``ifname`` (a VMAC has no address of its own: its base's is used,
        as keepalived does).
        """
        if family not in (socket.AF_INET, socket.AF_INET6):
            raise ValueError(f"family: {family!r} is neither AF_INET nor AF_INET6")
        self._ifname_b = ifinfo.check_ifname(ifname)
        self.ifname = ifname
        self.source_from = source_from or ifname
        self.family = family
        self.stats = SocketStats()
        self._listeners: list[Listener] = [on_packet] if on_packet else []
        # IPv4: sees each raw packet first, with its arrival as loop time and unix
        # time; True means it took it (the receive path's fast path for a repeated
        # advert, engine.dispatch.AdvertDispatch.repeat)
        self.fast: Callable[[bytes, float, float], bool] | None = None
        self.on_drop = on_drop
        self._local = local_addresses
        self._local_is_pred = callable(local_addresses) and not isinstance(local_addresses, Container)
        self._groups: dict[str, int] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self._resting: asyncio.TimerHandle | None = None    # the reader is off until this fires
        self._last_read = float("-inf")      # loop time of the last wake-up that read something
        self.rests = 0                       # times the reader was left off to batch (tests)
        self._prepared: dict[tuple[str, str | None, int | None], tuple[list | None, tuple]] = {}   # see _prepare
        owned = sock is None
        if sock is None:
            sock = (factory or ifinfo.default_factory)(family, socket.SOCK_RAW, VRRP_PROTO)
        elif (sock.family, sock.type, sock.proto) != (family, socket.SOCK_RAW, VRRP_PROTO):
            raise ValueError(f"sock: expected a raw protocol-112 socket of family {family}, "
                             f"got {sock.family}/{sock.type}/{sock.proto}")
        self.sock = sock
        self._factory = factory or ifinfo.sibling_factory(sock)
        try:
            self.ifindex = ifinfo.ifindex(sock, ifname)
            self._explicit_src = src is not None
            self.src: str | None = _norm(src, family, "mcast_src_ip") if src else None
            if self.src is None:
                self.src = self._discover_source()
            self._configure()
            for g in (DEFAULT_GROUPS[family],) if groups is None else groups:
                self.join(g)
        except BaseException:
            if owned:
                sock.close()
            raise

    # ------------------------------------------------------------------ setup

    def _discover_source(self) -> str | None:
        if self.family == socket.AF_INET:
            return ifinfo.ipv4_address(self.sock, self.source_from)
        return ifinfo.ipv6_link_local(self._factory, self.source_from)

    def _configure(self) -> None:
        s = self.sock
        s.setblocking(False)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, self._ifname_b)
        # room for a burst from hundreds of instances (capped by net.core.rmem_max)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RCVBUF)
        try:
            s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            self.stamped = True
        except OSError as exc:   # not Linux: every packet is as of its read
            self.stamped = False
            log.debug("VRRP socket %s: no arrival stamps (SO_TIMESTAMPNS: %s): adverts count from their read",
                      self.ifname, exc)
        if self.family == socket.AF_INET:
            s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, VRRP_TTL)
            s.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, VRRP_TTL)
            s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)
            s.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, VRRP_TOS)
            # only the groups this socket joined, not every group on the host
            s.setsockopt(socket.IPPROTO_IP, IP_MULTICAST_ALL, 0)
            self._set_multicast_if()
        else:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, VRRP_TTL)
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, VRRP_TTL)
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, 0)
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_TCLASS, VRRP_TOS)
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, self.ifindex)
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVHOPLIMIT, 1)
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
            try:
                s.setsockopt(socket.IPPROTO_IPV6, IPV6_MULTICAST_ALL, 0)
            except OSError:  # kernels before 4.20
                pass

    def _set_multicast_if(self) -> None:
        addr = socket.inet_aton(self.src) if self.src else bytes(4)
        mreqn = struct.pack("4s4si", bytes(4), addr, self.ifindex)
        self.sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, mreqn)
        self._prepared.clear()        # the plain sends (see _prepare) relied on the old source

    def refresh_source(self) -> str | None:
        """Re-read the interface's address (after it changed); an explicit
        mcast_src_ip is kept."""
        if not self._explicit_src:
            self.src = self._discover_source()
            if self.family == socket.AF_INET:
                self._set_multicast_if()
        return self.src

    # ------------------------------------------------------------ membership

    def _mreq(self, group: str) -> tuple[int, int, bytes]:
        g = _norm(group, self.family, "mcast_group")
        if not ipaddress.ip_address(g).is_multicast:
            raise ValueError(f"mcast_group: {group} is not a multicast address")
        if self.family == socket.AF_INET:
            return socket.IPPROTO_IP, 0, struct.pack("4s4si", socket.inet_aton(g), bytes(4), self.ifindex)
        return socket.IPPROTO_IPV6, 1, struct.pack("16sI", socket.inet_pton(socket.AF_INET6, g), self.ifindex)

    def join(self, group: str) -> None:
        """Join ``group`` (reference counted: instances may share a group)."""
        g = _norm(group, self.family, "mcast_group")
        level, v6, mreq = self._mreq(g)
        if self._groups.get(g, 0) == 0:
            opt = socket.IPV6_JOIN_GROUP if v6 else socket.IP_ADD_MEMBERSHIP
            self.sock.setsockopt(level, opt, mreq)
        self._groups[g] = self._groups.get(g, 0) + 1

    def leave(self, group: str) -> None:
        g = _norm(group, self.family, "mcast_group")
        n = self._groups.get(g, 0)
        if n == 0:
            return
        if n == 1:
            del self._groups[g]
            level, v6, mreq = self._mreq(g)
            opt = socket.IPV6_LEAVE_GROUP if v6 else socket.IP_DROP_MEMBERSHIP
            try:
                self.sock.setsockopt(level, opt, mreq)
            except OSError as exc:  # interface gone: membership went with it
                log.debug("leave %s on %s: %s", g, self.ifname, exc)
        else:
            self._groups[g] = n - 1

    def rejoin(self) -> None:
        """Renew memberships (after the interface was re-created)."""
        for g in list(self._groups):
            level, v6, mreq = self._mreq(g)
            try:
                self.sock.setsockopt(level, socket.IPV6_LEAVE_GROUP if v6 else socket.IP_DROP_MEMBERSHIP, mreq)
            except OSError:
                pass
            self.sock.setsockopt(level, socket.IPV6_JOIN_GROUP if v6 else socket.IP_ADD_MEMBERSHIP, mreq)

    @property
    def groups(self) -> tuple[str, ...]:
        return tuple(self._groups)

    # -------------------------------------------------------------- receiving

    def add_listener(self, fn: Listener) -> None:
        self._listeners.append(fn)

    def start(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Start delivering packets (call from the loop's thread)."""
        if self._loop is not None:
            return
        self._loop = loop or asyncio.get_running_loop()
        self._loop.add_reader(self.sock.fileno(), self._on_wake)

    def _on_wake(self) -> None:
        n = self._read(_READ_BURST)
        loop = self._loop
        if n and _BATCH_WAIT > 0 and loop is not None:
            now = loop.time()
            often = n >= _READ_BURST or now - self._last_read < _BUSY_GAP
            self._last_read = now
            if often:
                loop.remove_reader(self.sock.fileno())
                self._resting = loop.call_at(on_grid(now + _BATCH_WAIT), self._rested)
                self.rests += 1

    def _rested(self) -> None:
        self._resting = None
        if self._closed or self._loop is None:
            return
        # what came while resting, at once; while adverts keep coming the reader
        # stays off and the socket is read every _BATCH_WAIT: turning the reader
        # back on only to turn it off again cost two epoll_ctl and a Handle per
        # batch (a tenth of a 255-instance backup's CPU)
        if self._read(_READ_BURST):
            self._last_read = now = self._loop.time()
            self._resting = self._loop.call_at(on_grid(now + _BATCH_WAIT), self._rested)
        else:
            self._loop.add_reader(self.sock.fileno(), self._on_wake)

    def _is_own(self, src: str) -> bool:
        if src == self.src:
            return True
        local = self._local
        if local is None:
            return False
        if self._local_is_pred:
            return bool(local(src))  # type: ignore[operator]
        return src in local

    def drain(self, limit: int = _DRAIN_LIMIT) -> None:
        """Deliver every advert already queued, now.

        A backup calls this before it declares the master down: after the
        process stalled (a paused VM, swapping) every master-down timer is
        overdue while the master's adverts wait in the socket, and the loop
        would run the timers after reading only one burst."""
        if not self._closed:
            self._read(limit)

    def _on_readable(self, burst: int = _READ_BURST) -> None:
        self._read(burst)

    def _read(self, burst: int) -> int:
        """Deliver up to ``burst`` packets; how many were read."""
        if self.family == socket.AF_INET:
            return self._read4(burst)
        anc = socket.CMSG_SPACE(4) + socket.CMSG_SPACE(20) + _STAMP_SPACE
        wall_now, off = self._clocks()
        n = 0
        for n in range(burst):
            try:
                data, cmsgs, flags, addr = self.sock.recvmsg(_BUFSIZE, anc)
            except (BlockingIOError, InterruptedError):
                return n
            except OSError as exc:
                self._recv_failed(exc)
                return n
            self.stats.received += 1
            self._deliver(self._parse(data, cmsgs, addr, flags, wall_now, off), addr[0] if addr else None)
        return burst

    def _clocks(self) -> tuple[float, float]:
        """Unix time now, and what to add to a unix time to make it loop time
        (the kernel stamps packets with the former; the machines run on the latter)."""
        wall = time.time()
        loop = self._loop
        return wall, (loop.time() if loop is not None else time.monotonic()) - wall

    def _read4(self, burst: int) -> int:
        """``_read`` for IPv4: a raw IPv4 socket hands over the IP header, which
        holds all the receive rules need (TTL, source, destination), so the only
        ancillary data asked for is the arrival stamp (room for nothing else:
        issue 13 measured the IPv6 path's parsing at about 0.5 us an advert).  A
        64 KiB buffer holds any IPv4 packet whole (its total length is 16 bits),
        so nothing can be truncated; the sender's address is the header's
        source, read from there for a malformed packet's report."""
        recvmsg = self.sock.recvmsg
        unpack = _STAMP.unpack
        fast = self.fast
        stats = self.stats
        wall_now, off = self._clocks()
        oldest = wall_now - _STAMP_TRUST
        n = 0
        for n in range(burst):
            try:
                data, anc, _flags, _addr = recvmsg(_BUFSIZE, _STAMP_SPACE)
            except (BlockingIOError, InterruptedError):
                return n
            except OSError as exc:
                self._recv_failed(exc)
                return n
            stats.received += 1
            wall = wall_now                  # _arrival's rule, inline
            if anc and len(anc[0][2]) == 16:     # the only control message asked for
                sec, nsec = unpack(anc[0][2])
                t = sec + nsec * 1e-9
                if oldest <= t < wall_now:
                    wall = t
            if fast is not None:
                try:
                    if fast(data, wall + off, wall):
                        stats.delivered += 1
                        continue
                except Exception:  # a listener's bug must not stop the socket
                    log.exception("VRRP fast path failed on %s", self.ifname)
            self._deliver(self._parse4(data, wall + off, wall),
                          socket.inet_ntoa(data[12:16]) if len(data) >= 16 else None)
        return burst

    def _recv_failed(self, exc: OSError) -> None:
        self.stats.recv_errors += 1
        self.stats.last_error = f"recv: {exc}"
        log.warning("VRRP socket %s: receive failed: %s", self.ifname, exc)

    def _deliver(self, rx: Received | None, sender: str | None) -> None:
        """A parsed packet to the listeners, unless malformed (None) or our own."""
        if rx is None:
            self.stats.dropped_malformed += 1
            self._dropped("malformed", sender)
            return
        if self._is_own(rx.src):
            self.stats.dropped_own += 1
            self._dropped("own_source", rx.src)
            return
        self.stats.delivered += 1
        for fn in list(self._listeners):
            try:
                fn(rx)
            except Exception:  # a listener's bug must not stop the socket
                log.exception("VRRP listener failed on %s", self.ifname)

    def _dropped(self, kind: str, src: str | None) -> None:
        if self.on_drop is not None:
            try:
                self.on_drop(kind, src)
            except Exception:  # a listener's bug must not stop the socket
                log.exception("VRRP drop listener failed on %s", self.ifname)

    def _parse4(self, data: bytes, at: float | None = None, wall: float | None = None) -> Received | None:
        if len(data) < 20 or data[0] >> 4 != 4:
            return None
        ihl = (data[0] & 0x0F) * 4
        if ihl < 20 or len(data) < ihl:
            return None
        return Received(data[ihl:], socket.inet_ntoa(data[12:16]), socket.inet_ntoa(data[16:20]),
                        data[8], data, self.family, self.ifindex, at, wall)

    def _parse(self, data: bytes, cmsgs: list, addr: tuple, flags: int, wall_now: float,
               off: float) -> Received | None:
        """An IPv6 packet (``_read4`` reads IPv4 ones): the hop limit, the destination
        and the arrival from the ancillary data, as the kernel shows no IPv6 header."""
        if flags & _MSG_TRUNC:
            return None
        ttl, dst, idx, wall = -1, "", self.ifindex, wall_now
        for level, ctype, cdata in cmsgs:
            if level == socket.SOL_SOCKET and ctype == SO_TIMESTAMPNS:
                wall = _arrival(cdata, wall_now)
                continue
            if level != socket.IPPROTO_IPV6:
                continue
            if ctype == socket.IPV6_HOPLIMIT and len(cdata) >= 4:
                ttl = struct.unpack("i", cdata[:4])[0]
            elif ctype == socket.IPV6_PKTINFO and len(cdata) >= 20:
                dst = socket.inet_ntop(socket.AF_INET6, cdata[:16])
                idx = struct.unpack_from("I", cdata, 16)[0]
        src = addr[0].split("%")[0]
        return Received(data, src, dst, ttl, data, self.family, idx, wall + off, wall)

    # ---------------------------------------------------------------- sending

    def _sockaddr(self, dst: str) -> tuple:
        if self.family == socket.AF_INET:
            return (dst, 0)
        ip = ipaddress.IPv6Address(dst)
        scope = self.ifindex if (ip.is_multicast or ip.is_link_local) else 0
        return (dst, 0, 0, scope)

    def _pktinfo(self, src: str) -> list[tuple[int, int, bytes]]:
        if self.family == socket.AF_INET:
            info = struct.pack("I4s4s", self.ifindex, socket.inet_aton(src), bytes(4))
            return [(socket.IPPROTO_IP, IP_PKTINFO, info)]
        info = struct.pack("16sI", socket.inet_pton(socket.AF_INET6, src), self.ifindex)
        return [(socket.IPPROTO_IPV6, socket.IPV6_PKTINFO, info)]

    def _prepare(self, dst: str, src: str | None, ttl: int | None) -> tuple[list | None, tuple]:
        """The ancillary data (source, TTL) and destination address of a send, kept
        per (destination, source, ttl): a master of 255 instances at 0.1 s sends
        2550 adverts a second to the same few, and packing them each time was a
        visible part of its CPU.  Nothing else goes into them but the socket's
        ifindex, which a socket never changes (a re-created interface gets a new
        socket), and for a plain send the source IP_MULTICAST_IF has (a new one
        empties the cache).  None for the ancillary data: a plain sendto."""
        if (self.family == socket.AF_INET and src == self.src and not ttl
                and ipaddress.IPv4Address(dst).is_multicast):
            # the group from the socket's own source: IP_MULTICAST_IF already names the
            # interface and that source (the kernel takes both for a multicast without
            # IP_PKTINFO), so a plain sendto, without ancillary data to build and parse
            anc = None
        else:
            anc = self._pktinfo(src) if src else []
            if ttl:
                level, name = ((socket.IPPROTO_IP, socket.IP_TTL) if self.family == socket.AF_INET
                               else (socket.IPPROTO_IPV6, socket.IPV6_HOPLIMIT))
                anc.append((level, name, struct.pack("i", ttl)))
        prepared = (anc, self._sockaddr(dst))
        if len(self._prepared) >= _PREPARED_MAX:      # only a config's peers and sources: bounded anyway
            self._prepared.clear()
        self._prepared[(dst, src, ttl)] = prepared
        return prepared

    def send(self, payload: bytes, dst: str | None = None, *, src: str | None = None,
             ttl: int | None = None) -> bool:
        """Send one VRRP message to ``dst`` (default: the first joined group,
        else the RFC group).  ``src`` overrides the socket's source for this
        packet (unicast_src_ip), ``ttl`` its TTL / hop limit (unicast_ttl;
        otherwise 255).  Failures are counted and logged, never raised: a
        send error must not take the daemon down."""
        if dst is None:
            dst = next(iter(self._groups), DEFAULT_GROUPS[self.family])
        src = src or self.src
        try:
            prepared = self._prepared.get((dst, src, ttl))
            if prepared is None:
                prepared = self._prepare(dst, src, ttl)
            anc, addr = prepared
            if anc is None:
                self.sock.sendto(payload, addr)
            else:
                self.sock.sendmsg([payload], anc, 0, addr)
        except (OSError, ValueError) as exc:
            self.stats.send_errors += 1
            msg = f"send to {dst}: {exc}"
            if msg != self.stats.last_error:
                log.warning("VRRP socket %s: %s", self.ifname, msg)
            self.stats.last_error = msg
            return False
        self.stats.sent += 1
        return True

    # -------------------------------------------------------------- lifetime

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._resting is not None:
            self._resting.cancel()
            self._resting = None
        if self._loop is not None and not self._loop.is_closed():
            try:
                self._loop.remove_reader(self.sock.fileno())
            except (ValueError, OSError):
                pass
        self._loop = None
        self.sock.close()

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> "VrrpSocket":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        fam = "inet" if self.family == socket.AF_INET else "inet6"
        return f"<VrrpSocket {self.ifname} {fam} src={self.src} groups={list(self._groups)}>"
