"""Every change an operator can ask for, in one table.

The app's key bindings, the IPVS screen's keys, the command palette and the
help screen are all made from ``CHANGES``, so a change cannot have a key and
no palette entry, or a palette entry and no help line.  Each row says what
the change acts on (``target``): the node, the instance under the cursor of
the visible screen, or the real server under the cursor of the IPVS screen;
and whether it is node-wide, which makes its confirmation focus Cancel.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

from vipdeck.console import actions
from vipdeck.console.actions import ChangePlan
from vipdeck.console.derive import SnapView

NODE, INSTANCE, REAL_SERVER = "node", "instance", "rs"
# the changes whose preview names who takes over, from the peers too
PEER_AWARE = frozenset({"drain", "failover", "takeover"})


@dataclass(frozen=True)
class Change:
    name: str                       # the app's action: change('<name>')
    key: str | None                 # None: palette only
    label: str                      # the key bar
    command: str                    # the palette entry
    help: str                       # the palette's help and the help screen's line
    target: str                     # NODE, INSTANCE or REAL_SERVER
    plan: Callable[..., ChangePlan]  # (sv) for the node, (sv, selection) otherwise
    group: str                      # the help screen's group
    node_wide: bool = False         # the confirmation focuses Cancel
    on_bar: bool = True             # on the app's key bar (the IPVS keys: on screen 4 only)

    def build(self, sv: SnapView, selection: Any = None, peers: Sequence = ()) -> ChangePlan:
        """``peers``: the ``PeerView``s of the other nodes (the previews that say
        who takes over read them; the rest ignore them)."""
        if self.name in PEER_AWARE:
            return self.plan(sv, peers=peers) if self.target == NODE else self.plan(sv, selection, peers=peers)
        return self.plan(sv) if self.target == NODE else self.plan(sv, selection)


CHANGES: tuple[Change, ...] = (
    Change("drain", "d", "Drain", "Drain node",
           "drain this node: every master resigns (priority-0 advert); it elects with priority 1 until undrained",
           NODE, actions.plan_drain, "Node", node_wide=True),
    Change("undrain", "u", "Undrain", "Undrain node", "undrain: back to normal election",
           NODE, actions.plan_undrain, "Node", node_wide=True),
    Change("reload", None, "Reload", "Reload configuration",
           "ask the engine to re-read its configuration (palette only)",
           NODE, actions.plan_reload, "Node", node_wide=True),
    Change("failover", "f", "Failover", "Fail over selected instance",
           "fail over the selected MASTER instance (optional hold seconds)",
           INSTANCE, actions.plan_failover, "Instance"),
    Change("takeover", "t", "Takeover", "Take over selected instance", "take over the selected BACKUP instance",
           INSTANCE, actions.plan_takeover, "Instance"),
    Change("clear_hold", "c", "Clear hold", "Clear hold / release takeover",
           "clear the selected instance's hold or takeover", INSTANCE, actions.plan_clear, "Instance"),
    Change("set_weight", "w", "Weight", "Set real server weight",
           "set the selected real server's weight (an override, shown as 3 (cfg 1))",
           REAL_SERVER, actions.plan_weight, "IPVS (4)", on_bar=False),
    Change("clear_weight", "W", "Clear weight", "Clear real server weight override",
           "clear the selected real server's weight override", REAL_SERVER, actions.plan_clear_weight,
           "IPVS (4)", on_bar=False),
    Change("rs_drain", "r", "RS drain", "Drain real server",
           "drain the selected real server (weight 0: DRAINING until idle, then DRAINED)",
           REAL_SERVER, actions.plan_rs_drain, "IPVS (4)", on_bar=False),
    Change("rs_undrain", "R", "RS undrain", "Undrain real server", "undrain the selected real server",
           REAL_SERVER, actions.plan_rs_undrain, "IPVS (4)", on_bar=False),
)

BY_NAME: dict[str, Change] = {c.name: c for c in CHANGES}

# the requests that change kernel IPVS (their reply cannot say whether the kernel took them)
IPVS_OPS = frozenset({"weight", "rs_drain", "rs_undrain"})
