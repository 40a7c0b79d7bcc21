"""Our nftables tables: no_accept drops and VMAC MLD moves, as keepalived's.

RFC 5798's Accept_Mode false (keepalived's ``no_accept``, the default for a
non-owner in strict mode) means a master that does not own its VIPs must not
accept packets addressed to them.  keepalived does it with nftables
(vrrp_nftables.c) and so do we, in tables of our own (``ip`` and ``ip6``,
named ``vipdeck`` unless ``nftables NAME``), laid out as keepalived's so what
operators know of ``nft list table ip keepalived`` still applies:

* chains ``in`` / ``out`` hooked at input / output, priority -1
  (``nftables_priority``), policy accept;
* set ``vips``: a master's VIPs, dropped as destination (in) and source (out);
  IPv6 neighbour discovery is accepted first (the VIP must still be
  resolvable), link-local VIPs are matched with their interface
  (``vips_link_local``: address . interface index);
* for VMACs (use_vmac): IGMP (IPv4) and MLD (IPv6) reports leaving a VMAC
  are duplicated onto its base interface and dropped, IPv6 router
  solicitations from it are dropped (``vmac_map``, ``vmac_set``), and so are
  its neighbour adverts for the link-local address it shares with its base
  (``vmac_link_local``; the base answers), so no
  frame with the virtual MAC leaves a router that is not master (a switch
  would learn the MAC at the wrong port): the VRRP socket joins its group on
  the VMAC, so the kernel reports it there;
* (table ``arp``, beyond keepalived) a VMAC's ARP replies to its own virtual
  MAC are dropped: when another router takes over, its gratuitous ARP
  requests reach the old master while that one still holds the VIP (for the
  few milliseconds it takes to hear the new master's advert and remove it),
  and the kernel's reply, from the virtual MAC, would point the switches back
  at the old master until the new one's next advert.

Rules are made once per run when first needed; elements come and go with the
instances.  At start a table of ours left by a crash is deleted (its drops
would outlive the instance that wanted them); at exit ours are deleted.
Everything goes through ``nft -f -`` in one transaction per change: a change
the kernel refuses changes nothing.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import shutil
from collections import Counter
from dataclasses import dataclass
from typing import Iterable

from vipdeck.engine.config.model import NFTABLES_TABLE

log = logging.getLogger(__name__)

DEFAULT_TABLE = NFTABLES_TABLE
ARP = 0                 # our "family" key for the arp table
LINK_LOCAL = ipaddress.ip_network("fe80::/10")


@dataclass(frozen=True)
class Blocked:
    """One VIP a no_accept master holds: its address and the interface it is on."""

    address: str
    dev: str

    @property
    def family(self) -> int:
        return 6 if ":" in self.address else 4

    def element(self) -> tuple[str, str]:
        """(set, element) as nft writes them."""
        if self.family == 6 and ipaddress.ip_address(self.address) in LINK_LOCAL:
            return "vips_link_local", f'{self.address} . "{self.dev}"'
        return "vips", self.address


class NftError(OSError):
    """nft refused a change (the message is its own)."""


async def run_nft(script: str) -> None:
    """Apply ``script`` with ``nft -f -`` (one transaction)."""
    proc = await asyncio.create_subprocess_exec("nft", "-f", "-", stdin=asyncio.subprocess.PIPE,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _out, err = await proc.communicate(script.encode())
    if proc.returncode != 0:
        raise NftError(proc.returncode, err.decode(errors="replace").strip() or f"nft exited {proc.returncode}")


class Firewall:
    """The tables of one run.  Every public method reports failures by raising
    ``NftError`` (or ``FileNotFoundError`` without nft); the caller says so."""

    def __init__(self, table: str | None = None, *, priority: int = -1, counters: bool = False,
                 runner=run_nft) -> None:
        self.table = table or DEFAULT_TABLE
        self.priority = priority
        self.counters = counters
        self._run = runner
        self._made: set[int] = set()                 # families whose table we made (4, 6)
        self._blocked: Counter[tuple[int, str, str]] = Counter()   # (family, set, element) -> owners
        self._owners: dict[str, list[Blocked]] = {}
        # VMAC -> (its base, family, link-local, MAC)
        self._vmacs: dict[str, tuple[str, int, str | None, str | None]] = {}
        self._lock = asyncio.Lock()

    @staticmethod
    def available() -> bool:
        return shutil.which("nft") is not None

    @property
    def made(self) -> bool:
        return bool(self._made)

    def _fam(self, family: int) -> str:
        return {4: "ip", 6: "ip6", ARP: "arp"}[family]

    def _c(self) -> str:
        return "counter " if self.counters else ""

    # ------------------------------------------------------------------ tables

    def _setup(self, family: int) -> list[str]:
        if family in self._made:
            return []
        f, t, p, c = self._fam(family), self.table, self.priority, self._c()
        base = [f"add table {f} {t}",
                f"add chain {f} {t} in {{ type filter hook input priority {p}; policy accept; }}",
                f"add chain {f} {t} out {{ type filter hook output priority {p}; policy accept; }}"]
        if family == ARP:
            return [f"add table {f} {t}",
                    f"add chain {f} {t} out {{ type filter hook output priority {p}; policy accept; }}",
                    f"add set {f} {t} vmac_self {{ type iface_index . ether_addr; }}",
                    f"add rule {f} {t} out arp operation reply oif . arp daddr ether @vmac_self {c}drop"]
        if family == 4:
            return base + [f"add map {f} {t} vmac_map {{ type iface_index : iface_index; }}",
                           f"add set {f} {t} vips {{ type ipv4_addr; }}",
                           f'add rule {f} {t} out ip protocol igmp meta oifkind "macvlan" '
                           f"dup to ip daddr device oif map @vmac_map {c}drop",
                           f"add rule {f} {t} in ip daddr @vips {c}drop",
                           f"add rule {f} {t} out ip saddr @vips {c}drop"]
        return base + [
            f"add chain {f} {t} in_link_local",
            f"add chain {f} {t} out_link_local",
            f"add map {f} {t} vmac_map {{ type iface_index : iface_index; }}",
            f"add set {f} {t} vmac_set {{ type iface_index; }}",
            f"add set {f} {t} vmac_link_local {{ type ipv6_addr . iface_index; }}",
            f"add set {f} {t} vips {{ type ipv6_addr; }}",
            f"add set {f} {t} vips_link_local {{ type ipv6_addr . iface_index; }}",
            f"add set {f} {t} neighbor-discovery {{ type icmpv6_type; flags constant; "
            "elements = { nd-neighbor-solicit, nd-neighbor-advert }; }",
            f'add rule {f} {t} out icmpv6 type mld2-listener-report meta oifkind "macvlan" '
            f"dup to ip6 daddr device oif map @vmac_map {c}drop",
            f'add rule {f} {t} out icmpv6 type nd-router-solicit meta oifkind "macvlan" oif @vmac_set {c}drop',
            # a VMAC has its base's link-local (the adverts' source): the base answers for it, the
            # VMAC must not (a backup's answer would carry the virtual MAC; keepalived after 2.2.7)
            f"add rule {f} {t} out icmpv6 type nd-neighbor-advert ip6 saddr . oif @vmac_link_local {c}drop",
            f"add rule {f} {t} out icmpv6 type @neighbor-discovery accept",
            f"add rule {f} {t} out ip6 saddr fe80::/10 goto out_link_local",
            f"add rule {f} {t} out ip6 saddr @vips {c}drop",
            f"add rule {f} {t} in icmpv6 type @neighbor-discovery accept",
            f"add rule {f} {t} in ip6 daddr fe80::/10 goto in_link_local",
            f"add rule {f} {t} in ip6 daddr @vips {c}drop",
            f"add rule {f} {t} in_link_local ip6 daddr . iif @vips_link_local {c}drop",
            f"add rule {f} {t} out_link_local ip6 saddr . oif @vips_link_local {c}drop",
        ]

    async def clean_leftovers(self) -> list[str]:
        """Delete tables of our name a crashed run left (their drops would stay
        in force); returns the families found, as 'ip' / 'ip6'."""
        found = []
        for family in (4, 6, ARP):
            try:
                await self._run(f"delete table {self._fam(family)} {self.table}\n")
                found.append(self._fam(family))
            except NftError:
                pass                                  # none: the normal case
        return found

    async def close(self) -> None:
        """Delete the tables this run made (at exit)."""
        async with self._lock:
            made, self._made = sorted(self._made), set()
            self._blocked.clear()
            self._owners.clear()
            self._vmacs.clear()
            if made:
                await self._run("".join(f"delete table {self._fam(f)} {self.table}\n" for f in made))

    # ------------------------------------------------------------------ no_accept

    async def block(self, owner: str, vips: Iterable[Blocked]) -> list[Blocked]:
        """``owner`` (an instance) is master without owning its VIPs: drop
        traffic to and from them.  Returns what was newly blocked."""
        async with self._lock:
            want = [v for v in vips if v not in self._owners.get(owner, [])]
            if not want:
                return []
            lines, families = [], set()
            for v in want:
                setname, elem = v.element()
                key = (v.family, setname, elem)
                if self._blocked[key] == 0:
                    lines.append(f"add element {self._fam(v.family)} {self.table} {setname} {{ {elem} }}")
                families.add(v.family)
            setup = [x for fam in sorted(families) for x in self._setup(fam)]
            if lines or setup:
                await self._run("\n".join(setup + lines) + "\n")
            self._made |= families
            for v in want:
                setname, elem = v.element()
                self._blocked[(v.family, setname, elem)] += 1
            self._owners.setdefault(owner, []).extend(want)
            return want

    async def unblock(self, owner: str) -> list[Blocked]:
        """``owner`` left MASTER: its VIPs are no longer dropped (unless another
        instance holding the same address still wants them to be)."""
        async with self._lock:
            held = self._owners.pop(owner, [])
            lines = []
            for v in held:
                setname, elem = v.element()
                key = (v.family, setname, elem)
                self._blocked[key] -= 1
                if self._blocked[key] <= 0:
                    del self._blocked[key]
                    lines.append(f"delete element {self._fam(v.family)} {self.table} {setname} {{ {elem} }}")
            if lines:
                await self._run("\n".join(lines) + "\n")
            return held

    def blocked(self, owner: str) -> list[Blocked]:
        return list(self._owners.get(owner, []))

    # ------------------------------------------------------------------ VMACs

    async def add_vmac(self, vmac: str, base: str, family: int, link_local: str | None = None,
                       mac: str | None = None) -> None:
        """A VMAC: its IGMP / MLD reports go out of ``base`` instead, its IPv6
        router solicitations nowhere, nor its adverts for ``link_local``, nor
        (IPv4, ``mac``) ARP replies to its own MAC.  Made again (a new index):
        call again."""
        async with self._lock:
            self._vmacs[vmac] = (base, family, link_local, mac)
            families = [family] + ([ARP] if family == 4 and mac else [])
            lines = [x for fam in families for x in self._setup(fam) + self._vmac_lines(fam)]
            try:
                await self._run("\n".join(lines) + "\n")
            except BaseException:
                del self._vmacs[vmac]
                raise
            self._made.update(families)

    async def remove_vmac(self, vmac: str) -> None:
        """After the VMAC is deleted: its rules moved its last MLD/IGMP reports
        (the map is written afresh, so the gone interface's index does not linger)."""
        async with self._lock:
            had = self._vmacs.pop(vmac, None)
            if had is not None and had[1] in self._made:
                families = [had[1]] + ([ARP] if had[1] == 4 and ARP in self._made else [])
                await self._run("\n".join(x for fam in families for x in self._vmac_lines(fam)) + "\n")

    def _vmac_lines(self, family: int) -> list[str]:
        """The family's VMAC map (and set) written afresh: nft names an
        interface by its index, which a re-made VMAC no longer has."""
        f, t = self._fam(family), self.table
        if family == ARP:
            macs = [f'"{v}" . {mac}' for v, (_b, fam, _ll, mac) in self._vmacs.items() if fam == 4 and mac]
            return [f"flush set {f} {t} vmac_self"] + (
                [f"add element {f} {t} vmac_self {{ " + ", ".join(macs) + " }"] if macs else [])
        mine = [(v, b, ll) for v, (b, fam, ll, _mac) in self._vmacs.items() if fam == family]
        lines = [f"flush map {f} {t} vmac_map"]
        if mine:
            lines.append(f"add element {f} {t} vmac_map {{ " + ", ".join(f'"{v}" : "{b}"' for v, b, _ll in mine)
                         + " }")
        if family == 6:
            lines += [f"flush set {f} {t} vmac_set", f"flush set {f} {t} vmac_link_local"]
            if mine:
                lines.append(f"add element {f} {t} vmac_set {{ " + ", ".join(f'"{v}"' for v, _b, _ll in mine) + " }")
            lls = [f'{ll} . "{v}"' for v, _b, ll in mine if ll]
            if lls:
                lines.append(f"add element {f} {t} vmac_link_local {{ " + ", ".join(lls) + " }")
        return lines
