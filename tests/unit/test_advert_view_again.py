"""``AdvertView.observe_again`` (the backup fast path's view update) must leave
the view exactly as ``observe`` would: two views hear the same random wire (a
few sources, each resending one of a few advert objects, gaps long and short,
rejects, priority 0, our side master or not), one always through ``observe``,
the other through ``observe_again`` whenever the dispatch would call it (the
same advert object as the one last handed in for that source); snapshots and
events must be equal after every packet."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st

from vipdeck.engine.advert_view import AdvertView
from vipdeck.engine.vrrp import packet

SOURCES = ("198.18.0.2", "198.18.0.3", "198.18.0.4")
KEY = ("eth0", 4, 51)


class Us:
    name, source = "VI_1", "198.18.0.1"

    def __init__(self):
        self.master = None

    def master_since(self):
        return self.master

    def priority(self):
        return 100

    def interval(self):
        return 0.1

    def vips(self):
        return ("198.18.0.199",)


# per source: a few advert objects (same object again = a repeat)
ADVERTS = {s: [packet.Advert(3, 51, p, iv, vips, src=s, dst="224.0.0.18", ttl=255)
               for p, iv, vips in ((200, 0.1, ("198.18.0.199",)), (150, 0.1, ("198.18.0.199",)),
                                   (0, 0.1, ("198.18.0.199",)), (150, 1.0, ("198.18.0.9",)))]
           for s in SOURCES}

step = st.tuples(st.sampled_from([0.0, 0.01, 0.1, 0.3, 1.2, 5.0]), st.sampled_from(SOURCES),
                 st.integers(0, 3), st.sampled_from(["ok", "ok", "ok", "reject", "master", "not_master"]))


@settings(max_examples=300, deadline=None)
@given(st.lists(step, min_size=1, max_size=60))
def test_observe_again_is_observe_for_a_repeated_advert(steps):
    runs = []
    for use_again in (False, True):
        events, asked = [], []
        view = AdvertView(lambda *a, **k: events.append((a, k)), want_mac=lambda *a: asked.append(a))
        us = Us()
        now, last, states = 1_700_000_000.0, {}, []
        for dt, src, k, what in steps:
            now += dt
            a = ADVERTS[src][k]
            if what == "master":
                us.master = now
            elif what == "not_master":
                us.master = None
            if what == "reject":
                view.observe(KEY, a, packet.Reject(packet.RejectReason.TTL, "ttl 64 != 255", src, a.dst, 51, 3),
                             us, now)
            elif use_again and last.get(src) is a:
                view.observe_again(KEY, a, us, now)
            else:
                view.observe(KEY, a, None, us, now)
            if what != "reject":
                last[src] = a
            if len(steps) % 3 == 0 and what == "master":
                view.learn_mac("eth0", 4, src, "02:00:00:00:00:01")
            states.append((view.snapshot(now), list(events), list(asked)))
        runs.append(states)
    assert runs[0] == runs[1]
