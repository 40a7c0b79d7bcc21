"""Helpers shared by the client commands (status, events, actions...)."""

from __future__ import annotations

import asyncio
import os
import pwd
import sys
import time
from typing import Any

DEFAULT_SOCKET = "/run/vipdeck/control.sock"


def add_socket(parser, remote: bool = True) -> None:
    """``remote``: the command may also reach another node's daemon through ssh."""
    parser.add_argument("--socket", default=DEFAULT_SOCKET, metavar="PATH",
                        help=f"daemon control socket (default {DEFAULT_SOCKET})"
                             + ("; or ssh://[user@]host[:port][/path] for another node's, through "
                                "`ssh host vipdeck proxy`" if remote else ""))


def is_remote(address: str) -> bool:
    return "://" in address


def operator_name() -> str:
    """Who is asking, for the audit trail and "drained by ...": the user behind
    sudo, else the login name, else the account of our uid (root's shell under
    a service manager often has no $USER: it was recorded as "0")."""
    for var in ("SUDO_USER", "USER", "LOGNAME"):
        if os.environ.get(var):
            return os.environ[var]
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return f"uid {os.getuid()}"


def client(socket_path: str, **ssh: Any):
    """The client for ``--socket``: a path, or ssh://... (``ssh``: SshClient's options)."""
    from vipdeck.engine.control.client import client_for

    return client_for(socket_path, operator_name(), **ssh)


def call(socket_path: str, op: str, **args: Any) -> tuple[int, Any]:
    """Run one request; (0, result) or (1, None) after printing a clear error."""
    from vipdeck.engine.control.schema import ControlError

    code, result = request(socket_path, op, **args)
    if isinstance(result, ControlError):
        print(f"vipdeck: {result.message}", file=sys.stderr)
        return code, None
    return code, result


def request(socket_path: str, op: str, **args: Any) -> tuple[int, Any]:
    """Run one request; (0, result), or (exit status, the ControlError) unprinted."""
    from vipdeck.engine.control.schema import ControlError

    async def go():
        c = client(socket_path)
        try:
            return await c.request(op, **args)
        finally:
            await c.close()      # an ssh:// connection ends with this loop

    try:
        return 0, asyncio.run(go())
    except ControlError as exc:
        return (3 if exc.code == "forbidden" else 1), exc
    except ValueError as exc:       # a malformed ssh:// address
        return 1, ControlError("bad_address", str(exc))


def when(t: float | None, now: float | None) -> str:
    """A unix time as an operator reads it: how far from the daemon's now, and
    the local clock time (``in 4m00s, at 14:07:57``; a date when not today)."""
    if t is None:
        return "-"
    rel = f"in {age(t - now)}" if now is not None and t >= now else (
        f"{age(now - t)} ago" if now is not None else "")
    local = time.localtime(t)
    clock = time.strftime("%H:%M:%S" if local[:3] == time.localtime()[:3] else "%Y-%m-%d %H:%M:%S", local)
    return f"{rel}, at {clock}" if rel else clock


def age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 10:
        return f"{seconds:.1f}s"
    if seconds < 3600:
        return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"
    return f"{int(seconds // 3600)}h{int(seconds % 3600 // 60):02d}m"
