"""The advert view's judgement on a virtual clock: what is a split brain, who
counts as a master, what is kept (the lab tests in test_lab_split_brain.py
do the same with real routers)."""

from __future__ import annotations

from dataclasses import dataclass

from vipdeck.engine import advert_view
from vipdeck.engine.advert_view import AdvertView
from vipdeck.engine.vrrp import packet

K4 = ("eth0", 4, 51)
K6 = ("eth0", 6, 51)
A, B, C = "198.18.0.1", "198.18.0.2", "198.18.0.3"


@dataclass
class Us:
    """Our instance as the view sees it."""

    name: str = "VI_1"
    source: str | None = A
    since: float | None = None
    prio: int = 100
    every: float = 0.1
    ours: tuple[str, ...] = ("198.18.0.199",)

    def master_since(self):
        return self.since

    def priority(self):
        return self.prio

    def interval(self):
        return self.every

    def vips(self):
        return self.ours


def adv(src: str, prio: int, interval: float = 0.1, vips=("198.18.0.199",), ttl: int = 255) -> packet.Advert:
    return packet.Advert(3, 51, prio, interval, tuple(vips), src=src, dst="224.0.0.18", ttl=ttl)


def make():
    events, wanted = [], []
    view = AdvertView(lambda kind, msg, sev="info", **f: events.append(dict(f, kind=kind, message=msg, severity=sev)),
                      want_mac=lambda *k: wanted.append(k))
    return view, events, wanted


def feed(view, src, prio, start, end, step=0.1, key=K4, ours=None, **kw):
    t = start
    while t <= end + 1e-9:
        view.observe(key, adv(src, prio, **kw), None, ours, round(t, 3))
        t += step


def splits(events):
    return [e for e in events if e.get("flag") == "split_brain"]


def test_a_handover_overlap_is_not_a_split_brain():
    view, events, _ = make()
    feed(view, B, 90, 0.0, 10.0)                   # B master for 10 s
    feed(view, C, 150, 10.05, 20.0)                # C preempts; B's last advert came before C's first
    view.observe(K4, adv(B, 90), None, None, 10.12)   # ... and one more crossing it on the wire
    view.tick(20.0)
    assert splits(events) == [] and view.snapshot(20.0)[0]["master"] == C


def test_we_step_down_without_an_alarm_but_two_masters_for_long_raise_one():
    view, events, _ = make()
    us = Us(since=0.0)
    feed(view, B, 90, 5.0, 5.9, ours=us)           # B claims the VRID for 0.9 s (< 1 s bound)
    assert splits(events) == []
    feed(view, B, 90, 6.0, 6.3, ours=us)           # ... 1.3 s now: that is no handover
    assert len(splits(events)) == 1 and "198.18.0.1 (here) and 198.18.0.2" in splits(events)[0]["message"]
    snap = view.snapshot(6.3)[0]
    assert snap["split_brain"]["sources"] == [A, B] and "split_brain" in {f["kind"] for f in snap["flags"]}
    # B stops; the alarm ends by silence (no packet says so): the tick notices
    view.tick(6.3 + advert_view.SILENT_AFTER * 0.1 + 0.01)
    over = [e for e in events if e.get("flag") == "split_brain_resolved"]
    assert len(over) == 1 and over[0]["severity"] == "info"
    assert view.snapshot(7.0)[0]["split_brain"] is None
    # the same pair later: a new alarm
    feed(view, B, 90, 20.0, 21.5, ours=us)
    assert len(splits(events)) == 2


def test_the_bound_scales_with_the_slower_interval():
    view, events, _ = make()
    feed(view, B, 90, 0.0, 3.5, step=1.0, interval=1.0)
    feed(view, C, 80, 0.0, 3.5, step=1.0, interval=1.0)
    assert splits(events) == []                    # 3 s of overlap at 1 s intervals: could still be a handover
    feed(view, B, 90, 4.0, 5.0, step=1.0, interval=1.0)
    feed(view, C, 80, 4.0, 5.0, step=1.0, interval=1.0)
    assert len(splits(events)) == 1                # 5 s > 4 intervals


def test_priority_zero_ends_a_run():
    view, events, _ = make()
    feed(view, B, 90, 0.0, 0.5)
    view.observe(K4, adv(B, 0), None, None, 0.6)   # B resigns
    feed(view, C, 80, 0.6, 3.0)
    feed(view, B, 90, 2.5, 3.0)                    # B back: its run starts again at 2.5
    assert splits(events) == []


def test_rejected_adverts_are_not_masters_and_are_listed_apart():
    view, events, wanted = make()
    us = Us(since=0.0)
    for k in range(200):
        t = k * 0.05
        src = f"198.18.1.{k % 100}"
        rej = packet.Reject(packet.RejectReason.TTL, "ttl 64 != 255", src, "224.0.0.18", 51, 3)
        view.observe(K4, adv(src, 200, ttl=64), rej, us, t)
    snap = view.snapshot(10.0)[0]
    assert snap["sources"] == [] and snap["master"] == A and snap["split_brain"] is None
    assert len(snap["rejected_sources"]) == advert_view.MAX_REJECTED
    assert {r["reason"] for r in snap["rejected_sources"]} == {"ttl"}
    assert [e["flag"] for e in events] == ["ttl"]             # one event, not one per forged source
    assert "(and 63 more sources)" in snap["flags"][0]["detail"]
    assert snap["rejected"] == {"ttl": 200}
    # who sends them is asked once per source, not per packet
    assert len(wanted) == 100 and wanted[0] == ("eth0", 4, "198.18.1.0")
    view.learn_mac("eth0", 4, "198.18.1.99", "02:00:00:00:00:63")
    r = {x["address"]: x for x in view.snapshot(10.0)[0]["rejected_sources"]}
    assert r["198.18.1.99"]["mac"] == "02:00:00:00:00:63"


def test_one_vrid_in_two_families_is_two_views():
    view, events, _ = make()
    v4 = Us(name="VI_4", since=None)
    v6 = Us(name="VI_6", source="fe80::1", since=None, ours=("2001:db8::199",))
    feed(view, B, 200, 0.0, 3.0, key=K4, ours=v4)
    feed(view, "fe80::2", 200, 0.0, 3.0, key=K6, ours=v6, vips=("2001:db8::199",))
    snaps = {(s["family"], s["vrid"]): s for s in view.snapshot(3.0)}
    assert snaps[(4, 51)]["instance"] == "VI_4" and snaps[(6, 51)]["instance"] == "VI_6"
    assert snaps[(4, 51)]["flags"] == [] and snaps[(6, 51)]["flags"] == [] and events == []
    # keyed by VRID alone, that was two masters announcing different VIPs
    merged, events2, _ = make()
    feed(merged, B, 200, 0.0, 3.0, key=K4, ours=v4)
    feed(merged, "fe80::2", 200, 0.0, 3.0, key=K4, ours=v4, vips=("2001:db8::199",))
    assert {e["flag"] for e in events2} == {"vip_mismatch", "split_brain"}


def test_a_new_master_is_asked_for_its_mac_once_per_run():
    view, _, wanted = make()
    feed(view, B, 90, 0.0, 2.0)
    assert wanted == [("eth0", 4, B)]
    view.learn_mac("eth0", 4, B, "02:00:00:00:00:02")
    feed(view, B, 90, 5.0, 6.0)                    # back after a short silence: not again so soon
    assert wanted == [("eth0", 4, B)]
    feed(view, B, 90, 15.0, 16.0)                  # back later: asked again (the address may be another box's)
    assert wanted == [("eth0", 4, B)] * 2
    assert view.snapshot(16.0)[0]["sources"][0]["mac"] == "02:00:00:00:00:02"
    assert view.mac_of("eth0", B) == "02:00:00:00:00:02"


def test_sources_are_bounded():
    view, _, _ = make()
    for k in range(advert_view.MAX_SOURCES + 10):
        view.observe(K4, adv(f"198.18.2.{k}", 50), None, None, float(k))
    srcs = view.snapshot(100.0)[0]["sources"]
    assert len(srcs) == advert_view.MAX_SOURCES and "198.18.2.0" not in {s["address"] for s in srcs}


def test_a_busy_mac_probe_is_asked_again_with_the_next_packet_a_failed_one_later():
    answers = []
    asked = []
    view = AdvertView(lambda *a, **k: None, want_mac=lambda *k: asked.append(k) or answers.pop(0))
    answers[:] = [False, True]                     # busy, then running
    view.observe(K4, adv(B, 90), None, None, 0.0)
    view.observe(K4, adv(B, 90), None, None, 0.1)
    view.observe(K4, adv(B, 90), None, None, 0.2)  # running: no third ask
    assert len(asked) == 2
    answers[:] = [None]                            # could not open one: not again before MAC_RETRY
    view.observe(K4, adv(C, 90), None, None, 0.3)
    view.observe(K4, adv(C, 90), None, None, 0.4)
    assert len(asked) == 3


def test_the_first_advert_of_each_run_is_in_the_history_to_the_millisecond():
    """A backup that takes over after silence: its first advert is the failover timeline's
    'first advert of the new master', even within a second of another point."""
    view, _events, _ = make()
    feed(view, B, 100, 0.0, 1.0)                    # B advertises, then goes silent
    feed(view, C, 90, 5.0, 5.0)                     # C's first advert
    feed(view, B, 100, 5.437, 5.437)                # B back, 0.437 s later: a new run
    (h,) = [x for x in view.snapshot(6.0)[0]["history"] if x[0] > 5.0 and x[1] == B]
    assert h == [5.437, B, 100]
