"""The sd_notify protocol against a real AF_UNIX datagram socket standing in for systemd's."""

from __future__ import annotations

import asyncio
import os
import socket
import time

import pytest

from vipdeck.engine.sdnotify import SystemdNotifier


@pytest.fixture
def manager(tmp_path):
    """A bound datagram socket, as systemd's notify socket is; yields (path, receive)."""
    path = str(tmp_path / "notify.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    s.settimeout(2)

    def receive() -> dict[str, str]:
        data = s.recv(4096).decode()
        return dict(line.split("=", 1) for line in data.split("\n"))

    yield path, receive, s
    s.close()


def test_ready_reloading_stopping_reach_the_socket(manager):
    path, receive, _ = manager
    env = {"NOTIFY_SOCKET": path}
    n = SystemdNotifier(env)
    assert n.enabled and n.watchdog_interval is None
    assert n.ready("running: 2 instances\nsecond line")
    assert receive() == {"READY": "1", "STATUS": "running: 2 instances second line"}
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    assert n.reloading("reloading /etc/keepalived/keepalived.conf")
    msg = receive()
    assert msg["RELOADING"] == "1" and msg["STATUS"].startswith("reloading ")
    assert before <= int(msg["MONOTONIC_USEC"]) <= time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    assert n.stopping()
    assert receive() == {"STOPPING": "1"}
    n.close()


def test_the_environment_is_cleared_so_scripts_do_not_speak_for_us(manager):
    path, _, _ = manager
    env = {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "2000000", "WATCHDOG_PID": str(os.getpid()), "PATH": "/bin"}
    n = SystemdNotifier(env)
    assert env == {"PATH": "/bin"}
    assert n.watchdog_interval == 1.0          # half of WATCHDOG_USEC


def test_watchdog_for_another_pid_or_zero_is_off(manager):
    path, _, _ = manager
    assert SystemdNotifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "1000000",
                            "WATCHDOG_PID": str(os.getpid() + 1)}).watchdog_interval is None
    assert SystemdNotifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "0"}).watchdog_interval is None
    assert SystemdNotifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "x"}).watchdog_interval is None
    assert SystemdNotifier({"WATCHDOG_USEC": "1000000"}).watchdog_interval is None   # no socket, no pings


async def test_watchdog_pings_from_the_loop(manager):
    path, receive, _ = manager
    n = SystemdNotifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "40000"})   # a ping every 20 ms
    task = asyncio.get_running_loop().create_task(n.run_watchdog())
    try:
        got = [await asyncio.to_thread(receive) for _ in range(3)]
    finally:
        task.cancel()
    assert got == [{"WATCHDOG": "1"}] * 3


def test_abstract_socket_address():
    name = f"vipdeck-test-{os.getpid()}"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind("\0" + name)
    s.settimeout(2)
    try:
        assert SystemdNotifier({"NOTIFY_SOCKET": "@" + name}).ready()
        assert s.recv(100) == b"READY=1"
    finally:
        s.close()


def test_no_socket_is_a_quiet_no_op():
    n = SystemdNotifier({})
    assert not n.enabled and not n.ready() and not n.watchdog()
    assert not SystemdNotifier({"NOTIFY_SOCKET": "relative/path"}).enabled


def test_a_full_or_gone_manager_never_blocks_nor_raises(manager, caplog):
    path, _, s = manager
    n = SystemdNotifier({"NOTIFY_SOCKET": path})
    t0 = time.monotonic()
    sent = 0
    while n.status("x" * 1000):      # nobody reads: the queue fills up, then sendto says EAGAIN
        sent += 1
        assert sent < 100_000
    assert time.monotonic() - t0 < 5 and sent > 0
    s.close()
    os.unlink(path)
    assert not n.ready()             # gone: ENOENT, logged once
    assert sum("cannot notify systemd" in r.message for r in caplog.records) == 1
