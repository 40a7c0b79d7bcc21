"""Giving memory back after a burst of work (issue 13).

A daemon's resident memory is set by its peaks: 255 instances becoming
master at once add 255 VIPs, and pyroute2 leaves each request's objects in
reference cycles that only the cyclic collector frees, which runs rarely
once the start-up objects fill its oldest generation.  Freed memory stays
in the C heap unless it is handed back.  So after such a burst (start-up,
a reload, a mass failover) the engine collects the cycles and asks glibc to
return free heap pages (``malloc_trim(0)``; a libc without it is skipped).
Measured on a 255-instance master: 0.7-1.5 MB of resident memory.

A full collection walks every object (10-30 ms for a 255-instance daemon),
and the event loop waits meanwhile: run 1 s after a mass failover, it could
land on another instance's master-down deadline (a crash takeover came 25 ms
late in one of 20 in benchmarks/failover.py).  So once start-up is done,
what survived it is frozen (``gc.freeze``: the collector never walks it
again) and a later ``give_back`` walks only what was made since (about
0.1 ms); a reload, which replaces the configuration, thaws everything,
collects in full and freezes again (``settle``).
"""

from __future__ import annotations

import ctypes
import gc
import logging

log = logging.getLogger("vipdeck.memory")

_trim = None           # libc's malloc_trim, False where there is none


def settle() -> int:
    """After start-up or a reload: collect everything, then freeze what is left."""
    gc.unfreeze()
    found = give_back()
    gc.freeze()
    return found


def give_back() -> int:
    """Collect cyclic garbage, then return free heap pages; the number of
    objects the collector found unreachable."""
    global _trim
    found = gc.collect()
    if _trim is None:
        try:
            _trim = ctypes.CDLL(None).malloc_trim
            _trim.argtypes = [ctypes.c_size_t]
            _trim.restype = ctypes.c_int
        except (OSError, AttributeError):     # not glibc
            _trim = False
    if _trim:
        _trim(0)
    log.debug("memory given back (%d unreachable objects collected)", found)
    return found
