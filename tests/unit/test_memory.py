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
