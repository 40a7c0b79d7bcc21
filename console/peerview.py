"""What the console knows about another node over its control connection.

The seam between the cluster view (which keeps one connection per node and
fills these) and everything that reasons about the pair (drain, failover and
takeover previews, the per-VRID cluster rows, the failover timeline), which
reads them.  A node seen only on the wire has no PeerView: its adverts are in
our own snapshot's advert view.  Plain data, no Textual: the command line's
previews use it too.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PeerView:
    """One other node as its own daemon describes it.

    ``snapshot`` is that daemon's latest snapshot (the control schema's
    Snapshot, None before the first one arrived); ``heard_age`` is how many
    seconds ago the console last heard from it over the control connection
    (None: never); ``reachable`` is False while the connection is down (the
    snapshot is then the last one received, and stale); ``address`` is what
    the operator typed (a socket path or ssh://...), for messages.
    """

    name: str
    address: str
    snapshot: dict | None
    heard_age: float | None
    reachable: bool

    def stale(self, limit: float) -> bool:
        """Not to be trusted as a successor: down, never heard, or silent for
        longer than ``limit`` seconds (callers pass 3 advert intervals)."""
        return not self.reachable or self.snapshot is None or self.heard_age is None or self.heard_age > limit
