"""engine.memory.give_back: what the engine calls after a burst of work (issue 13)."""

from __future__ import annotations

import gc
import weakref

from vipdeck.engine import memory


def test_give_back_frees_garbage_in_reference_cycles():
    """pyroute2's request objects are such cycles: only the cyclic collector frees them."""

    class Node:
        pass

    a, b = Node(), Node()
    a.other, b.other = b, a
    gone = weakref.ref(a)
    del a, b
    gc.disable()        # the collector must not run on its own in between
    try:
        assert gone() is not None
        assert memory.give_back() >= 2
        assert gone() is None
    finally:
        gc.enable()


def test_settle_freezes_what_survived_and_a_later_give_back_walks_only_the_new():
    class Node:
        pass

    gc.unfreeze()
    try:
        old = [Node() for _ in range(1000)]
        memory.settle()
        frozen = gc.get_freeze_count()
        assert frozen >= 1000
        a, b = Node(), Node()
        a.other, b.other = b, a
        gone = weakref.ref(a)
        del a, b
        gc.disable()
        try:
            assert memory.give_back() >= 2 and gone() is None
        finally:
            gc.enable()
        assert gc.get_freeze_count() == frozen        # give_back leaves the frozen part alone
        # a settle (reload) thaws, collects everything and freezes again
        x, y = old[0], old[1]
        x.other, y.other = y, x
        gone = weakref.ref(x)
        del old, x, y
        memory.settle()
        assert gone() is None
    finally:
        gc.unfreeze()
