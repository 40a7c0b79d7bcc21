"""VRRP virtual MAC interfaces (keepalived's use_vmac), over netlink.

RFC 5798 7.3: a virtual router answers for its VIPs with 00:00:5e:00:01:VRID
(00:00:5e:00:02:VRID for IPv6), so when another router takes over, hosts and
switches need learn nothing new but the port.  Like keepalived
(vrrp_vmac.c, vrrp_if_config.c) the VIPs live on a macvlan carrying that MAC:

* mode *private* (it never talks to its sibling macvlans), made on the
  instance's interface, named ``vrrp.VRID`` unless configured;
* IPv6 address generation off before it comes up (no EUI-64 link-local of the
  virtual MAC: RFC 5798 7.4), IPv6 disabled altogether on an IPv4 VMAC;
* for IPv4, keepalived's sysctls: on the VMAC arp_ignore=1, accept_local=1,
  rp_filter=0, promote_secondaries=1; on its base interface arp_ignore=1 and
  arp_filter=1, so the base never answers ARP for a VIP with its own MAC,
  and (beyond keepalived) arp_announce=2, so the base never *asks* with a VIP
  as sender either (see BASE_SYSCTLS); the base's old values are put back
  when its last VMAC goes (keepalived 2.2.7 means to and, as observed,
  leaves them at 1); a non-zero
  all.rp_filter is moved onto every interface and cleared, and put back at
  the end, as keepalived does;
* an IPv6 VMAC that sends adverts gets the base interface's link-local
  address (the adverts' source), added without DAD, as keepalived.

A name that exists already is deleted first if it is a macvlan (a crashed
run's, or one with the wrong MAC, mode or base) and refused otherwise: we
never delete an interface we could not have made.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
from dataclasses import dataclass, field

from pyroute2.netlink.exceptions import NetlinkError

from vipdeck.engine.net import rtnl

log = logging.getLogger(__name__)

VMAC_SYSCTLS = {"arp_ignore": "1", "accept_local": "1", "rp_filter": "0", "promote_secondaries": "1"}
# keepalived's two, plus arp_announce: the master's own ARP requests leave from the base
# (replies to clients are routed there), and with arp_announce 0 they carry the VIP as
# sender, so every client that talks to the VIP learns the base's MAC for it and the
# virtual MAC is lost at the first ping (keepalived 2.2.7 does exactly that, observed)
BASE_SYSCTLS = {"arp_ignore": "1", "arp_filter": "1", "arp_announce": "2"}


class VmacError(OSError):
    """A VMAC could not be made (the message says which and why)."""


def sysctl_path(*parts: str) -> str:
    return os.path.join("/proc/sys/net", *parts)


def read_sysctl(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def write_sysctl(path: str, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


def eui64_link_local(mac: str) -> str:
    """fe80::/64 from a MAC (keepalived's make_link_local_address), for a base without one."""
    b = bytes.fromhex(mac.replace(":", ""))
    iid = bytes([b[0] ^ 0x02, b[1], b[2], 0xFF, 0xFE, b[3], b[4], b[5]])
    return socket.inet_ntop(socket.AF_INET6, bytes.fromhex("fe80000000000000") + iid)


@dataclass
class Made:
    """A VMAC this run made."""

    name: str
    base: str
    mac: str
    family: int
    index: int
    link_local: str | None = None
    base_index: int = 0


@dataclass
class _BaseConf:
    """The base interface's ARP settings before its first VMAC, and how many it has."""

    saved: dict[str, str] = field(default_factory=dict)
    users: int = 0


class VmacManager:
    """Makes and removes VMACs in this process's namespace (the daemon's)."""

    def __init__(self, ipr=None, *, sysctl_root: str = "/proc/sys/net") -> None:
        self._ipr = ipr
        self._own = ipr is None
        self.made: dict[str, Made] = {}
        self._bases: dict[str, _BaseConf] = {}
        self._rp_filter: dict[str, str] | None = None     # what all/default/each interface had, when we cleared it
        self._deleting: set[str] = set()
        self._root = sysctl_root

    async def _r(self):
        if self._ipr is None:
            self._ipr = rtnl.iproute()
        return self._ipr

    def deleting(self, name: str) -> bool:
        """Whether a removal of ``name`` is ours (a link event for it is not news)."""
        return name in self._deleting

    # ------------------------------------------------------------------ sysctls

    def _conf(self, fam: str, ifname: str, key: str) -> str:
        return os.path.join(self._root, fam, "conf", ifname, key)

    def _set(self, fam: str, ifname: str, key: str, value: str) -> None:
        try:
            write_sysctl(self._conf(fam, ifname, key), value)
        except OSError as exc:
            log.warning("sysctl net.%s.conf.%s.%s=%s failed: %s", fam, ifname, key, value, exc)

    def _clear_rp_filter(self) -> None:
        """keepalived's clear_rp_filter: a VMAC's replies leave through its base,
        which strict reverse-path filtering would drop; all.rp_filter is the
        maximum of it and each interface's, so move it onto them and clear it."""
        if self._rp_filter is not None:
            return
        all_v = read_sysctl(self._conf("ipv4", "all", "rp_filter"))
        if all_v in (None, "0"):
            return
        saved = {"all": all_v}
        base = os.path.join(self._root, "ipv4", "conf")
        for name in sorted(os.listdir(base)):
            if name == "all":
                continue
            v = read_sysctl(self._conf("ipv4", name, "rp_filter"))
            if v is not None and v.isdigit() and int(v) < int(all_v):
                saved[name] = v
                self._set("ipv4", name, "rp_filter", all_v)
        self._set("ipv4", "all", "rp_filter", "0")
        log.info("net.ipv4.conf.all.rp_filter %s moved onto the interfaces and set to 0 (use_vmac)", all_v)
        self._rp_filter = saved

    def _restore_rp_filter(self) -> None:
        saved, self._rp_filter = self._rp_filter, None
        if not saved:
            return
        all_v = saved.pop("all")
        if read_sysctl(self._conf("ipv4", "all", "rp_filter")) == "0":
            self._set("ipv4", "all", "rp_filter", all_v)
        for name, v in saved.items():
            if read_sysctl(self._conf("ipv4", name, "rp_filter")) == all_v:     # unless changed since
                self._set("ipv4", name, "rp_filter", v)

    def _base_acquire(self, base: str) -> None:
        conf = self._bases.setdefault(base, _BaseConf())
        if conf.users == 0:
            conf.saved = {}
            for key, value in BASE_SYSCTLS.items():
                old = read_sysctl(self._conf("ipv4", base, key))
                if old is not None and old != value:
                    conf.saved[key] = old
                    self._set("ipv4", base, key, value)
        conf.users += 1

    def _base_release(self, base: str) -> None:
        conf = self._bases.get(base)
        if conf is None or conf.users == 0:
            return
        conf.users -= 1
        if conf.users == 0:
            for key, old in conf.saved.items():
                self._set("ipv4", base, key, old)
            del self._bases[base]

    # ------------------------------------------------------------------ links

    async def _link(self, name: str):
        r = await self._r()
        idx = await rtnl.ifindex_of(r, name)
        if idx is None:
            return None
        async for msg in await r.link("dump", index=idx):
            return msg
        return None

    async def ensure(self, name: str, base: str, mac: str, family: int, *, with_link_local: bool = False,
                     link_local: str | None = None, before_up=None) -> Made:
        """Make the VMAC ``name`` on ``base`` with ``mac`` (an existing macvlan of
        that name is replaced).  ``with_link_local``: an IPv6 VMAC that sends
        adverts gets ``link_local`` (the base's link-local address; made from
        the base's MAC when it has none, as keepalived).  ``before_up(made)`` is
        awaited while it exists but is still down (firewall rules that must be
        in place before it sends its first frame)."""
        r = await self._r()
        base_msg = await self._link(base)
        if base_msg is None:
            raise VmacError(errno.ENODEV, f"VMAC {name}: its interface {base} does not exist")
        base_idx = base_msg["index"]
        old = await self._link(name)
        if old is not None:
            kind = old.get(("linkinfo", "kind"))
            if kind != "macvlan":
                raise VmacError(errno.EEXIST, f"VMAC {name}: an interface of that name exists and is not a "
                                f"macvlan ({kind or 'a physical interface'}); it is left alone")
            await self._delete(name, old["index"])
            log.info("VMAC %s: replaced the macvlan of that name (left by an earlier run, or not as configured)",
                     name)
        try:
            await r.link("add", ifname=name, kind="macvlan", link=base_idx, macvlan_mode="private", address=mac)
        except NetlinkError as exc:
            raise VmacError(exc.code, f"VMAC {name} on {base}: {exc}") from None
        msg = await self._link(name)
        if msg is None:
            raise VmacError(errno.ENODEV, f"VMAC {name} vanished right after it was made")
        idx = msg["index"]
        made = Made(name, base, mac, family, idx, base_index=base_idx)
        self.made[name] = made
        # before it comes up: no link-local from the virtual MAC (RFC 5798 7.4)
        self._set("ipv6", name, "addr_gen_mode", "1")
        if family == 4:
            self._set("ipv6", name, "disable_ipv6", "1")
            self._clear_rp_filter()
            for key, value in VMAC_SYSCTLS.items():
                self._set("ipv4", name, key, value)
            self._base_acquire(base)
        if family == 6 and with_link_local:
            made.link_local = link_local or eui64_link_local(base_msg.get("address") or "00:00:00:00:00:00")
        if before_up is not None:
            await before_up(made)
        try:
            await r.link("set", index=idx, state="up")
        except NetlinkError as exc:
            raise VmacError(exc.code, f"VMAC {name}: cannot be set up: {exc}") from None
        if made.link_local:
            try:
                await r.addr("add", index=idx, address=made.link_local, prefixlen=64, family=socket.AF_INET6,
                             flags=rtnl.IFA_F_NODAD)
            except NetlinkError as exc:
                if exc.code != errno.EEXIST:
                    log.warning("VMAC %s: link-local %s not added: %s", name, made.link_local, exc)
        log.info("VMAC %s made on %s with %s", name, base, mac)
        return made

    async def _delete(self, name: str, index: int) -> None:
        self._deleting.add(name)
        try:
            await (await self._r()).link("del", index=index)
        except NetlinkError as exc:
            if exc.code not in (errno.ENODEV, errno.ENOENT):
                raise VmacError(exc.code, f"VMAC {name}: cannot be removed: {exc}") from None

    async def remove(self, name: str) -> bool:
        """Remove a VMAC we made (its addresses go with it); False if it was gone."""
        made = self.made.pop(name, None)
        if made is None:
            return False
        if made.family == 4:
            self._base_release(made.base)
        msg = await self._link(name)
        if msg is None or msg["index"] != made.index:
            return False
        await self._delete(name, made.index)
        log.info("VMAC %s removed", name)
        return True

    def forget(self, name: str) -> Made | None:
        """The kernel removed it (its base was deleted): nothing left to delete,
        but the base's settings are given back."""
        made = self.made.pop(name, None)
        if made is not None and made.family == 4:
            self._base_release(made.base)
        return made

    def done_deleting(self, name: str) -> None:
        self._deleting.discard(name)

    async def close(self) -> None:
        """Remove every VMAC we made and put the sysctls back (at exit)."""
        for name in list(self.made):
            try:
                await self.remove(name)
            except OSError as exc:
                log.warning("%s", exc)
        for base in list(self._bases):
            conf = self._bases.pop(base)
            for key, old in conf.saved.items():
                self._set("ipv4", base, key, old)
        self._restore_rp_filter()
        if self._ipr is not None and self._own:
            self._ipr.close()
        self._ipr = None
