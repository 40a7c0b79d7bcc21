"""Short pauses of the cyclic garbage collector while the console runs.

Textual keeps a reference cycle for nearly every line it draws (the
compositor's ``Strip.divide`` caches ``[strip]`` in the strip's own cache
when a line needs no cut), so at 255 VRIDs and 10 snapshots a second the
console makes thousands of cycles a second.  Python then runs a full
collection every second or two, and a full collection walks every object
alive: everything imported, the widget tree, the stylesheet (~65,000
objects); it took 30-50 ms, the longest pauses a key press met in
``benchmarks/console_responsiveness.py``.  Once the first snapshot is on
screen what exists then is frozen (``gc.freeze``), so later collections
walk only what came after it.  It is unfrozen when the console exits, so
an app started after it in the same process (the tests) leaves no
frozen cycle behind.
"""

from __future__ import annotations

import gc


class Collector:
    def __init__(self) -> None:
        self.frozen = False

    def settle(self) -> None:
        """Collect once, then keep what survived out of later collections."""
        if self.frozen:
            return
        gc.collect()
        gc.freeze()
        self.frozen = True

    def release(self) -> None:
        if self.frozen:
            gc.unfreeze()
            self.frozen = False
