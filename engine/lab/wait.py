"""Waiting on a condition with a deadline (never a bare sleep)."""

from __future__ import annotations

import time
from typing import Callable, TypeVar

T = TypeVar("T")


class Timeout(AssertionError):
    pass


def wait_until(predicate: Callable[[], T], timeout: float = 10.0, interval: float = 0.02,
               what: str | None = None) -> T:
    """Poll ``predicate`` until it returns a truthy value; return that value.

    Raises ``Timeout`` (an AssertionError, so pytest shows it as a failed
    expectation) naming ``what`` when the deadline passes.
    """
    deadline = time.monotonic() + timeout
    last_exc: Exception | None = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # keep polling; report the last error
            last_exc = exc
        if time.monotonic() >= deadline:
            desc = what or getattr(predicate, "__name__", "condition")
            extra = f" (last error: {last_exc!r})" if last_exc else ""
            raise Timeout(f"timed out after {timeout:.1f}s waiting for {desc}{extra}")
        time.sleep(interval)


async def async_wait_until(predicate: Callable[[], T], timeout: float = 10.0,
                           interval: float = 0.02, what: str | None = None) -> T:
    import asyncio

    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise Timeout(f"timed out after {timeout:.1f}s waiting for {what or 'condition'}")
        await asyncio.sleep(interval)
