"""`vipdeck daemon`: process-level concerns around one ``Engine``.

Signals as keepalived: SIGTERM/SIGINT leave cleanly (masters send priority
0, VIPs removed, notify_stop), SIGHUP reloads — a config with errors is
refused with file:line in the log and the running one stays.  The control
socket is the only way in besides signals.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal

from vipdeck.engine.control.api import EngineApi
from vipdeck.engine.control.server import ControlServer
from vipdeck.engine.events import EventBus
from vipdeck.engine.state import StateStore

log = logging.getLogger("vipdeck.daemon")


def load_config(path: str, config_id: str | None = None):
    """(config, diagnostics) with every diagnostic logged; config None on errors.
    Not-implemented keywords and this host's missing interfaces are warnings."""
    from vipdeck.engine.config import load

    result = load(path, config_id=config_id, host=True)
    for d in result.diagnostics:
        level = logging.ERROR if d.severity == "error" else logging.WARNING if d.severity == "warning" else logging.INFO
        log.log(level, "%s", d)
    return (result.config if result.ok else None), result.diagnostics


class Daemon:
    def __init__(self, config_path: str, *, socket_path: str, state_dir: str, pid_file: str | None = None,
                 config_id: str | None = None, socket_group: int | None = None,
                 vrrp_pid_file: str | None = None, checkers_pid_file: str | None = None,
                 run_vrrp: bool = True, run_checkers: bool = True):
        self.config_path = os.path.abspath(config_path)
        self.socket_path = socket_path
        self.state_dir = state_dir
        self.pid_file = pid_file          # None: keepalived's default for the config
        self.extra_pid_files = [f for f in (vrrp_pid_file, checkers_pid_file) if f]
        self.run_vrrp, self.run_checkers = run_vrrp, run_checkers
        self._pids_written: list[str] = []
        self.config_id = config_id
        self.socket_group = socket_group
        self.engine = None
        self._stop: asyncio.Event | None = None       # made inside the running loop
        self._reloading: asyncio.Lock | None = None

    async def run(self) -> int:
        from vipdeck.engine.runtime import Engine

        self._stop = asyncio.Event()
        self._reloading = asyncio.Lock()
        config, diags = load_config(self.config_path, self.config_id)
        if config is None:
            n = sum(1 for d in diags if d.severity == "error")
            log.error("%s: %d error(s); not starting", self.config_path, n)
            return 1
        try:
            self._write_pid(config)
        except PidFileError as exc:
            log.error("%s", exc)
            return 1
        bus = EventBus()
        self.engine = Engine(config, config_path=self.config_path, state=StateStore(self.state_dir), bus=bus,
                             run_vrrp=self.run_vrrp, run_checkers=self.run_checkers)
        api = EngineApi(self.engine, reload=self.reload)
        server = ControlServer(self.socket_path, api, group=self.socket_group)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stop.set)
        loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(self._sighup()))
        for sig, kind in DUMP_SIGNALS.items():      # keepalived's dumps; the daemon goes on
            loop.add_signal_handler(sig, self._dump, kind)
        try:
            await self.engine.start()
            await server.start()
            log.info("vipdeck daemon running: %s, control socket %s", config.summary(), self.socket_path)
            await self._stop.wait()
            log.info("stopping: resigning masters")
        finally:
            await server.stop()
            await self.engine.stop(resign=True)
            self._remove_pid()
        return 0

    async def _sighup(self) -> None:
        try:
            msg = await self.reload()
            log.info("reload: %s", msg)
        except Exception as exc:
            log.error("reload failed: %s", exc)

    async def reload(self) -> str:
        from vipdeck.engine.control.schema import ControlError

        async with self._reloading:
            config, diags = load_config(self.config_path, self.config_id)
            if config is None:
                errors = [str(d) for d in diags if d.severity == "error"]
                msg = f"reload refused, keeping the running config: {'; '.join(errors[:5])}"
                log.error("%s", msg)
                self.engine.emit("config", msg, "error", accepted=False, diagnostics=errors)
                raise ControlError("bad_request", msg)
            summary = await self.engine.apply(config)
            self.engine.emit("config", f"reload accepted: {summary}", accepted=True)
            return f"reloaded: {summary}"

    def _dump(self, kind: str) -> None:
        from vipdeck.engine.dumps import dumper

        if self.engine is not None:
            dumper.write(self.engine, kind)

    def _write_pid(self, config) -> None:
        """Our pid in the main pid file (keepalived's default path unless -p) and
        in the -r/-c files; refused, like keepalived, while one names a live daemon."""
        from vipdeck.cli.kaflags import default_pid_file

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


# keepalived's dump signals (lib/signals.h): DATA, STATS, JSON, STATS_CLEAR
DUMP_SIGNALS = {signal.SIGUSR1: "data", signal.SIGUSR2: "stats", signal.SIGRTMIN + 2: "json",
                signal.SIGRTMAX - 1: "stats_clear"}


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
