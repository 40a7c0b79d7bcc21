"""What instances hold on this host: VIPs, their announcements, link state.

Maps the config's ``VirtualIp`` to the netlink driver's ``Vip`` and keeps
one GARP schedule per instance and one packet socket per interface, so the
runtime deals in instances and never in netlink messages or frames.
"""

from __future__ import annotations

import asyncio
import logging
import time

from vipdeck.engine.config.model import VrrpInstance
from vipdeck.engine.net.garp import GarpPolicy, GarpScheduler, GarpSender
from vipdeck.engine.net.linkwatch import AddressChanged, LinkChanged, LinkWatch, Resynced
from vipdeck.engine.net.vips import Vip, VipManager

log = logging.getLogger("vipdeck.host")


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


class HostSide:
    def __init__(self, engine):
        self.engine = engine
        self.vips = VipManager()
        self.links = LinkWatch(self._on_net)
        self._senders: dict[str, GarpSender] = {}
        self._garp: dict[str, GarpScheduler] = {}

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
        await self.vips.close()

    # ------------------------------------------------------------------ links

    def _on_net(self, ev) -> None:
        if isinstance(ev, LinkChanged):
            if ev.removed:
                # its packet socket is bound to the old ifindex (and MAC): make a new one on use
                sender = self._senders.pop(ev.ifname, None)
                if sender is not None:
                    sender.close()
            self.engine.link_changed(ev.ifname, ev.up, ev.index)
        elif isinstance(ev, AddressChanged):
            self.engine.addresses_changed(ev.ifname)
            if not ev.added:
                self.engine.address_removed(ev.ifname, ev.address)
        elif isinstance(ev, Resynced):
            for link in self.links.links.values():
                self.engine.link_changed(link.ifname, link.up, link.index)

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

    async def add_static(self, config) -> list[str]:
        """static_ipaddress / static_routes / static_rules: there whatever the
        VRRP state, added at start (and reload) and, like keepalived, left in
        place at exit."""
        from vipdeck.engine.net import routes

        added = []
        for entry, vip, why in static_vips(config.static_ipaddresses):
            try:
                if vip is None:
                    raise ValueError(why)
                if await self.vips.add(vip):
                    added.append(str(vip))
            except (OSError, ValueError) as exc:
                self.engine.emit("vip", f"{entry.loc}: static address {entry.address} not added: {exc}", "error")
        for r in await routes.apply(config.static_routes, config.static_rules, add=True):
            if r.ok:
                added.append(" ".join(r.spec.words))
            else:
                self.engine.emit("vip", f"{r.spec.loc}: {' '.join(r.argv)} failed: {r.error}", "error")
        return added

    async def add_all(self, inst: VrrpInstance) -> list[str]:
        changed = []
        for vip in vips_of(inst):
            try:
                if await self.vips.add(vip):
                    changed.append(str(vip))
            except (OSError, ValueError) as exc:
                self.engine.emit("vip", f"{inst.name}: cannot add {vip}: {exc}", "error", instance=inst.name)
        return changed

    async def remove_all(self, inst: VrrpInstance) -> list[str]:
        changed = []
        for vip in vips_of(inst):
            try:
                if await self.vips.remove(vip):
                    changed.append(str(vip))
            except (OSError, ValueError) as exc:
                self.engine.emit("vip", f"{inst.name}: cannot remove {vip}: {exc}", "error", instance=inst.name)
        return changed

    async def remove_stale(self, inst: VrrpInstance) -> list[str]:
        return [str(v) for v in await self.vips.remove_stale(vips_of(inst))]

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
            sched.start(vips_of(inst))

        self.engine.spawn(go(), f"{inst.name} GARP")

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
