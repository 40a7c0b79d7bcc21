"""Adding and removing virtual IP addresses over netlink.

Every operation is idempotent and says whether it changed anything: the
daemon re-applies its desired state after restarts and reloads, and a VIP
that is already there (or already gone) is the normal case, not an error.
IPv6 VIPs are added with IFA_F_NODAD: a master must answer for its VIP at
once, not after a second of duplicate address detection (keepalived does the
same).
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import logging
import os
import socket
from dataclasses import dataclass
from typing import Iterable

from pyroute2.netlink.exceptions import NetlinkError

from vipdeck.engine.net import addrmsg, rtnl

log = logging.getLogger(__name__)

SCOPES = {"global": 0, "universe": 0, "site": 200, "link": 253, "host": 254, "nowhere": 255}
_SCOPE_NAMES = {0: "global", 200: "site", 253: "link", 254: "host", 255: "nowhere"}
LABEL_MAX = 15


@dataclass(frozen=True)
class Vip:
    """One virtual address as the kernel sees it.  ``address`` has no prefix;
    ``prefixlen`` None means /32 (IPv4) or /128 (IPv6)."""

    address: str
    prefixlen: int | None
    dev: str
    label: str | None = None
    broadcast: str | None = None
    scope: str | int | None = None

    def __post_init__(self) -> None:
        try:
            ip = ipaddress.ip_address(self.address)
        except ValueError:
            raise ValueError(f"address: {self.address!r} is not an IP address (no /prefix here)") from None
        set_ = object.__setattr__
        set_(self, "address", str(ip))
        full = 32 if ip.version == 4 else 128
        if self.prefixlen is None:
            set_(self, "prefixlen", full)
        elif not isinstance(self.prefixlen, int) or isinstance(self.prefixlen, bool) \
                or not 0 <= self.prefixlen <= full:
            raise ValueError(f"prefixlen: {self.prefixlen!r} is not within 0..{full} for {self.address}")
        if not self.dev or len(self.dev.encode()) > 15:
            raise ValueError(f"dev: {self.dev!r} is not a valid interface name")
        if self.label is not None:
            if ip.version == 6:
                raise ValueError(f"label: IPv6 addresses carry no label ({self.address} label {self.label})")
            if not self.label or len(self.label.encode()) > LABEL_MAX:
                raise ValueError(f"label: {self.label!r} must be 1..{LABEL_MAX} characters")
        if self.broadcast is not None:
            if ip.version == 6:
                raise ValueError(f"broadcast: IPv6 has no broadcast ({self.address} brd {self.broadcast})")
            try:
                set_(self, "broadcast", str(ipaddress.IPv4Address(self.broadcast)))
            except ValueError:
                raise ValueError(f"broadcast: {self.broadcast!r} is not an IPv4 address") from None
        if self.scope is not None:
            self.scope_id  # validates

    @classmethod
    def parse(cls, cidr: str, dev: str, **kw) -> "Vip":
        """``Vip.parse("198.18.0.100/24", "eth0", label="eth0:0")``."""
        addr, _, plen = cidr.partition("/")
        if plen and not plen.isdigit():
            raise ValueError(f"prefixlen: {plen!r} in {cidr!r} is not a number")
        return cls(addr, int(plen) if plen else None, dev, **kw)

    @property
    def family(self) -> int:
        return socket.AF_INET6 if ":" in self.address else socket.AF_INET

    @property
    def scope_id(self) -> int:
        s = self.scope
        if s is None:
            return 0
        if isinstance(s, int) and not isinstance(s, bool):
            if 0 <= s <= 255:
                return s
        elif isinstance(s, str):
            if s.lower() in SCOPES:
                return SCOPES[s.lower()]
            if s.isdigit() and int(s) <= 255:
                return int(s)
        raise ValueError(f"scope: {s!r} is not one of {', '.join(SCOPES)} or 0..255")

    def __str__(self) -> str:
        extra = f" label {self.label}" if self.label else ""
        return f"{self.address}/{self.prefixlen} dev {self.dev}{extra}"


def _code(exc: NetlinkError) -> int:
    return getattr(exc, "code", 0)


MAX_IN_FLIGHT = 16


class VipManager:
    """VIP operations on one namespace's interfaces (``netns`` or ours).

    Opens its rtnetlink socket lazily, inside the running loop.
    """

    def __init__(self, *, netns: str | None = None, ipr=None) -> None:
        self.netns = netns
        self._ipr = ipr
        self._own = ipr is None
        # netlink requests in flight at once: each holds pyroute2's request
        # objects until its answer, and 255 instances becoming master at
        # once put all their VIPs' requests up together; their peak stayed
        # in the daemon's resident memory (issue 13).  The kernel answers in
        # microseconds, so a few in flight keep the socket as busy.
        self._slots = asyncio.Semaphore(MAX_IN_FLIGHT)
        # adds and removes as bytes on a socket of our own (engine/net/addrmsg.py:
        # pyroute2's request path cost ~390 us per VIP); pyroute2's, with a given ipr
        self._addr = addrmsg.AddrSocket(netns) if ipr is None else None

    async def _r(self):
        if self._ipr is None:
            self._ipr = rtnl.iproute(self.netns)
        return self._ipr

    async def close(self) -> None:
        if self._ipr is not None and self._own:
            self._ipr.close()
        self._ipr = None
        if self._addr is not None:
            self._addr.close()

    async def _request(self, add: bool, vip: Vip, idx: int) -> int:
        """The kernel's errno for adding / removing ``vip`` (0: done)."""
        flags = rtnl.IFA_F_NODAD if add and vip.family == socket.AF_INET6 else 0
        if self._addr is not None:
            message = addrmsg.encode(add, vip.family, vip.address, vip.prefixlen, idx, vip.scope_id if add else 0,
                                     vip.label if add else None, vip.broadcast if add else None, flags)
            try:
                return await self._addr.request(message)
            except OSError as exc:      # the socket itself failed (ENOBUFS, no answer...): say for which VIP
                raise OSError(exc.errno, f"{'adding' if add else 'removing'} {vip}: "
                                         f"{exc.strerror or exc}") from exc
        kw: dict = {"index": idx, "address": vip.address, "prefixlen": vip.prefixlen, "family": vip.family}
        if add:
            kw["scope"] = vip.scope_id
            if vip.label:
                kw["label"] = vip.label
            if vip.broadcast:
                kw["broadcast"] = vip.broadcast
            if flags:
                kw["flags"] = flags
        try:
            async with self._slots:
                await (await self._r()).addr("add" if add else "del", **kw)
        except NetlinkError as exc:
            return _code(exc) or errno.EIO
        return 0

    async def __aenter__(self) -> "VipManager":
        await self._r()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _index(self, dev: str) -> int:
        if self.netns is None and self._own:
            # our own namespace: one ioctl.  pyroute2's link lookup parsed a
            # whole RTM_NEWLINK reply (and left request objects in reference
            # cycles) for every VIP added or removed: with 255 instances
            # becoming master at once that garbage raised the daemon's peak,
            # and so its resident memory, by megabytes (issue 13)
            try:
                return socket.if_nametoindex(dev)
            except OSError:
                raise LookupError(f"dev: no interface named {dev!r}") from None
        idx = await rtnl.ifindex_of(await self._r(), dev)
        if idx is None:
            raise LookupError(f"dev: no interface named {dev!r}")
        return idx

    async def add(self, vip: Vip) -> bool:
        """Add ``vip``; False when it was already there (EEXIST)."""
        idx = await self._index(vip.dev)
        code = await self._request(True, vip, idx)
        if code == errno.EEXIST:
            return False
        if code:
            hint = ""
            if code == errno.EINVAL and vip.scope is not None:
                hint = " (scope must match the primary address of the same subnet)"
            raise OSError(code, f"adding {vip}: {os.strerror(code)}{hint}")
        log.info("added VIP %s", vip)
        return True

    async def remove(self, vip: Vip) -> bool:
        """Remove ``vip``; False when it was not there (EADDRNOTAVAIL)."""
        try:
            idx = await self._index(vip.dev)
        except LookupError:
            return False     # the interface is gone, and the address with it
        code = await self._request(False, vip, idx)
        if code in (errno.EADDRNOTAVAIL, errno.ENODEV):
            return False
        if code:
            raise OSError(code, f"removing {vip}: {os.strerror(code)}")
        log.info("removed VIP %s", vip)
        return True

    async def present(self, vip: Vip) -> bool:
        """Whether ``vip``'s address is on its interface (any prefix)."""
        return any(v.address == vip.address for v in await self.list_on(vip.dev))

    async def list_on(self, ifname: str) -> list[Vip]:
        """Every address on ``ifname`` (primary ones included), as ``Vip``."""
        r = await self._r()
        idx = await rtnl.ifindex_of(r, ifname)
        if idx is None:
            return []
        out = []
        async for msg in await r.addr("dump"):
            if msg.get("index") != idx:
                continue
            addr = rtnl.addr_of(msg)
            if addr is None:
                continue
            v6 = msg.get("family") == socket.AF_INET6
            label = None if v6 else msg.get("label")
            scope = msg.get("scope", 0)
            out.append(Vip(addr, msg.get("prefixlen"), ifname, label,
                           None if v6 else msg.get("broadcast"), _SCOPE_NAMES.get(scope, scope)))
        return out

    async def addresses(self) -> set[str]:
        """Every address on the host (any interface), normalised: one dump."""
        out = set()
        async for msg in await (await self._r()).addr("dump"):
            addr = rtnl.addr_of(msg)
            if addr is not None:
                out.add(_norm(addr))
        return out

    async def remove_stale(self, vips: Iterable[Vip], present: set[str] | None = None) -> list[Vip]:
        """Remove those of ``vips`` still present (left by a crashed run);
        returns what was removed.  One failure does not stop the others.
        ``present`` (from :meth:`addresses`) skips, without asking the
        kernel, every VIP whose address is on no interface at all: at the
        start of 10,000 instances a lookup and a delete each took 17 s."""
        removed = []
        for vip in vips:
            if present is not None and _norm(vip.address) not in present:
                continue
            try:
                if await self.remove(vip):
                    removed.append(vip)
            except OSError as exc:
                log.warning("could not remove stale VIP %s: %s", vip, exc)
        return removed


def _norm(address: str) -> str:
    try:
        return ipaddress.ip_address(address.split("%", 1)[0]).compressed
    except ValueError:
        return address
