"""An instance's VIPs, virtual routes and rules: changed in the order the machine asked.

A machine may ask for "add VIPs" and then "remove VIPs" within one advert
interval (a master that hears a better one at once); netlink answers
asynchronously, so each instance's operations run one after the other in
their own chain (``add``, ``remove``), and its gratuitous ARPs wait for the
VIPs they announce (``garp_start``).  keepalived's order within one
operation: routes and rules go before the VIPs are removed, and come after
they are added (a route may use a VIP as its source).

A VIP a master holds that goes away (removed by hand, or flushed with the
IPv6 addresses of a link that went down) is put back (``reinstate``), at
most once a second per instance so a fight with another program cannot spin.
"""

from __future__ import annotations

import asyncio
import ipaddress
from typing import Callable, Coroutine, Iterable, Protocol

from vipdeck.engine.config.model import Config, VrrpInstance
from vipdeck.engine.events import Emit
from vipdeck.engine.net import routes
from vipdeck.engine.vrrp import deadlines
from vipdeck.engine.vrrp import machine as m
from vipdeck.engine.vrrp.driver import InstanceDriver

Spawn = Callable[[Coroutine, str], asyncio.Task]

IDLE_DELAY = 1.0      # s after the last VIP operation of a burst before ``on_idle``


class Host(Protocol):
    """What the chain needs of ``hosting.HostSide``."""

    async def add_all(self, inst: VrrpInstance) -> list[str]: ...
    async def remove_all(self, inst: VrrpInstance) -> list[str]: ...
    async def remove_stale(self, inst: VrrpInstance) -> list[str]: ...
    async def add_static(self, config: Config) -> list[str]: ...
    def garp_start(self, d: InstanceDriver, after: asyncio.Future | None = None) -> None: ...
    def garp_stop(self, d: InstanceDriver) -> None: ...


class VipOps:
    def __init__(self, host: Host, emit: Emit, spawn: Spawn, loop: asyncio.AbstractEventLoop,
                 on_idle: Callable[[], object] | None = None):
        """``on_idle`` runs once ``IDLE_DELAY`` after a burst of operations
        ends (the engine gives memory back then: ``engine.memory``)."""
        self.host = host
        self.emit = emit
        self.spawn = spawn
        self.loop = loop
        self.on_idle = on_idle
        # instance -> its last operation while it runs: a finished one is
        # dropped (waiting for it would return at once), so 255 idle
        # instances keep no finished task and coroutine each
        self._chain: dict[str, asyncio.Future | None] = {}
        self._running = 0
        self._idle: asyncio.TimerHandle | None = None
        self._reinstating: dict[str, asyncio.TimerHandle] = {}  # instance -> pending VIP re-add
        self._reinstated: dict[str, float] = {}                 # instance -> last re-add (loop time)

    # ------------------------------------------------------------------ start-up

    async def static(self, config: Config) -> None:
        """static_ipaddress / static_routes / static_rules (start and reload)."""
        if config.static_ipaddresses or config.static_routes or config.static_rules:
            added = await self.host.add_static(config)
            if added:
                self.emit("vip", f"static addresses/routes/rules added: {'; '.join(added)}", added=True)

    async def remove_stale(self, inst: VrrpInstance) -> None:
        """What a crashed run may have left behind: keepalived removes its VIPs, and
        a blackhole route left on a backup would hurt."""
        if inst.virtual_routes or inst.virtual_rules:
            await routes.apply(inst.virtual_routes, inst.virtual_rules, add=False)
        removed = await self.host.remove_stale(inst)
        if removed:
            self.emit("daemon", f"{inst.name}: removed stale VIPs {', '.join(removed)}", "warning",
                      instance=inst.name)

    # ------------------------------------------------------------------ the chain

    def add(self, d: InstanceDriver) -> None:
        self._then(d, True)

    def remove(self, d: InstanceDriver) -> None:
        self._then(d, False)

    def _then(self, d: InstanceDriver, add: bool) -> None:
        prev = self._chain.get(d.inst.name)

        async def op() -> None:
            if prev is not None and not prev.done():
                await asyncio.wait([prev])
            await deadlines.after_due()
            has_routes = bool(d.inst.virtual_routes or d.inst.virtual_rules)
            if has_routes and not add:  # keepalived: routes and rules go first, then the VIPs
                await self._routes(d, add=False)
            changed = await (self.host.add_all(d.inst) if add else self.host.remove_all(d.inst))
            for v in d.inst.held_vips:
                d.vips_present[str(v)] = add
            if has_routes and add:      # ... and come after them (a route may use a VIP as its src)
                await self._routes(d, add=True)
            if changed:
                self.emit("vip", f"{d.inst.name}: {'added' if add else 'removed'} {', '.join(changed)}",
                          instance=d.inst.name, added=add, vips=changed)

        name = d.inst.name
        task = self.spawn(op(), f"{name} VIPs")
        self._chain[name] = task
        self._running += 1
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None

        def done(t: asyncio.Future) -> None:
            if self._chain.get(name) is t:
                del self._chain[name]
            self._running -= 1
            if self._running == 0 and self.on_idle is not None:
                self._idle = self.loop.call_later(IDLE_DELAY, self._went_idle)

        task.add_done_callback(done)

    def _went_idle(self) -> None:
        self._idle = None
        if self.on_idle is not None:
            self.on_idle()

    async def _routes(self, d: InstanceDriver, add: bool) -> None:
        results = await routes.apply(d.inst.virtual_routes, d.inst.virtual_rules, add)
        done = [" ".join(r.spec.words) for r in results if r.ok]
        if done:
            self.emit("vip", f"{d.inst.name}: {'added' if add else 'removed'} routes/rules: {'; '.join(done)}",
                      instance=d.inst.name, added=add, routes=done)
        for r in results:
            if not r.ok:
                self.emit("vip", f"{d.inst.name}: {r.spec.loc}: {' '.join(r.argv)} failed: {r.error}", "error",
                          instance=d.inst.name, added=add)

    def garp_start(self, d: InstanceDriver) -> None:
        """Announce once the instance's pending VIP operation is done."""
        self.host.garp_start(d, after=self._chain.get(d.inst.name))

    def garp_stop(self, d: InstanceDriver) -> None:
        self.host.garp_stop(d)

    async def drain(self, timeout: float = 5) -> None:
        """Wait for every instance's pending operation (stop, reload)."""
        pending = [f for f in self._chain.values() if f is not None and not f.done()]
        if pending:
            await asyncio.wait(pending, timeout=timeout)

    def forget(self, name: str) -> None:
        """The instance stops or is replaced (a reload): no re-add for it.  Its
        chain stays, so a new instance of the name waits for the old one's
        last operation."""
        timer = self._reinstating.pop(name, None)
        if timer is not None:
            timer.cancel()

    def close(self) -> None:
        for timer in self._reinstating.values():
            timer.cancel()
        self._reinstating.clear()
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None

    # ------------------------------------------------------------------ a master's VIP gone

    def address_removed(self, drivers: Iterable[InstanceDriver], ifname: str, address: str) -> None:
        """A VIP a master holds went away from ``ifname``: put it back, like keepalived."""
        try:
            gone = ipaddress.ip_address(address)
        except ValueError:
            return
        for d in drivers:
            if d.stopped or d.machine.state != m.State.MASTER:
                continue
            for v in d.inst.held_vips:
                if (v.dev or d.inst.interface) == ifname and ipaddress.ip_address(v.address) == gone:
                    self.reinstate(d, f"VIP {address} was removed from {ifname} while master")
                    break

    def reinstate(self, d: InstanceDriver, why: str) -> None:
        """Re-add a master's VIPs (and announce them), at most once a second per instance."""
        name = d.inst.name
        if name in self._reinstating:
            return
        delay = max(0.0, self._reinstated.get(name, -1e9) + 1.0 - self.loop.time())

        def go() -> None:
            self._reinstating.pop(name, None)
            if d.stopped or d.machine.state != m.State.MASTER:
                return
            self._reinstated[name] = self.loop.time()
            self.emit("vip", f"{name}: {why}; re-adding", "warning", instance=name)
            self.add(d)
            self.garp_start(d)

        self._reinstating[name] = self.loop.call_later(delay, go)
