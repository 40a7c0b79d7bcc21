"""The receive path between the sockets and the instances (engine.dispatch), on fakes.

Each packet a fake socket delivers takes the real path: decode, the
instance's rules, its machine, then the advert view with the verdict.
"""

from __future__ import annotations

import asyncio
import socket

from vipdeck.engine.advert_view import AdvertView
from vipdeck.engine.config import loads
from vipdeck.engine.dispatch import AdvertDispatch
from vipdeck.engine.dumps.stats import TransitionCounters
from vipdeck.engine.vrrp import machine as m
from vipdeck.engine.vrrp import packet
from vipdeck.engine.vrrp.driver import InstanceDriver

from tests.support.fake_net import FakeNet, advert_rx
from tests.support.labconf import backups
from tests.support.virtual_loop import run
from tests.unit.test_driver_glue import Hooks

CFG = loads(backups(("VI_1", 51, 100), ("VI_2", 52, 100))).config
PEER = "198.18.0.2"


class Setup:
    def __init__(self, local_addresses=None):
        self.fake = FakeNet()
        self.events: list[dict] = []
        self.heard: list[tuple] = []
        self.view = AdvertView(lambda kind, msg, sev="info", **f: self.events.append(dict(f, kind=kind, msg=msg)))
        self.stats = {i.name: TransitionCounters() for i in CFG.vrrp_instances}
        self.dispatch = AdvertDispatch(self.view, lambda kind, msg, sev="info", **f: self.events.append(
            dict(f, kind=kind, msg=msg)), local_addresses=local_addresses if local_addresses is not None else {"198.18.0.1"},
            stats=self.stats,
            loop=asyncio.get_running_loop(), open_socket=self.fake.open_socket)
        self.dispatch.advert_heard = lambda *a: self.heard.append(a)
        self.hooks = Hooks()
        self.drivers = {}
        for inst in CFG.vrrp_instances:
            link = self.dispatch.link_for(inst)
            d = InstanceDriver(inst, link.sock, self.hooks, primary="198.18.0.1")
            self.dispatch.attach(d)
            d.start()
            self.drivers[inst.name] = d

    @property
    def sock(self):
        return self.fake.sock()

    def view_of(self, vrid: int) -> dict:
        return next(v for v in self.view.snapshot(0.0) if v["vrid"] == vrid)


def adv(vrid: int, priority: int, version: int = 2) -> packet.Advert:
    return packet.Advert(version, vrid, priority, 1.0, (f"198.18.0.{249 - vrid}",))


def test_one_socket_per_interface_and_family_serves_every_instance_by_vrid():
    async def main():
        s = Setup()
        assert len(s.fake.opened) == 1 and s.sock.groups == ("224.0.0.18",)
        s.sock.deliver(advert_rx(adv(52, 200), PEER))
        await asyncio.sleep(0)
        return s

    s = run(main)
    assert (s.drivers["VI_2"].counters.adverts_received, s.drivers["VI_1"].counters.adverts_received) == (1, 0)
    assert s.drivers["VI_2"].machine.master_address == PEER
    v = s.view_of(52)
    assert (v["instance"], [x["address"] for x in v["sources"]], v["rejected_sources"]) == ("VI_2", [PEER], [])
    assert s.heard == [("VI_2", PEER, 200, 1.0, 1000.0)]


def test_a_rejected_advert_is_counted_by_its_instance_shown_apart_and_never_reaches_the_machine():
    async def main():
        s = Setup()
        for _ in range(3):
            s.sock.deliver(advert_rx(adv(51, 200), "198.18.0.77", ttl=64))
        s.sock.deliver(advert_rx(adv(51, 200, version=3), PEER))       # VI_1 runs VRRPv2
        await asyncio.sleep(MDI := 3.7)
        return s

    s = run(main)
    d = s.drivers["VI_1"]
    assert d.counters.rejects == {"ttl": 3, "version": 1} and d.counters.adverts_received == 0
    assert d.machine.state is m.State.MASTER                   # nobody it accepted stood in its way
    v = s.view_of(51)
    assert v["sources"] == [] and {r["address"]: r["reason"] for r in v["rejected_sources"]} == {
        "198.18.0.77": "ttl", PEER: "version"}
    assert s.heard == []


def test_a_foreign_vrid_is_only_shown_and_judged_by_the_shared_rules():
    async def main():
        s = Setup()
        s.sock.deliver(advert_rx(adv(60, 150), "198.18.0.9"))
        s.sock.deliver(advert_rx(adv(61, 150), "198.18.0.9", ttl=1))
        await asyncio.sleep(0)
        return s

    s = run(main)
    assert s.view_of(60)["ours"] is False and [x["address"] for x in s.view_of(60)["sources"]] == ["198.18.0.9"]
    assert s.view_of(61)["rejected"] == {"ttl": 1}
    assert all(d.counters.adverts_received == 0 and not d.counters.rejects for d in s.drivers.values())


def test_what_has_no_readable_vrid_is_counted_on_the_interface_and_said_once_per_kind():
    async def main():
        s = Setup()
        runt = advert_rx(adv(51, 100), PEER)
        for _ in range(4):
            s.sock.deliver(runt._replace(packet=runt.packet[:22]))
        s.sock.on_drop("own_source", "198.18.0.1")           # what the socket itself dropped
        s.sock.on_drop("own_source", "198.18.0.1")
        s.sock.stats.dropped_own += 2
        return s

    s = run(main)
    assert s.dispatch.drops() == {"eth0": {"received": 4, "dropped": {"truncated": 4, "own_source": 2}}}
    told = [(e["flag"], e["vrid"]) for e in s.events if e["kind"] == "advert"]
    assert sorted(told) == [("own_source", None), ("truncated", None)]


def test_priority_zero_is_counted_for_the_dumps():
    async def main():
        s = Setup()
        s.sock.deliver(advert_rx(adv(51, 200), PEER))
        s.sock.deliver(advert_rx(adv(51, 0), PEER))
        await asyncio.sleep(0)
        return s

    s = run(main)
    assert s.stats["VI_1"].pri_zero_rcvd == 1 and s.stats["VI_2"].pri_zero_rcvd == 0


def test_a_re_created_interface_gets_a_new_socket_and_the_drivers_follow():
    async def main():
        s = Setup()
        old = s.sock
        s.dispatch.link_up("eth0", old.ifindex)              # same link: join again
        assert old.rejoined == 1 and len(s.fake.opened) == 1
        s.fake.ifindex["eth0"] = old.ifindex + 5
        s.dispatch.link_up("eth0", old.ifindex + 5)          # deleted and made again
        return s, old

    s, old = run(main)
    new = s.sock
    assert new is not old and old.closed and new.groups == old.groups
    assert all(d.sock is new for d in s.drivers.values())
    assert any(e["kind"] == "daemon" and "re-opened" in e["msg"] for e in s.events)


def test_after_a_reload_the_view_speaks_only_for_instances_that_run():
    async def main():
        s = Setup()
        s.sock.deliver(advert_rx(adv(52, 200), PEER))
        s.dispatch.detach(s.drivers["VI_2"])
        s.dispatch.refresh_sides()
        return s

    s = run(main)
    v = s.view_of(52)
    assert (v["ours"], v["instance"]) == (False, None)
