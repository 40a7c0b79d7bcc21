"""A real `vipdeck daemon` under a stand-in for systemd's notify socket.

The test binds the AF_UNIX datagram socket systemd would and passes it in
$NOTIFY_SOCKET, with $WATCHDOG_USEC as ``WatchdogSec=`` sets it.  Checks the
order systemd relies on: READY only once the VRRP raw socket and the control
socket are up; RELOADING then READY around a SIGHUP (accepted or refused);
watchdog pings all along; STOPPING at SIGTERM before the clean exit; and
notify scripts do not inherit the variables.
"""

from __future__ import annotations

import os
import signal
import socket
import threading

import pytest

from vipdeck.engine.lab import wait_until
from vipdeck.engine.lab.peers import instance, start_vipdeck
from tests.support.labconf import seed_pair

pytestmark = pytest.mark.lab


class Manager:
    """Collects every datagram the daemon sends, in order."""

    def __init__(self, path: str):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(0.2)
        self.messages: list[dict[str, str]] = []
        self._stop = False
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop:
            try:
                data = self.sock.recv(4096).decode()
            except (TimeoutError, socket.timeout):
                continue
            except OSError:
                return
            self.messages.append(dict(line.split("=", 1) for line in data.split("\n")))

    def non_watchdog(self) -> list[dict[str, str]]:
        return [m for m in self.messages if "WATCHDOG" not in m]

    def close(self) -> None:
        self._stop = True
        self._thread.join()
        self.sock.close()


def _raw_vrrp_sockets(pid: int) -> int:
    """Raw IP-protocol-112 sockets that process ``pid`` holds (in its own namespace)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    n = 0
    with open(f"/proc/{pid}/net/raw") as f:
        for line in f.readlines()[1:]:
            cols = line.split()
            if cols[1].endswith(":0070") and cols[9] in inodes:   # the "port" of a raw socket is its protocol
                n += 1
    return n


def test_ready_reloading_watchdog_stopping(lab, tmp_path):
    n1 = lab.add_node("n1", "198.18.0.1/24")
    mgr = Manager(str(tmp_path / "notify"))
    envfile = tmp_path / "script-env"
    conf = seed_pair("node1", 100, "MASTER", version=3, advert_int=0.1,
                     notify={"master": f"/bin/sh -c 'env > {envfile}'"})
    try:
        r = start_vipdeck(n1, conf, env={"NOTIFY_SOCKET": mgr.path, "WATCHDOG_USEC": "300000"})
        ready = wait_until(lambda: next((m for m in mgr.messages if m.get("READY") == "1"), None), 10,
                           what="READY=1")
        # by the time READY came, the VRRP socket was open and the control socket answered
        assert _raw_vrrp_sockets(r.proc.pid) >= 1
        assert os.path.exists(r.socket_path)
        assert ready["STATUS"].startswith("running: ")
        assert mgr.non_watchdog()[0] is ready, mgr.messages       # nothing else before it

        # watchdog pings every WATCHDOG_USEC / 2
        n = len([m for m in mgr.messages if m.get("WATCHDOG") == "1"])
        wait_until(lambda: len([m for m in mgr.messages if m.get("WATCHDOG") == "1"]) >= n + 4, 5,
                   what="watchdog pings")

        # SIGHUP: RELOADING (with the monotonic time) then READY
        wait_until(lambda: instance(r, "VI_1")["state"] == "MASTER", 5)
        os.kill(r.proc.pid, signal.SIGHUP)
        wait_until(lambda: len(mgr.non_watchdog()) >= 3, 5, what="RELOADING and READY")
        reloading, again = mgr.non_watchdog()[1:3]
        assert reloading["RELOADING"] == "1" and int(reloading["MONOTONIC_USEC"]) > 0
        assert again["READY"] == "1" and again["STATUS"].startswith("running: ")

        # a refused reload also ends in READY: the old config runs on
        with open(r.conf_path, "a") as f:
            f.write("vrrp_instance broken {\n")
        os.kill(r.proc.pid, signal.SIGHUP)
        wait_until(lambda: len(mgr.non_watchdog()) >= 5, 5, what="RELOADING and READY after a bad config")
        reloading, again = mgr.non_watchdog()[3:5]
        assert reloading["RELOADING"] == "1"
        assert again["READY"] == "1" and "reload refused" in again["STATUS"]
        assert instance(r, "VI_1")["state"] == "MASTER"

        # the notify script ran without the daemon's systemd variables
        wait_until(envfile.exists, 5, what="notify_master script")
        env = envfile.read_text()
        assert "PATH=" in env and "NOTIFY_SOCKET" not in env and "WATCHDOG_USEC" not in env

        # SIGTERM: STOPPING first, then a clean exit
        assert r.stop() == 0
        last = mgr.non_watchdog()[-1]
        assert last["STOPPING"] == "1", mgr.messages
    finally:
        mgr.close()


def test_a_config_with_errors_never_says_ready(lab, tmp_path):
    n1 = lab.add_node("n1", "198.18.0.1/24")
    mgr = Manager(str(tmp_path / "notify"))
    try:
        with pytest.raises(RuntimeError):
            start_vipdeck(n1, "vrrp_instance VI_1 {\n", env={"NOTIFY_SOCKET": mgr.path})
        wait_until(lambda: mgr.messages, 5, what="a STATUS line")
        assert all("READY" not in m for m in mgr.messages)
        assert "error(s); not starting" in mgr.messages[-1]["STATUS"]
    finally:
        mgr.close()
