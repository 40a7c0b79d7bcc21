"""VipManager keeps few netlink requests in flight (issue 13).

255 instances becoming master at once asked for all their VIPs together;
every request's pyroute2 objects lived until its answer, and that peak
stayed in the daemon's resident memory.  A fake rtnetlink socket that
answers late shows how many requests are out at once, and that all of
them are still done.
"""

from __future__ import annotations

import asyncio

from vipdeck.engine.net import vips
from vipdeck.engine.net.vips import Vip, VipManager

from tests.support.virtual_loop import run


class SlowIpr:
    def __init__(self) -> None:
        self.out = 0
        self.most = 0
        self.done: list[tuple[str, str]] = []

    async def link_lookup(self, ifname: str):
        return [2]

    async def addr(self, cmd: str, **kw):
        self.out += 1
        self.most = max(self.most, self.out)
        await asyncio.sleep(0.01)
        self.out -= 1
        self.done.append((cmd, kw["address"]))
        return []


def test_a_burst_of_vips_keeps_at_most_max_in_flight_requests_out_and_does_them_all():
    ipr = SlowIpr()
    addrs = [f"198.18.1.{k}" for k in range(1, 101)]

    async def main():
        vm = VipManager(ipr=ipr)
        added = await asyncio.gather(*(vm.add(Vip(a, 32, "eth0")) for a in addrs))
        removed = await asyncio.gather(*(vm.remove(Vip(a, 32, "eth0")) for a in addrs))
        return added, removed

    added, removed = run(main)
    assert all(added) and all(removed)
    assert sorted(a for c, a in ipr.done if c == "add") == sorted(addrs)
    assert sorted(a for c, a in ipr.done if c == "del") == sorted(addrs)
    assert ipr.most == vips.MAX_IN_FLIGHT
