"""Waking the event loop on time for a master's advert deadline.

asyncio's selector loop sleeps in ``epoll_wait`` with a timeout in whole
milliseconds, rounded up, so a timer fires between 0 and 1 ms late (and on a
loaded machine the lost part of a millisecond is where a wake-up loses its
turn): a vipdeck master's median interval error was ~0.5 ms where
keepalived, which sleeps on a timerfd, stays near 0.1 ms.  So one timerfd
per loop is armed (absolute, CLOCK_MONOTONIC, the clock ``loop.time()``
reads) for the earliest deadline when it is a master's (engine/vrrp/deadlines.py
keeps the order and says when); it becomes readable at that instant, and the
loop, awake, runs the asyncio timer that is due.  The callbacks stay asyncio's; this only
ends the sleep.

Only for a loop whose ``time()`` is asyncio's own (time.monotonic); a loop
on a virtual clock (tests) gets ``None`` and keeps plain timers.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
import os
import weakref

log = logging.getLogger(__name__)

CLOCK_MONOTONIC = 1
TFD_NONBLOCK = os.O_NONBLOCK
TFD_CLOEXEC = os.O_CLOEXEC
TFD_TIMER_ABSTIME = 1


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


_libc = None


def _lib():
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        _libc.timerfd_create.argtypes = [ctypes.c_int, ctypes.c_int]
        _libc.timerfd_settime.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.POINTER(_Itimerspec),
                                          ctypes.c_void_p]
    return _libc


class Wakeup:
    """One timerfd on one loop: ``at(when)`` makes sure the loop is awake at ``when``."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        lib = _lib()
        fd = lib.timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)
        if fd < 0:
            raise OSError(ctypes.get_errno(), "timerfd_create")
        self.fd = fd
        self.loop = loop
        self._armed: float | None = None
        self._spec = _Itimerspec()
        self._ref = ctypes.byref(self._spec)
        self._settime = lib.timerfd_settime
        loop.add_reader(fd, self._fired)
        weakref.finalize(self, os.close, fd)

    def at(self, when: float) -> None:
        """Be awake at ``when`` (the earliest precise deadline: the caller keeps the order)."""
        if when != self._armed:
            self._set(when)

    def _set(self, when: float) -> None:
        sec = int(when)
        self._spec.it_value.tv_sec = sec
        self._spec.it_value.tv_nsec = max(1, int((when - sec) * 1e9))     # 0/0 would disarm it
        if self._settime(self.fd, TFD_TIMER_ABSTIME, self._ref, None) != 0:
            log.debug("timerfd_settime: errno %d", ctypes.get_errno())
            self._armed = None
            return
        self._armed = when

    def _fired(self) -> None:
        try:
            os.read(self.fd, 8)
        except (BlockingIOError, InterruptedError):
            return
        self._armed = None

    def close(self) -> None:
        try:
            self.loop.remove_reader(self.fd)
        except Exception:
            pass


_BY_LOOP: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Wakeup | None]" = weakref.WeakKeyDictionary()


def for_loop(loop: asyncio.AbstractEventLoop) -> Wakeup | None:
    """The loop's Wakeup (made on first use), or None where it does not apply."""
    try:
        return _BY_LOOP[loop]
    except KeyError:
        pass
    w = None
    if getattr(type(loop), "time", None) is asyncio.BaseEventLoop.time and hasattr(loop, "add_reader"):
        try:
            w = Wakeup(loop)
        except (OSError, AttributeError, NotImplementedError) as exc:
            log.debug("no timerfd wake-ups: %s", exc)
    _BY_LOOP[loop] = w
    return w
