"""What instances hold on this host: VIPs, their announcements, link state.

Maps the config's ``VirtualIp`` to the netlink driver's ``Vip`` and keeps
one GARP schedule per instance and one packet socket per interface, so the
runtime deals in instances and never in netlink messages or frames.

It also keeps what instances need of the host around their VIPs: the VMACs
of use_vmac (``net.vmac``; made before the instances start, again when their
base interface is re-created or someone deletes one, removed at exit; the
instance's VRRP socket is on its VMAC unless vmac_xmit_base, as keepalived's:
a multicast frame whose source MAC is one of this host's private macvlans is
handed to that macvlan alone, so a peer's adverts from the same virtual MAC
never reach the base), and our nftables rules (``net.firewall``): a VMAC's
IGMP/MLD reports moved to its base (they would carry the virtual MAC from a
router that is not master), and the drops of no_accept masters, set before
the VIPs are added and cleared after they are removed (keepalived's order).

What the link watch reports goes to two callables (``on_link``,
``on_address``); ``drivers`` (the engine's, by instance name) is read to put
an instance in or out of FAULT when its VMAC goes and comes back.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from typing import Callable, Coroutine, Mapping

from pyroute2.netlink.exceptions import NetlinkError

from vipdeck.engine.config.model import Config, Vmac, VrrpInstance
from vipdeck.engine.events import Emit
from vipdeck.engine.net import routes
from vipdeck.engine.net.firewall import Blocked, Firewall
from vipdeck.engine.net.garp import GarpPolicy, GarpScheduler, GarpSender
from vipdeck.engine.net.linkwatch import AddressChanged, LinkChanged, LinkWatch, Resynced
from vipdeck.engine.net.vips import Vip, VipManager
from vipdeck.engine.net.vmac import VmacError, VmacManager
from vipdeck.engine.vrrp import machine as m
from vipdeck.engine.vrrp.driver import InstanceDriver

log = logging.getLogger("vipdeck.hosting")


def vips_of(inst: VrrpInstance) -> list[Vip]:
    """The instance's VIPs as the netlink driver wants them.

    A VIP the kernel cannot take as written (an IPv6 address with a label)
    is logged with its config location and skipped, never raised: the other
    VIPs of the instance still move.
    """
    out = []
    for v in inst.held_vips:
        try:
            out.append(Vip(v.address, v.prefixlen, v.dev or inst.interface,
                           None if v.family == 6 else v.label, v.brd, v.scope))
        except ValueError as exc:
            log.error("%s: %s: VIP %s skipped: %s", v.loc, inst.name, v, exc)
    return out


def static_vips(addresses) -> list[tuple[object, Vip | None, str]]:
    """static_ipaddress entries as (config entry, Vip or None, why not)."""
    out = []
    for v in addresses:
        if not v.dev:
            out.append((v, None, "a static_ipaddress needs 'dev'"))
            continue
        try:
            out.append((v, Vip(v.address, v.prefixlen, v.dev, None if v.family == 6 else v.label,
                               v.brd, v.scope), ""))
        except ValueError as exc:
            out.append((v, None, str(exc)))
    return out


# on_link(interface, up, ifindex): a link changed (and every link again after a re-dump)
OnLink = Callable[[str, bool, "int | None"], None]
# on_address(interface, address, added): an address came or went
OnAddress = Callable[[str, str, bool], None]
Spawn = Callable[[Coroutine, str], asyncio.Task]


class HostSide:
    def __init__(self, emit: Emit, spawn: Spawn, on_link: OnLink, on_address: OnAddress,
                 drivers: Mapping[str, InstanceDriver]):
        self.emit = emit
        self.spawn = spawn
        self.on_link = on_link
        self.on_address = on_address
        self.drivers = drivers
        self.vips = VipManager()
        self.links = LinkWatch(self._on_net)
        self._senders: dict[str, GarpSender] = {}
        self._garp: dict[str, GarpScheduler] = {}
        self.vmacs = VmacManager()
        self._vmac: dict[str, tuple[Vmac, str]] = {}       # VMAC name -> (what it is, its instance)
        self.vmac_faults: dict[str, str] = {}               # instance -> why its VMACs are not there
        self._remaking: set[str] = set()
        self.firewall: Firewall | None = None
        self._stale_scan: set[str] | None = None            # addresses seen by a run of remove_stale calls
        self._firewall_said = False

    @property
    def local(self):
        """This host's addresses, kept current by the link watcher."""
        return self.links.addresses

    async def open(self) -> None:
        await self.links.start(deliver_initial=False)

    async def close(self) -> None:
        for g in self._garp.values():
            await g.cancel()
        for s in self._senders.values():
            s.close()
        await self.links.stop()
        # the VMACs go before their rules: the kernel's pending MLD/IGMP reports (the VIPs'
        # removal sends some, repeated after a random delay) must never leave with the
        # virtual MAC, so the rules that move them stay until the interface is gone
        await self.vmacs.close()
        if self.firewall is not None:
            for name in self._vmac:
                await self._fw(self.firewall.remove_vmac(name), f"VMAC {name}")
        self._vmac.clear()
        if self.firewall is not None and self.firewall.made:
            await self._fw(self.firewall.close(), "removing its tables")
        await self.vips.close()

    # ------------------------------------------------------------------ VMACs, firewall

    async def prepare(self, config: Config) -> None:
        """Before the instances of ``config`` are added (start and reload): our
        nftables tables' leftovers gone, every VMAC the config wants there (an
        old one the config no longer wants, or wants otherwise, removed)."""
        gd = config.global_defs
        if self.firewall is None:
            self.firewall = Firewall(gd.nftables or None, priority=gd.nftables_priority, counters=gd.nftables_counters)
            if Firewall.available():
                found = await self._fw(self.firewall.clean_leftovers(), "looking for a crashed run's tables")
                if found:
                    self.emit("daemon", f"removed nftables table(s) {', '.join(found)} {self.firewall.table} "
                                     "left by an earlier run", "warning")
        want: dict[str, tuple[Vmac, VrrpInstance]] = {}
        for inst in config.vrrp_instances:
            for vm in inst.vmacs:
                want.setdefault(vm.name, (vm, inst))
        for name, (vm, owner) in list(self._vmac.items()):
            if name not in want or want[name][0] != vm:
                await self._drop_vmac(name)
        self.vmac_faults = {k: v for k, v in self.vmac_faults.items() if config.instance(k) is not None}
        for name, (vm, inst) in want.items():
            if name not in self._vmac:
                await self._make_vmac(vm, inst)

    async def _make_vmac(self, vm: Vmac, inst: VrrpInstance) -> bool:
        ll = None
        sends = vm.adverts and not inst.vmac_xmit_base
        if vm.family == 6 and sends:
            ll = inst.mcast_src_ip or inst.unicast_src_ip
            if not ll:
                ll = next((a.address for a in self.links.addresses_on(vm.base)
                           if a.family == socket.AF_INET6 and a.address.lower().startswith("fe80")), None)
        async def rules(made) -> None:
            # before it is up: its first MLD report (all-routers, its link-local's group) is already moved
            if self.firewall is not None and Firewall.available():
                await self._fw(self.firewall.add_vmac(vm.name, vm.base, vm.family, made.link_local, vm.mac),
                               f"VMAC {vm.name}")
            else:
                self._no_firewall(f"VMAC {vm.name}'s {'IGMP' if vm.family == 4 else 'MLD'} reports leave with the "
                                  "virtual MAC, also from a router that is not master")

        try:
            await self.vmacs.ensure(vm.name, vm.base, vm.mac, vm.family, with_link_local=vm.family == 6 and sends,
                                    link_local=ll, before_up=rules)
        except (VmacError, OSError) as exc:
            self.vmac_faults[inst.name] = str(exc)
            self.emit("vip", f"{inst.name}: {exc}", "error", instance=inst.name, vmac=vm.name)
            return False
        self._vmac[vm.name] = (vm, inst.name)
        self.vmac_faults.pop(inst.name, None)
        return True

    async def _drop_vmac(self, name: str) -> None:
        vm, _inst = self._vmac.pop(name)
        try:
            await self.vmacs.remove(name)            # first: see close()
        except OSError as exc:
            self.emit("vip", str(exc), "error")
        if self.firewall is not None:
            await self._fw(self.firewall.remove_vmac(name), f"VMAC {name}")

    def vrrp_interface(self, inst: VrrpInstance) -> str:
        """Where the instance's VRRP socket lives: its VMAC (unless
        vmac_xmit_base, or it could not be made), else its interface."""
        own = inst.vmac
        if own is not None and not inst.vmac_xmit_base and own.name in self._vmac:
            return own.name
        return inst.interface

    def attach(self, d) -> None:
        """A new instance driver: FAULT while its VMACs could not be made."""
        inst = d.inst
        why = self.vmac_faults.get(inst.name)
        if why:
            d.feed(m.ConfigFault(True, why))

    def master_mac(self, inst: VrrpInstance) -> str | None:
        """The MAC hosts reach this instance's VIPs at while we are master."""
        own = inst.vmac
        return own.mac if own is not None else self.mac_of(inst.interface)

    def _vmac_changed(self, ev: LinkChanged) -> None:
        """Link events about VMACs and their bases: a VMAC someone deleted, or
        that went with its base, is made again (keepalived re-creates its own)."""
        if ev.removed and self.vmacs.deleting(ev.ifname):
            self.vmacs.done_deleting(ev.ifname)          # our own removal
            return
        if ev.ifname in self._vmac:
            if ev.removed:
                self._remake(ev.ifname, f"VMAC {ev.ifname} was deleted")
            elif not ev.admin_up:
                made = self.vmacs.made.get(ev.ifname)
                if made is not None and made.index == ev.index:
                    self.emit("vip", f"VMAC {ev.ifname} was set down; setting it up again", "warning")
                    self.spawn(self._set_up(made.index), f"VMAC {ev.ifname} up")
            return
        for name, (vm, _inst) in list(self._vmac.items()):
            made = self.vmacs.made.get(name)
            if vm.base == ev.ifname and not ev.removed and (made is None or made.base_index != ev.index):
                self._remake(name, f"{ev.ifname} was re-created")

    async def _set_up(self, index: int) -> None:
        await (await self.vmacs._r()).link("set", index=index, state="up")

    def _remake(self, name: str, why: str) -> None:
        if name in self._remaking or name not in self._vmac:
            return
        self._remaking.add(name)
        vm, inst_name = self._vmac[name]

        async def go() -> None:
            try:
                self.vmacs.forget(name)
                d = self.drivers.get(inst_name)
                inst = d.inst if d is not None else None
                if inst is None:
                    return
                del self._vmac[name]
                ok = await self._make_vmac(vm, inst)
                if ok:
                    self.emit("vip", f"{inst_name}: {why}; made again", "warning", instance=inst_name)
                    if d.machine.config_fault:
                        d.feed(m.ConfigFault(False, f"VMAC {name} made again"))
                else:
                    self._vmac[name] = (vm, inst_name)      # keep trying on the next link change
                    d.feed(m.ConfigFault(True, self.vmac_faults.get(inst_name, why)))
            finally:
                self._remaking.discard(name)

        self.spawn(go(), f"VMAC {name}")

    async def _fw(self, coro, what: str):
        try:
            return await coro
        except FileNotFoundError:
            self._no_firewall(what)
        except OSError as exc:
            self.emit("daemon", f"nftables ({what}): {exc}", "error")
        return None

    def _no_firewall(self, consequence: str) -> None:
        if not self._firewall_said:
            self._firewall_said = True
            self.emit("daemon", f"nft(8) is not installed: {consequence} (install nftables)", "error")

    # ------------------------------------------------------------------ links

    def _on_net(self, ev) -> None:
        if isinstance(ev, LinkChanged):
            if self._vmac:
                self._vmac_changed(ev)
            if ev.removed:
                # its packet socket is bound to the old ifindex (and MAC): make a new one on use
                sender = self._senders.pop(ev.ifname, None)
                if sender is not None:
                    sender.close()
            self.on_link(ev.ifname, ev.up, ev.index)
        elif isinstance(ev, AddressChanged):
            self.on_address(ev.ifname, ev.address, ev.added)
        elif isinstance(ev, Resynced):
            for link in self.links.links.values():
                self.on_link(link.ifname, link.up, link.index)

    def is_up(self, ifname: str) -> bool:
        return self.links.is_up(ifname)

    def describe(self) -> list[dict]:
        out = []
        for link in sorted(self.links.links.values(), key=lambda link: link.index):
            if link.ifname == "lo":
                continue
            sender = self._senders.get(link.ifname)
            out.append({"name": link.ifname, "up": link.up,
                        "mac": sender.mac.hex(":") if sender else None,
                        "addresses": [f"{a.address}/{a.prefixlen}" for a in self.links.addresses_on(link.ifname)]})
        return out

    # ------------------------------------------------------------------ VIPs

    async def add_static(self, config: Config) -> list[str]:
        """static_ipaddress / static_routes / static_rules: there whatever the
        VRRP state, added at start (and reload) and, like keepalived, left in
        place at exit."""
        added = []
        for entry, vip, why in static_vips(config.static_ipaddresses):
            try:
                if vip is None:
                    raise ValueError(why)
                if await self.vips.add(vip):
                    added.append(str(vip))
            except (OSError, ValueError) as exc:
                self.emit("vip", f"{entry.loc}: static address {entry.address} not added: {exc}", "error")
        for r in await routes.apply(config.static_routes, config.static_rules, add=True):
            if r.ok:
                added.append(" ".join(r.spec.words))
            else:
                self.emit("vip", f"{r.spec.loc}: {' '.join(r.argv)} failed: {r.error}", "error")
        return added

    async def add_all(self, inst: VrrpInstance) -> list[str]:
        self._stale_scan = None
        changed = []
        vips = vips_of(inst)
        if inst.no_accept and vips:
            # before the VIPs are there, so nothing is ever accepted for them (keepalived's order)
            if self.firewall is not None and Firewall.available():
                await self._fw(self.firewall.block(inst.name, [Blocked(v.address, v.dev) for v in vips]),
                               f"{inst.name}: no_accept")
            else:
                self._no_firewall(f"{inst.name} is no_accept (strict mode) but its VIPs accept traffic")
        for vip in vips:
            try:
                if await self.vips.add(vip):
                    changed.append(str(vip))
            except (OSError, ValueError) as exc:
                self.emit("vip", f"{inst.name}: cannot add {vip}: {exc}", "error", instance=inst.name)
        return changed

    async def remove_all(self, inst: VrrpInstance) -> list[str]:
        self._stale_scan = None
        changed = []
        for vip in vips_of(inst):
            try:
                if await self.vips.remove(vip):
                    changed.append(str(vip))
            except (OSError, ValueError) as exc:
                self.emit("vip", f"{inst.name}: cannot remove {vip}: {exc}", "error", instance=inst.name)
        if self.firewall is not None and self.firewall.blocked(inst.name):
            await self._fw(self.firewall.unblock(inst.name), f"{inst.name}: no_accept")
        return changed

    async def remove_stale(self, inst: VrrpInstance) -> list[str]:
        """The start-up calls this once per instance, before any VIP is added:
        the calls in a row share one dump of the host's addresses (until a
        VIP is added or removed), so only VIPs really there cost a request."""
        if self._stale_scan is None:
            try:
                self._stale_scan = await self.vips.addresses()
            except (OSError, NetlinkError) as exc:
                log.warning("could not list addresses (looking for stale VIPs one by one): %s", exc)
        return [str(v) for v in await self.vips.remove_stale(vips_of(inst), present=self._stale_scan)]

    # ------------------------------------------------------------------ GARP

    def _sender(self, ifname: str) -> GarpSender:
        s = self._senders.get(ifname)
        if s is None:
            s = self._senders[ifname] = GarpSender(ifname)
        return s

    def mac_of(self, ifname: str) -> str | None:
        try:
            return self._sender(ifname).mac.hex(":")
        except OSError:
            return None

    def _schedule(self, inst: VrrpInstance) -> GarpScheduler:
        sched = self._garp.get(inst.name)
        policy = GarpPolicy.from_instance(inst)
        if sched is None:
            sched = self._garp[inst.name] = GarpScheduler(self._sender, policy)
        else:
            sched.policy = policy       # a reload may have changed the garp_* values
        return sched

    def garp_start(self, d, after: asyncio.Future | None = None) -> None:
        """Announce after the VIPs are in place (the same instance's VIP op)."""
        inst = d.inst
        sched = self._schedule(inst)

        async def go() -> None:
            if after is not None and not after.done():
                await asyncio.wait([after])
            d.last_garp = time.time()
            vips = vips_of(inst)

            def sent(frames: int) -> None:
                if frames:
                    self.emit("vip", f"{inst.name}: gratuitous ARP / unsolicited NA sent for "
                              f"{', '.join(v.address for v in vips)} ({frames} frames)",
                              instance=inst.name, vips=[v.address for v in vips], garp=frames)

            sched.start(vips, on_first=sent)

        self.spawn(go(), f"{inst.name} GARP")

    def garp_lower_prio(self, d) -> bool:
        """A master heard a lower-priority master: announce its VIPs again
        (garp_lower_prio_repeat now, again after garp_lower_prio_delay).
        False when the instance announces nothing (repeat 0)."""
        inst = d.inst
        sched = self._schedule(inst)
        if sched.policy.lower_prio_repeat <= 0:
            return False
        d.last_garp = time.time()
        sched.lower_prio(vips_of(inst))
        return True

    def garp_stop(self, d) -> None:
        sched = self._garp.get(d.inst.name)
        if sched is not None:
            sched.cancel_nowait()
