"""The composition root on fakes: start, reload (``Engine.apply``) and stop of a
whole engine on a virtual clock (tests/support/fake_net.py).

A reload keeps what did not change running untouched (a restart would be a
failover), restarts what changed (the old one resigns first), adds and
removes the rest, and puts operator intent on the new machines.
"""

from __future__ import annotations

import asyncio

from vipdeck.engine.config import loads
from vipdeck.engine.control.api import EngineApi
from vipdeck.engine.events import EventBus
from vipdeck.engine.runtime import Engine
from vipdeck.engine.state import StateStore
from vipdeck.engine.vrrp import machine as m
from vipdeck.engine.vrrp import packet

from tests.support.fake_net import FakeNet, advert_rx
from tests.support.labconf import backups
from tests.support.virtual_loop import run


def config(*instances):
    res = loads(backups(*instances))
    assert res.ok, res.diagnostics
    return res.config


def engine(tmp_path, cfg) -> tuple[Engine, FakeNet]:
    fake = FakeNet()
    return Engine(cfg, config_path="keepalived.conf", state=StateStore(str(tmp_path)), bus=EventBus(),
                  net=fake.net()), fake


async def lower_peer(fake: FakeNet, priority: int = 50) -> None:
    """Another router on VRID 51, advertising every second."""
    while True:
        fake.sock().deliver(advert_rx(packet.Advert(2, 51, priority, 1.0, ("198.18.0.151",)), "198.18.0.2"))
        await asyncio.sleep(1)


def test_a_reload_keeps_restarts_adds_and_removes(tmp_path):
    e, fake = engine(tmp_path, config(("VI_1", 51, 100), ("VI_2", 52, 100), ("VI_3", 53, 100)))

    async def main():
        await e.start()
        await asyncio.sleep(5)                            # every instance master
        kept, old2 = e.drivers["VI_1"], e.drivers["VI_2"]
        sent_before = len(fake.sock().sent)
        summary = await e.apply(config(("VI_1", 51, 100), ("VI_2", 52, 120), ("VI_4", 54, 100)))
        resigned = [(a.vrid, a.priority) for _t, a, _dst in fake.sock().sent[sent_before:] if a.priority == 0]
        await asyncio.sleep(5)
        await e.stop()
        return summary, kept, old2, resigned

    summary, kept, old2, resigned = run(main)
    assert summary == "kept 1 instance(s) running unchanged, restarted 1, added 1, removed 1"
    assert sorted(resigned) == [(52, 0), (53, 0)]          # the changed and the removed resign first
    # VI_1 ran on untouched: one election, no transition at the reload
    vi1 = [(ev["from"], ev["to"]) for ev in e.bus.since(0) if ev.get("instance") == "VI_1" and "to" in ev]
    assert vi1 == [("INIT", "BACKUP"), ("BACKUP", "MASTER"), ("MASTER", "STOP")] and kept.stopped
    assert old2.stopped and old2.machine.state is m.State.STOP
    vi4 = [(ev["from"], ev["to"]) for ev in e.bus.since(0) if ev.get("instance") == "VI_4" and "to" in ev]
    assert vi4[:2] == [("INIT", "BACKUP"), ("BACKUP", "MASTER")]
    # the host saw VI_3's VIPs go, VI_2's go and come back with the new machine
    ops = fake.host.ops
    assert ops("VI_3")[-2:] == ["remove start", "remove"] and ops("VI_2").count("add") == 2


def test_a_reloaded_instance_starts_drained_when_the_node_is(tmp_path):
    """Operator intent reaches new machines through engine.operator, before their start."""
    e, fake = engine(tmp_path, config(("VI_1", 51, 100)))

    async def main():
        await e.start()
        await asyncio.sleep(5)
        peer = asyncio.get_running_loop().create_task(lower_peer(fake))
        await EngineApi(e).handle("drain", {"who": "ops", "reason": "maintenance"}, 0)
        await asyncio.sleep(1)
        before = len(fake.host.ops("VI_1"))
        await e.apply(config(("VI_1", 51, 110)))           # changed: a new machine, above the peer's 50
        await asyncio.sleep(10)
        d = e.drivers["VI_1"]
        state, drained = d.machine.state, d.machine.drained
        peer.cancel()
        await e.stop()
        return state, drained, fake.host.ops("VI_1")[before:]

    state, drained, ops = run(main)
    # undrained it would preempt the peer at once; drained before its start it stays BACKUP
    assert (state, drained) == (m.State.BACKUP, True) and "add" not in ops


def test_the_snapshot_shows_the_parts_wired(tmp_path):
    e, fake = engine(tmp_path, config(("VI_1", 51, 100)))

    async def main():
        await e.start()
        await asyncio.sleep(5)
        fake.sock().deliver(advert_rx(packet.Advert(2, 51, 50, 1.0, ("198.18.0.151",)), "198.18.0.2"))
        snap = e.snapshot()
        await e.stop()
        return snap

    snap = run(main)
    (i,) = snap["instances"]
    assert (i["state"], i["vips"][0]["present"], i["master"]["mac"]) == ("MASTER", True, "02:00:c6:12:00:01")
    assert snap["node"]["interfaces"][0]["vrrp"] == {"received": 1, "dropped": {}}
    (view,) = snap["adverts"]
    assert (view["instance"], view["master"]) == ("VI_1", "198.18.0.1")     # we, as the view sees us


def test_a_takeover_event_says_whom_it_replaced_its_last_advert_and_the_timer(tmp_path):
    """The failover timeline's engine side, through Effects and the bus (unix times)."""
    e, fake = engine(tmp_path, config(("VI_1", 51, 100)))

    async def main():
        await e.start()
        for _ in range(4):                                   # a better master every second
            fake.sock().deliver(advert_rx(packet.Advert(2, 51, 200, 1.0, ("198.18.0.151",)), "198.18.0.2"))
            await asyncio.sleep(1)
        await asyncio.sleep(5)                               # it goes silent: master-down
        await e.stop()

    run(main)
    took = [ev for ev in e.bus.since(0) if ev.get("instance") == "VI_1" and ev.get("to") == "MASTER"][-1]
    assert (took["reason"], took["master"], took["priority"]) == ("master_down_timer", "198.18.0.2", 100)
    assert took["timer"] == 3 + (256 - 100) / 256
    # the last advert is a unix time, a Master_Down_Interval before the event's own
    assert abs(took["time"] - took["last_advert"] - took["timer"]) < 0.01
