"""Per-virtual-server quorum, sorry server and desired destinations, no I/O.

keepalived's rules (ipwrapper.c), which vipdeck follows:

* weight_sum = sum of the weights of alive real servers.
* Quorum is gained when it was down and weight_sum >= quorum + hysteresis;
  it is lost when it was up and weight_sum == 0 or < quorum - hysteresis.
* At start the state is "up" iff weight_sum >= quorum + hysteresis.  Nothing
  is announced for a start with quorum up; a start with quorum down is
  announced (quorum_down runs) only when a sorry server is configured,
  because that is when the pool changes (the sorry server goes in).
* While quorum is down and a sorry server is configured, the sorry server
  is the only destination taking traffic: alive real servers are taken out
  (weight 0 instead when inhibit_on_failure).  When quorum comes back the
  sorry server goes out (weight 0 when sorry_server_inhibit) and the alive
  real servers go back in.
* A DOWN real server is absent, or present with weight 0 when
  inhibit_on_failure is set.
"""

from __future__ import annotations

from dataclasses import dataclass

from vipdeck.engine.config.model import Forward, VirtualServer
from vipdeck.engine.check.realserver import RealServerState

SORRY_WEIGHT = 1


@dataclass(frozen=True)
class Destination:
    """One desired IPVS destination of a virtual server."""

    address: str
    port: int
    weight: int
    forward: Forward
    sorry: bool = False
    alive: bool = True

    @property
    def key(self) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{host}:{self.port}"


@dataclass(frozen=True)
class QuorumChange:
    """What just happened to a virtual server; the runner turns it into
    scripts and events."""

    up: bool
    init: bool
    weight_sum: int
    threshold: int
    sorry_in: bool = False          # the sorry server was put in
    sorry_out: bool = False         # the sorry server was taken out


class VirtualServerState:
    def __init__(self, config: VirtualServer, reals: list[RealServerState], key: str | None = None):
        self.config = config
        self.reals = reals
        self.key = key or config.key
        self.quorum_up = True
        self.sorry_active = False

    def real(self, key: str) -> RealServerState | None:
        return next((r for r in self.reals if r.key == key), None)

    def weight_sum(self) -> int:
        return sum(r.weight for r in self.reals if r.alive)

    def initialise(self) -> QuorumChange | None:
        vs = self.config
        self.quorum_up = self.weight_sum() >= vs.quorum + vs.hysteresis
        return self.update(init=True)

    def update(self, init: bool = False) -> QuorumChange | None:
        vs = self.config
        total = self.weight_sum()
        threshold = vs.quorum + (-1 if self.quorum_up else 1) * vs.hysteresis
        if not self.quorum_up and total >= threshold:
            self.quorum_up = True
            out = self.sorry_active
            self.sorry_active = False
            return QuorumChange(True, init, total, threshold, sorry_out=out)
        lost = self.quorum_up and (total == 0 or total < threshold)
        start_down = init and not self.quorum_up and vs.sorry_server is not None and not self.sorry_active
        if lost or start_down:
            self.quorum_up = False
            sorry_in = vs.sorry_server is not None and not self.sorry_active
            if sorry_in:
                self.sorry_active = True
            return QuorumChange(False, init, total, threshold, sorry_in=sorry_in)
        return None

    def destinations(self) -> tuple[Destination, ...]:
        """The desired pool, ordered as configured (sorry server last)."""
        out: dict[tuple[str, int], Destination] = {}
        for r in self.reals:
            if r.alive and not self.sorry_active:
                weight = r.weight
            elif r.inhibit:
                weight = 0
            else:
                continue
            out[(r.config.address, r.port)] = Destination(
                r.config.address, r.port, weight, r.config.forward, alive=r.alive)
        s = self.config.sorry_server
        if s is not None:
            port = s.port if s.port is not None else (self.config.port or 0)
            if self.sorry_active:
                out[(s.address, port)] = Destination(s.address, port, SORRY_WEIGHT, s.forward, sorry=True)
            elif s.inhibit and (s.address, port) not in out:
                out[(s.address, port)] = Destination(s.address, port, 0, s.forward, sorry=True, alive=False)
        return tuple(out.values())
