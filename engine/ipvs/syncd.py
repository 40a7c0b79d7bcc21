"""The kernel's IPVS connection sync daemons, run the way keepalived runs them.

A director that takes over a VIP must know the connections the old master
was forwarding, or every established TCP connection through the VIP breaks
(a direct-routing or NAT director without the entry answers the next packet
with a reset).  The kernel replicates its connection table by multicast
between a *master* sync daemon and *backup* daemons; ``lvs_sync_daemon``
says where.  keepalived's rules (vrrp/vrrp.c, vrrp/vrrp_scheduler.c,
vrrp/vrrp_daemon.c, check/check_daemon.c), followed here:

* ``lvs_sync_daemon IF INSTANCE``: the master daemon runs while INSTANCE is
  MASTER and the backup daemon otherwise (from the start, in BACKUP and in
  FAULT).  Becoming master stops the backup daemon, then starts the master
  one; leaving master does the reverse.  The sync id defaults to the VRID.
* ``lvs_sync_daemon IF`` without an instance: both daemons run for as long
  as vipdeck runs.
* A reload that changes a setting restarts the daemons with the new one; at
  exit the daemons are stopped.

The kernel runs at most one master and one backup daemon per network
namespace, so the configuration owns both: :func:`plan` compares what should
run with what the kernel reports and returns the smallest set of stops and
starts (a daemon left behind by a crash, or one with other settings, is
replaced).  :func:`wanted` and :func:`plan` are pure; :class:`SyncDaemons`
is the asyncio driver the engine feeds with instance transitions.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Union

from vipdeck.engine.ipvs.kernel import IpvsError, IpvsKernel
from vipdeck.engine.ipvs.model import (SYNC_DEFAULT_GROUP, SYNC_DEFAULT_PORT, SYNC_DEFAULT_TTL, SYNC_STATES,
                                       SyncDaemon)

log = logging.getLogger("vipdeck.lvs")

# The kernel (seen on Linux 6.1) never answers IPVS_CMD_DEL_DAEMON for a sync
# thread that has not run yet: a stop sent right after its start hangs the
# request (and, keepalived-style, whoever waits for it).  On one CPU a new
# kernel thread first runs when we next sleep, so a daemon we started gets
# this long before we stop it (a flap MASTER -> BACKUP -> MASTER, a reload
# or an exit right after a transition).
MIN_DAEMON_AGE = 0.1


@dataclass(frozen=True)
class StopDaemon:
    state: str
    reason: str

    def __str__(self) -> str:
        return f"stop {self.state} sync daemon ({self.reason})"


@dataclass(frozen=True)
class StartDaemon:
    daemon: SyncDaemon

    def __str__(self) -> str:
        return f"start {self.daemon.state} sync daemon ({describe(self.daemon)})"


Change = Union[StopDaemon, StartDaemon]


def describe(d: SyncDaemon) -> str:
    """The settings as ipvsadm shows them, the kernel's defaults left out."""
    parts = [f"mcast={d.interface}", f"syncid={d.syncid}"]
    parts += [f"{name}={v}" for name, v in (("maxlen", d.maxlen), ("group", d.group), ("port", d.port),
                                            ("ttl", d.ttl)) if v]
    return ", ".join(parts)


def wanted(config: Any, instance_state: str | None) -> tuple[SyncDaemon, ...]:
    """The daemons ``config`` (an ``LvsSyncDaemon`` or None) asks for while its
    instance is in ``instance_state`` ("MASTER", "BACKUP", ...; ignored
    without an instance).  Everything but MASTER means the backup daemon."""
    if config is None:
        return ()
    if config.instance is None:
        states: tuple[str, ...] = ("master", "backup")
    else:
        states = ("master",) if instance_state == "MASTER" else ("backup",)
    return tuple(SyncDaemon(state=s, interface=config.interface, syncid=config.syncid, maxlen=config.maxlen or 0,
                            group=config.group or "", port=config.port or 0, ttl=config.ttl or 0)
                 for s in states)


def satisfies(have: SyncDaemon, want: SyncDaemon,
              started: Mapping[str, tuple[SyncDaemon, SyncDaemon]] | None = None) -> bool:
    """Whether the running daemon ``have`` is the one ``want`` describes.

    The kernel fills in its defaults and may clamp maxlen to the interface's
    MTU, so the comparison is on what was asked for; a daemon this process
    started from ``want`` and read back (``started``) matches as read.
    """
    if have.state != want.state:
        return False
    if started and started.get(have.state) == (want, have):
        return True
    return (have.interface == want.interface and have.syncid == want.syncid
            and (have.group or SYNC_DEFAULT_GROUP) == (want.group or SYNC_DEFAULT_GROUP)
            and (have.port or SYNC_DEFAULT_PORT) == (want.port or SYNC_DEFAULT_PORT)
            and (have.ttl or SYNC_DEFAULT_TTL) == (want.ttl or SYNC_DEFAULT_TTL)
            and (not want.maxlen or have.maxlen == want.maxlen))


def plan(want: Iterable[SyncDaemon], have: Iterable[SyncDaemon],
         started: Mapping[str, tuple[SyncDaemon, SyncDaemon]] | None = None) -> list[Change]:
    """Stops first, then starts (keepalived: stop the backup, then start the
    master), master before backup within each."""
    want_by = {d.state: d for d in want}
    have_by = {d.state: d for d in have}
    stops: list[Change] = []
    starts: list[Change] = []
    for state in SYNC_STATES:
        w, h = want_by.get(state), have_by.get(state)
        if h is not None and w is None:
            stops.append(StopDaemon(state, "not wanted"))
        elif h is not None and w is not None and not satisfies(h, w, started):
            stops.append(StopDaemon(state, f"running with other settings: {describe(h)}"))
            starts.append(StartDaemon(w))
        elif h is None and w is not None:
            starts.append(StartDaemon(w))
    return stops + starts


class SyncDaemons:
    """Keeps the kernel's sync daemons as :func:`wanted` says, as the named
    instance changes state.  Every failure is an event, never fatal: a
    director without connection sync still forwards.

    ``state_of(name)`` gives an instance's current VRRP state; ``emit`` is
    the engine's event emitter; ``kernel`` an opened-or-not ``IpvsKernel``
    (one is made when None).
    """

    def __init__(self, config: Any, state_of: Callable[[str], str | None], emit: Callable[..., Any],
                 kernel: Any = None):
        self.config = config
        self.state_of = state_of
        self.emit = emit
        self.kernel = kernel
        self.error: str | None = None
        self.running: list[SyncDaemon] = []          # as last read from the kernel
        self._started: dict[str, tuple[SyncDaemon, SyncDaemon]] = {}
        self._started_at: dict[str, float] = {}     # state -> loop time we started it
        self._dirty = asyncio.Event()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task | None = None
        self._closing = False

    async def start(self) -> None:
        try:
            if self.kernel is None:
                self.kernel = IpvsKernel()
            await self.kernel.open()
        except IpvsError as exc:
            self.kernel = None
            self.error = str(exc)
            self.emit("ipvs", f"lvs_sync_daemon: {exc}; no connection sync", "warning")
            return
        await self.apply()
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="IPVS sync daemons")

    def changed(self) -> None:
        """The instance may have changed state: look again (coalesced)."""
        if not self._closing:
            self._dirty.set()

    async def reload(self, config: Any) -> None:
        self.config = config
        await self.apply()

    async def stop(self) -> None:
        """Stop the daemons.  An update in flight is let finish first: a netlink
        request cancelled half-way is never worth the doubt."""
        self._closing = True
        async with self._lock:
            if self._task is not None:
                self._task.cancel()
                self._task = None
        if self.kernel is None:
            return
        await self.apply(stopping=True)
        await self.kernel.close()
        self.kernel = None

    async def _loop(self) -> None:
        while not self._closing:
            await self._dirty.wait()
            self._dirty.clear()
            try:
                await self.apply()
            except Exception as exc:      # never let one round stop the following ones
                log.exception("sync daemon update failed")
                self.emit("ipvs", f"lvs_sync_daemon: update failed: {exc}", "error")

    def want(self, stopping: bool = False) -> tuple[SyncDaemon, ...]:
        cfg = None if stopping else self.config
        state = self.state_of(cfg.instance) if cfg is not None and cfg.instance else None
        return wanted(cfg, state)

    async def apply(self, stopping: bool = False) -> list[Change]:
        """Make the kernel run what is wanted now; the changes made."""
        if self.kernel is None:
            return []
        async with self._lock:
            if self._closing and not stopping:
                return []
            try:
                have = await self.kernel.daemons()
            except IpvsError as exc:
                self.error = str(exc)
                self.emit("ipvs", f"lvs_sync_daemon: cannot read the sync daemons: {exc}", "error")
                return []
            want = self.want(stopping)
            changes = plan(want, have, self._started)
            done: list[Change] = []
            self.error = None
            for ch in changes:
                try:
                    if isinstance(ch, StopDaemon):
                        await self._let_it_run(ch.state)
                        await self.kernel.stop_daemon(ch.state)
                        self._started.pop(ch.state, None)
                    else:
                        await self.kernel.start_daemon(ch.daemon)
                        self._started_at[ch.daemon.state] = asyncio.get_running_loop().time()
                except IpvsError as exc:
                    self.error = f"{ch}: {exc}"
                    self.emit("ipvs", f"lvs_sync_daemon: {ch} failed: {exc}", "error", change=str(ch))
                    continue
                done.append(ch)
                self.emit("ipvs", f"lvs_sync_daemon: {ch}", change=str(ch))
            try:
                self.running = await self.kernel.daemons() if changes else have
            except IpvsError:
                self.running = []
            for ch in done:
                if isinstance(ch, StartDaemon):
                    now = next((d for d in self.running if d.state == ch.daemon.state), None)
                    if now is not None:
                        self._started[ch.daemon.state] = (ch.daemon, now)
            return done

    async def _let_it_run(self, state: str) -> None:
        """See MIN_DAEMON_AGE: never stop a sync thread before it has run."""
        started = self._started_at.pop(state, None)
        if started is not None:
            left = started + MIN_DAEMON_AGE - asyncio.get_running_loop().time()
            if left > 0:
                await asyncio.sleep(left)

    def snapshot(self) -> dict:
        cfg = self.config
        return {
            "interface": cfg.interface if cfg else None, "instance": cfg.instance if cfg else None,
            "syncid": cfg.syncid if cfg else None,
            "wanted": [d.state for d in self.want()] if self.kernel is not None else [],
            "kernel": [{"state": d.state, "interface": d.interface, "syncid": d.syncid, "maxlen": d.maxlen,
                        "group": d.group, "port": d.port, "ttl": d.ttl} for d in self.running],
            "error": self.error,
        }
