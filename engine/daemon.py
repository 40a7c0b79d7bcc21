"""`vipdeck daemon`: process-level concerns around one ``Engine``.

Signals (the whole table, and why, is in ``engine.signals``):

* SIGTERM, SIGINT: clean shutdown — masters send priority 0, VIPs, routes
  and rules removed, IPVS as configured, notify_stop, control socket and
  pid file removed; exit 0.
* SIGHUP: reload — a config with errors is refused with file:line in the
  log and the running one stays.
* SIGUSR1 / SIGUSR2 / SIGRTMIN+2 / SIGRTMAX-1 / SIGRTMAX (keepalived's
  DATA / STATS / JSON / STATS_CLEAR / TDUMP): logged and put in the event
  stream; the daemon goes on.  The dumps plug in through ``dump_hooks``.
* Every other catchable terminating signal (SIGQUIT, SIGABRT, SIGALRM,
  SIGXCPU, SIGPWR, the other real-time signals ...): the same clean
  shutdown, exit 128 + N.  SIGPIPE and SIGXFSZ stay ignored, SIGTSTP /
  SIGTTIN / SIGTTOU are ignored; SIGSEGV, SIGBUS, SIGILL, SIGFPE keep their
  default (a fault in the process).

Handlers are installed first thing in ``run``, before the config is read,
so a signal during start-up gets the same treatment (a stop then comes right
after the start, a SIGHUP reloads once started).  Before that, while Python
imports, the process holds nothing yet (no pid file, no VIPs, no socket).
The control socket is the only way in besides signals.

``run`` goes through phases a supervisor integration can hook into:
``_install_signals``, ``_open`` (state, pid file), ``_startup_script``
(keepalived's startup_script, before anything else), ``_start`` (engine,
then the control socket), ``_serve`` (until a stop), ``_shutdown`` (the
clean stop, then keepalived's shutdown_script, then the pid file goes).
A stop signal while the startup script runs kills it; the daemon then
starts nothing and goes straight to its shutdown (script included).

Under systemd (``Type=notify``) it says READY once the VRRP sockets and the
control socket are up, RELOADING then READY around every reload, STOPPING
when it starts to leave, and pings the watchdog (``engine.sdnotify``).
``--metrics`` serves Prometheus metrics from a thread (``engine.metrics``);
its port is taken before anything else starts.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
from typing import Callable

from vipdeck.engine import memory, signals
from vipdeck.engine.config import load
from vipdeck.engine.control.api import EngineApi
from vipdeck.engine.control.schema import ControlError
from vipdeck.engine.control.server import (DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_PER_ROOT, DEFAULT_MAX_PER_UID,
                                           ControlServer)
from vipdeck.engine.dumps import dumper
from vipdeck.engine.dumps.paths import default_pid_file
from vipdeck.engine.events import EventBus
from vipdeck.engine.metrics import MetricsServer
from vipdeck.engine.notify import lifecycle
from vipdeck.engine.runtime import Engine
from vipdeck.engine.sched import request_short_slice
from vipdeck.engine.sdnotify import SystemdNotifier
from vipdeck.engine.state import StateReadError, StateStore

log = logging.getLogger("vipdeck.daemon")


def load_config(path: str, config_id: str | None = None):
    """(config, diagnostics) with every diagnostic logged; config None on errors.
    Not-implemented keywords and this host's missing interfaces are warnings."""
    result = load(path, config_id=config_id, host=True)
    for d in result.diagnostics:
        level = logging.ERROR if d.severity == "error" else logging.WARNING if d.severity == "warning" else logging.INFO
        log.log(level, "%s", d)
    return (result.config if result.ok else None), result.diagnostics


class Daemon:
    def __init__(self, config_path: str, *, socket_path: str, state_dir: str, pid_file: str | None = None,
                 config_id: str | None = None, socket_group: int | None = None,
                 vrrp_pid_file: str | None = None, checkers_pid_file: str | None = None,
                 run_vrrp: bool = True, run_checkers: bool = True,
                 control_idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
                 control_max_per_uid: int = DEFAULT_MAX_PER_UID,
                 control_max_per_root: int = DEFAULT_MAX_PER_ROOT,
                 metrics: tuple[str, int] | None = None):
        self.config_path = os.path.abspath(config_path)
        self.socket_path = socket_path
        self.state_dir = state_dir
        self.pid_file = pid_file          # None: keepalived's default for the config
        self.extra_pid_files = [f for f in (vrrp_pid_file, checkers_pid_file) if f]
        self.run_vrrp, self.run_checkers = run_vrrp, run_checkers
        self._pids_written: list[str] = []
        self.config_id = config_id
        self.socket_group = socket_group
        self.control_limits = dict(idle_timeout=control_idle_timeout, max_per_uid=control_max_per_uid,
                                   max_per_root=control_max_per_root)
        self.metrics = metrics                        # (address, port) for /metrics, None: off
        self.systemd = SystemdNotifier()
        self.exporter = None
        self._watchdog: asyncio.Task | None = None
        self.engine = None
        self.server: ControlServer | None = None
        # keepalived's dump signals: dump name ("data", "stats", "json", "stats_clear",
        # "thread_dump") -> a callable that writes it; none yet (a later issue adds them)
        self.dump_hooks: dict[str, Callable[[], None]] = {}
        self._stop: asyncio.Event | None = None       # made inside the running loop
        self._reloading: asyncio.Lock | None = None
        self._stop_signal: int | None = None
        self._serving = False            # started: a SIGHUP now reloads
        self._reload_pending = False     # a SIGHUP came during start-up
        self._stopping = False
        self._config = None              # the config running (the shutdown_script is read from it)

    # ------------------------------------------------------------------ phases

    async def run(self) -> int:
        request_short_slice()           # adverts on time on a busy machine (engine/sched.py)
        self._stop = asyncio.Event()
        self._reloading = asyncio.Lock()
        self._install_signals()
        config, diags = load_config(self.config_path, self.config_id)
        if config is None:
            n = sum(1 for d in diags if d.severity == "error")
            log.error("%s: %d error(s); not starting", self.config_path, n)
            self.systemd.status(f"{self.config_path}: {n} error(s); not starting")
            return 1
        try:
            store = StateStore(self.state_dir)
        except StateReadError as exc:
            log.error("%s; not starting (starting without it could undo an operator's drain)", exc)
            self.systemd.status(f"{exc}; not starting")
            return 1
        if not self._open_metrics():
            return 1
        try:
            self._write_pid(config)
        except PidFileError as exc:
            log.error("%s", exc)
            self.systemd.status(str(exc))
            self._close_metrics_now()
            return 1
        self._config = config
        try:
            if await self._startup_script(config):
                await self._start(config, store)
                await self._serve()
        finally:
            await self._shutdown()
        return self.exit_status()

    def _open_metrics(self) -> bool:
        """Take the metrics port before anything starts: a port in use leaves the VIPs alone."""
        if not self.metrics:
            return True
        self.exporter = MetricsServer()
        try:
            self.exporter.start(*self.metrics)
        except OSError as exc:
            msg = f"--metrics {self.metrics[0]}:{self.metrics[1]}: {exc.strerror or exc}; not starting"
            log.error("%s", msg)
            self.systemd.status(msg)
            self.exporter = None
            return False
        return True

    def _close_metrics_now(self) -> None:
        if self.exporter is not None:
            self.exporter.close()
            self.exporter = None

    def _install_signals(self) -> None:
        signals.install(asyncio.get_running_loop(), on_reload=self._on_reload_signal, on_stop=self._on_stop_signal,
                        on_dump=self._on_dump_signal, on_ignored=self._on_ignored_signal)

    async def _startup_script(self, config) -> bool:
        """keepalived's startup_script, waited for (bounded by its timeout); False
        when a stop signal came first (the script is killed, nothing starts)."""
        if config.global_defs.startup_script is None:
            return not self._stop.is_set()
        script = asyncio.ensure_future(lifecycle.run_script("startup", config.global_defs))
        stop = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait([script, stop], return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
        if not script.done():
            script.cancel()                  # the runner kills the script's process group
            await asyncio.gather(script, return_exceptions=True)
            log.info("stop requested while the startup script ran: it was killed; not starting")
            return False
        return not self._stop.is_set()

    async def _start(self, config, store: StateStore) -> None:
        self.engine = Engine(config, config_path=self.config_path, state=store, bus=EventBus(),
                             run_vrrp=self.run_vrrp, run_checkers=self.run_checkers)
        self.dump_hooks.update({kind: functools.partial(dumper.write, self.engine, kind) for kind in dumper.KINDS})
        if self.exporter is not None:
            self.exporter.attach(self.engine)          # before start: the first transitions count
        api = EngineApi(self.engine, reload=self.reload)
        self.server = ControlServer(self.socket_path, api, group=self.socket_group, **self.control_limits)
        await self.engine.start()
        await self.server.start()
        log.info("vipdeck daemon running: %s, control socket %s%s", config.summary(), self.socket_path,
                 f", metrics on {self.exporter.url}" if self.exporter else "")
        self.systemd.ready(f"running: {config.summary()}")
        memory.settle()         # the parse and start-up's garbage; the rest frozen (engine/memory.py)
        self._watchdog = asyncio.get_running_loop().create_task(self.systemd.run_watchdog(), name="systemd watchdog")

    async def _serve(self) -> None:
        self._serving = True
        if self._reload_pending and not self._stop.is_set():
            asyncio.ensure_future(self._sighup())
        await self._stop.wait()

    async def _shutdown(self) -> None:
        self._stopping = True
        log.info("stopping: resigning masters")
        self.systemd.stopping("stopping: resigning masters")
        try:
            if self.server is not None:
                await self.server.stop()
            if self.engine is not None:
                self._config = self.engine.config    # a reload may have changed the shutdown_script
                await self.engine.stop(resign=True)
        finally:
            try:
                if self.exporter is not None:
                    await self.exporter.stop()
                if self._config is not None:
                    await lifecycle.run_script("shutdown", self._config.global_defs)
            finally:
                self._remove_pid()
                if self._watchdog is not None:
                    self._watchdog.cancel()
                self.systemd.close()

    def exit_status(self) -> int:
        """0 after SIGTERM/SIGINT, 128 + N after a clean stop on another signal N."""
        sig = self._stop_signal
        if sig is None or signals.table()[sig].action is signals.Action.STOP:
            return 0
        return 128 + sig

    # ------------------------------------------------------------------ signals

    def _emit(self, message: str, severity: str = "info", **fields) -> None:
        if self.engine is not None:
            self.engine.emit("daemon", message, severity, **fields)

    def _on_stop_signal(self, sig: int) -> None:
        name = signals.name(sig)
        if self._stopping or self._stop.is_set():
            log.info("%s received while stopping: the shutdown goes on", name)
            return
        self._stop_signal = sig
        if signals.table()[sig].action is signals.Action.STOP:
            log.info("%s received: stopping", name)
        else:
            log.warning("%s received (not a stop signal; keepalived would ignore it): stopping cleanly "
                        "rather than dying with the VIPs in place", name)
            self._emit(f"{name} received: stopping cleanly", "warning", signal=name)
        self._stop.set()

    def _on_reload_signal(self) -> None:
        if self._stopping or self._stop.is_set():
            log.info("SIGHUP received while stopping: not reloading")
        elif not self._serving:
            log.info("SIGHUP received during start-up: reloading once started")
            self._reload_pending = True
        else:
            asyncio.ensure_future(self._sighup())

    def _on_dump_signal(self, sig: int, meaning: signals.Meaning) -> None:
        name = signals.name(sig)
        hook = self.dump_hooks.get(meaning.dump or "")
        if hook is None:
            msg = (f"{name} received (keepalived's {meaning.keepalived} dump): not implemented by vipdeck, "
                   "nothing written; still running")
            log.info("%s", msg)
            self._emit(msg, signal=name, dump=meaning.dump)
            return
        msg = f"{name} received: writing keepalived's {meaning.keepalived} dump"
        log.info("%s", msg)
        self._emit(msg, signal=name, dump=meaning.dump)
        try:
            hook()
        except Exception as exc:  # a dump must never take the daemon down
            log.error("%s dump failed", meaning.dump, exc_info=exc)
            self._emit(f"{name}: {meaning.dump} dump failed: {exc}", "error", signal=name)

    def _on_ignored_signal(self, sig: int) -> None:
        log.info("%s received: ignored (a VRRP router holding VIPs is not suspended by job control)",
                 signals.name(sig))

    # ------------------------------------------------------------------ reload

    async def _sighup(self) -> None:
        try:
            msg = await self.reload()
            log.info("reload: %s", msg)
        except Exception as exc:
            log.error("reload failed: %s", exc)

    async def reload(self) -> str:
        async with self._reloading:
            self.systemd.reloading(f"reloading {self.config_path}")
            status = "running: the reload failed (see the log)"
            try:
                config, diags = load_config(self.config_path, self.config_id)
                if config is None:
                    errors = [str(d) for d in diags if d.severity == "error"]
                    msg = f"reload refused, keeping the running config: {'; '.join(errors[:5])}"
                    log.error("%s", msg)
                    self.engine.emit("config", msg, "error", accepted=False, diagnostics=errors)
                    status = f"running: reload refused ({len(errors)} error(s)), keeping the running config"
                    raise ControlError("bad_request", msg)
                summary = await self.engine.apply(config)
                memory.settle()         # the old configuration and the new one's parse
                self.engine.emit("config", f"reload accepted: {summary}", accepted=True)
                status = f"running: {config.summary()}"
                return f"reloaded: {summary}"
            finally:
                self.systemd.ready(status)   # the old or the new config runs either way

    # ------------------------------------------------------------------ pid file

    def _write_pid(self, config) -> None:
        """Our pid in the main pid file (keepalived's default path unless -p) and
        in the -r/-c files; refused, like keepalived, while one names a live daemon."""
        files = [self.pid_file or default_pid_file(config), *self.extra_pid_files]
        for path in files:
            other = _live_daemon(path)
            if other is not None:
                raise PidFileError(f"{path} names running process {other[0]} ({other[1]}): "
                                   "a daemon is already running; not starting")
        for path in files:
            try:
                os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
                with open(path, "w") as f:
                    f.write(f"{os.getpid()}\n")
            except OSError as exc:
                raise PidFileError(f"cannot write pid file {path}: {exc.strerror or exc}") from exc
            self._pids_written.append(path)

    def _remove_pid(self) -> None:
        for path in self._pids_written:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass


class PidFileError(Exception):
    pass



def _live_daemon(path: str) -> tuple[int, str] | None:
    """(pid, name) when ``path`` names a live keepalived or vipdeck other than us."""
    try:
        with open(path) as f:
            pid = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    if pid == os.getpid() or pid <= 0:
        return None
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return None
    for name in ("keepalived", "vipdeck"):
        if name in cmd:
            return pid, name
    return None
