"""Driving a lab daemon the way an operator does: the real `vipdeck` CLI
(optionally as an unprivileged uid), and its event stream."""

from __future__ import annotations

import asyncio
import os
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


def restart_with_state(node, old):
    """Start a daemon on the same config *and state dir* as ``old`` (stopped)."""
    from vipdeck.engine.lab.peers import Router
    from vipdeck.engine.lab.wait import wait_until

    log = open(old.log_path, "a")
    proc = node.popen(sys.executable, "-m", "vipdeck", "daemon", "-l", "-f", old.conf_path, "--socket",
                      old.socket_path, "--state-dir", old.state_dir, "--pid-file",
                      os.path.join(old.workdir, "vipdeck.pid"), stdout=log, stderr=subprocess.STDOUT)
    log.close()
    r = Router(node, "vipdeck", old.conf_path, old.workdir, old.log_path, proc, {}, old.socket_path, old.state_dir)
    wait_until(lambda: os.path.exists(old.socket_path) and proc.poll() is None, 20, what="restarted daemon")
    node.lab.on_close(r.crash)
    return r
