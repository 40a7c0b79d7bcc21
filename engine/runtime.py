"""The composition root: one running configuration.

``Engine`` turns a loaded ``Config`` into running parts (VRRP sockets and
instance drivers, VIP and GARP handling, link watching, trackers, notify
scripts and alerts, the LVS side) and exposes them through one snapshot and
the event bus.  The daemon (``engine.daemon``) and the embedded console mode
(``engine.embedded``) both run an Engine; neither reaches into its parts.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import socket
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any, Callable

from vipdeck.engine import operator
from vipdeck.engine.config.model import Config, VrrpInstance
from vipdeck.engine.dumps.stats import TransitionCounters, vrrp_stats
from vipdeck.engine import logforms
from vipdeck.engine.events import EventBus
from vipdeck.engine.state import StateStore
from vipdeck.engine.vrrp import machine as m
from vipdeck.engine.vrrp import packet
from vipdeck.engine.vrrp import sync
from vipdeck.engine.vrrp.driver import InstanceDriver
from vipdeck.engine.vrrp.startdelay import read_uptime, start_delay

log = logging.getLogger("vipdeck.engine")
vrrp_log = logging.getLogger("vipdeck.vrrp")


@dataclass
class Group:
    """Sockets are shared per (interface, family); instances find theirs by VRID."""

    sock: Any
    drivers: dict[int, InstanceDriver]
    # packets dropped before any VRID could be read (too short for the VRRP header,
    # a broken IP header...), per reject reason; the socket counts its own drops
    drops: Counter = field(default_factory=Counter)
    sides: dict[int, "_OurSide"] = field(default_factory=dict)


class _OurSide:
    """One instance as the advert view sees it (read when needed, not per packet)."""

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


class Engine:
    def __init__(self, config: Config, *, config_path: str, state: StateStore, bus: EventBus | None = None,
                 mode: str = "daemon", run_vrrp: bool = True, run_checkers: bool = True,
                 uptime: Callable[[], float | None] | None = None):
        self.config = config
        # keepalived -P / -C: run only the VRRP half or only the checker half
        self.run_vrrp = run_vrrp
        self.run_checkers = run_checkers
        self.config_path = config_path
        self.state = state
        self.bus = bus or EventBus()
        self.mode = mode
        self.started_at = time.time()
        self.drivers: dict[str, InstanceDriver] = {}
        self.sync_groups: dict[str, sync.SyncGroupMachine] = {}   # vrrp_sync_group name -> its rules
        self._sync_of: dict[str, sync.SyncGroupMachine] = {}      # member instance -> its group
        self._sync_queue: deque = deque()                          # (group, member, transitions) to look at
        self._sync_handle: asyncio.Handle | None = None
        self._syncing = False
        self.vrrp_stats: dict[str, TransitionCounters] = {}        # keepalived's counters the driver lacks
        self._held_in_init: dict[str, asyncio.TimerHandle] = {}   # instance -> start deadline
        self._reinstating: dict[str, asyncio.TimerHandle] = {}    # instance -> pending VIP re-add
        self._reinstated: dict[str, float] = {}                   # instance -> last re-add (loop time)
        self._lower_logged: dict[str, float] = {}                 # instance -> last "lower priority" log line
        self.groups: dict[tuple[str, int], Group] = {}
        self.advert_view = None            # the advert view (per interface, family and VRID), set in start()
        self.macs = None               # MAC learning for the advert view (engine.net.macprobe)
        self._view_tick: asyncio.TimerHandle | None = None
        self._drops_told: set[tuple[str, int, str]] = set()       # (interface, family, kind) with an event
        self.tasks: set[asyncio.Task] = set()
        self._vip_chain: dict[str, asyncio.Future | None] = {}
        self.host = None
        self.tracking = None
        self.notifier = None
        self.fifos = None              # notify_fifo & co (engine.notify.fifo)
        self.checker_notices = None    # checkers' mails and FIFO lines (engine.notify.checkers)
        self.uptime = uptime or read_uptime                        # vrrp_delay_after_boot's clock
        self._vrrp_delay: asyncio.TimerHandle | None = None       # vrrp_startup_delay running
        self._delayed: dict[str, InstanceDriver] = {}             # instances waiting for it
        self.lvs = None
        self.syncd = None              # lvs_sync_daemon: the kernel's connection sync (ipvs/syncd.py)
        self.loop: asyncio.AbstractEventLoop | None = None
        # called with (instance, source, priority, interval, loop time) for every advert an
        # instance accepted; the metrics exporter times them (None: nobody does)
        self.advert_heard = None

    # ------------------------------------------------------------------ helpers

    def emit(self, kind: str, message: str, severity: str = "info", **fields: Any) -> dict:
        return self.bus.emit(kind, message, severity, **fields)

    def spawn(self, coro, name: str) -> asyncio.Task:
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
        self.loop = asyncio.get_running_loop()
        from vipdeck.engine.hosting import HostSide
        from vipdeck.engine.net.macprobe import MacProbe
        from vipdeck.engine.advert_view import AdvertView

        self.host = HostSide(self)
        self.notifier = self._make_notifier(self.config)
        self.advert_view = AdvertView(self.emit, want_mac=self._want_mac)
        self.macs = MacProbe(self.advert_view.learn_mac, loop=self.loop)
        self._tick_view()
        await self.host.open()
        if self.run_vrrp:
            await self._start_vrrp()
            self._delay_vrrp()
        if self.run_checkers:
            await self._start_lvs()
        await self._start_syncd()        # before the instances start: their first state decides it
        for d in self.drivers.values():
            self._start_driver(d)
        if self.state.problem:
            self.emit("daemon", f"{self.state.problem}: operator changes will be refused", "error")
        self.emit("daemon", f"started with {self.config.summary()}", config=self.config_path)

    async def _start_vrrp(self) -> None:
        """The VRRP half: static addresses, instances, trackers (keepalived's VRRP process)."""
        await self._static(self.config)
        await self.host.prepare(self.config)     # VMACs made, our nftables leftovers gone
        # keepalived removes VIPs a crashed run may have left behind
        for inst in self.config.vrrp_instances:
            if inst.virtual_routes or inst.virtual_rules:
                # routes a crashed run left behind (a blackhole route on a backup would hurt)
                from vipdeck.engine.net import routes

                await routes.apply(inst.virtual_routes, inst.virtual_rules, add=False)
            removed = await self.host.remove_stale(inst)
            if removed:
                self.emit("daemon", f"{inst.name}: removed stale VIPs {', '.join(removed)}", "warning",
                          instance=inst.name)
        for inst in self.config.vrrp_instances:
            self._add_instance(inst)
        self._build_sync_groups()        # gates closed before any member starts
        await self._start_tracking()

    async def _static(self, config: Config) -> None:
        if config.static_ipaddresses or config.static_routes or config.static_rules:
            added = await self.host.add_static(config)
            if added:
                self.emit("vip", f"static addresses/routes/rules added: {'; '.join(added)}", added=True)

    def _make_notifier(self, config: Config):
        """notify_* scripts in per-instance order, SMTP alerts in their own queue;
        both report through the event bus (their text never holds credentials)."""
        from vipdeck.engine.notify.scripts import NotifyDispatcher
        from vipdeck.engine.notify.smtp import SmtpAlerter

        from vipdeck.engine.notify.checkers import CheckerNotices
        from vipdeck.engine.notify.fifo import NotifyFifos

        gd = config.global_defs
        alerter = SmtpAlerter(gd, self._on_smtp,
                              no_email_faults=any(k == "no_email_faults" for k, _ in gd.other))
        self.fifos = NotifyFifos(gd, vrrp=self.run_vrrp, lvs=self.run_checkers, on_problem=self._on_fifo)
        self.fifos.open()
        self.checker_notices = CheckerNotices(gd, alerter=alerter, fifo=self.fifos)
        return NotifyDispatcher(config, self._on_notify, alerter=alerter, fifo=self.fifos)

    def _on_fifo(self, text: str, severity: str) -> None:
        self.emit("notify", text, severity, fifo=True)

    def _delay_vrrp(self) -> None:
        """vrrp_startup_delay / vrrp_delay_after_boot: instances wait in INIT."""
        gd = self.config.global_defs
        if not gd.vrrp_startup_delay and not gd.vrrp_delay_after_boot:
            return
        delay = start_delay(gd.vrrp_startup_delay, gd.vrrp_delay_after_boot,
                            self.uptime() if gd.vrrp_delay_after_boot else None)
        if delay.problem:
            self.emit("daemon", delay.problem, "warning")
        if delay.seconds <= 0:
            return
        self._vrrp_delay = self.loop.call_later(delay.seconds, self._vrrp_delay_over)
        vrrp_log.info("Delaying startup for %g seconds (%s)", delay.seconds, delay.why)
        self.emit("daemon", f"VRRP instances wait {delay.seconds:g} s before starting ({delay.why})",
                  delay=delay.seconds, until=time.time() + delay.seconds)

    def _vrrp_delay_over(self) -> None:
        self._vrrp_delay = None
        vrrp_log.info("Delayed start completed")
        self.emit("daemon", "VRRP start delay over: instances start")
        delayed, self._delayed = self._delayed, {}
        for name, d in delayed.items():
            if self.drivers.get(name) is d and not d.stopped:
                self._start_driver(d)

    def _on_notify(self, ev) -> None:
        self.emit("notify", ev.message(), "info" if ev.ok else "warning", **ev.as_fields())

    def _on_smtp(self, res) -> None:
        if res.skipped:
            return
        to = ", ".join(res.recipients)
        text = f"alert '{res.subject}' " + (f"sent to {to}" if res.ok else f"to {to} failed: {res.error}")
        self.emit("smtp", text, "info" if res.ok else "warning", **res.as_fields())

    def _want_mac(self, ifname: str, family: int, address: str) -> bool | None:
        return self.macs.want(ifname, family, address) if self.macs is not None else None

    def _tick_view(self) -> None:
        """The advert view learns that a split brain is over from silence, which
        no packet reports: look twice a second."""
        if self.advert_view is not None:
            self.advert_view.tick(time.time())
        self._view_tick = self.loop.call_later(0.5, self._tick_view)

    async def stop(self, resign: bool = True) -> None:
        """Every master resigns (priority 0), VIPs go, notify_stop runs."""
        if self._view_tick is not None:
            self._view_tick.cancel()
            self._view_tick = None
        if self.macs is not None:
            self.macs.close()
        for timer in [*self._held_in_init.values(), *self._reinstating.values()]:
            timer.cancel()
        self._held_in_init.clear()
        self._reinstating.clear()
        if self._vrrp_delay is not None:
            self._vrrp_delay.cancel()
            self._vrrp_delay = None
        self._delayed.clear()
        if self.syncd:
            # first, as keepalived: the STOP transitions below must not restart a backup daemon
            await self.syncd.stop()
        for d in self.drivers.values():
            if resign:
                d.shutdown()
        self._sync_flush()               # group STOP notifies, before the notifier closes
        await self._drain_vip_ops()
        if self.tracking:
            await self.tracking.stop()
        if self.lvs:
            await self.lvs.stop()
        if self.notifier:
            await self.notifier.close(timeout=5)
        if self.fifos:
            await self.fifos.close()             # after the last STOP / shutdown lines
        for g in self.groups.values():
            g.sock.close()
        self.groups.clear()
        for t in list(self.tasks):
            t.cancel()
        if self.host:
            await self.host.close()
        self.emit("daemon", "stopped")

    async def _drain_vip_ops(self, timeout: float = 5) -> None:
        pending = [f for f in self._vip_chain.values() if f is not None and not f.done()]
        if pending:
            await asyncio.wait(pending, timeout=timeout)

    # ------------------------------------------------------------------ instances

    def _socket_for(self, inst: VrrpInstance) -> Group:
        fam = socket.AF_INET6 if inst.family == 6 else socket.AF_INET
        ifname = self.host.vrrp_interface(inst)   # use_vmac: its VMAC, sending and hearing
        key = (ifname, fam)
        g = self.groups.get(key)
        if g is None:
            from vipdeck.engine.net.vrrp_socket import VrrpSocket

            sock = VrrpSocket(ifname, fam, groups=[], local_addresses=self.host.local,
                              on_drop=lambda kind, src, key=key: self._socket_drop(key, kind, src),
                              source_from=inst.interface)
            g = Group(sock, {})
            sock.add_listener(lambda rx, key=key: self._on_packet(key, rx))
            sock.start(self.loop)
            self.groups[key] = g
        if not inst.unicast_peers:
            group = inst.mcast_group          # the parser resolved it for the instance's family
            if group not in g.sock.groups:
                g.sock.join(group)
        return g

    def _add_instance(self, inst: VrrpInstance) -> InstanceDriver:
        g = self._socket_for(inst)
        src = inst.unicast_src_ip or inst.mcast_src_ip or g.sock.src
        d = InstanceDriver(inst, g.sock, self, primary=src)
        self.host.attach(d)                      # FAULT if its VMAC could not be made
        g.drivers[inst.vrid] = d
        self.drivers[inst.name] = d
        self.vrrp_stats[inst.name] = TransitionCounters()    # a new driver counts from zero too
        self._vip_chain[inst.name] = None
        operator.prepare(d, self.state.state, time.time())     # drain, hold: before it starts
        return d

    def _start_driver(self, d: InstanceDriver) -> None:
        """Start the instance, or keep it in INIT while the start delay runs or
        an unweighted tracker has no first result yet (keepalived does not
        elect on a guess)."""
        if self._vrrp_delay is not None:
            self._delayed[d.inst.name] = d
            return
        pending = self.tracking.effective(d.inst).pending if self.tracking else ()
        if pending:
            if d.inst.name not in self._held_in_init:
                limit = self._init_hold_limit(pending)
                self._held_in_init[d.inst.name] = self.loop.call_later(limit, self._release_init, d.inst.name)
                self.emit("tracker", f"{d.inst.name} stays in INIT until {', '.join(pending)} "
                          f"report a first result (at most {limit:g}s)", instance=d.inst.name)
            return
        self._start_now(d)

    def _start_now(self, d: InstanceDriver) -> None:
        d.start()
        operator.started(d, self.state.state, time.time())     # takeover: once it elects
        self._refresh_tracking(d)
        if not self.host.is_up(d.inst.interface):
            d.feed(m.InterfaceChanged(up=False, detail=f"{d.inst.interface} down at start"))

    def _on_packet(self, key: tuple[str, int], rx) -> None:
        """Decode, judge by the instance's rules, feed the machine, then show it in the view."""
        g = self.groups.get(key)
        if g is None:
            return
        fam = 4 if rx.family == socket.AF_INET else 6
        if rx.family == socket.AF_INET:
            adv = packet.decode_ipv4(rx.packet, expect_ttl=None)
        else:
            adv = packet.decode_vrrp(rx.data, rx.src, rx.dst, rx.ttl, expect_ttl=None)
        if isinstance(adv, packet.Reject):
            if adv.vrid is None:
                self._undecodable(key, g, adv)
                return
            d = g.drivers.get(adv.vrid)
            if d is not None:
                d.count_reject(adv)
            self.advert_view.observe_reject((key[0], fam, adv.vrid), adv, self._side(g, d), time.time())
            return
        d = g.drivers.get(adv.vrid)
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
                d.accept(adv)
                if adv.priority == 0:
                    self.vrrp_stats[d.inst.name].pri_zero_rcvd += 1
                if self.advert_heard is not None:
                    self.advert_heard(d.inst.name, adv.src, adv.priority, adv.interval, self.loop.time())
        self.advert_view.observe((key[0], fam, adv.vrid), adv, verdict, self._side(g, d), time.time())

    def _side(self, g: Group, d: InstanceDriver | None) -> "_OurSide | None":
        if d is None:
            return None
        side = g.sides.get(d.inst.vrid)
        if side is None or side.d is not d:
            side = g.sides[d.inst.vrid] = _OurSide(d)
        return side

    _DROP_WHY = {
        "own_source": "adverts carrying our own source address {src} (a looping switch, or another router "
                      "configured with our address)",
        "malformed": "packets without a usable IP header (from {src})",
    }

    def _socket_drop(self, key: tuple[str, int], kind: str, src: str | None) -> None:
        self._tell_drop(key, kind, self._DROP_WHY.get(kind, kind).format(src=src or "?"), src)

    def _undecodable(self, key: tuple[str, int], g: Group, rej: packet.Reject) -> None:
        """Dropped before its VRID could be read (too short for the VRRP header, a
        broken IP header): counted per interface, one event per kind."""
        g.drops[rej.reason.value] += 1
        self._tell_drop(key, rej.reason.value, str(rej), rej.src)

    def _tell_drop(self, key: tuple[str, int], kind: str, what: str, src: str | None) -> None:
        fam = 4 if key[1] == socket.AF_INET else 6
        told = (key[0], fam, kind)
        if told in self._drops_told:
            return
        self._drops_told.add(told)
        self.emit("advert", f"{key[0]} (IPv{fam}): dropped {what}; counted under the interface's VRRP drops",
                  "warning", interface=key[0], family=fam, source=src, flag=kind, vrid=None)

    def vrrp_drops(self) -> dict[str, dict]:
        """Per interface: packets its VRRP sockets read, and what was dropped before
        any instance or the advert view saw it, by kind."""
        out: dict[str, dict] = {}
        for (ifname, _fam), g in self.groups.items():
            st = g.sock.stats
            e = out.setdefault(ifname, {"received": 0, "dropped": Counter()})
            e["received"] += st.received
            if st.dropped_own:
                e["dropped"]["own_source"] += st.dropped_own
            if st.dropped_malformed:
                e["dropped"]["malformed"] += st.dropped_malformed
            e["dropped"].update(g.drops)
        return {k: {"received": v["received"], "dropped": dict(v["dropped"])} for k, v in out.items()}

    # ------------------------------------------------------------------ hooks for drivers

    def vips_add(self, d: InstanceDriver) -> None:
        self._chain_vip_op(d, True)

    def vips_remove(self, d: InstanceDriver) -> None:
        self._chain_vip_op(d, False)

    def _chain_vip_op(self, d: InstanceDriver, add: bool) -> None:
        """VIP changes of one instance happen in the order the machine asked."""
        prev = self._vip_chain.get(d.inst.name)

        async def op() -> None:
            if prev is not None and not prev.done():
                await asyncio.wait([prev])
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

        self._vip_chain[d.inst.name] = self.spawn(op(), f"{d.inst.name} VIPs")

    async def _routes(self, d: InstanceDriver, add: bool) -> None:
        from vipdeck.engine.net import routes

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
        prev = self._vip_chain.get(d.inst.name)
        self.host.garp_start(d, after=prev)

    def master_rx_lower_pri(self, d: InstanceDriver, heard: m.LowerPriorityMaster) -> None:
        """A master heard a lower-priority master, as after a split brain heals
        (keepalived's vrrp.c does the same): our advert has gone out; the VIPs
        are announced again (garp_lower_prio_repeat / _delay) so hosts that
        learnt the other router's MAC come back, so are those of the sync
        group's other masters, and notify_master_rx_lower_pri runs."""
        now = self.loop.time()
        if now - self._lower_logged.get(d.inst.name, -1e9) >= 1.0:   # at most once a second per instance
            self._lower_logged[d.inst.name] = now
            vrrp_log.info("%s", logforms.lower_priority_advert(d.inst.name, heard.source, heard.priority,
                                                              d.machine.effective_priority))
        self.host.garp_lower_prio(d)
        grp = self.config.sync_group_of(d.inst.name)
        for name in grp.group if grp is not None else ():
            other = self.drivers.get(name)
            if other is not None and other is not d and other.machine.state == m.State.MASTER:
                self.host.garp_lower_prio(other)
        self.notifier.master_rx_lower_pri(d.inst, heard.priority, own_priority=d.machine.effective_priority)

    def garp_stop(self, d: InstanceDriver) -> None:
        self.host.garp_stop(d)

    def transition(self, d: InstanceDriver, t: m.Transition) -> None:
        sev = "warning" if t.new in (m.State.FAULT,) else "info"
        counters = self.vrrp_stats.get(d.inst.name)
        if counters is not None:
            counters.transition(str(t.old), str(t.new), t.reason)
        self.emit("transition", f"{d.inst.name} {t.old} -> {t.new}: {t.reason} ({t.detail})", sev,
                  instance=d.inst.name, vrid=d.inst.vrid, **{"from": str(t.old), "to": str(t.new)},
                  reason=t.reason, detail=t.detail)
        vrrp_log.info("%s", logforms.transition(d.inst.name, str(t.old), str(t.new), t.reason, t.detail))
        if t.new in (m.State.MASTER, m.State.BACKUP, m.State.FAULT, m.State.STOP) and t.old != t.new:
            self.notifier.instance_transition(d.inst, str(t.new), d.machine.effective_priority)
        if self.syncd is not None and self.syncd.config is not None and self.syncd.config.instance == d.inst.name:
            self.syncd.changed()

    # ------------------------------------------------------------------ sync groups

    def _build_sync_groups(self) -> None:
        """One ``sync.SyncGroupMachine`` per vrrp_sync_group over its members'
        machines (at start, and again after a reload), gates set at once."""
        self.sync_groups, self._sync_of = {}, {}
        for grp in self.config.sync_groups:
            members = {n: self.drivers[n].machine for n in grp.group if n in self.drivers}
            if not members:
                continue
            g = sync.SyncGroupMachine(grp.name, members)
            self.sync_groups[grp.name] = g
            for n in members:
                self._sync_of[n] = g
            self._sync_queue.append((g, None, ()))
        for name, d in self.drivers.items():
            if name not in self._sync_of:      # left its group on a reload: nothing holds it any more
                if not d.machine.sync_gate:
                    d.feed(m.SyncGate(True))
                if d.machine.sync_fault:
                    d.feed(m.SyncFault(False, "no longer in a sync group"))
        self._sync_flush()

    def group_state(self, name: str) -> str | None:
        """The state a sync group is in as a whole (None when it has no running member)."""
        g = self.sync_groups.get(name)
        return None if g is None else str(g.state)

    def clear_vrrp_stats(self) -> None:
        """keepalived's SIGSTATS_CLEAR: the dumped counters start again from zero
        (a baseline; the console's own counters keep counting)."""
        for name, d in self.drivers.items():
            counters = self.vrrp_stats.setdefault(name, TransitionCounters())
            counters.baseline = None
            counters.baseline = vrrp_stats(d.counters, counters)

    def fed(self, d: InstanceDriver, transitions: list[m.Transition]) -> None:
        """Driver hook after every input: a sync group member's group looks at
        it once the current callback is done (so a batch of operator events,
        e.g. drain, reaches every member before the group reacts)."""
        g = self._sync_of.get(d.inst.name)
        if g is None or self.drivers.get(d.inst.name) is not d:
            return
        self._sync_queue.append((g, d.inst.name, tuple(transitions)))
        if self._sync_handle is None and not self._syncing and self.loop is not None:
            self._sync_handle = self.loop.call_soon(self._sync_flush)

    def _sync_flush(self) -> None:
        """Hand queued member changes to their groups and feed back the orders."""
        if self._sync_handle is not None:
            self._sync_handle.cancel()
            self._sync_handle = None
        if self._syncing:
            return
        self._syncing = True
        try:
            steps = 0
            while self._sync_queue:
                g, name, ts = self._sync_queue.popleft()
                if self.sync_groups.get(g.name) is not g:
                    continue                      # replaced by a reload
                steps += 1
                if steps > 10000:                 # a bug, not a state: never spin the loop
                    log.error("sync groups did not settle; dropping %d queued changes", len(self._sync_queue))
                    self._sync_queue.clear()
                    break
                try:
                    outputs = g.update(self.loop.time() if self.loop else 0.0, name, ts)
                except Exception:
                    log.exception("sync group %s failed on %s %r", g.name, name, ts)
                    continue
                for out in outputs:
                    if isinstance(out, sync.Order):
                        target = self.drivers.get(out.member)
                        if target is not None:
                            target.feed(out.event)
                    else:
                        self._group_transition(out)
        finally:
            self._syncing = False

    def _group_transition(self, t: sync.GroupTransition) -> None:
        self.emit("transition", f"sync group {t.group} {t.old} -> {t.new}: {t.reason} ({t.detail})",
                  "warning" if t.new is m.State.FAULT else "info", group=t.group,
                  **{"from": str(t.old), "to": str(t.new)}, reason=t.reason, detail=t.detail)
        vrrp_log.info("%s", logforms.sync_group(t.group, str(t.new), f"{t.reason}: {t.detail}"))
        grp = next((g for g in self.config.sync_groups if g.name == t.group), None)
        if grp is not None and t.new in (m.State.MASTER, m.State.BACKUP, m.State.FAULT, m.State.STOP):
            self.notifier.group_transition(grp, str(t.new))

    def sync_held(self, d: InstanceDriver, held: m.SyncHeld) -> None:
        """A member would be master by itself but its group keeps it BACKUP
        (its VIPs may be unserved: say so once, not at every timer)."""
        self.emit("transition", f"{d.inst.name} stays BACKUP, held by its sync group ({held.cause}: {held.detail})",
                  "warning", instance=d.inst.name, vrid=d.inst.vrid, reason=m.SYNC_GROUP, held=True,
                  cause=held.cause, detail=held.detail)

    # ------------------------------------------------------------------ tracking

    async def _start_tracking(self) -> None:
        from vipdeck.engine.vrrp.track import TrackingHub

        self.tracking = TrackingHub(self.config, on_change=self._tracker_changed)
        await self.tracking.start()
        for problem in self.tracking.problems:
            self.emit("tracker", problem, "warning")

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
            if name in self._held_in_init:
                if not self.tracking.effective(d.inst).pending:
                    self._release_init(name)
                continue
            self._refresh_tracking(d)

    def _init_hold_limit(self, pending: tuple[str, ...]) -> float:
        """Long enough for each pending script to run once and time out."""
        limit = 5.0
        for name in pending:
            t = self.tracking.tracker(name)
            script = getattr(t, "script", None)
            if script is not None:
                limit = max(limit, float(script.interval) + float(getattr(t, "timeout", 0) or 0) + 1.0)
        return limit

    def _release_init(self, name: str) -> None:
        timer = self._held_in_init.pop(name, None)
        if timer is None:
            return
        timer.cancel()
        d = self.drivers.get(name)
        if d is None or d.stopped:
            return
        pending = self.tracking.effective(d.inst).pending if self.tracking else ()
        if pending:
            self.emit("tracker", f"{name}: no first result from {', '.join(pending)}; starting anyway",
                      "warning", instance=name)
        self._start_now(d)

    def link_changed(self, ifname: str, up: bool, index: int | None = None) -> None:
        if up:
            # first the socket, so the instances that leave FAULT hear and send on the new link
            for (ifn, fam), g in self.groups.items():
                if ifn != ifname:
                    continue
                if index is not None and index != g.sock.ifindex:
                    self._reopen((ifn, fam), g, index)
                else:
                    g.sock.rejoin()
        for d in self.drivers.values():
            if d.inst.interface == ifname:
                d.feed(m.InterfaceChanged(up=up, detail=f"{ifname} {'up' if up else 'down'}"))
            elif up and d.machine.state == m.State.MASTER and any(
                    v.dev == ifname for v in d.inst.held_vips):
                # a VIP on another device: a link that went down may have flushed it (IPv6)
                self._reinstate(d, f"{ifname} came back up")
        if self.tracking:
            self.tracking.link_changed(ifname, up)

    def address_removed(self, ifname: str, address: str) -> None:
        """A VIP a master holds went away (removed by hand, or flushed with the
        IPv6 addresses of a link that went down): put it back, like keepalived."""
        try:
            gone = ipaddress.ip_address(address)
        except ValueError:
            return
        for d in self.drivers.values():
            if d.stopped or d.machine.state != m.State.MASTER:
                continue
            for v in d.inst.held_vips:
                if (v.dev or d.inst.interface) == ifname and ipaddress.ip_address(v.address) == gone:
                    self._reinstate(d, f"VIP {address} was removed from {ifname} while master")
                    break

    def _reinstate(self, d: InstanceDriver, why: str) -> None:
        """Re-add a master's VIPs (and announce them), at most once a second per
        instance so a fight with another program cannot spin."""
        name = d.inst.name
        if name in self._reinstating:
            return
        delay = max(0.0, self._reinstated.get(name, -1e9) + 1.0 - self.loop.time())

        def go() -> None:
            self._reinstating.pop(name, None)
            if d.stopped or d.machine.state != m.State.MASTER or self.drivers.get(name) is not d:
                return
            self._reinstated[name] = self.loop.time()
            self.emit("vip", f"{name}: {why}; re-adding", "warning", instance=name)
            self.vips_add(d)
            self.garp_start(d)

        self._reinstating[name] = self.loop.call_later(delay, go)

    def addresses_changed(self, ifname: str) -> None:
        """A socket whose source address went away (or never was) looks again,
        e.g. when a re-created interface gets its address after coming up."""
        for (ifn, _fam), g in self.groups.items():
            if ifn != ifname or (g.sock.src is not None and g.sock.src in self.host.local):
                continue
            before = g.sock.src
            try:
                now = g.sock.refresh_source()
            except OSError:          # the interface is gone; its removal is handled as a link event
                continue
            if now != before:
                for d in g.drivers.values():
                    d.invalidate_adverts()

    def _reopen(self, key: tuple[str, int], g: Group, index: int) -> None:
        """The interface was deleted and made again (a new ifindex): a raw socket
        stays bound to the old one and would hear nothing, so open a new one."""
        from vipdeck.engine.net.vrrp_socket import VrrpSocket

        old = g.sock
        try:
            new = VrrpSocket(key[0], key[1], groups=list(old.groups), local_addresses=self.host.local,
                             on_drop=lambda kind, src, key=key: self._socket_drop(key, kind, src),
                             source_from=old.source_from)
        except OSError as exc:
            self.emit("daemon", f"{key[0]} re-created but its VRRP socket could not be re-opened: {exc}", "error")
            return
        new.add_listener(lambda rx, key=key: self._on_packet(key, rx))
        new.start(self.loop)
        g.sock = new
        for d in g.drivers.values():
            d.sock = new
            d.invalidate_adverts()
        old.close()
        self.emit("daemon", f"{key[0]} was re-created (ifindex {old.ifindex} -> {new.ifindex}): "
                  "VRRP socket re-opened", "warning", interface=key[0])

    # ------------------------------------------------------------------ LVS

    async def _start_lvs(self) -> None:
        if not self.config.virtual_servers:
            return
        from vipdeck.engine.lvs import LvsManager

        self.lvs = LvsManager(self)
        await self.lvs.start()

    def _syncd_config(self, config: Config):
        """lvs_sync_daemon, if this process runs its half: the VRRP half when
        it follows an instance, the checker half otherwise (as keepalived)."""
        cfg = config.global_defs.lvs_sync_daemon
        if cfg is None or not (self.run_vrrp if cfg.instance else self.run_checkers):
            return None
        return cfg

    def _instance_state(self, name: str) -> str | None:
        d = self.drivers.get(name)
        return None if d is None else str(d.machine.state)

    async def _start_syncd(self) -> None:
        cfg = self._syncd_config(self.config)
        if cfg is None:
            return
        from vipdeck.engine.ipvs.syncd import SyncDaemons

        self.syncd = SyncDaemons(cfg, self._instance_state, self.emit)
        await self.syncd.start()

    async def _reload_syncd(self, new: Config) -> None:
        cfg = self._syncd_config(new)
        if self.syncd is None:
            await self._start_syncd()
        elif cfg is None:
            await self.syncd.stop()
            self.syncd = None
        else:
            await self.syncd.reload(cfg)

    # ------------------------------------------------------------------ snapshot

    def snapshot(self) -> dict:
        st = self.state.state
        instances = []
        for name, d in self.drivers.items():
            hold = st.holds.get(name)
            tk = st.takeovers.get(name)
            stamp = hold or tk or (vars(st.drained) if st.drained else None) or {}
            op_view = {"drained": st.drained is not None, "hold_until": (hold or {}).get("until"),
                       "held": d.machine.held, "takeover": tk is not None,
                       # not master yet: no master heard to take over from (or not fed yet: INIT)
                       "takeover_pending": tk is not None and (d.machine.takeover_pending
                                                               or not d.machine.takeover),
                       "who": stamp.get("who"), "when": stamp.get("when"), "why": stamp.get("why"),
                       "group": (hold or tk or {}).get("group"),     # the sync group it was given to
                       "scope": list(operator.scope(self.config, name, self.drivers).members)}
            grp = self.config.sync_group_of(name)
            trackers = self.tracking.describe(d.inst) if self.tracking else []
            instances.append(d.snapshot(trackers, op_view, grp.name if grp else None, self._master_mac(d)))
        g = self.config.global_defs
        interfaces = self.host.describe() if self.host else []
        drops = self.vrrp_drops()
        for itf in interfaces:
            itf["vrrp"] = drops.pop(itf["name"], {"received": 0, "dropped": {}})
        for name, counts in sorted(drops.items()):    # a socket on an interface the link watch lost
            interfaces.append({"name": name, "up": False, "mac": None, "addresses": [], "vrrp": counts})
        snap = {
            "schema": 1,
            "node": {"hostname": socket.gethostname(), "router_id": g.router_id or socket.gethostname(),
                     "pid": os.getpid(), "version": _version(), "config_file": self.config_path,
                     "started_at": self.started_at, "now": time.time(), "mode": self.mode,
                     "interfaces": interfaces},
            "instances": instances,
            "virtual_servers": self.lvs.snapshot() if self.lvs else [],
            "ipvs": self.lvs.ipvs_status() if self.lvs else {"available": False, "error": "no virtual_server configured"},
            "sync_daemon": self.syncd.snapshot() if self.syncd else None,
            "adverts": self.advert_view.snapshot(time.time()) if self.advert_view else [],
            "operator": {"drained": vars(st.drained) if st.drained else None,
                         "audit_tail": self.state.audit_tail(10)},
            "read_only": False,
        }
        return snap

    def _master_mac(self, d: InstanceDriver) -> str | None:
        """Ours while master; else the MAC the master's adverts come from (learnt
        by the advert view's MAC probe when it became master)."""
        if d.machine.state == m.State.MASTER:
            return self.host.master_mac(d.inst) if self.host else None
        return self.advert_view.mac_of(d.sock.ifname, d.machine.master_address) if self.advert_view else None

    # ------------------------------------------------------------------ reload

    def reload_plan(self, new: Config) -> tuple[list[str], list[str], list[str]]:
        """(kept, replaced, added/removed names): unchanged instances keep their state."""
        kept, replaced = [], []
        for inst in new.vrrp_instances:
            old = self.config.instance(inst.name)
            if old is not None and old == inst:
                kept.append(inst.name)
            elif old is not None:
                replaced.append(inst.name)
        gone = [i.name for i in self.config.vrrp_instances if new.instance(i.name) is None]
        return kept, replaced, gone

    async def apply(self, new: Config) -> str:
        if not self.run_vrrp:       # -C: the checker half only
            self.config = new
            await self._reload_notifier(new)
            await self._reload_lvs(new)
            await self._reload_syncd(new)
            return f"checker half reloaded: {len(new.virtual_servers)} virtual server(s)"
        kept, replaced, gone = self.reload_plan(new)
        old_config = self.config
        states_before = {n: str(d.machine.state) for n, d in self.drivers.items()}
        groups_before = {n: str(g.state) for n, g in self.sync_groups.items()}
        for name in replaced + gone:
            timer = self._held_in_init.pop(name, None)
            if timer is not None:
                timer.cancel()
            d = self.drivers.pop(name)
            self.vrrp_stats.pop(name, None)
            d.shutdown()
            g = self.groups[(d.sock.ifname, d.sock.family)]
            g.drivers.pop(d.inst.vrid, None)
        await self._drain_vip_ops()
        self.config = new
        await self._static(new)
        await self.host.prepare(new)
        await self._reload_notifier(new)
        added = []
        for inst in new.vrrp_instances:
            if inst.name in self.drivers:
                self.drivers[inst.name].inst = inst  # equal, but the new object (locations)
                continue
            d = self._add_instance(inst)
            added.append(inst.name)
        self._build_sync_groups()
        if self.tracking:
            await self.tracking.reload(new)
        for name in added:
            self._start_driver(self.drivers[name])    # operator intent: operator.prepare/started
        self._states_after_reload(kept, states_before, groups_before)
        await self._reload_lvs(new)
        self._refresh_view_sides()
        await self._reload_syncd(new)
        return (f"kept {len(kept)} instance(s) running unchanged, restarted {len(replaced)}, "
                f"added {len(added) - len(replaced)}, removed {len(gone)}")

    async def _reload_notifier(self, new: Config) -> None:
        if self.fifos is not None:
            await self.fifos.reload(new.global_defs)
        self.notifier.config = new
        if self.notifier.alerter is not None:
            self.notifier.alerter.gd = new.global_defs
        if self.checker_notices is not None:
            self.checker_notices.gd = new.global_defs

    def _states_after_reload(self, kept: list[str], before: dict[str, str], groups: dict[str, str]) -> None:
        """fifo_write_vrrp_states_on_reload: what the reload left as it was goes to the
        FIFOs once more (a change is written anyway, as its transition)."""
        settled = ("MASTER", "BACKUP", "FAULT")
        for name in kept:
            d = self.drivers.get(name)
            state = str(d.machine.state) if d is not None else None
            if state in settled and before.get(name) == state:
                self.notifier.state_after_reload("INSTANCE", name, state, d.machine.effective_priority)
        for name, g in self.sync_groups.items():
            state = str(g.state)
            if state in settled and groups.get(name) == state:
                self.notifier.state_after_reload("GROUP", name, state)

    async def _reload_lvs(self, new: Config) -> None:
        if not self.run_checkers:   # -P: the VRRP half only
            return
        if self.lvs or new.virtual_servers:
            if self.lvs is None:
                await self._start_lvs()
            else:
                await self.lvs.reload(new)

    def _refresh_view_sides(self) -> None:
        """After a reload the advert view must not speak for instances that went
        (or judge a VRID by an instance's old settings)."""
        if self.advert_view is None:
            return
        for v in self.advert_view.views.values():
            g = self.groups.get((v.interface, socket.AF_INET if v.family == 4 else socket.AF_INET6))
            d = g.drivers.get(v.vrid) if g is not None else None
            v.ours = self._side(g, d) if d is not None else None


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("vipdeck")
    except Exception:
        return "0"
