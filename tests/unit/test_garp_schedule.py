"""GarpScheduler's bookkeeping, without a network: a finished schedule is
let go, and a failing one is said in the log (the frames themselves are
tested on a real link in tests/lab/test_net_garp.py)."""

from __future__ import annotations

import asyncio
import logging

from vipdeck.engine.net.garp import GarpPolicy, GarpScheduler
from vipdeck.engine.net.vips import Vip


class Sender:
    def __init__(self, fail: bool = False):
        self.fail = fail
        self.bursts = 0

    async def announce(self, vips, repeat, interval, na_interval) -> int:
        self.bursts += 1
        if self.fail:
            raise OSError("ENETDOWN")
        return len(vips) * repeat


def vips():
    return [Vip("198.18.0.10", 32, "eth0")]


async def test_a_finished_schedule_is_not_kept():
    sender = Sender()
    sched = GarpScheduler(lambda dev: sender, GarpPolicy(repeat=2, delay=0.0, refresh=0.0))
    frames = []
    task = sched.start(vips(), on_first=frames.append)
    await task
    await asyncio.sleep(0)          # done callbacks run on the next turn of the loop
    assert frames == [2] and sender.bursts == 1
    assert sched._task is None and not sched.running


async def test_a_failing_schedule_is_logged_and_let_go(caplog):
    sched = GarpScheduler(lambda dev: Sender(fail=True), GarpPolicy(repeat=1, delay=0.0, refresh=0.0))
    task = sched.start(vips())
    with caplog.at_level(logging.WARNING, logger="vipdeck"):
        await asyncio.wait([task])
        await asyncio.sleep(0)
    assert sched._task is None
    assert any("gratuitous ARP schedule failed: ENETDOWN" in r.getMessage() for r in caplog.records)
