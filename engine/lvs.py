"""The LVS half: virtual servers → checkers → desired IPVS → kernel.

Three sources decide each destination's weight, in this order of force:
the configuration (weight, sorry server), the health checkers (alive or
not, misc_dynamic, inhibit_on_failure) and the operator (weight override,
real-server drain).  The desired state is recomputed from all three and the
reconciler makes the smallest kernel change; a weight change never
re-creates a destination, so connections survive.

When the kernel has no ip_vs the checkers still run and the snapshot shows
their live state beside the configured table; status says IPVS is
unavailable instead of failing.

The global IPVS settings follow keepalived's check daemon: ``lvs_flush``
flushes the whole table at start (not on a reload), ``lvs_timeouts`` sets
the connection timeouts at start and reload (unset ones, and all of them
once a reload drops the keyword, go back to what the kernel had when we
started, as they do at exit), and at exit either our services are deleted
(the default, and ``lvs_flush_on_stop VS``: the kernel drops their real
servers with them) or, with ``lvs_flush_on_stop``, the whole table is
flushed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from typing import Any, Callable, Coroutine

from vipdeck.engine.check.result import CheckEnv
from vipdeck.engine.check.runner import CheckRunner
from vipdeck.engine.config.model import Config, Forward, RealServer, VirtualServer
from vipdeck.engine.control.schema import ControlError, Ipvs, RealServer as RealServerView, Service as ServiceView
from vipdeck.engine.control.schema import VirtualServer as VirtualServerView
from vipdeck.engine.events import Emit
from vipdeck.engine.ipvs import reconcile
from vipdeck.engine.ipvs.kernel import IpvsError, IpvsKernel
from vipdeck.engine.ipvs.model import TUNNEL_CSUM, Dest, ModelError, Service, ServiceKey, Timeouts, VirtualService
from vipdeck.engine.notify.checkers import CheckerNotices
from vipdeck.engine.notify.scripts import run_notify
from vipdeck.engine.state import StateStore, rs_key

log = logging.getLogger("vipdeck.lvs")

FORWARD = {Forward.NAT: "masq", Forward.DR: "route", Forward.TUN: "tunnel"}
STATS_INTERVAL = 1.0
# the kernel's counters are read for someone looking (the console, `vipdeck
# status`, a metrics scrape): after this long without a look, the stats loop
# stops reading them (a table of 1000 destinations is a netlink dump a second)
STATS_IDLE = 30.0


def service_keys(vs: VirtualServer, config: Config) -> list:
    """The kernel services one virtual_server block stands for."""
    if vs.fwmark is not None:
        return [ServiceKey.fwm(vs.fwmark, vs.ip_family or 4)]
    if vs.group is not None:
        grp = config.server_group(vs.group)
        keys = []
        for e in grp.entries if grp else ():
            if e.fwmark is not None:
                keys.append(ServiceKey.fwm(e.fwmark, e.family or 4))
            else:
                for a in e.addresses():
                    keys.append(ServiceKey.of(vs.protocol, a, e.port if e.port is not None else (vs.port or 0)))
        return keys
    return [ServiceKey.of(vs.protocol, vs.address, vs.port or 0)]


def _service_dicts(vs: VirtualServer, config: Config) -> list[ServiceView]:
    """The kernel services of one block, for the snapshot (a group's members included)."""
    try:
        keys = service_keys(vs, config)
    except ModelError:
        return []
    return [{"protocol": k.protocol or None, "address": k.address or None, "port": k.port or None,
             "fwmark": k.fwmark or None, "family": k.family} for k in keys]


def service_of(vs: VirtualServer, key):
    flags = tuple(f for f in vs.sched_flags if f in ("flag-1", "flag-2", "flag-3", "sh-port", "sh-fallback",
                                                     "mh-port", "mh-fallback"))
    return Service(key=key, scheduler=vs.scheduler, persistence_timeout=vs.persistence_timeout,
                   persistence_netmask=vs.persistence_granularity, one_packet=vs.ops, sched_flags=flags,
                   pe_name=vs.persistence_engine or "")


Spawn = Callable[[Coroutine, str], asyncio.Task]


class LvsManager:
    """``state`` is read for the operator's weights and drains; ``notices`` gets
    the checkers' mails and FIFO lines."""

    def __init__(self, config: Config, state: StateStore, emit: Emit, spawn: Spawn,
                 notices: CheckerNotices | None = None):
        self.config = config
        self.state = state
        self.emit = emit
        self.spawn = spawn
        self.notices = notices
        self.runner = None
        self.kernel = None
        self.ipvs_error: str | None = None
        self.kernel_snapshot = None
        self.owned: set = set()
        self._orig_timeouts = None       # the kernel's timeouts before lvs_timeouts changed them
        self._dirty = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._stats_task: asyncio.Task | None = None
        self._looked = float("-inf")     # monotonic time of the last snapshot()
        self._read_at = float("-inf")    # monotonic time of the last kernel read

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        try:
            self.kernel = await IpvsKernel().open()
        except IpvsError as exc:
            self.kernel = None
            self.ipvs_error = str(exc)
            self.emit("ipvs", f"IPVS unavailable: {exc}; checkers keep running", "warning")
        if self.kernel is not None:
            if self.config.global_defs.lvs_flush:
                await self._flush("lvs_flush: flushed the whole IPVS table at start")
            await self._timeouts()
        self._start_runner()
        self._task = self.spawn(self._reconcile_loop(), "IPVS reconcile")
        if self.kernel is not None:
            self._stats_task = self.spawn(self._stats_loop(), "IPVS stats")

    def _start_runner(self, previous=None) -> None:
        async def run_script(notify, args):
            return await run_notify(notify, list(args), self.config.global_defs)

        def on_event(ev) -> None:
            self.emit(ev.kind, ev.message, ev.severity, **ev.fields)

        self.runner = CheckRunner(self.config.virtual_servers, env=CheckEnv.from_config(self.config),
                                  run_script=run_script, on_event=on_event,
                                  on_change=lambda key: self._dirty.set(),
                                  notices=self.notices)
        if previous is not None:
            self.runner.adopt(previous)
        self.runner.start()

    async def stop(self) -> None:
        if self.runner:
            await self.runner.stop()
        for t in (self._task, self._stats_task):
            if t:
                t.cancel()
        if self.kernel is not None:
            if self.config.global_defs.lvs_flush_on_stop == "full":
                await self._flush("lvs_flush_on_stop: flushed the whole IPVS table at exit")
                self.owned = set()
            else:
                # keepalived removes the virtual servers it made when it stops
                # (their real servers go with them, as with lvs_flush_on_stop VS)
                await self._apply(desired=[])
            await self._timeouts(restore=True)
            await self.kernel.close()

    async def reload(self, config: Config) -> None:
        previous = self.runner
        if previous:
            await previous.stop(omega=False)
        self.config = config
        if self.kernel is not None:
            await self._timeouts()
        self._start_runner(previous)
        self._dirty.set()

    async def _flush(self, what: str) -> None:
        try:
            await self.kernel.flush()
        except IpvsError as exc:
            self.emit("ipvs", f"{what.split(':')[0]}: flush failed: {exc}", "error")
            return
        self.emit("ipvs", what, change="flush")

    async def _timeouts(self, restore: bool = False) -> None:
        """lvs_timeouts: set what is configured, the kernel's own values for the rest."""
        to = None if restore else self.config.global_defs.lvs_timeouts
        if to is None and self._orig_timeouts is None:
            return                       # never changed: nothing to put back
        try:
            if self._orig_timeouts is None:
                self._orig_timeouts = await self.kernel.timeouts()
            orig = self._orig_timeouts
            want = orig if to is None else Timeouts(to.tcp or orig.tcp, to.tcpfin or orig.tcpfin, to.udp or orig.udp)
            await self.kernel.set_timeouts(want)
        except IpvsError as exc:
            self.emit("ipvs", f"lvs_timeouts: {exc}", "error")
            return
        if to is None:
            self._orig_timeouts = None
        what = "restored" if to is None else "set"
        self.emit("ipvs", f"lvs_timeouts: {what} tcp {want.tcp} tcpfin {want.tcpfin} udp {want.udp}",
                         change=f"timeouts {want.tcp} {want.tcpfin} {want.udp}")

    # ------------------------------------------------------------------ desired state

    def desired(self) -> list:
        weights = self.state.state.weights
        drains = self.state.state.rs_drains
        out = []
        for vs in self.config.virtual_servers:
            try:
                dests = []
                for d in self.runner.desired(vs):
                    w = d.weight
                    k = rs_key(vs.key, d.key)
                    if not d.sorry:
                        if k in drains:
                            w = 0
                        elif k in weights and d.alive:
                            w = weights[k].weight
                    dests.append(Dest(d.address, d.port or vs.port or 0, w, FORWARD[d.forward],
                                      **_dest_options(vs, d)))
                for key in service_keys(vs, self.config):
                    out.append(VirtualService(service_of(vs, key), tuple(dests)))
            except (ModelError, KeyError) as exc:
                self.emit("ipvs", f"{vs.loc}: virtual_server {vs.key} cannot be programmed: {exc}", "error")
        return out

    async def _reconcile_loop(self) -> None:
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            if self.kernel is None:
                continue
            try:
                await self._apply(self.desired())
            except Exception as exc:  # never let one bad round stop future ones
                log.exception("IPVS reconcile failed")
                self.emit("ipvs", f"reconcile failed: {exc}", "error")
            await asyncio.sleep(0.05)  # coalesce bursts of checker changes

    async def _apply(self, desired: list) -> None:
        actual = await self.kernel.snapshot()
        keys = {v.key for v in desired}
        changes = reconcile.plan(desired, actual, owned_keys=self.owned)
        self.owned = (self.owned | keys) if desired else set()
        if not changes:
            self.kernel_snapshot = actual
            return
        result = await reconcile.apply(changes, self.kernel)
        for ch in result.done:
            self.emit("ipvs", f"applied: {ch}", change=str(ch))
        for ch, exc in result.failed:
            self.emit("ipvs", f"failed: {ch}: {exc}", "error", change=str(ch))
        self.kernel_snapshot = await self.kernel.snapshot()
        self._read_at = time.monotonic()

    async def _stats_loop(self) -> None:
        while True:
            await asyncio.sleep(STATS_INTERVAL)
            if time.monotonic() - self._looked < STATS_IDLE:
                await self._read_stats()

    async def _read_stats(self) -> None:
        try:
            self.kernel_snapshot = await self.kernel.snapshot()
            self._read_at = time.monotonic()
        except Exception as exc:
            log.warning("IPVS stats read failed: %s", exc)

    async def fresh_counters(self, max_age: float = STATS_INTERVAL) -> None:
        """Read the kernel's counters now unless the last read is recent: a
        look after a quiet spell (the stats loop idles) sees current numbers."""
        if self.kernel is not None and time.monotonic() - self._read_at > max_age:
            await self._read_stats()

    async def overrides_changed(self, vs_key: str) -> None:
        self._dirty.set()

    # ------------------------------------------------------------------ lookups

    def find(self, vs_text: str, rs_text: str) -> tuple[VirtualServer, RealServer]:
        vs = next((v for v in self.config.virtual_servers if v.key == vs_text.strip()), None)
        if vs is None:
            known = ", ".join(v.key for v in self.config.virtual_servers)
            raise ControlError("not_found", f"no virtual_server {vs_text!r} (known: {known})")
        rs = next((r for r in vs.real_servers if str(_with_port(r, vs)) == rs_text.strip()), None)
        if rs is None:
            known = ", ".join(str(_with_port(r, vs)) for r in vs.real_servers)
            raise ControlError("not_found", f"no real_server {rs_text!r} in {vs.key} (known: {known})")
        return vs, _with_port(rs, vs)

    # ------------------------------------------------------------------ snapshot

    def ipvs_status(self) -> Ipvs:
        return {"available": self.kernel is not None, "error": self.ipvs_error}

    def _kernel_dests(self, vs: VirtualServer) -> tuple[bool, dict]:
        snap = self.kernel_snapshot
        if snap is None:
            return False, {}
        keys = service_keys(vs, self.config)
        svc = snap.find(keys[0]) if keys else None
        if svc is None:
            return False, {}
        return True, {f"{d.dest.address}:{d.dest.port}" if ":" not in d.dest.address
                      else f"[{d.dest.address}]:{d.dest.port}": d for d in svc.dests}

    def snapshot(self) -> list[VirtualServerView]:
        self._looked = time.monotonic()
        if self.runner is None:
            return []
        st = self.state.state
        checks = {v["key"]: v for v in self.runner.snapshot()}
        out = []
        for vs in self.config.virtual_servers:
            c = checks.get(self.runner.key_of(vs), {})
            in_kernel, kd = self._kernel_dests(vs)
            rss: list[RealServerView] = []
            for r in c.get("real_servers", []):
                k = rs_key(vs.key, r["key"])
                ov = st.weights.get(k)
                drained = st.rs_drains.get(k)
                kdest = kd.get(r["key"])
                active = kdest.active_conns if kdest else None
                state = r["state"]
                if drained:
                    state = "DRAINED" if (active == 0 or (kdest is None and self.kernel is None)) else "DRAINING"
                eff = 0 if drained else (ov.weight if ov and r["alive"] else r["weight_effective"])
                rss.append({
                    "key": r["key"], "address": r["address"], "port": r["port"], "forward": r["forward"],
                    "weight_config": r["weight_config"], "weight_effective": eff,
                    "weight_kernel": kdest.dest.weight if kdest else None,
                    "override": None if ov is None else {"weight": ov.weight, "who": ov.who, "when": ov.when,
                                                          "why": ov.why},
                    "drain": None if drained is None else vars(drained),
                    "state": state, "alive": r["alive"],
                    "checkers": [{"kind": ch.get("kind"), "label": ch.get("label"), "ok": ch.get("ok"),
                                  "latency": ch.get("latency"), "error": ch.get("error"), "failures": ch.get("failures"),
                                  "last_check": ch.get("last_check"), "runs": ch.get("runs"),
                                  "total_failures": ch.get("total_failures")} for ch in r.get("checkers", [])],
                    "active_conn": active, "inactive_conn": kdest.inactive_conns if kdest else None,
                    **_rates(kdest),
                })
            out.append({
                "services": _service_dicts(vs, self.config),
                "key": vs.key, "protocol": vs.protocol if vs.fwmark is None else "FWM",
                "address": vs.address, "port": vs.port, "fwmark": vs.fwmark, "group": vs.group,
                "scheduler": vs.scheduler, "forward": vs.forward.value,
                "persistence_timeout": vs.persistence_timeout,
                "quorum": vs.quorum, "hysteresis": vs.hysteresis, "quorum_ok": c.get("quorum_ok", True),
                "sorry_server": c.get("sorry_server"), "sorry_active": c.get("sorry_active", False),
                "in_kernel": in_kernel, "real_servers": rss,
            })
        return out


def _dest_options(vs: VirtualServer, d) -> dict[str, Any]:
    """What the configuration says of a destination beyond its weight and
    method: uthreshold / lthreshold and the tunnel's type, port and checksum."""
    if d.sorry:
        server, limits = vs.sorry_server, None
    else:
        server = next((r for r in vs.real_servers if r.address == d.address
                       and (r.port if r.port is not None else vs.port or 0) == d.port), None)
        limits = server
    out: dict[str, Any] = {}
    if limits is not None:
        out.update(u_threshold=limits.uthreshold or 0, l_threshold=limits.lthreshold or 0)
    tunnel = getattr(server, "tunnel", None)
    if tunnel is not None and d.forward is Forward.TUN:
        out.update(tunnel_type=tunnel.type, tunnel_port=tunnel.port, tunnel_flags=TUNNEL_CSUM[tunnel.csum])
    return out


def _with_port(rs: RealServer, vs: VirtualServer) -> RealServer:
    if rs.port is None and vs.port is not None:
        return dataclasses.replace(rs, port=vs.port)
    return rs


_STATS = ("cps", "inpps", "outpps", "inbps", "outbps",        # the kernel's rate estimates
          "conns", "inpkts", "outpkts", "inbytes", "outbytes")  # totals since the destination was added


def _rates(kdest) -> dict[str, Any]:
    """A destination's kernel counters, all None when the kernel has none."""
    if kdest is None:
        return dict.fromkeys(_STATS)
    return {k: getattr(kdest.stats, k) for k in _STATS}



