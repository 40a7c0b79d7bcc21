"""MISC_CHECK: run a program; its exit status is the verdict.

0 → up; 1 → down; 2-255 → up with weight (status - 2) when ``misc_dynamic``
is set, down otherwise.  The program runs in its own session so that on
timeout (misc_timeout, default delay_loop) the whole process group is
killed, including anything the script started.  The command line is split
like a shell would split words but is not given to a shell, as keepalived
does.  The first line of stderr becomes the error text when the check fails.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import shlex
import shutil
import signal

from vipdeck.engine.config.model import MiscCheck
from vipdeck.engine.check.result import CheckEnv, CheckFailure, CheckResult, fmt_seconds, measured
from vipdeck.engine.track.runner import insecure

STDERR_LIMIT = 4096


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


async def _drain(stream: asyncio.StreamReader | None) -> bytes:
    if stream is None:
        return b""
    data = bytearray()
    while len(data) < STDERR_LIMIT:
        chunk = await stream.read(STDERR_LIMIT)
        if not chunk:
            break
        data += chunk
    return bytes(data)


async def check_misc(checker: MiscCheck, env: CheckEnv | None = None) -> CheckResult:
    timeout = checker.misc_timeout if checker.misc_timeout is not None else checker.delay_loop

    async def body() -> int | None:
        try:
            argv = shlex.split(checker.misc_path)
        except ValueError as exc:
            raise CheckFailure(f"misc_path cannot be split into words: {exc}") from None
        if not argv:
            raise CheckFailure("misc_path is empty")
        kw: dict = {}
        if os.geteuid() == 0:
            if checker.user:
                kw["user"] = checker.user
            if checker.group:
                kw["group"] = checker.group
        if env is not None and env.script_security:
            path = shutil.which(argv[0]) or argv[0]
            try:
                uid = pwd.getpwnam(checker.user).pw_uid if kw.get("user") else os.geteuid()
            except KeyError:
                raise CheckFailure(f"unknown user '{checker.user}'") from None
            why = insecure(path, uid)
            if why is not None:
                raise CheckFailure(f"not run: insecure script ({why}; enable_script_security)")
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE, start_new_session=True, **kw)
        except (OSError, ValueError, KeyError) as exc:
            raise CheckFailure(f"cannot run {argv[0]}: {getattr(exc, 'strerror', None) or exc}") from None
        drain = asyncio.ensure_future(_drain(proc.stderr))
        try:
            async with asyncio.timeout(timeout):
                code = await proc.wait()
        except TimeoutError:
            _kill_group(proc.pid)
            await proc.wait()
            drain.cancel()
            raise CheckFailure(f"timed out after {fmt_seconds(timeout)} (process group killed)") from None
        except BaseException:
            _kill_group(proc.pid)
            drain.cancel()
            raise
        # a daemonised grandchild may keep stderr open: do not wait for it
        try:
            async with asyncio.timeout(0.2):
                err = await drain
        except TimeoutError:
            err = b""
        first = next((ln.strip() for ln in err.decode("utf-8", "replace").splitlines() if ln.strip()), "")
        detail = f": {first[:120]}" if first else ""
        if code == 0:
            return None
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = str(-code)
            raise CheckFailure(f"killed by signal {name}{detail}")
        if code >= 2 and checker.misc_dynamic:
            return code - 2
        raise CheckFailure(f"exit status {code}{detail}")

    return await measured(body)
