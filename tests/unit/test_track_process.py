"""track_process with real processes renamed by their executable's name."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from pathlib import Path

import psutil
import pytest

from vipdeck.engine.config.model import TrackProcess
from vipdeck.engine.lab.wait import async_wait_until
from vipdeck.engine.track.process import ProcessScanner, ProcessTracker, params_match
from vipdeck.engine.track.weights import Weighting


def unique(name: str) -> str:
    """Process names are global: make ours unique so parallel runs cannot see each other's."""
    return f"{name}{os.getpid() % 100000}"[:15]


@pytest.fixture
def fake(tmp_path: Path):
    """Start processes named like a daemon: a copy of sleep, so comm is that name."""
    procs: list[asyncio.subprocess.Process] = []

    async def start(name: str, *args: str) -> asyncio.subprocess.Process:
        name = unique(name)
        exe = tmp_path / name
        if not exe.exists():
            shutil.copy(shutil.which("sleep"), exe)
        p = await asyncio.create_subprocess_exec(str(exe), *(args or ("300",)))
        procs.append(p)
        await_name = psutil.Process(p.pid)
        deadline = time.monotonic() + 5
        while await_name.name() != name[:15] and time.monotonic() < deadline:
            await asyncio.sleep(0.01)      # exec not done yet
        return p

    async def stop(p: asyncio.subprocess.Process) -> None:
        p.kill()
        await p.wait()

    start.stop = stop
    start.dir = tmp_path
    yield start
    for p in procs:
        if p.returncode is None:
            p.kill()


def test_parameter_matching_rules():
    assert params_match("exact", ["-c", "x"], ["-c", "x"])
    assert not params_match("exact", ["-c"], ["-c", "x"])
    assert params_match("exact", [], [])
    assert not params_match("exact", [], ["x"])
    assert params_match("partial", ["-c"], ["-c", "x"])
    assert not params_match("partial", ["-c", "x"], ["-c"])
    assert params_match("initial", ["-c", "/etc/ng"], ["-c", "/etc/nginx.conf", "more"])
    assert not params_match("initial", ["-d", "/etc/ng"], ["-c", "/etc/nginx.conf"])


async def test_name_match_quorum_weight_and_scan_sharing(fake):
    changes: list[str] = []
    nginx = ProcessTracker(TrackProcess(name="p_nginx", process=unique("nginx"), weight=-3), changes.append)
    pair = ProcessTracker(TrackProcess(name="p_pair", process=unique("nginx"), quorum=2, quorum_max=2, weight=10),
                          changes.append)
    scanner = ProcessScanner([nginx, pair], interval=0.05)
    await scanner.start()
    try:
        assert nginx.up is False and nginx.effect(Weighting(-3)).delta == -3
        assert nginx.detail(Weighting(-3)) == "p_nginx -3 (0 running, quorum 1)"
        assert pair.up is False and pair.effect(Weighting(10)).delta == 0
        first = await fake("nginx")
        await async_wait_until(lambda: nginx.up, timeout=3, what="nginx seen")
        assert nginx.effect(Weighting(-3)).delta == 0 and nginx.pids == (first.pid,)
        assert pair.up is False
        second = await fake("nginx")
        await async_wait_until(lambda: pair.up, timeout=3, what="quorum of 2")
        assert pair.effect(Weighting(10)).delta == 10
        third = await fake("nginx")
        await async_wait_until(lambda: pair.up is False, timeout=3, what="above quorum_max")
        for p in (first, second, third):
            await fake.stop(p)
        await async_wait_until(lambda: nginx.up is False, timeout=3, what="nginx gone")
        # both trackers were fed by the same scans
        assert nginx.count == pair.count == 0
        assert scanner.scans >= 4
        print(f"psutil scan of {len(psutil.pids())} processes: {scanner.last_duration * 1000:.1f} ms")
    finally:
        await scanner.stop()
    assert changes.count("p_nginx") == 3          # first scan, up, down


async def test_weight_zero_faults_and_reverse(fake):
    down = ProcessTracker(TrackProcess(name="must_run", process=unique("haproxyx")))
    never = ProcessTracker(TrackProcess(name="must_not", process=unique("haproxyx"), quorum_max=0))
    scanner = ProcessScanner([down, never], interval=0.05)
    await scanner.start()
    try:
        assert down.effect(Weighting(0)).fault and not never.effect(Weighting(0)).fault
        assert down.effect(Weighting(0, reverse=True)).fault is False
        p = await fake("haproxyx")
        await async_wait_until(lambda: down.up and never.up is False, timeout=3)
        assert not down.effect(Weighting(0)).fault and never.effect(Weighting(0)).fault
        await fake.stop(p)
    finally:
        await scanner.stop()


async def test_full_command_and_parameters(fake):
    exe = str(fake.dir / unique("svc"))
    exact = ProcessTracker(TrackProcess(name="exact", process=exe, parameters=("300",)))
    initial = ProcessTracker(TrackProcess(name="initial", process=exe, parameters=("3",), param_match="initial"))
    wrong = ProcessTracker(TrackProcess(name="wrong", process=exe, parameters=("301",)))
    by_name = ProcessTracker(TrackProcess(name="by_name", process=unique("svc")))
    argv0 = ProcessTracker(TrackProcess(name="argv0", process=unique("svc"), full_command=True))
    scanner = ProcessScanner([exact, initial, wrong, by_name, argv0], interval=0.05)
    await scanner.start()
    try:
        p = await fake("svc", "300")
        await async_wait_until(lambda: exact.up and initial.up and by_name.up, timeout=3)
        assert wrong.up is False
        assert argv0.up is False          # argv[0] is the full path, not the bare name
        await fake.stop(p)
    finally:
        await scanner.stop()


async def test_terminate_delay_holds_the_loss(fake):
    t = ProcessTracker(TrackProcess(name="delayed", process=unique("slowd"), weight=-5, terminate_delay=0.6))
    scanner = ProcessScanner([t], interval=0.05)
    p = await fake("slowd")
    await scanner.start()
    try:
        assert t.up is True
        await fake.stop(p)
        killed = time.monotonic()
        await async_wait_until(lambda: t.count == 0, timeout=3, what="process seen gone")
        assert t.up is True and "losing after delay" in t.detail(Weighting(-5))
        await async_wait_until(lambda: t.up is False, timeout=3, what="loss committed")
        assert time.monotonic() - killed >= 0.55
        # a restart within the delay does not bounce
        p2 = await fake("slowd")
        await async_wait_until(lambda: t.up, timeout=3)
        await fake.stop(p2)
        await async_wait_until(lambda: t.count == 0, timeout=3)
        p3 = await fake("slowd")
        await async_wait_until(lambda: t.count == 1, timeout=3)
        assert t.up is True
        await fake.stop(p3)
    finally:
        await scanner.stop()
