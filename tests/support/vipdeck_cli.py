"""Driving a lab daemon the way an operator does: the real `vipdeck` CLI
(optionally as an unprivileged uid), and its event stream."""

from __future__ import annotations

import asyncio
import subprocess
import sys


def cli(router, *args: str, uid: int | None = None) -> subprocess.CompletedProcess:
    """`vipdeck ARGS --socket <router's socket>`; as ``uid`` (no groups) if given."""
    pre = [] if uid is None else ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups"]
    return subprocess.run([*pre, sys.executable, "-m", "vipdeck", *args, "--socket", router.socket_path],
                          capture_output=True, text=True, timeout=30)


def events(router, since: int = 0) -> list[dict]:
    """The daemon's event ring, read through its control socket."""
    from vipdeck.engine.control.client import SocketClient

    return asyncio.run(SocketClient(router.socket_path).events(since))
