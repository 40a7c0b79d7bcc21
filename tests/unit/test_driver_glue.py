"""The asyncio driver of one instance, on a virtual clock with a fake socket.

The machine's RFC times are tested on their own (test_vrrp_machine.py);
these check what the driver adds: that it arms the machine's deadlines on
the loop, sends what the machine says on its socket, calls the hooks in
the machine's order, reads the socket before a timer may declare the
master dead, and resigns with priority 0 when it stops.
"""

from __future__ import annotations

import asyncio
import socket

from vipdeck.engine.config import loads
from vipdeck.engine.vrrp import machine as m
from vipdeck.engine.vrrp import packet
from vipdeck.engine.vrrp.driver import InstanceDriver

from tests.support.fake_net import FakeNet
from tests.support.labconf import backups
from tests.support.virtual_loop import run

INST = loads(backups(("VI_1", 51, 100))).config.vrrp_instances[0]
MDI = 3 + (256 - 100) / 256          # Master_Down_Interval at priority 100, advert_int 1


class Hooks:
    """driver.DriverHooks that records (loop time, hook, detail)."""

    def __init__(self):
        self.calls: list[tuple[float, str, object]] = []

    def _note(self, name: str, detail: object = None) -> None:
        self.calls.append((asyncio.get_running_loop().time(), name, detail))

    def vips_add(self, d): self._note("vips_add")
    def vips_remove(self, d): self._note("vips_remove")
    def garp_start(self, d): self._note("garp_start")
    def garp_stop(self, d): self._note("garp_stop")
    def master_rx_lower_pri(self, d, heard): self._note("lower_pri", heard.priority)
    def transition(self, d, t): self._note("transition", (t.old.value, t.new.value, t.reason))
    def sync_held(self, d, held): self._note("sync_held")
    def fed(self, d, transitions): pass

    def names(self) -> list[str]:
        return [n for _t, n, _d in self.calls]


def driver(hooks: Hooks) -> tuple[InstanceDriver, object]:
    sock = FakeNet().open_socket("eth0", socket.AF_INET, groups=[], local_addresses=(), on_drop=None)
    return InstanceDriver(INST, sock, hooks, primary="198.18.0.1"), sock


def advert(priority: int, src: str = "198.18.0.2") -> packet.Advert:
    return packet.Advert(2, 51, priority, 1.0, ("198.18.0.198",), src=src, dst="224.0.0.18", ttl=255)


def test_a_lone_backup_becomes_master_after_the_master_down_interval_and_advertises_each_second():
    hooks = Hooks()

    async def main():
        d, sock = driver(hooks)
        t0 = asyncio.get_running_loop().time()
        d.start()
        await asyncio.sleep(MDI + 3.5)
        return d, sock, t0

    d, sock, t0 = run(main)
    assert d.machine.state is m.State.MASTER
    became = [t for t, n, x in hooks.calls if n == "transition" and x[1] == "MASTER"]
    assert [round(t - t0, 6) for t in became] == [MDI]
    # the machine's order (its advert went out first, on the socket): VIPs, announcement, transition
    after = [n for t, n, _x in hooks.calls if t == became[0]]
    assert after == ["vips_add", "garp_start", "transition"]
    sent = [(round(t - t0, 6), a.priority) for t, a, _dst in sock.sent]
    assert sent == [(MDI, 100), (MDI + 1, 100), (MDI + 2, 100), (MDI + 3, 100)]
    assert d.counters.adverts_sent == 4 and d.counters.transitions == 2      # INIT->BACKUP->MASTER


def test_a_master_heard_keeps_it_backup_and_its_priority_zero_hands_over_after_the_skew_time():
    hooks = Hooks()

    async def main():
        d, _sock = driver(hooks)
        loop = asyncio.get_running_loop()
        d.start()
        for _ in range(10):                              # a better master every second
            await asyncio.sleep(1.0)
            d.accept(advert(200))
        assert d.machine.state is m.State.BACKUP
        resigned = loop.time()
        d.accept(advert(0))                              # it resigns
        await asyncio.sleep(5)
        return d, resigned

    d, resigned = run(main)
    (t, _n, x), = [c for c in hooks.calls if c[1] == "transition" and c[2][1] == "MASTER"]
    assert x[2] == "priority_zero_received" and round(t - resigned, 6) == round((256 - 100) / 256, 6)
    assert d.counters.adverts_received == 11


def test_the_timer_reads_the_socket_before_it_declares_the_master_dead():
    """A stalled loop leaves the timer overdue and the master's adverts queued:
    the driver drains the socket first, and the advert it reads there wins."""
    hooks = Hooks()

    async def main():
        d, sock = driver(hooks)
        drained = []

        def drain():                                     # the queued advert, read at timer time
            drained.append(asyncio.get_running_loop().time())
            d.accept(advert(200))

        sock.drain = drain
        d.start()
        await asyncio.sleep(MDI + 0.5)
        return d, drained

    d, drained = run(main)
    assert drained and d.machine.state is m.State.BACKUP and "vips_add" not in hooks.names()


def test_shutdown_of_a_master_sends_priority_zero_and_removes_its_vips():
    hooks = Hooks()

    async def main():
        d, sock = driver(hooks)
        d.start()
        await asyncio.sleep(MDI + 0.1)
        n = len(sock.sent)
        d.shutdown()
        await asyncio.sleep(5)                           # nothing more goes out once stopped
        return d, sock.sent[n:]

    d, after = run(main)
    assert [a.priority for _t, a, _dst in after] == [0]
    assert hooks.names()[-3:] == ["garp_stop", "vips_remove", "transition"]
    assert d.machine.state is m.State.STOP and d.stopped


# ---- a steady master resends its last advert's bytes ------------------------------------------------

def recording(sock) -> list[tuple[bytes, str | None, str | None]]:
    """Wrap the fake socket's send to keep each call's (payload, dst, src) as well."""
    calls, send = [], sock.send

    def send_and_note(payload, dst=None, *, src=None, ttl=None):
        calls.append((payload, dst, src))
        return send(payload, dst, src=src, ttl=ttl)

    sock.send = send_and_note
    return calls


def test_a_steady_master_resends_the_same_bytes_and_a_priority_change_makes_new_ones():
    hooks = Hooks()

    async def main():
        d, sock = driver(hooks)
        calls = recording(sock)
        encoded, payload = [], d.advert_payload
        d.advert_payload = lambda prio, dst=None: encoded.append(prio) or payload(prio, dst)
        t0 = asyncio.get_running_loop().time()
        d.start()
        await asyncio.sleep(MDI + 2.5)               # master, three adverts at 100
        d.feed(m.TrackChanged(delta=-30))           # a weighted tracker went down
        await asyncio.sleep(2.0)                    # two more, at 70
        return d, sock, calls, encoded, t0

    d, sock, calls, encoded, t0 = run(main)
    # looked up for the transition's advert, for the timer's first (a new answer) and
    # after the change; the other two timers resent the bytes
    assert encoded == [100, 100, 70]
    sent = [(round(t - t0, 6), a.priority) for t, a, _dst in sock.sent]
    assert sent == [(MDI, 100), (MDI + 1, 100), (MDI + 2, 100), (MDI + 3, 70), (MDI + 4, 70)]
    payloads = [p for p, _dst, _src in calls]
    assert payloads[0] is payloads[1] is payloads[2] and payloads[3] is payloads[4]
    assert payloads[3] != payloads[2]
    assert d.counters.adverts_sent == 5


def test_invalidate_adverts_makes_the_next_advert_anew_from_the_current_source():
    """The socket's source changed (dispatch.addresses_changed): the bytes resent
    so far must not outlive the invalidate_adverts that follows it."""
    hooks = Hooks()

    async def main():
        d, sock = driver(hooks)
        calls = recording(sock)
        d.start()
        await asyncio.sleep(MDI + 1.5)               # master, two adverts from .1
        sock.src = "198.18.0.7"
        await asyncio.sleep(1.0)                    # not told yet: the bytes and source it had
        d.invalidate_adverts()
        await asyncio.sleep(1.0)
        return calls

    calls = run(main)
    srcs = [src for _p, _dst, src in calls]
    assert srcs[-1] == "198.18.0.7" and srcs[-2] == srcs[0]


def test_batched_masters_send_each_advert_at_most_early_before_its_deadline_never_after():
    """Deadlines.early on (a real loop's default; the virtual one keeps exact times):
    masters whose adverts fall within a millisecond of each other share wake-ups,
    each advert sent no later than its deadline and no more than ``early`` before
    it, and the deadlines themselves stay one advert_int apart (no drift)."""
    from vipdeck.engine.vrrp import deadlines
    from tests.support.labconf import vrrp_conf

    n, step = 8, 0.1
    insts = loads(vrrp_conf(router_id="node1", version=3, instances=[
        dict(name=f"VI_{k}", vrid=k, priority=100, state="BACKUP", advert_int=step, version=3, vips=[f"198.18.0.{100 + k}/32"])
        for k in range(1, n + 1)])).config.vrrp_instances
    hooks = Hooks()

    async def main():
        loop = asyncio.get_running_loop()
        dl = deadlines.for_loop(loop)
        dl.early = 0.001
        ds = []
        for inst in insts:                          # started 0.3 ms apart: masters 0.3 ms apart
            sock = FakeNet().open_socket("eth0", socket.AF_INET, groups=[], local_addresses=(), on_drop=None)
            d = InstanceDriver(inst, sock, hooks, primary="198.18.0.1")
            d.start()
            ds.append((d, sock))
            await asyncio.sleep(0.0003)
        await asyncio.sleep(3 * step + 0.1)        # all masters by now
        before = sum(len(sock.sent) for _d, sock in ds)
        runs, run = [0], dl._run
        dl._run = lambda: (runs.__setitem__(0, runs[0] + 1), run())[1]
        await asyncio.sleep(1.0)
        return ds, runs[0], sum(len(sock.sent) for _d, sock in ds) - before

    ds, runs, steady = run(main)
    sends = 0
    for d, sock in ds:
        assert d.machine.state is m.State.MASTER
        ts = [t for t, _a, _dst in sock.sent]
        first = ts[0]                               # the transition's advert: on time
        for k, t in enumerate(ts[1:], 1):
            deadline = first + k * step
            assert deadline - 0.001 - 1e-9 <= t <= deadline + 1e-9, (d.inst.name, k, t - deadline)
        sends += len(ts) - 1
    # 2.1 ms of masters: two wake-ups a round for eight adverts (one each without batching)
    assert steady == n * 10 and runs <= steady // 3
    early = [t for d, sock in ds for k, (t, _a, _d) in enumerate(sock.sent[1:], 1)
             if t < sock.sent[0][0] + k * step - 1e-9]
    assert early                                    # some were batched
