"""console/collector.py on a fake clock: full collections run only when nobody
has typed for QUIET seconds and the last one is EVERY seconds old, or after
LONGEST whatever happens; everything is put back on release."""

import gc

import pytest

from vipdeck.console import collector
from vipdeck.console.collector import Collector


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def restore_gc():
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_nothing_runs_before_settle_and_settle_makes_full_collections_rare(restore_gc):
    clock = Clock()
    c = Collector(clock)
    clock.t += collector.LONGEST + 1
    assert c.idle() is False and c.full_collections == 0       # not frozen yet: the collector's own rules
    t0, t1, _ = gc.get_threshold()
    c.settle()
    assert gc.get_freeze_count() > 0 and gc.get_threshold() == (t0, t1, collector.RARE)
    c.release()
    assert gc.get_freeze_count() == 0 and gc.get_threshold()[2] != collector.RARE


def test_a_full_collection_waits_for_a_quiet_moment_but_never_longer_than_longest(restore_gc):
    clock = Clock()
    c = Collector(clock)
    c.settle()
    clock.t += collector.EVERY - 1
    assert not c.idle()                              # too soon after the last one
    clock.t += 2
    c.key()                                          # somebody is typing
    assert not c.idle()
    clock.t += collector.QUIET - 0.5
    assert not c.idle()
    clock.t += 1                                     # quiet for QUIET seconds now
    assert c.idle() and c.full_collections == 1
    assert not c.idle()                              # and not again at once
    # typing all the time: still one every LONGEST seconds
    for _ in range(int(collector.LONGEST) - 1):
        clock.t += 1
        c.key()
        assert not c.idle()
    clock.t += 1
    c.key()
    assert c.idle() and c.full_collections == 2
    c.release()


def test_a_cycle_made_after_settle_is_collected_by_idle(restore_gc):
    import weakref

    class Node:
        pass

    clock = Clock()
    c = Collector(clock)
    c.settle()
    gc.disable()                  # only idle() may collect it here
    try:
        a, b = Node(), Node()
        a.b, b.a = b, a
        gc.collect(0)             # promote it out of the young generations ...
        gc.collect(1)
        ref = weakref.ref(a)
        del a, b
        clock.t += collector.EVERY + collector.QUIET
        assert ref() is not None  # ... a garbage cycle in the old generation
        assert c.idle()
        assert ref() is None
    finally:
        gc.enable()
        c.release()
