"""Drivers on the deadline grid of a real loop, on a virtual clock.

A real loop wakes for the deadlines that are not exact (backups') on a grid
(engine/vrrp/deadlines.py); the virtual loop keeps exact times unless a test
turns the grid on, as these do.  What they check: a master-down still
expires on its deadline, not up to a grid step after it; a master's adverts
are never held back by the grid point of a backup's deadline before them;
and in a run of many takeovers every advert goes before any takeover's
follow-up work (its transition, VIPs, gratuitous ARPs).
"""

from __future__ import annotations

import asyncio
import socket

from vipdeck.engine.config import loads
from vipdeck.engine.vrrp import deadlines
from vipdeck.engine.vrrp import machine as m
from vipdeck.engine.vrrp import packet
from vipdeck.engine.vrrp.driver import InstanceDriver

from tests.support.fake_net import FakeNet
from tests.support.labconf import vrrp_conf
from tests.support.virtual_loop import run

STEP = 0.1
MDI = 3 * STEP + (256 - 100) / 256 * STEP      # Master_Down_Interval at priority 100, advert_int 0.1
N = deadlines.GRID_MIN + 4                     # enough backups for the grid


class Hooks:
    """DriverHooks that note each call in one list shared with the sockets' sends."""

    def __init__(self, log: list):
        self.log = log

    def _note(self, d, name: str) -> None:
        self.log.append((asyncio.get_running_loop().time(), name, d.inst.vrid))

    def vips_add(self, d): self._note(d, "vips_add")
    def vips_remove(self, d): self._note(d, "vips_remove")
    def garp_start(self, d): self._note(d, "garp_start")
    def garp_stop(self, d): self._note(d, "garp_stop")
    def master_rx_lower_pri(self, d, heard): self._note(d, "lower_pri")
    def transition(self, d, t): self._note(d, f"transition {t.new.value}")
    def sync_held(self, d, held): self._note(d, "sync_held")
    def fed(self, d, transitions): self._note(d, "fed") if transitions else None


def instances(n: int, priority: int = 100):
    return loads(vrrp_conf(router_id="node1", version=3, instances=[
        dict(name=f"VI_{k}", vrid=k, priority=priority, state="BACKUP", advert_int=STEP, version=3,
             vips=[f"198.18.0.{100 + k}/32"]) for k in range(1, n + 1)])).config.vrrp_instances


def start(inst, log: list) -> InstanceDriver:
    sock = FakeNet().open_socket("eth0", socket.AF_INET, groups=[], local_addresses=(), on_drop=None)
    send = sock.send

    def noted(payload, dst=None, **kw):
        log.append((asyncio.get_running_loop().time(), "advert", inst.vrid))
        return send(payload, dst, **kw)
    sock.send = noted
    d = InstanceDriver(inst, sock, Hooks(log), primary="198.18.0.1")
    d.start()
    return d


def advert(vrid: int) -> packet.Advert:
    return packet.Advert(3, vrid, 200, STEP, (f"198.18.0.{100 + vrid}",), src="198.18.0.2", dst="224.0.0.18",
                         ttl=255)


def on_grid(loop) -> None:
    dl = deadlines.for_loop(loop)
    dl.grid = deadlines.GRID


def test_a_master_down_on_the_grid_expires_on_its_deadline():
    """Backups that heard their master until it went silent, at times that fall
    between grid points, each take over at its last advert + Master_Down_Interval
    to the microsecond, not at the next grid point (up to 4 ms later); the last
    lazy re-arm (a grid step ahead) and the exact wait after it leave no room
    for a float's rounding to keep it waiting for ever."""
    log: list = []

    async def main():
        loop = asyncio.get_running_loop()
        on_grid(loop)
        ds = []
        for inst in instances(N):
            ds.append(start(inst, log))
            await asyncio.sleep(0.00037)           # between the grid's points
        last = {}
        for _ in range(10):                        # the master advertising every VRID
            for d in ds:
                d.accept(advert(d.inst.vrid))
                last[d.inst.vrid] = loop.time()
                await asyncio.sleep(0.0011)
            await asyncio.sleep(STEP - N * 0.0011)
        await asyncio.sleep(MDI + 0.05)            # the master is gone
        return ds, last

    ds, last = run(main)
    for d in ds:
        assert d.machine.state is m.State.MASTER, d.inst.name
        took = next(t for t, what, vrid in log if what == "advert" and vrid == d.inst.vrid)
        assert abs(took - (last[d.inst.vrid] + MDI)) < 1e-6, (d.inst.name, took - last[d.inst.vrid] - MDI)


def test_a_masters_advert_is_not_held_back_by_a_backups_deadline_on_the_grid():
    """A node master of one VRID and backup of many: the backups' lazily armed
    master-down deadlines wake the loop on the grid, and one of them falling
    just before the master's advert once made the advert wait for that grid
    point (up to 4 ms late).  Each advert goes at its deadline."""
    log: list = []

    async def main():
        loop = asyncio.get_running_loop()
        on_grid(loop)
        master = start(instances(1, priority=150)[0], log)     # hears nobody: master after its MDI
        backups = []
        for inst in instances(N + 1)[1:]:
            backups.append(start(inst, log))
        end = loop.time() + 2.0
        k = 0
        while loop.time() < end:                    # their master: one VRID every 0.9 ms, round and round
            d = backups[k % len(backups)]
            d.accept(advert(d.inst.vrid))
            k += 1
            await asyncio.sleep(0.0009)
        return master, backups

    master, backups = run(main)
    assert master.machine.state is m.State.MASTER
    assert all(d.machine.state is m.State.BACKUP for d in backups)
    sent = [t for t, what, vrid in log if what == "advert" and vrid == 1]
    assert len(sent) > 10
    gaps = [b - a for a, b in zip(sent[1:], sent[2:])]
    assert max(abs(g - STEP) for g in gaps) < 1e-6, max(gaps)


def test_many_takeovers_at_once_send_every_advert_before_any_follow_up():
    """Backups whose master-down falls due in one wake-up: each one's advert
    goes out before any of them has its transition, VIPs or gratuitous ARPs
    done, and those follow in each instance's own order (the machine's)."""
    log: list = []

    async def main():
        loop = asyncio.get_running_loop()
        ds = [start(inst, log) for inst in instances(N)]     # the same deadline for all
        del log[:]                                            # their start (INIT -> BACKUP)
        await asyncio.sleep(MDI + 0.01)
        return ds, loop

    ds, _loop = run(main)
    assert all(d.machine.state is m.State.MASTER for d in ds)
    names = [what for _t, what, _v in log]
    first_follow_up = next(i for i, what in enumerate(names) if what != "advert")
    assert names[:first_follow_up] == ["advert"] * N
    for d in ds:
        own = [what for _t, what, vrid in log if vrid == d.inst.vrid]
        assert own[:5] == ["advert", "vips_add", "garp_start", "transition MASTER", "fed"], own[:5]


def test_a_takeovers_follow_ups_come_before_what_the_instance_does_next():
    """A takeover's follow-ups wait for the end of the run, but an input to the same
    instance within that run (here a higher-priority advert that a deadline's
    callback hands it) finds them done first: its hooks see MASTER, then BACKUP."""
    log: list = []

    async def main():
        loop = asyncio.get_running_loop()
        d = start(instances(1)[0], log)
        del log[:]
        dl = deadlines.for_loop(loop)
        # the same time as the master-down, armed after it: runs right after the takeover
        dl.call_at(d.machine.next_deadline(), lambda: d.accept(advert(1)))
        await asyncio.sleep(MDI + 0.01)
        return d

    d = run(main)
    assert d.machine.state is m.State.BACKUP
    names = [what for _t, what, _v in log]
    assert names[:6] == ["advert", "vips_add", "garp_start", "transition MASTER", "fed", "garp_stop"], names
    assert names.index("transition BACKUP") > names.index("transition MASTER")
