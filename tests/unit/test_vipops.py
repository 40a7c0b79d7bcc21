"""An instance's VIP operations keep the machine's order (engine.vipops), on a slow fake host.

netlink answers asynchronously: a master that resigns at once after it
became master must not end up with its VIPs added after they were removed,
and its gratuitous ARPs must not go out before the VIPs are in place.
"""

from __future__ import annotations

import asyncio

from vipdeck.engine.config import loads
from vipdeck.engine.vipops import VipOps
from vipdeck.engine.vrrp import machine as m

from tests.support.fake_net import FakeHost, FakeNet
from tests.support.virtual_loop import run

INST = loads("""
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    priority 100
    virtual_ipaddress {
        198.18.0.198/32
    }
}
""").config.vrrp_instances[0]


class Driver:
    """What VipOps reads of a driver."""

    def __init__(self, state=m.State.MASTER):
        self.inst = INST
        self.vips_present = {str(v): False for v in INST.held_vips}
        self.stopped = False
        self.machine = type("M", (), {"state": state})()


def setup(delay: float):
    events: list[dict] = []
    tasks: list[asyncio.Task] = []

    def spawn(coro, name):
        t = asyncio.get_running_loop().create_task(coro, name=name)
        tasks.append(t)
        return t

    host = FakeHost(FakeNet(), lambda *a, **k: events.append(k), spawn, None, None)
    host.delay = delay
    ops = VipOps(host, lambda kind, msg, sev="info", **f: events.append(dict(f, kind=kind, msg=msg)), spawn,
                 asyncio.get_running_loop())
    return host, ops, events


def test_add_then_remove_then_add_run_in_that_order_and_garp_waits_for_the_add():
    async def main():
        host, ops, events = setup(delay=0.5)
        d = Driver()
        ops.add(d)
        ops.garp_start(d)
        ops.remove(d)
        ops.add(d)
        await ops.drain()
        await asyncio.sleep(0.1)
        return host, d, events

    host, d, events = run(main)
    assert host.ops("VI_1") == ["add start", "add", "garp", "remove start", "remove", "add start", "add"]
    times = {what: t for t, what, _n in host.log}
    assert times["garp"] - host.log[0][0] >= 0.5                 # after the first add finished
    assert d.vips_present == {"198.18.0.198/32": True}
    assert [e["added"] for e in events if e["kind"] == "vip"] == [True, False, True]


def test_a_vip_removed_under_a_master_is_put_back_at_most_once_a_second():
    async def main():
        host, ops, events = setup(delay=0.0)
        d = Driver()
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        for _ in range(5):                                      # a fight with another program
            ops.address_removed([d], "eth0", "198.18.0.198")
            await asyncio.sleep(0.2)
        await asyncio.sleep(2)
        ops.address_removed([d], "eth0", "198.18.0.1")          # not a VIP of it: nothing
        ops.address_removed([Driver(m.State.BACKUP)], "eth0", "198.18.0.198")   # a backup holds none
        await asyncio.sleep(2)
        return host, t0

    host, t0 = run(main)
    adds = [round(t - t0, 3) for t, what, _n in host.log if what == "add"]
    assert adds == [0.0, 1.0]
    assert host.ops().count("garp") == 2


def test_a_burst_of_operations_ends_in_one_idle_call_and_leaves_no_finished_task():
    """The engine gives memory back once a burst is over (engine.memory, issue 13);
    a finished operation is not kept for each of 255 idle instances."""
    calls: list[float] = []

    async def main():
        host, ops, _events = setup(delay=0.5)
        loop = asyncio.get_running_loop()
        ops.on_idle = lambda: calls.append(loop.time())
        d = Driver()
        t0 = loop.time()
        ops.add(d)
        ops.remove(d)
        await asyncio.sleep(0.7)          # the add is done, the remove still runs: not idle
        assert calls == [] and "VI_1" in ops._chain
        await ops.drain()
        t_end = loop.time()
        await asyncio.sleep(3)
        return t0, t_end, ops

    t0, t_end, ops = run(main)
    assert len(calls) == 1 and abs(calls[0] - (t_end + 1.0)) < 0.05, (calls, t0, t_end)
    assert ops._chain == {}
