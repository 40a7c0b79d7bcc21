"""An asyncio loop on a virtual clock: time jumps to the next timer instead of waiting.

For the engine's asyncio glue (drivers, the dispatch, the VIP chain, the
composition root) on fake sockets: ``asyncio.sleep(3.6)`` takes no time, and
``loop.time()`` is exact, so a test asserts RFC times to the microsecond.
Only for code that waits on timers and on its own coroutines: a real socket
or subprocess would never be waited for (nothing advances the clock for it).
"""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable


class VirtualLoop(asyncio.SelectorEventLoop):
    def __init__(self, start: float = 1000.0):
        super().__init__()
        self._virtual = start

    def time(self) -> float:
        return self._virtual

    def _run_once(self) -> None:
        if not self._ready:
            due = [h.when() for h in self._scheduled if not h.cancelled()]
            if due and min(due) > self._virtual:
                self._virtual = min(due)       # nothing to do until then: go there
        super()._run_once()


def run(main: Callable[[], Awaitable[Any]], start: float = 1000.0) -> Any:
    """Run ``main()`` to completion on a fresh virtual loop."""
    loop = VirtualLoop(start)
    try:
        return loop.run_until_complete(main())
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
