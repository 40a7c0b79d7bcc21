"""Link and address events from netlink, as small typed events.

VRRP instances go to FAULT when their interface loses carrier or is set down,
and the VRRP socket needs to know this host's addresses; both come from here.

The watch keeps the current state (links by index, addresses) and delivers
only changes.  A netlink event socket that overflows (ENOBUFS) has lost
events for good, so the watch then opens a fresh socket, dumps everything,
and re-delivers the current state (preceded by ``Resynced``), so consumers
converge without having to reason about what they missed.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
from dataclasses import dataclass, replace
from typing import Callable, Iterable, Union

from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.netlink.rtnl import RTMGRP_IPV4_IFADDR, RTMGRP_IPV6_IFADDR, RTMGRP_LINK

from vipdeck.engine.net import rtnl
from vipdeck.engine.net.addresses import LocalAddresses, normalise

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LinkChanged:
    ifname: str
    up: bool                # administratively up AND running (carrier)
    index: int = 0
    admin_up: bool = False
    carrier: bool = False
    removed: bool = False   # the link was deleted


@dataclass(frozen=True)
class AddressChanged:
    ifname: str
    address: str
    prefixlen: int
    family: int
    added: bool
    index: int = 0
    label: str | None = None


@dataclass(frozen=True)
class Resynced:
    """Events were lost (``reason``); the current state follows."""

    reason: str


NetEvent = Union[LinkChanged, AddressChanged, Resynced]
Callback = Callable[[NetEvent], None]


def link_event(msg, removed: bool = False) -> LinkChanged:
    flags = msg.get("flags", 0) or 0
    admin = bool(flags & rtnl.IFF_UP)
    carrier = bool(flags & rtnl.IFF_RUNNING)
    return LinkChanged(msg.get("ifname") or f"if{msg['index']}", admin and carrier and not removed,
                       msg["index"], admin, carrier, removed)


_AddrKey = tuple[int, int, str, int]   # index, family, address, prefixlen


class LinkWatch:
    """Watches links and addresses in one namespace (``netns`` or ours)."""

    def __init__(self, callback: Callback | None = None, *, netns: str | None = None,
                 rcvbuf: int = 1 << 20) -> None:
        self._callbacks: list[Callback] = [callback] if callback else []
        self.netns = netns
        self._rcvbuf = rcvbuf
        self.links: dict[int, LinkChanged] = {}
        self._addrs: dict[_AddrKey, AddressChanged] = {}
        self.addresses = LocalAddresses()
        self.resyncs = 0
        self._ev = None
        self._task: asyncio.Task | None = None
        self._stopping = False
        self._staged: list[NetEvent] = []

    # ---------------------------------------------------------------- public

    def add_listener(self, fn: Callback) -> None:
        self._callbacks.append(fn)

    def link(self, ifname: str) -> LinkChanged | None:
        for link in self.links.values():
            if link.ifname == ifname:
                return link
        return None

    def is_up(self, ifname: str) -> bool:
        link = self.link(ifname)
        return bool(link and link.up)

    def addresses_on(self, ifname: str) -> list[AddressChanged]:
        return [a for a in self._addrs.values() if a.ifname == ifname]

    async def start(self, deliver_initial: bool = True) -> None:
        """Subscribe, then dump (events that race the dump are applied after
        it, so nothing falls between the two)."""
        self._stopping = False
        await self._open_events()
        await self._dump(deliver=deliver_initial)
        self._task = asyncio.create_task(self._run(), name="linkwatch")

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
            self._task = None
        self._close_events()

    async def __aenter__(self) -> "LinkWatch":
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -------------------------------------------------------------- internals

    async def _open_events(self) -> None:
        self._close_events()
        ev = rtnl.iproute(self.netns, rcvbuf=self._rcvbuf)
        await ev.bind(groups=RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR)
        self._ev = ev

    def _close_events(self) -> None:
        if self._ev is not None:
            try:
                self._ev.close()
            except Exception:
                pass
            self._ev = None

    def _emit(self, event: NetEvent) -> None:
        for fn in list(self._callbacks):
            try:
                fn(event)
            except Exception:  # one consumer's bug must not blind the others
                log.exception("link watch consumer failed on %s", event)

    async def _run(self) -> None:
        backoff = 0.05
        while not self._stopping:
            if self._ev is None:            # an earlier re-open failed: keep trying
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
                await self._resync("event socket re-opened")
                continue
            try:
                got = 0
                async for msg in self._ev.get():
                    got += 1
                    self._handle(msg)
                if got == 0 and not self._stopping:
                    raise ConnectionResetError(errno.ECONNRESET, "netlink event socket closed")
                backoff = 0.05
            except asyncio.CancelledError:
                raise
            except (OSError, NetlinkError) as exc:
                if self._stopping:
                    return
                code = exc.errno if isinstance(exc, OSError) else exc.code
                if code == errno.ENOBUFS:
                    reason = "ENOBUFS: event socket overflowed"
                else:
                    reason = f"netlink error {code}: {exc}"
                    await asyncio.sleep(backoff)   # do not spin on a persistent error
                    backoff = min(backoff * 2, 2.0)
                log.warning("link watch lost events (%s); re-dumping", reason)
                await self._resync(reason)
            except Exception:
                log.exception("link watch: unexpected error handling an event")
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)

    async def _resync(self, reason: str) -> None:
        try:
            await self._open_events()
            await self._dump(deliver=False, stage=True)
        except (OSError, NetlinkError) as exc:
            log.warning("link watch could not re-dump: %s", exc)
            self._close_events()
            return
        self.resyncs += 1
        self._emit(Resynced(reason))
        self._deliver_staged()

    async def _dump(self, deliver: bool, stage: bool = False) -> None:
        """Replace the state with a fresh dump and deliver the differences.
        With ``stage`` the differences are held for ``_deliver_staged``, which
        re-delivers every link and address (the state after a resync)."""
        links: dict[int, LinkChanged] = {}
        addrs: dict[_AddrKey, AddressChanged] = {}
        async with rtnl.iproute(self.netns) as ipr:
            async for msg in await ipr.link("dump"):
                ev = link_event(msg)
                links[ev.index] = ev
            async for msg in await ipr.addr("dump"):
                a = self._addr_event(msg, True, links)
                if a is not None:
                    addrs[self._key(a)] = a
        old_links, old_addrs = self.links, self._addrs
        self.links, self._addrs = links, addrs
        self.addresses.replace(a.address for a in addrs.values())
        gone: list[NetEvent] = [LinkChanged(old.ifname, False, idx, False, False, removed=True)
                                for idx, old in old_links.items() if idx not in links]
        gone += [replace(old, added=False) for key, old in old_addrs.items() if key not in addrs]
        if stage:
            self._staged = gone + list(links.values()) + list(addrs.values())
            return
        if not deliver:
            return
        for ev in gone:
            self._emit(ev)
        for idx, ev in links.items():
            if old_links.get(idx) != ev:
                self._emit(ev)
        for key, a in addrs.items():
            if key not in old_addrs:
                self._emit(a)

    def _deliver_staged(self) -> None:
        staged, self._staged = self._staged, []
        for ev in staged:
            self._emit(ev)

    @staticmethod
    def _key(a: AddressChanged) -> _AddrKey:
        return (a.index, a.family, a.address, a.prefixlen)

    def _addr_event(self, msg, added: bool, links: dict[int, LinkChanged] | None = None) -> AddressChanged | None:
        addr = rtnl.addr_of(msg)
        if addr is None:
            return None
        idx = msg.get("index", 0)
        link = (links if links is not None else self.links).get(idx)
        return AddressChanged(link.ifname if link else f"if{idx}", normalise(addr), msg.get("prefixlen", 0),
                              msg.get("family", 0), added, idx, msg.get("label"))

    def _handle(self, msg) -> None:
        kind = msg["header"]["type"]
        if kind == rtnl.RTM_NEWLINK:
            ev = link_event(msg)
            if self.links.get(ev.index) != ev:
                self.links[ev.index] = ev
                self._emit(ev)
        elif kind == rtnl.RTM_DELLINK:
            old = self.links.pop(msg["index"], None)
            name = msg.get("ifname") or (old.ifname if old else f"if{msg['index']}")
            self._emit(LinkChanged(name, False, msg["index"], False, False, removed=True))
        elif kind in (rtnl.RTM_NEWADDR, rtnl.RTM_DELADDR):
            added = kind == rtnl.RTM_NEWADDR
            a = self._addr_event(msg, added)
            if a is None:
                return
            key = self._key(a)
            if added:
                if key in self._addrs:
                    return   # flags/lifetime update of an address we know
                self._addrs[key] = a
                self.addresses.add(a.address)
            else:
                if self._addrs.pop(key, None) is None:
                    return
                self.addresses.discard(a.address)
            self._emit(a)


# ----------------------------------------------------------------- one-shot queries


async def link_state(ifname: str, *, netns: str | None = None, ipr=None) -> bool:
    """True when ``ifname`` is administratively up and running (has carrier).
    A missing interface is down."""
    async def query(r) -> bool:
        async for msg in await r.link("dump"):
            if msg.get("ifname") == ifname:
                return link_event(msg).up
        return False

    if ipr is not None:
        return await query(ipr)
    async with rtnl.iproute(netns) as r:
        return await query(r)


async def primary_address(ifname: str, family: int = socket.AF_INET, *, netns: str | None = None,
                          exclude: Iterable[str] = (), ipr=None) -> str | None:
    """The address VRRP uses as its source on ``ifname``.

    IPv4: the first primary (non-secondary) address labelled with the
    interface's own name -- VIPs carrying a label such as ``eth0:0`` never
    qualify, and ``exclude`` drops known VIPs without a label.
    IPv6: the link-local address (RFC 5798 §5.1.2.1), else the first usable
    global one.
    """
    skip = {normalise(a) for a in exclude}

    async def query(r) -> str | None:
        idx = await rtnl.ifindex_of(r, ifname)
        if idx is None:
            return None
        cands: list[tuple[int, str]] = []
        async for msg in await r.addr("dump"):
            if msg.get("index") != idx or msg.get("family") != family:
                continue
            addr = rtnl.addr_of(msg)
            if addr is None or normalise(addr) in skip:
                continue
            flags = msg.get("flags", 0) or 0
            if family == socket.AF_INET:
                if flags & rtnl.IFA_F_SECONDARY:
                    continue
                rank = 0 if (msg.get("label") or ifname) == ifname else 1
            else:
                if flags & (rtnl.IFA_F_TENTATIVE | rtnl.IFA_F_DADFAILED):
                    continue
                rank = 0 if addr.lower().startswith("fe80") else 1
            cands.append((rank, normalise(addr)))
        return min(cands, key=lambda c: c[0])[1] if cands else None   # min is stable: dump order kept

    if ipr is not None:
        return await query(ipr)
    async with rtnl.iproute(netns) as r:
        return await query(r)
