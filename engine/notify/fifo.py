"""keepalived's notify FIFOs: one line per state change, in order, never blocking.

``notify_fifo`` gets every line, ``vrrp_notify_fifo`` the VRRP ones and
``lvs_notify_fifo`` the checker ones, in keepalived 2.2.7's format
(vrrp_notify.c, ipwrapper.c)::

    INSTANCE "VI_1" MASTER 100          state and effective priority
    INSTANCE "VI_1" MASTER_RX_LOWER_PRI 100
    GROUP "G1" BACKUP 0                 a sync group (priority always 0)
    VS [198.18.0.100]:tcp:80 DOWN       a virtual server's quorum
    RS [198.18.0.2]:tcp:8080 [198.18.0.100]:tcp:80 UP

As keepalived does, a FIFO that does not exist is made (mode 0600, owned by
the FIFO's user/group, else script_user) and removed at exit; one that
exists is used as it is (a path that is not a FIFO, or a symbolic link, is
refused).  It is opened read-write and non-blocking, so the daemon itself
keeps the pipe open: a reader that is missing or goes away costs no
SIGPIPE, the lines wait in the pipe for the next reader, and a write never
blocks.  Where keepalived drops a line the full pipe cannot take, vipdeck
keeps up to ``BACKLOG`` bytes more in order behind it and writes them as the
reader catches up; past that, new lines are dropped and counted, and the
problem is reported once (and again when it clears), never as an exception.

A ``*_notify_fifo_script`` is started after the FIFO is open, with the
FIFO's path appended, and runs until vipdeck stops: the FIFO is then closed
(the reader sees end of file), and a script still running a second later is
sent SIGTERM, then SIGKILL (its process group).  Lines are written
synchronously from the event loop, in the order the engine makes the
changes, so their order is the order of events.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import grp
import logging
import os
import pwd
import signal
import stat
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from vipdeck.engine.config.model import GlobalDefs, NotifyFifo
from vipdeck.engine.track.runner import KILL_GRACE, ScriptResult, ScriptRunner

log = logging.getLogger("vipdeck.notify")

BACKLOG = 64 * 1024          # bytes kept in order behind a full pipe
SCRIPT_GRACE = 1.0           # after closing, before SIGTERM to the FIFO script
MODE = 0o600                 # keepalived's 0644 under its default umask (0177)

VRRP, LVS = "vrrp", "lvs"


# --------------------------------------------------------------------------- lines


def instance_line(name: str, state: str, priority: int) -> str:
    return f'INSTANCE "{name}" {state} {priority}\n'


def group_line(name: str, state: str) -> str:
    return f'GROUP "{name}" {state} 0\n'


def vs_line(vs: str, up: bool) -> str:
    return f"VS {vs} {'UP' if up else 'DOWN'}\n"


def rs_line(rs: str, vs: str, up: bool) -> str:
    return f"RS {rs} {vs} {'UP' if up else 'DOWN'}\n"


# --------------------------------------------------------------------------- one FIFO


@dataclass(frozen=True)
class FifoPlan:
    """What to open at one path: which lines it takes and which script reads it."""

    path: str
    kinds: frozenset[str]
    spec: NotifyFifo             # owner (and location) from the first keyword naming the path
    script: object | None       # engine.config.model.Notify
    keyword: str                 # "notify_fifo", "vrrp_notify_fifo" ...


def plan(gd: GlobalDefs, *, vrrp: bool = True, lvs: bool = True) -> list[FifoPlan]:
    """The FIFOs to open; one per path, the global one first.  ``vrrp`` / ``lvs``
    say which halves run (keepalived -P / -C): a half that does not run opens
    its own FIFO not at all."""
    halves = ({VRRP} if vrrp else set()) | ({LVS} if lvs else set())
    wanted = [("notify_fifo", gd.notify_fifo, halves),
              ("vrrp_notify_fifo", gd.vrrp_notify_fifo, {VRRP} if vrrp else set()),
              ("lvs_notify_fifo", gd.lvs_notify_fifo, {LVS} if lvs else set())]
    by_path: dict[str, FifoPlan] = {}
    for keyword, spec, kinds in wanted:
        if spec is None or not kinds:
            continue
        have = by_path.get(spec.path)
        if have is None:
            by_path[spec.path] = FifoPlan(spec.path, frozenset(kinds), spec, spec.script, keyword)
        else:   # vrrp_ and lvs_ naming one FIFO: one writer, the first script (the parser said so)
            by_path[spec.path] = FifoPlan(have.path, have.kinds | kinds, have.spec, have.script or spec.script,
                                          have.keyword)
    return list(by_path.values())


class Fifo:
    """One notify FIFO: made if absent, opened without blocking, its script run."""

    def __init__(self, p: FifoPlan, gd: GlobalDefs, *, runner: ScriptRunner | None = None,
                 on_problem: Callable[[str, str], None] | None = None):
        self.plan = p
        self.path = p.path
        self.kinds = p.kinds
        self.gd = gd
        self.runner = runner or ScriptRunner(default_user=gd.script_user, default_group=gd.script_group,
                                             secure=gd.enable_script_security)
        self.on_problem = on_problem
        self.fd: int | None = None
        self.created = False
        self._ino: tuple[int, int] | None = None
        self._backlog: deque[bytes] = deque()
        self._backlog_bytes = 0
        self._writer = False
        self.written = 0             # lines handed to the pipe (whole or queued)
        self.dropped = 0             # lines dropped: the pipe and the backlog were full
        self._dropping = False
        self._script: asyncio.Task | None = None
        self._script_pid: int | None = None
        self.script_result: ScriptResult | None = None
        self._closing = False

    # ------------------------------------------------------------------ problems

    def _problem(self, message: str, severity: str = "warning") -> None:
        """Reported to ``on_problem(text, severity)`` (the engine's event bus, which
        logs it), else logged here."""
        text = f"{self.plan.keyword} {self.path}: {message}"
        if self.on_problem is None:
            log.log(logging.ERROR if severity == "error" else logging.WARNING if severity == "warning"
                    else logging.INFO, "%s", text)
            return
        try:
            self.on_problem(text, severity)
        except Exception:
            log.exception("notify FIFO problem consumer failed")

    # ------------------------------------------------------------------ open

    def open(self) -> bool:
        """Make (if absent) and open the FIFO; False, reported, when it cannot be used."""
        try:
            st = os.lstat(self.path)
        except FileNotFoundError:
            st = None
        except OSError as exc:
            self._problem(f"cannot be used: {exc.strerror or exc}", "error")
            return False
        if st is None:
            try:
                os.mkfifo(self.path, MODE)
            except FileExistsError:
                pass                           # made by someone else meanwhile: checked below
            except OSError as exc:
                self._problem(f"cannot be created: {exc.strerror or exc}", "error")
                return False
            else:
                self.created = True
                self._chown()
        elif not stat.S_ISFIFO(st.st_mode):
            what = "a symbolic link" if stat.S_ISLNK(st.st_mode) else "not a FIFO"
            self._problem(f"exists and is {what}; not written to", "error")
            return False
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOFOLLOW)
        except OSError as exc:
            why = "a symbolic link" if exc.errno == errno.ELOOP else (exc.strerror or str(exc))
            self._problem(f"cannot be opened: {why}", "error")
            self._unlink()
            return False
        st = os.fstat(fd)
        if not stat.S_ISFIFO(st.st_mode):      # replaced between the checks and the open
            os.close(fd)
            self._problem("is not a FIFO; not written to", "error")
            return False
        self.fd, self._ino = fd, (st.st_dev, st.st_ino)
        return True

    def _chown(self) -> None:
        """keepalived gives a FIFO it makes to the FIFO's user/group, else script_user."""
        spec = self.plan.spec
        user = spec.user or self.gd.script_user
        group = spec.group if spec.user else (spec.group or self.gd.script_group)
        if not user and not group:
            return
        try:
            pw = pwd.getpwnam(user) if user else None
            gid = grp.getgrnam(group).gr_gid if group else (pw.pw_gid if pw else -1)
        except KeyError:
            self._problem(f"unknown user or group '{user or ''}{':' + group if group else ''}'; "
                          "left owned by vipdeck's user")
            return
        uid = pw.pw_uid if pw else -1
        if (uid in (-1, os.geteuid())) and (gid in (-1, os.getegid())):
            return
        try:
            os.chown(self.path, uid, gid, follow_symlinks=False)
        except OSError as exc:
            self._problem(f"cannot be given to {user or ''}{':' + group if group else ''}: "
                          f"{exc.strerror or exc}")

    def start_script(self) -> None:
        """Run the FIFO's script, with the path appended (keepalived: for the daemon's life)."""
        script = self.plan.script
        if script is None or self.fd is None or self._script is not None:
            return

        def started(pid: int) -> None:
            self._script_pid = pid

        async def run() -> None:
            result = await self.runner.run(script.command, timeout=None, user=script.user, group=script.group,
                                           extra_args=[self.path], on_start=started)
            self.script_result = result
            if not self._closing:          # keepalived: "notify fifo script terminated"
                self._problem(f"{self.plan.keyword}_script {script.command} ended: {result.describe()}"
                              "; lines go on being written to the FIFO")

        self._script = asyncio.get_running_loop().create_task(run(), name=f"{self.plan.keyword}_script")

    # ------------------------------------------------------------------ write

    def write(self, line: str) -> None:
        """Hand one line to the pipe now, or queue it in order; never blocks or raises."""
        if self.fd is None:
            return
        data = line.encode("utf-8", "replace")
        self.written += 1
        if self._backlog:
            self._queue(data)
            return
        try:
            n = os.write(self.fd, data)
        except BlockingIOError:
            n = 0
        except OSError as exc:
            self._problem(f"write failed: {exc.strerror or exc}; line dropped")
            self.dropped += 1
            return
        if n < len(data):
            self._queue(data[n:])

    def _queue(self, data: bytes) -> None:
        if self._backlog_bytes + len(data) > BACKLOG:
            self.dropped += 1
            if not self._dropping:
                self._dropping = True
                self._problem("nobody is reading and the pipe is full: dropping lines until a reader catches up")
            return
        self._backlog.append(data)
        self._backlog_bytes += len(data)
        if not self._writer:
            try:
                asyncio.get_running_loop().add_writer(self.fd, self._flush)
                self._writer = True
            except RuntimeError:      # no running loop: the next write or close retries
                pass

    def _flush(self) -> None:
        while self._backlog and self.fd is not None:
            data = self._backlog[0]
            try:
                n = os.write(self.fd, data)
            except BlockingIOError:
                return
            except OSError as exc:
                self._problem(f"write failed: {exc.strerror or exc}; {len(self._backlog)} queued line(s) dropped")
                self.dropped += len(self._backlog)
                self._backlog.clear()
                self._backlog_bytes = 0
                break
            self._backlog_bytes -= n
            if n < len(data):
                self._backlog[0] = data[n:]
                return
            self._backlog.popleft()
        self._stop_writer()
        if self._dropping:
            self._dropping = False
            self._problem(f"the reader caught up; {self.dropped} line(s) were dropped meanwhile", "info")

    def _stop_writer(self) -> None:
        if self._writer and self.fd is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_writer(self.fd)
        self._writer = False

    # ------------------------------------------------------------------ close

    def _unlink(self) -> None:
        """Remove the FIFO we made (first, like keepalived, so a script that
        re-opens it in a loop cannot), unless it has been replaced meanwhile."""
        if not self.created:
            return
        self.created = False
        try:
            st = os.lstat(self.path)
            if self._ino is None or (st.st_dev, st.st_ino) == self._ino:
                os.unlink(self.path)
        except OSError:
            pass

    async def close(self, grace: float = SCRIPT_GRACE) -> None:
        """Last lines out (as far as the pipe takes them), FIFO closed, script ended."""
        self._closing = True
        if self.fd is not None:
            self._flush()
            self._stop_writer()
            self._unlink()
            os.close(self.fd)
            self.fd = None
        task = self._script
        if task is None:
            return
        done, _ = await asyncio.wait([task], timeout=grace)
        if not done and self._script_pid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._script_pid, signal.SIGTERM)
            done, _ = await asyncio.wait([task], timeout=KILL_GRACE)
        if not done:
            task.cancel()                      # the runner SIGKILLs the process group
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


# --------------------------------------------------------------------------- the set


class NotifyFifos:
    """The configured FIFOs; the engine and the checkers write through this."""

    def __init__(self, gd: GlobalDefs, *, vrrp: bool = True, lvs: bool = True,
                 on_problem: Callable[[str, str], None] | None = None, runner: ScriptRunner | None = None):
        self.gd = gd
        self.halves = (vrrp, lvs)
        self.on_problem = on_problem
        self.runner = runner
        self.fifos: list[Fifo] = []

    def open(self) -> None:
        """Open every FIFO and start their scripts (call from the event loop)."""
        self.fifos = self._open(plan(self.gd, vrrp=self.halves[0], lvs=self.halves[1]))

    def _open(self, plans: list[FifoPlan]) -> list[Fifo]:
        out = []
        for p in plans:
            f = Fifo(p, self.gd, runner=self.runner, on_problem=self.on_problem)
            if f.open():
                f.start_script()
                out.append(f)
        return out

    async def reload(self, gd: GlobalDefs) -> None:
        """A FIFO configured as before stays open (its reader and script go on);
        one that changed or went is closed, a new one opened."""
        plans = {p.path: p for p in plan(gd, vrrp=self.halves[0], lvs=self.halves[1])}
        keep, gone = [], []
        for f in self.fifos:
            p = plans.get(f.path)
            same = p is not None and p == f.plan and (gd.script_user, gd.script_group) == (
                self.gd.script_user, self.gd.script_group)
            (keep if same else gone).append(f)
        for f in gone:
            await f.close()
        self.gd = gd
        kept = {f.path for f in keep}
        self.fifos = keep + self._open([p for path, p in plans.items() if path not in kept])

    async def close(self) -> None:
        fifos, self.fifos = self.fifos, []
        await asyncio.gather(*(f.close() for f in fifos), return_exceptions=True)

    def _write(self, kind: str, line: str) -> None:
        for f in self.fifos:
            if kind in f.kinds:
                f.write(line)

    # ------------------------------------------------------------------ what is written

    def instance(self, name: str, state: str, priority: int) -> None:
        self._write(VRRP, instance_line(name, state, priority))

    def group(self, name: str, state: str) -> None:
        self._write(VRRP, group_line(name, state))

    def virtual_server(self, vs: str, up: bool) -> None:
        self._write(LVS, vs_line(vs, up))

    def real_server(self, rs: str, vs: str, up: bool) -> None:
        self._write(LVS, rs_line(rs, vs, up))
