"""What one health check run returns (sans-IO: the decisions in ``realserver``
and ``quorum`` read it; the checks in ``result``'s environment make it)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CheckResult:
    """Outcome of one check run.

    ``weight`` is the absolute weight a MISC_CHECK with ``misc_dynamic`` asked
    for (exit status - 2); ``weight_delta`` is what a dynamic FILE_CHECK adds
    to the real server's configured weight.  ``unsupported`` marks checker
    kinds vipdeck cannot run (BFD_CHECK): they take no part in up/down.
    """

    ok: bool
    latency: float
    error: str | None = None
    weight: int | None = None
    weight_delta: int | None = None
    unsupported: bool = False
