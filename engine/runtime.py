"""The composition root: one running configuration.

``Engine`` turns a loaded ``Config`` into running parts and wires them; it
decides nothing itself.  The parts, each with the few callables it needs:

* ``hosting.HostSide``: VIPs, GARP and the link watch on this host;
* ``dispatch.AdvertDispatch``: the VRRP sockets, each advert to its
  instance's driver and to the ``advert_view.AdvertView``;
* ``vrrp.driver.InstanceDriver`` per instance, whose actions land in
  ``effects.Effects`` (VIPs and routes in order: ``vipops.VipOps``;
  transitions, notify scripts, the sync group's cue);
* ``vrrp.sync_driver.SyncGroups``, ``vrrp.startgate.StartGate`` (start
  delay, INIT hold), ``vrrp.track.TrackingHub``, ``notify.hub.NotifyHub``,
  ``lvs.LvsManager`` (checkers and IPVS), ``ipvs.syncd.SyncDaemons``
  (lvs_sync_daemon, following an instance's state);
* ``operator``: the operator's intent as machine events, for new machines.

The daemon (``engine.daemon``) and the embedded console mode
(``engine.embedded``) both run an Engine; neither reaches into its parts.
The snapshot is assembled in ``status``; a reload's plan is ``reload``'s.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any, Callable, Coroutine

from vipdeck.engine import memory, operator, reload, status
from vipdeck.engine.advert_view import AdvertView
from vipdeck.engine.config.model import Config, VrrpInstance
from vipdeck.engine.control.schema import Snapshot
from vipdeck.engine.dispatch import AdvertDispatch, AdvertHeard, OpenSocket, open_vrrp_socket
from vipdeck.engine.dumps.stats import TransitionCounters, vrrp_stats
from vipdeck.engine.effects import Effects
from vipdeck.engine.events import EventBus
from vipdeck.engine.hosting import HostSide
from vipdeck.engine.ipvs.syncd import SyncDaemons
from vipdeck.engine.lvs import LvsManager
from vipdeck.engine.net.macprobe import MacProbe
from vipdeck.engine.notify.hub import NotifyHub
from vipdeck.engine.state import StateStore
from vipdeck.engine.vipops import VipOps
from vipdeck.engine.vrrp import machine as m
from vipdeck.engine.vrrp.driver import InstanceDriver
from vipdeck.engine.vrrp.startdelay import read_uptime
from vipdeck.engine.vrrp.startgate import StartGate
from vipdeck.engine.vrrp.sync_driver import SyncGroups
from vipdeck.engine.vrrp.track import TrackingHub

log = logging.getLogger("vipdeck.engine")

VIEW_TICK = 0.5          # seconds: the advert view learns from silence that a split brain is over


@dataclass(frozen=True)
class Net:
    """What the engine opens on this host: netlink and GARP (``host``), VRRP
    sockets (``open_socket``) and MAC probes (``mac_probe``).  Real by default;
    the unit tests run a whole engine on fakes of these three."""

    host: Callable[..., HostSide] = HostSide
    open_socket: OpenSocket = open_vrrp_socket
    mac_probe: Callable[..., MacProbe] = MacProbe


class Engine:
    def __init__(self, config: Config, *, config_path: str, state: StateStore, bus: EventBus | None = None,
                 mode: str = "daemon", run_vrrp: bool = True, run_checkers: bool = True,
                 uptime: Callable[[], float | None] | None = None, net: Net = Net()):
        self.config = config
        self.net = net
        # keepalived -P / -C: run only the VRRP half or only the checker half
        self.run_vrrp = run_vrrp
        self.run_checkers = run_checkers
        self.config_path = config_path
        self.state = state
        self.bus = bus or EventBus()
        self.mode = mode
        self.uptime = uptime or read_uptime                        # vrrp_delay_after_boot's clock
        self.started_at = time.time()
        self.drivers: dict[str, InstanceDriver] = {}
        self.vrrp_stats: dict[str, TransitionCounters] = {}        # keepalived's counters the driver lacks
        self.tasks: set[asyncio.Task] = set()
        # the metrics exporter's timing of accepted adverts (set before start; None: nobody)
        self.advert_heard: AdvertHeard | None = None
        # the parts, made in start() (they need the running loop)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.host: HostSide | None = None
        self.advert_view: AdvertView | None = None
        self.macs: MacProbe | None = None            # MAC learning for the advert view
        self.dispatch: AdvertDispatch | None = None
        self.vips: VipOps | None = None
        self.sync: SyncGroups | None = None
        self.gate: StartGate | None = None
        self.effects: Effects | None = None
        self.notify: NotifyHub | None = None
        self.tracking: TrackingHub | None = None
        self.lvs: LvsManager | None = None
        self.syncd: SyncDaemons | None = None      # lvs_sync_daemon: the kernel's connection sync
        self._view_tick: asyncio.TimerHandle | None = None

    def emit(self, kind: str, message: str, severity: str = "info", **fields: Any) -> dict:
        return self.bus.emit(kind, message, severity, **fields)

    def spawn(self, coro: Coroutine, name: str) -> asyncio.Task:
        """Background work whose failure is logged, never fatal."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self.tasks.add(task)

        def done(t: asyncio.Task) -> None:
            self.tasks.discard(t)
            if not t.cancelled() and t.exception() is not None:
                log.error("%s failed: %r", name, t.exception(), exc_info=t.exception())
                self.emit("daemon", f"{name} failed: {t.exception()}", "error")

        task.add_done_callback(done)
        return task

    # ------------------------------------------------------------------ start/stop

    async def start(self) -> None:
        self.loop = loop = asyncio.get_running_loop()
        self.host = self.net.host(self.emit, self.spawn, self.link_changed, self.address_changed, self.drivers)
        self.notify = NotifyHub(self.config, self.emit, vrrp=self.run_vrrp, lvs=self.run_checkers)
        self.advert_view = AdvertView(self.emit, want_mac=self._want_mac)
        self.macs = self.net.mac_probe(self.advert_view.learn_mac, loop=loop)
        self.dispatch = AdvertDispatch(self.advert_view, self.emit, local_addresses=self.host.local,
                                       stats=self.vrrp_stats, loop=loop, open_socket=self.net.open_socket,
                                       interface_of=self.host.vrrp_interface)
        self.dispatch.advert_heard = self.advert_heard
        self.vips = VipOps(self.host, self.emit, self.spawn, loop, on_idle=memory.give_back)
        self.sync = SyncGroups(self.drivers, self.emit, self.notify.scripts.group_transition, loop)
        self.gate = StartGate(loop, self.emit, self._start_now, self.uptime)
        self.effects = Effects(drivers=self.drivers, vips=self.vips, host=self.host, notifier=self.notify.scripts,
                               sync=self.sync, stats=self.vrrp_stats, emit=self.emit, on_state=self._state_changed)
        self._tick_view()
        await self.host.open()
        if self.run_vrrp:
            await self.vips.static(self.config)
            await self.host.prepare(self.config)     # VMACs made, our nftables leftovers gone
            for inst in self.config.vrrp_instances:
                await self.vips.remove_stale(inst)
            for inst in self.config.vrrp_instances:
                self._add_instance(inst)
            self.sync.build(self.config)             # gates closed before any member starts
            self.tracking = TrackingHub(self.config, on_change=self._tracker_changed)
            self.gate.tracking = self.tracking
            await self.tracking.start()
            for problem in self.tracking.problems:
                self.emit("tracker", problem, "warning")
            self.gate.delay(self.config.global_defs)
        if self.run_checkers:
            await self._start_lvs()
        await self._reload_syncd(self.config)      # before the instances start: their first state decides it
        for d in self.drivers.values():
            self.gate.start(d)
        if self.state.problem:
            self.emit("daemon", f"{self.state.problem}: operator changes will be refused", "error")
        self.emit("daemon", f"started with {self.config.summary()}", config=self.config_path)

    def _want_mac(self, ifname: str, family: int, address: str) -> bool | None:
        return self.macs.want(ifname, family, address) if self.macs is not None else None

    def _tick_view(self) -> None:
        self.advert_view.tick(time.time())
        self._view_tick = self.loop.call_later(VIEW_TICK, self._tick_view)

    async def stop(self, resign: bool = True) -> None:
        """Every master resigns (priority 0), VIPs go, notify_stop runs."""
        if self._view_tick is not None:
            self._view_tick.cancel()
            self._view_tick = None
        if self.macs is not None:
            self.macs.close()
        if self.gate:
            self.gate.close()
        if self.vips:
            self.vips.close()
        if self.syncd:
            # first, as keepalived: the STOP transitions below must not restart a backup daemon
            await self.syncd.stop()
        for d in self.drivers.values():
            if resign:
                d.shutdown()
        if self.sync:
            self.sync.flush()                # group STOP notifies, before the notifier closes
        if self.vips:
            await self.vips.drain()
        if self.tracking:
            await self.tracking.stop()
        if self.lvs:
            await self.lvs.stop()
        if self.notify:
            await self.notify.close()
        if self.dispatch:
            self.dispatch.close()
        for t in list(self.tasks):
            t.cancel()
        if self.host:
            await self.host.close()
        self.emit("daemon", "stopped")

    # ------------------------------------------------------------------ instances

    def _add_instance(self, inst: VrrpInstance) -> InstanceDriver:
        link = self.dispatch.link_for(inst)
        src = inst.unicast_src_ip or inst.mcast_src_ip or link.sock.src
        d = InstanceDriver(inst, link.sock, self.effects, primary=src)
        self.host.attach(d)                      # FAULT if its VMAC could not be made
        self.dispatch.attach(d)
        self.drivers[inst.name] = d
        self.vrrp_stats[inst.name] = TransitionCounters()    # a new driver counts from zero too
        operator.prepare(d, self.state.state, time.time())     # drain, hold: before it starts
        return d

    def _start_now(self, d: InstanceDriver) -> None:
        d.start()
        operator.started(d, self.state.state, time.time())     # takeover: once it elects
        self._refresh_tracking(d)
        if not self.host.is_up(d.inst.interface):
            d.feed(m.InterfaceChanged(up=False, detail=f"{d.inst.interface} down at start"))

    def _drop_instance(self, name: str) -> None:
        """A reload replaced or removed it: it leaves (a master resigns)."""
        self.gate.forget(name)
        self.vips.forget(name)
        d = self.drivers.pop(name)
        self.vrrp_stats.pop(name, None)
        d.shutdown()
        self.dispatch.detach(d)

    # ------------------------------------------------------------------ trackers and links

    def _tracker_changed(self, tracker_name: str) -> None:
        self.tracker_changed(self.tracking.affected(tracker_name))

    def _refresh_tracking(self, d: InstanceDriver) -> None:
        delta, fault, detail = (0, False, "") if self.tracking is None else self.tracking.effect(d.inst)
        d.feed(m.TrackChanged(delta=delta, fault=fault, detail=detail))

    def tracker_changed(self, instance_names: list[str]) -> None:
        for name in instance_names:
            d = self.drivers.get(name)
            if d is None:
                continue
            if self.gate.held(name):
                self.gate.tracker_changed(d)
            else:
                self._refresh_tracking(d)

    def link_changed(self, ifname: str, up: bool, index: int | None = None) -> None:
        if up:
            # first the socket, so the instances that leave FAULT hear and send on the new link
            self.dispatch.link_up(ifname, index)
        for d in self.drivers.values():
            if d.inst.interface == ifname:
                d.feed(m.InterfaceChanged(up=up, detail=f"{ifname} {'up' if up else 'down'}"))
            elif up and d.machine.state == m.State.MASTER and any(v.dev == ifname for v in d.inst.held_vips):
                # a VIP on another device: a link that went down may have flushed it (IPv6)
                self.vips.reinstate(d, f"{ifname} came back up")
        if self.tracking:
            self.tracking.link_changed(ifname, up)

    def address_changed(self, ifname: str, address: str, added: bool) -> None:
        self.dispatch.addresses_changed(ifname)
        if not added:
            self.vips.address_removed(self.drivers.values(), ifname, address)

    # ------------------------------------------------------------------ LVS

    async def _start_lvs(self) -> None:
        if not self.config.virtual_servers:
            return
        self.lvs = LvsManager(self.config, self.state, self.emit, self.spawn, self.notify.checkers)
        await self.lvs.start()

    async def _reload_syncd(self, new: Config) -> None:
        """lvs_sync_daemon, if this process runs its half: the VRRP half when
        it follows an instance, the checker half otherwise (as keepalived)."""
        cfg = new.global_defs.lvs_sync_daemon
        if cfg is not None and not (self.run_vrrp if cfg.instance else self.run_checkers):
            cfg = None
        if self.syncd is not None and cfg is None:
            await self.syncd.stop()
            self.syncd = None
        elif self.syncd is not None:
            await self.syncd.reload(cfg)
        elif cfg is not None:
            self.syncd = SyncDaemons(cfg, self._instance_state, self.emit)
            await self.syncd.start()

    def _instance_state(self, name: str) -> str | None:
        d = self.drivers.get(name)
        return None if d is None else str(d.machine.state)

    def _state_changed(self, name: str) -> None:
        if self.syncd is not None and self.syncd.config is not None and self.syncd.config.instance == name:
            self.syncd.changed()

    # ------------------------------------------------------------------ reading

    def snapshot(self) -> Snapshot:
        return status.snapshot(self)

    def clear_vrrp_stats(self) -> None:
        """keepalived's SIGSTATS_CLEAR: the dumped counters start again from zero
        (a baseline; the console's own counters keep counting)."""
        for name, d in self.drivers.items():
            counters = self.vrrp_stats.setdefault(name, TransitionCounters())
            counters.baseline = None
            counters.baseline = vrrp_stats(d.counters, counters)

    # ------------------------------------------------------------------ reload

    async def apply(self, new: Config) -> str:
        if not self.run_vrrp:       # -C: the checker half only
            self.config = new
            await self.notify.reload(new)
            await self._reload_lvs(new)
            await self._reload_syncd(new)
            return f"checker half reloaded: {len(new.virtual_servers)} virtual server(s)"
        plan = reload.plan(self.config, new)
        before = reload.states(self.drivers, self.sync)
        for name in plan.replaced + plan.gone:
            self._drop_instance(name)
        await self.vips.drain()
        self.config = new
        await self.vips.static(new)
        await self.host.prepare(new)
        await self.notify.reload(new)
        added = []
        for inst in new.vrrp_instances:
            if inst.name in self.drivers:
                d = self.drivers[inst.name]
                d.inst = inst           # equal, but the new object (locations)
                d.invalidate_adverts()  # equal, so the same bytes: but nothing sent is to outlive a reload
            else:
                self._add_instance(inst)
                added.append(inst.name)
        self.sync.build(new)
        if self.tracking:
            await self.tracking.reload(new)
        for name in added:
            self.gate.start(self.drivers[name])    # operator intent: operator.prepare/started
        reload.restate(self.notify.scripts, plan.kept, before, reload.states(self.drivers, self.sync))
        await self._reload_lvs(new)
        self.dispatch.refresh_sides()
        await self._reload_syncd(new)
        return (f"kept {len(plan.kept)} instance(s) running unchanged, restarted {len(plan.replaced)}, "
                f"added {len(added) - len(plan.replaced)}, removed {len(plan.gone)}")

    async def _reload_lvs(self, new: Config) -> None:
        if not self.run_checkers:   # -P: the VRRP half only
            return
        if self.lvs is None:
            await self._start_lvs()
        else:
            await self.lvs.reload(new)
