"""Per-checker and per-real-server health state, without any I/O.

The rules are keepalived's (check_api.c / ipwrapper.c), stated once here:

* A checker is UP or DOWN.  It starts UP, or DOWN when ``alpha`` is set.
* A failure of an UP checker is retried ``retry`` times, ``delay_before_retry``
  apart; only the (retry+1)-th consecutive failure makes it DOWN.  A success
  in between resets the count.  A DOWN checker is not retried.
* A DOWN checker becomes UP on its first success (no "rise" count; this is
  what keepalived does).
* A real server is alive when all its (supported) checkers are UP; with no
  checkers it is always alive.  Unsupported checkers (BFD_CHECK) are ignored.
* Its weight is the configured weight plus what dynamic checkers add:
  a MISC_CHECK with misc_dynamic moves it to (exit status - 2), a dynamic
  FILE_CHECK adds value × weight.  Clamped to 0..65535 (ipvsadm's range).

``alive`` and ``weight`` are kept apart on purpose: whether and at which
weight the server goes into IPVS is decided per virtual server (quorum,
sorry server, inhibit_on_failure, and later operator overrides).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from vipdeck.engine.config.model import Checker, FileCheck, MiscCheck, RealServer
from vipdeck.engine.check.outcome import CheckResult

WEIGHT_MAX = 65535


@dataclass
class CheckerState:
    checker: Checker
    label: str                      # "HTTP_GET", or "HTTP_GET#2" when repeated
    up: bool
    unsupported: bool = False
    has_run: bool = False
    failures: int = 0               # consecutive failed runs
    runs: int = 0
    total_failures: int = 0
    last: CheckResult | None = None
    last_time: float | None = None  # unix time of the last result
    dyn_weight: int | None = None   # MISC_CHECK misc_dynamic: absolute weight
    delta: int = 0                  # FILE_CHECK dynamic: added weight

    @property
    def retry(self) -> int:
        # a file's value is known exactly: nothing to retry
        return 0 if isinstance(self.checker, FileCheck) else max(0, self.checker.retry)

    def record(self, result: CheckResult, now: float) -> float:
        """Account one result taken at ``now`` (unix time); returns the delay before the next run."""
        self.runs += 1
        self.has_run = True
        self.last = result
        self.last_time = now
        c = self.checker
        if result.ok:
            self.failures = 0
            self.up = True
            if result.weight is not None:
                self.dyn_weight = result.weight
            if result.weight_delta is not None:
                self.delta = result.weight_delta
            return c.delay_loop
        self.failures += 1
        self.total_failures += 1
        if self.up and self.failures <= self.retry:
            return c.delay_before_retry
        self.up = False
        return c.delay_loop

    def snapshot(self) -> dict:
        r = self.last
        return {
            "kind": self.checker.kind, "label": self.label,
            "state": "unsupported" if self.unsupported else ("up" if self.up else "down"),
            "ok": None if r is None else r.ok,
            "latency": None if r is None else round(r.latency, 6),
            "error": None if r is None else r.error,
            "failures": self.failures, "runs": self.runs, "total_failures": self.total_failures,
            "last_check": self.last_time,
        }


def _labels(checkers: tuple[Checker, ...]) -> list[str]:
    counts: dict[str, int] = {}
    for c in checkers:
        counts[c.kind] = counts.get(c.kind, 0) + 1
    seen: dict[str, int] = {}
    out = []
    for c in checkers:
        seen[c.kind] = seen.get(c.kind, 0) + 1
        out.append(c.kind if counts[c.kind] == 1 else f"{c.kind}#{seen[c.kind]}")
    return out


@dataclass
class RealServerState:
    config: RealServer
    port: int                       # resolved: the rs port, else the vs port, else 0
    checkers: list[CheckerState] = field(default_factory=list)
    alive: bool = True
    ever_notified: bool = False     # a notify_up/down has run for this server

    @classmethod
    def build(cls, rs: RealServer, vs_port: int | None, supported: set[str],
              initial: dict[int, bool] | None = None) -> "RealServerState":
        """``initial`` overrides the starting UP/DOWN of some checkers (FILE_CHECK)."""
        states = []
        for i, (c, label) in enumerate(zip(rs.checkers, _labels(rs.checkers))):
            unsupported = c.kind not in supported
            up = (initial or {}).get(i, not c.alpha)
            states.append(CheckerState(c, label, up=up or unsupported, unsupported=unsupported))
        port = rs.port if rs.port is not None else (vs_port or 0)
        self = cls(rs, port, states)
        self.alive = self.compute_alive()
        return self

    @property
    def key(self) -> str:
        return str(self.config)

    @property
    def state(self) -> str:
        return "UP" if self.alive else "DOWN"

    @property
    def inhibit(self) -> bool:
        return self.config.inhibit_on_failure

    def compute_alive(self) -> bool:
        return all(c.up for c in self.checkers if not c.unsupported)

    def update_alive(self) -> bool | None:
        """Re-derive ``alive``; returns the new value when it changed."""
        alive = self.compute_alive()
        if alive == self.alive:
            return None
        self.alive = alive
        return alive

    @property
    def weight(self) -> int:
        """Weight to use while alive: configured weight plus dynamic checkers."""
        base = self.config.weight
        total = base
        for c in self.checkers:
            if isinstance(c.checker, MiscCheck) and c.checker.misc_dynamic and c.dyn_weight is not None:
                total += c.dyn_weight - base
            elif isinstance(c.checker, FileCheck):
                total += c.delta
        return max(0, min(WEIGHT_MAX, total))

    @property
    def failures(self) -> int:
        return max((c.failures for c in self.checkers), default=0)

    @property
    def error(self) -> str | None:
        """The reason to show: from a DOWN checker first, else the latest failure."""
        for c in self.checkers:
            if not c.unsupported and not c.up and c.last is not None and c.last.error:
                return f"{c.label}: {c.last.error}"
        for c in self.checkers:
            if not c.unsupported and c.last is not None and not c.last.ok and c.last.error:
                return f"{c.label}: {c.last.error}"
        return None

    @property
    def last_result(self) -> CheckResult | None:
        done = [c for c in self.checkers if c.last is not None and c.last_time is not None]
        return max(done, key=lambda c: c.last_time).last if done else None  # type: ignore[arg-type]

    @property
    def latency(self) -> float | None:
        r = self.last_result
        return None if r is None else r.latency
