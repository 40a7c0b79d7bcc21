"""Run external commands (vrrp_script, notify scripts) the way keepalived does.

Why this exists rather than ``create_subprocess_shell``: a tracking script is
run every second for the life of the daemon, a hung one must not pile up, and
a broken one must never raise into the engine.  So every run

* gets its own process group (``setpgid`` as keepalived does), so a timeout
  can kill the whole tree the script started (SIGTERM, then SIGKILL after a
  grace period, then SIGKILL of the group again to catch stragglers);
* runs as the configured ``user``/``group`` (or the global ``script_user``)
  when we are root;
* captures at most ``output_limit`` bytes of stdout and of stderr and keeps
  draining the rest, so a chatty script cannot block or bloat the engine;
* ends in a :class:`ScriptResult` -- exit status, signal, duration, timed out,
  error text ("not found", "permission denied", "unknown user") -- never an
  exception.

How a command line is run (the rule, documented for operators):

1. The configured string is scanned with POSIX shell quoting (single and
   double quotes, backslash).  If it contains an *unquoted* shell operator
   (``; & | < > ( ) $ `` or a backquote, a newline) or starts with a shell
   keyword or builtin (``[[``, ``!``, ``if``, ``exit``, ``cd`` ...), it is a
   *shell command*: it runs as ``SHELL -c STRING`` (extra arguments appended
   quoted).  keepalived would exec such a string word by word, which only
   works by accident (``pidof nginx && exit 0 || exit 1`` becomes ``pidof``
   looking for processes named ``&&`` and ``exit``); running it through the
   shell gives what the author meant.
2. Otherwise it is split into words and exec'd directly (``argv[0]`` looked
   up in ``PATH`` when it has no slash), like keepalived.
3. A file without a ``#!`` line (exec fails with ENOEXEC, e.g. the seed's
   ``down.sh`` holding ``[[ -f down ]] && exit 1 || exit 0``) is run by
   ``SHELL FILE ARGS...``, like ``execvp``.

``SHELL`` is ``/bin/bash`` when present, else ``/bin/sh``: real configs rely
on bash syntax such as ``[[`` (the seed's ``down.sh`` came from a system
whose ``/bin/sh`` is bash; Debian's dash would turn ``[[`` into "not found",
exit 127, and the ``|| exit 0`` would hide the failure).
"""

from __future__ import annotations

import asyncio
import errno
import grp
import os
import pwd
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

OUTPUT_LIMIT = 4096          # bytes kept per stream
KILL_GRACE = 2.0             # SIGTERM → SIGKILL (keepalived waits 2 s too)
PIPE_GRACE = 0.25            # wait for pipes after exit (a background child may hold them)

_SHELL_CHARS = frozenset(";&|<>()$`\n")
_SHELL_WORDS = frozenset({
    "[[", "!", "{", "if", "case", "for", "while", "until", "select", "function", "time",
    "exit", "return", "cd", "export", "source", ".", "eval", "exec", "set", "unset",
    "trap", "shift", "ulimit", "umask", "wait", "read", "let", "declare", "local", "alias",
})
_DROP_ENV = ("IFS", "LD_PRELOAD", "LD_LIBRARY_PATH")   # keepalived unsets these too


def default_shell() -> str:
    return "/bin/bash" if os.access("/bin/bash", os.X_OK) else "/bin/sh"


@dataclass(frozen=True)
class Command:
    """A configured command line, classified once."""

    text: str
    argv: tuple[str, ...]       # words (exec mode) or () when shell
    shell: bool

    def argv_with(self, extra: Sequence[str] = (), shell_path: str | None = None) -> list[str]:
        if self.shell:
            tail = " ".join(shlex.quote(a) for a in extra)
            return [shell_path or default_shell(), "-c", f"{self.text} {tail}" if tail else self.text]
        return [*self.argv, *extra]


def needs_shell(text: str) -> bool:
    """True when ``text`` uses shell syntax outside quotes (see module doc)."""
    quote = ""
    escaped = False
    for ch in text:
        if escaped:
            escaped = False
            continue
        if ch == "\\" and quote != "'":
            escaped = True
            continue
        if quote:
            if ch == quote:
                quote = ""
            elif quote == '"' and ch in "$`":
                return True
            continue
        if ch in "'\"":
            quote = ch
        elif ch in _SHELL_CHARS:
            return True
    return False


def parse_command(text: str) -> Command:
    """Classify a command line; raises ValueError with a readable reason."""
    if not text or not text.strip():
        raise ValueError("empty command")
    if needs_shell(text):
        return Command(text=text, argv=(), shell=True)
    words = tuple(shlex.split(text, posix=True))   # ValueError on unbalanced quotes
    if not words:
        raise ValueError("empty command")
    if words[0] in _SHELL_WORDS:
        return Command(text=text, argv=(), shell=True)
    return Command(text=text, argv=words, shell=False)


@dataclass(frozen=True)
class ScriptResult:
    command: str
    argv: tuple[str, ...] = ()
    exit_status: int | None = None      # None: did not exit normally (signal, not started)
    signal: int | None = None           # the signal that ended it
    duration: float = 0.0
    timed_out: bool = False
    error: str | None = None            # could not run at all, or killed for timeout
    stdout: str = ""
    stderr: str = ""
    truncated: bool = False
    pid: int | None = None
    started_at: float = field(default=0.0, compare=False)   # unix time

    @property
    def ok(self) -> bool:
        return self.exit_status == 0 and not self.timed_out and self.error is None

    def describe(self) -> str:
        took = f"{self.duration:.3f}s"
        if self.timed_out:
            return f"timed out after {took}, killed"
        if self.error:
            return self.error
        if self.signal is not None:
            return f"killed by signal {self.signal} after {took}"
        return f"exit {self.exit_status} in {took}"


class _Collect(asyncio.SubprocessProtocol):
    """Keeps the first ``limit`` bytes per stream, drains and drops the rest."""

    def __init__(self, loop: asyncio.AbstractEventLoop, limit: int):
        self.limit = limit
        self.out = bytearray()
        self.err = bytearray()
        self.truncated = False
        self.exited = loop.create_future()
        self.closed = loop.create_future()

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        buf = self.out if fd == 1 else self.err
        room = self.limit - len(buf)
        if len(data) > room:
            self.truncated = True
        if room > 0:
            buf += data[:room]

    def process_exited(self) -> None:
        if not self.exited.done():
            self.exited.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


@dataclass(frozen=True)
class _Identity:
    user: int | None = None
    group: int | None = None
    extra_groups: tuple[int, ...] | None = None


def _identity(user: str | None, group: str | None) -> _Identity | str:
    """Resolve user/group to ids, or an error text.  Not root: only ourselves."""
    if not user and not group:
        return _Identity()
    try:
        pw = pwd.getpwnam(user) if user else None
    except KeyError:
        return f"unknown user '{user}'"
    try:
        gid = grp.getgrnam(group).gr_gid if group else (pw.pw_gid if pw else None)
    except KeyError:
        return f"unknown group '{group}'"
    if os.geteuid() != 0:
        if (pw and pw.pw_uid != os.geteuid()) or (gid is not None and gid != os.getegid()):
            return f"cannot run as {user or ''}{':' + group if group else ''}: not root"
        return _Identity()
    extra = tuple(os.getgrouplist(pw.pw_name, gid)) if pw and gid is not None else None
    return _Identity(user=pw.pw_uid if pw else None, group=gid, extra_groups=extra)


def insecure(path: str, runs_as: int) -> str | None:
    """keepalived's enable_script_security test: why running ``path`` as uid
    ``runs_as`` lets someone else choose what runs, or None.

    A script run as root is insecure when it, or a directory on its path, is
    owned by another user or writable by group or others (a sticky directory
    such as /tmp is fine: others cannot replace what root owns there)."""
    if runs_as != 0:
        return None
    p = os.path.realpath(path)
    while True:
        try:
            st = os.stat(p)
        except OSError as e:
            return f"{p}: {e.strerror}"
        if st.st_uid != 0:
            return f"{p} is owned by uid {st.st_uid}"
        is_dir = os.path.isdir(p)
        if st.st_mode & 0o022 and not (is_dir and st.st_mode & 0o1000):
            return f"{p} is writable by {'group and others' if st.st_mode & 0o022 == 0o022 else ('others' if st.st_mode & 0o002 else 'its group')}"
        parent = os.path.dirname(p)
        if parent == p:
            return None
        p = parent


def _killpg(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


class ScriptRunner:
    """Runs commands concurrently; each call is independent and never raises.

    ``default_user``/``default_group`` are the global ``script_user`` /
    ``script_group``; a per-call user/group wins.  The engine should call
    :meth:`run` from its own task: the coroutine waits for the script.
    """

    def __init__(self, *, default_user: str | None = None, default_group: str | None = None,
                 output_limit: int = OUTPUT_LIMIT, kill_grace: float = KILL_GRACE,
                 shell: str | None = None, cwd: str | None = None, secure: bool = False):
        """``secure``: global_defs' enable_script_security (see :func:`insecure`)."""
        self.secure = secure
        self.default_user = default_user
        self.default_group = default_group
        self.output_limit = output_limit
        self.kill_grace = kill_grace
        self.shell = shell or default_shell()
        self.cwd = cwd

    async def run(self, command: str | Command | Sequence[str], *, timeout: float | None = None,
                  user: str | None = None, group: str | None = None, extra_args: Sequence[str] = (),
                  env: Mapping[str, str] | None = None,
                  on_start: Callable[[int], None] | None = None) -> ScriptResult:
        """``on_start(pid)`` is told the process (group) id once it runs: a caller that
        runs a script for the daemon's life (notify_fifo_script) stops it with that."""
        text = command if isinstance(command, str) else (
            command.text if isinstance(command, Command) else shlex.join(command))
        started = time.time()
        try:
            if isinstance(command, Command):
                cmd = command
            elif isinstance(command, str):
                cmd = parse_command(command)
            else:
                cmd = Command(text=text, argv=tuple(command), shell=False)
                if not cmd.argv:
                    raise ValueError("empty command")
        except ValueError as e:
            return ScriptResult(command=text, error=f"bad command line: {e}", started_at=started)
        # keepalived: a script's own user/group, else the global script_user/script_group
        ident = _identity(user, group) if (user or group) else _identity(self.default_user,
                                                                          self.default_group)
        if isinstance(ident, str):
            return ScriptResult(command=text, error=ident, started_at=started)
        argv = cmd.argv_with(extra_args, self.shell)
        if not cmd.shell and "/" not in argv[0]:
            found = shutil.which(argv[0])
            if found is None:
                return ScriptResult(command=text, argv=tuple(argv), error=f"not found: {argv[0]}",
                                    started_at=started)
            argv[0] = found
        if self.secure and not cmd.shell:
            uid = ident.user if ident.user is not None else os.geteuid()
            why = insecure(argv[0], uid)
            if why is not None:
                return ScriptResult(command=text, argv=tuple(argv), started_at=started,
                                    error=f"not run: insecure script ({why}; enable_script_security)")
        full_env = {k: v for k, v in os.environ.items() if k not in _DROP_ENV}
        if env:
            full_env.update(env)
        try:
            return await self._spawn(text, argv, timeout, ident, full_env, started, on_start)
        except OSError as e:
            if e.errno == errno.ENOEXEC and not cmd.shell:
                # no #! line: run it with the shell, as execvp() does
                try:
                    return await self._spawn(text, [self.shell, *argv], timeout, ident, full_env, started,
                                             on_start)
                except OSError as e2:
                    e = e2
            return ScriptResult(command=text, argv=tuple(argv), error=_oserror_text(e, argv[0]),
                                started_at=started)
        except (ValueError, subprocess.SubprocessError) as e:   # e.g. the child could not switch user
            return ScriptResult(command=text, argv=tuple(argv), error=f"cannot start: {e}",
                                started_at=started)

    async def _spawn(self, text: str, argv: list[str], timeout: float | None, ident: _Identity,
                     env: dict[str, str], started: float,
                     on_start: Callable[[int], None] | None = None) -> ScriptResult:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        transport, proto = await loop.subprocess_exec(
            lambda: _Collect(loop, self.output_limit), *argv,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, process_group=0, env=env, cwd=self.cwd,
            user=ident.user, group=ident.group, extra_groups=ident.extra_groups)
        pid = transport.get_pid()
        timed_out = False
        try:
            if on_start is not None:
                on_start(pid)
            try:
                await asyncio.wait_for(asyncio.shield(proto.exited), timeout)
            except (asyncio.TimeoutError, TimeoutError):
                timed_out = True
                _killpg(pid, signal.SIGTERM)
                try:
                    await asyncio.wait_for(asyncio.shield(proto.exited), self.kill_grace)
                except (asyncio.TimeoutError, TimeoutError):
                    pass
                # children that survived SIGTERM (or whose parent died first) go too
                _killpg(pid, signal.SIGKILL)
                await proto.exited
            duration = loop.time() - t0
            try:
                await asyncio.wait_for(asyncio.shield(proto.closed), PIPE_GRACE)
            except (asyncio.TimeoutError, TimeoutError):
                pass   # a background child keeps the pipes open: stop reading
        finally:
            if not proto.exited.done():   # cancelled: do not leave the script behind
                _killpg(pid, signal.SIGKILL)
            transport.close()
        rc = transport.get_returncode()
        sig = -rc if rc is not None and rc < 0 else None
        return ScriptResult(
            command=text, argv=tuple(argv), exit_status=rc if rc is not None and rc >= 0 else None,
            signal=sig, duration=duration, timed_out=timed_out,
            error=f"timed out after {timeout:g}s" if timed_out else None,
            stdout=proto.out.decode(errors="replace"), stderr=proto.err.decode(errors="replace"),
            truncated=proto.truncated, pid=pid, started_at=started)


def _oserror_text(e: OSError, path: str) -> str:
    if isinstance(e, FileNotFoundError):
        return f"not found: {path}"
    if isinstance(e, PermissionError) or e.errno == errno.EACCES:
        return f"permission denied: {path}"
    if e.errno == errno.ENOEXEC:
        return f"not an executable format: {path}"
    return f"cannot execute {path}: {e.strerror or e}"
