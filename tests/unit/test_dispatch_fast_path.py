"""The backup's fast path (engine.dispatch, ``VrrpMachine.refresh``): an advert
byte-identical to the last one its machine accepted skips the decode and the
rules, and nothing anyone can see may differ from the slow path.

Two identical setups hear the same wire at the same (virtual) times; one
forgets its fast-path memory before every packet, so it takes the slow path
each time.  The advert view's snapshot (counts, rates, ages, history, flags,
split brains), the machines (state, master, deadlines) and the counters must
be equal after every packet, and the fast one must really have skipped the
decode for the repeats (and only for them).
"""

from __future__ import annotations

import asyncio
import time

import pytest

from vipdeck.engine import dispatch as dispatch_mod
from vipdeck.engine.net.addresses import LocalAddresses
from vipdeck.engine.vrrp import packet

from tests.support.fake_net import advert_rx
from tests.support.virtual_loop import run
from tests.unit.test_dispatch import Setup

A, B = "198.18.0.2", "198.18.0.3"
VIP = ("198.18.0.151",)         # VI_1 (vrid 51) of test_dispatch's config has 198.18.0.151


def adv(priority: int, vips=VIP) -> packet.Advert:
    return packet.Advert(2, 51, priority, 1.0, vips)


# (seconds after the previous packet, source, advert or a ready Received, TTL)
WIRE = (
    [(0.0, A, adv(200), 255)]
    + [(1.0, A, adv(200), 255)] * 6                  # the steady master: repeats
    + [(1.0, A, adv(150), 255)]                      # it changed its priority: leaves the fast path
    + [(1.0, A, adv(150), 255)] * 3                  # ...and the new one becomes the repeat
    + [(0.5, B, adv(120), 255)]                      # a second router starts advertising
    + [(0.5, A, adv(150), 255), (0.5, B, adv(120), 255)] * 5   # both: a split brain builds up
    + [(6.0, A, adv(150), 255)] * 3                  # B gone; a gap for A: a new run
    + [(0.2, A, adv(150), 64)]                       # same bytes, wrong TTL: rejected, not fast
    + [(0.8, A, adv(150), 255)] * 2
    + [(1.0, A, adv(150, ("198.18.0.199",)), 255)]   # other VIPs: an anomaly flag
    + [(1.0, A, adv(150), 255)] * 2
    + [(1.0, A, adv(0), 255)]                        # it resigns
    + [(0.1, A, adv(150), 255)] * 3
)


def play(monkeypatch, fast: bool) -> tuple[list, int]:
    """Run WIRE through a Setup; the state after every packet, and how many decodes."""
    decodes = [0]
    real_decode = packet.decode_ipv4

    def counting(raw, **kw):
        decodes[0] += 1
        return real_decode(raw, **kw)

    async def main():
        loop = asyncio.get_running_loop()
        s = Setup()
        d = s.drivers["VI_1"]
        link = next(iter(s.dispatch.links.values()))
        wall = [1_700_000_000.0]
        monkeypatch.setattr(dispatch_mod.time, "time", lambda: wall[0])
        monkeypatch.setattr(dispatch_mod.packet, "decode_ipv4", counting)
        states = []
        for dt, src, a, ttl in WIRE:
            loop._virtual += dt
            wall[0] += dt
            if not fast:
                link.heard.clear()
                link.heard_raw.clear()
            s.sock.deliver(advert_rx(a, src, ttl=ttl))
            mc = d.machine
            states.append((
                s.view.snapshot(wall[0]),
                (mc.state, mc.master_address, mc.master_priority, mc.last_advert_at, mc.next_deadline(),
                 mc.master_down_interval()),
                (d.counters.adverts_received, dict(d.counters.rejects)),
                list(s.heard), s.stats["VI_1"].pri_zero_rcvd,
                list(s.events),
            ))
        monkeypatch.undo()
        return states

    return run(main), decodes[0]


def test_the_fast_path_leaves_the_view_the_machine_and_the_counters_exactly_as_the_slow_path(monkeypatch):
    slow, slow_decodes = play(monkeypatch, fast=False)
    fast, fast_decodes = play(monkeypatch, fast=True)
    assert len(slow) == len(fast) == len(WIRE)
    for k, (a, b) in enumerate(zip(slow, fast)):
        assert a == b, f"after packet {k} ({WIRE[k][1]} prio {WIRE[k][2].priority} ttl {WIRE[k][3]})"
    # the run saw what it was meant to: a split brain flagged, the anomaly, the rejects
    view = slow[-1][0][0]
    assert {f["kind"] for f in view["flags"]} >= {"vip_mismatch"}
    assert any(e.get("flag") == "split_brain" for e in slow[-1][5])
    assert slow[-1][2][1] == {"ttl": 1}
    assert slow_decodes == len(WIRE)
    # the repeats skipped the decode: only first sightings and changes were decoded
    assert fast_decodes < slow_decodes - 10


def test_a_changed_advert_leaves_the_fast_path_and_is_decoded(monkeypatch):
    _, n = play(monkeypatch, fast=True)
    decoded = []
    last = {}
    for dt, src, a, ttl in WIRE:
        key = (src, a, ttl)
        decoded.append(last.get(src) != key)
        last[src] = key
    # at least every packet that differs from its source's previous one was decoded
    assert n >= sum(decoded)


@pytest.mark.parametrize("priority", [200, 100])
def test_refresh_is_handle_for_the_advert_accepted_last_and_refuses_anything_else(priority):
    from vipdeck.engine.vrrp import machine as m

    p = m.InstanceParams(name="VI_1", vrid=51, version=3, priority=100, advert_int=0.1, preempt=True,
                         preempt_delay=0.0, initial_state="BACKUP", primary_address="198.18.0.1", family=4)
    slow, fast = m.VrrpMachine(p), m.VrrpMachine(p)
    a = packet.Advert(3, 51, priority, 0.1, VIP, src=A, dst="224.0.0.18", ttl=255)
    for mc in (slow, fast):
        mc.handle(0.0, m.Startup())
        mc.handle(0.05, m.AdvertReceived(a))
    assert fast.steady_advert is a
    assert not fast.refresh(0.1, packet.Advert(3, 51, priority, 0.1, VIP, src=A, dst="224.0.0.18", ttl=255))
    for t in (0.15, 0.25, 0.35):
        assert slow.handle(t, m.AdvertReceived(a)) == []
        assert fast.refresh(t, a)
        assert (fast.state, fast.last_advert_at, fast.next_deadline(), fast.master_address) == \
            (slow.state, slow.last_advert_at, slow.next_deadline(), slow.master_address)
    fast.handle(0.4, m.Drain(True))            # any other input: the next advert takes handle again
    assert not fast.refresh(0.45, a)


def now() -> tuple[float, float]:
    """An arrival of now (loop time, unix time), as the socket hands the fast path."""
    return asyncio.get_running_loop().time(), time.time()


def test_a_source_that_becomes_one_of_our_addresses_leaves_the_fast_path_at_once():
    """The fast path keeps the sources it found not ours until LocalAddresses
    changes (its generation): an address added meanwhile must be seen on the
    very next advert, which then goes the slow way and is dropped as our own."""
    async def main():
        local = LocalAddresses(["198.18.0.1"])
        s = Setup(local_addresses=local)
        rx = advert_rx(adv(200), A)
        s.sock.deliver(rx)                    # accepted on the slow path
        assert s.sock.fast(rx.packet, *now())         # the repeat: fast, and A remembered as not ours
        local.add(A)
        assert not s.sock.fast(rx.packet, *now())
        local.discard(A)
        assert s.sock.fast(rx.packet, *now())
    run(main)


def test_a_refresh_queues_nothing_for_the_sync_groups():
    """A repeat changes nothing a sync group looks at, so the fast path does not
    call the driver's ``fed`` hook (it did once per advert, with no transitions)."""
    async def main():
        s = Setup()
        fed = []
        s.hooks.fed = lambda d, transitions: fed.append(tuple(transitions))
        rx = advert_rx(adv(200), A)
        s.sock.deliver(rx)
        n = len(fed)
        assert s.sock.fast(rx.packet, *now()) and s.sock.fast(rx.packet, *now())
        assert len(fed) == n
    run(main)


def test_an_advert_counts_from_when_it_arrived_and_the_machine_clock_never_goes_back():
    """The socket hands each packet on with its arrival (engine/net/vrrp_socket.py):
    the machine's master-down deadline and the advert view both count from it, on
    the slow path and on the fast one.  A packet stamped before an input the
    machine already had is taken as of that input (its clock only goes forward)."""
    async def main():
        s = Setup()
        d = s.drivers["VI_1"]
        await asyncio.sleep(0.5)                 # virtual time: past the start-up's input
        t, w = asyncio.get_running_loop().time(), time.time()
        rx = advert_rx(adv(200), A)
        s.sock.deliver(rx._replace(at=t - 0.006, wall=w - 0.006))          # the slow path: first of its kind
        assert d.machine.last_advert_at == t - 0.006
        deadline = d.machine.next_deadline()
        assert deadline is not None and abs(deadline - (t - 0.006) - d.machine.master_down_interval()) < 1e-9
        s.sock.deliver(rx._replace(at=t - 0.003, wall=w - 0.003))          # the repeat: fast
        assert d.machine.last_advert_at == t - 0.003
        assert abs(d.machine.next_deadline() - (deadline + 0.003)) < 1e-9
        s.sock.deliver(rx._replace(at=t - 0.005, wall=w - 0.005))          # stamped before the last input
        assert d.machine.last_advert_at == t - 0.003
        src = next(v for v in s.dispatch.view.views.values() if v.vrid == 51).sources[A]
        assert src.last_seen == w - 0.005                                  # the view: as it came
    run(main)
