"""The cluster view's comparison: every node's word on every VRID, side by side.

A backup is silent on the wire while the master lives, and during a full
cut of the VRRP link each side sees only itself: only the nodes' own
daemons, asked over their control connections, can say who believes what.
This module lines their snapshots up per VRID (one ``ClusterRow``: each
node's state, effective priority, whether its kernel holds the VIPs, the
master it believes in, when it was last heard) and flags what cannot all
be true at once:

* ``split_brain``: two reachable nodes MASTER for one VRID;
* ``unconfirmed_master``: a node believes in a master (by address) that is
  one of the connected nodes, and that node does not say it is MASTER;
* ``vip_not_master``: a VIP of the VRID in the kernel of a node that is not
  its master (from that node's own interface addresses);
* ``vips_missing``: a MASTER whose kernel lacks some of the VRID's VIPs;
* ``unreachable``: a node whose control connection is down or stale (what
  is shown of it is its last snapshot).

Pure: PeerViews in, rows out (no Textual, no rich, no clock: ages are the
callers').  The first node passed is the one the console is attached to.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from vipdeck.console.derive import strip_prefix
from vipdeck.console.peerview import PeerView

SPLIT_BRAIN = "split_brain"
UNCONFIRMED = "unconfirmed_master"
VIP_NOT_MASTER = "vip_not_master"
VIPS_MISSING = "vips_missing"
UNREACHABLE = "unreachable"

# how long a node may stay silent on its control connection before its word is doubted
DEFAULT_STALE_AFTER = 3.0


@dataclass(frozen=True)
class NodeCell:
    """One node's word on one VRID (``present`` False: it has no instance for it)."""

    node: str
    present: bool
    instance: str | None = None
    state: str | None = None
    priority: int | None = None
    vips: tuple[str, ...] = ()
    vips_held: tuple[str, ...] = ()      # those of ``vips`` in this node's kernel
    master: str | None = None            # the master it believes in: an address, or None
    master_node: str | None = None       # that address's node, when it is a connected one
    # left out of equality: a row is redrawn when what the nodes say changes, not as time passes
    heard_age: float | None = field(default=None, compare=False)
    reachable: bool = True

    @property
    def is_master(self) -> bool:
        return self.state == "MASTER"


@dataclass(frozen=True)
class Flag:
    kind: str
    nodes: tuple[str, ...]
    detail: str


@dataclass(frozen=True)
class ClusterRow:
    key: str                     # "IPv4 VRID 51": family and VRID, the same on every node
    vrid: int
    family: int
    names: tuple[str, ...]       # the instance names the nodes use (usually one)
    cells: tuple[NodeCell, ...]  # one per node, in the nodes' order
    flags: tuple[Flag, ...] = field(default=())

    @property
    def masters(self) -> tuple[str, ...]:
        return tuple(c.node for c in self.cells if c.present and c.reachable and c.is_master)


def node_names(nodes: Sequence[PeerView]) -> list[str]:
    """Names to show: each node's own, made unique: two boxes both called
    ``vm`` are told apart by their router_id, else by the address the
    console reaches them at."""
    names = [n.name for n in nodes]
    rids = [str(((n.snapshot or {}).get("node") or {}).get("router_id") or "") for n in nodes]
    out = []
    for n, name, rid in zip(nodes, names, rids):
        if names.count(name) < 2:
            out.append(name)
        elif rid and rids.count(rid) < 2:
            out.append(rid)
        else:
            out.append(f"{name} ({n.address})")
    return out


def node_addresses(snapshot: dict | None) -> frozenset[str]:
    """Every address in a node's kernel, from its snapshot (prefixes dropped)."""
    out: set[str] = set()
    for itf in ((snapshot or {}).get("node") or {}).get("interfaces") or []:
        for a in itf.get("addresses") or []:
            out.add(strip_prefix(str(a)))
    return frozenset(out)


def _own_addresses(snapshot: dict | None) -> frozenset[str]:
    """The addresses that identify a node as an advert source: its interface
    addresses minus the VIPs it may hold (a VIP moves; a source does not)."""
    vips = {strip_prefix(str(v.get("address"))) for i in (snapshot or {}).get("instances") or []
            for v in i.get("vips") or []}
    wire = {str((i.get("wire") or {}).get("source")) for i in (snapshot or {}).get("instances") or []
            if (i.get("wire") or {}).get("source")}
    return frozenset((node_addresses(snapshot) - vips) | wire)


def row_key(family: int, vrid: int) -> str:
    return f"IPv{family} VRID {vrid}"


def _cell(name: str, node: PeerView, inst: dict | None, kernel: frozenset[str],
          owners: dict[str, str], reachable: bool) -> NodeCell:
    if inst is None:
        return NodeCell(name, False, heard_age=node.heard_age, reachable=reachable)
    vips = tuple(strip_prefix(str(v.get("address"))) for v in inst.get("vips") or [] if not v.get("excluded"))
    if kernel:
        held = tuple(v for v in vips if v in kernel)
    else:   # a daemon that does not list its interfaces: its own word per VIP
        held = tuple(strip_prefix(str(v.get("address"))) for v in inst.get("vips") or []
                     if v.get("present") and not v.get("excluded"))
    state = inst.get("state")
    if state == "MASTER":
        master = None
        master_node = name
    else:
        master = (inst.get("master") or {}).get("address")
        master_node = owners.get(strip_prefix(master)) if master else None
    return NodeCell(name, True, inst.get("name"), state, inst.get("effective_priority"), vips, held,
                    master, master_node, node.heard_age, reachable)


def cluster_rows(nodes: Sequence[PeerView], *, stale_after: float = DEFAULT_STALE_AFTER) -> list[ClusterRow]:
    """One row per (family, VRID) any node runs, ordered by VRID; the cells
    follow ``nodes``' order (the attached node first)."""
    names = node_names(nodes)
    owners: dict[str, str] = {}
    for name, n in zip(names, nodes):
        for a in _own_addresses(n.snapshot):
            owners.setdefault(a, name)
    kernels = [node_addresses(n.snapshot) for n in nodes]
    reachable = [not n.stale(stale_after) for n in nodes]
    by_key: dict[tuple[int, int], list[dict | None]] = {}
    for k, n in enumerate(nodes):
        for inst in (n.snapshot or {}).get("instances") or []:
            key = (int(inst.get("family") or 4), int(inst.get("vrid") or 0))
            slot = by_key.setdefault(key, [None] * len(nodes))
            if slot[k] is None:      # one instance per node and VRID (a second one on another link: not compared)
                slot[k] = inst
    rows = []
    for (family, vrid) in sorted(by_key, key=lambda fv: (fv[1], fv[0])):
        insts = by_key[(family, vrid)]
        cells = tuple(_cell(names[k], nodes[k], insts[k], kernels[k], owners, reachable[k])
                      for k in range(len(nodes)))
        inst_names = tuple(dict.fromkeys(c.instance for c in cells if c.instance))
        rows.append(ClusterRow(row_key(family, vrid), vrid, family, inst_names, cells,
                               tuple(compare(cells, vrid))))
    return rows


def _instances_by_key(snapshot: dict | None) -> dict[tuple[int, int], dict]:
    """A node's instances by (family, VRID): the first of each (as ``cluster_rows``)."""
    out: dict[tuple[int, int], dict] = {}
    for inst in (snapshot or {}).get("instances") or []:
        out.setdefault((int(inst.get("family") or 4), int(inst.get("vrid") or 0)), inst)
    return out


def _cell_input(inst: dict, kernel: frozenset[str]) -> tuple:
    """Everything of one instance that ``_cell`` reads (its kernel's part as
    membership per VIP; the owners map is compared once per node set)."""
    vips = tuple((v.get("address"), v.get("present"), v.get("excluded"),
                  strip_prefix(str(v.get("address"))) in kernel) for v in inst.get("vips") or [])
    return (inst.get("name"), inst.get("state"), inst.get("effective_priority"), vips, bool(kernel),
            (inst.get("master") or {}).get("address"))


@dataclass
class _NodeSeen:
    snapshot: dict | None           # the snapshot object last read (by identity)
    own: frozenset[str]
    kernel: frozenset[str]
    insts: dict[tuple[int, int], dict]
    inputs: dict[tuple[int, int], tuple]


class ClusterComparison:
    """``cluster_rows``, kept up to date: the same rows, but only those whose
    inputs changed are made again.

    With 255 VRIDs on two nodes at 10 adverts/s the console compares the
    nodes twice per tick (once per node's snapshot) and a fresh comparison
    costs ~8 ms, while most rows say the same every time (the counters and
    ages that move are not in a cluster cell).  Per node, a snapshot seen
    before (the same object: snapshots are never changed in place, every
    one received is a new object) is not read again; for a new one each
    instance's cell input (``_cell_input``) is compared with the last one.
    What every row depends on (the nodes' names, reachability, the address
    owners, a stale node's age) makes every row again when it changes.  A
    reachable node's ``heard_age`` in an unchanged row is the one of when the
    row was made (``NodeCell`` leaves it out of equality; only an
    unreachable node's flag reads it)."""

    def __init__(self) -> None:
        self._seen: list[_NodeSeen] = []
        self._context: tuple | None = None
        self._rows: dict[tuple[int, int], ClusterRow] = {}
        self._order: list[tuple[int, int]] = []
        self.rebuilt = 0                # rows made by the last update (tests, benchmarks)

    def update(self, nodes: Sequence[PeerView], *, stale_after: float = DEFAULT_STALE_AFTER) -> list[ClusterRow]:
        if len(nodes) != len(self._seen):
            self._seen = [_NodeSeen(None, frozenset(), frozenset(), {}, {}) for _ in nodes]
            self._context = None
        dirty: set[tuple[int, int]] = set()
        for n, seen in zip(nodes, self._seen):
            if n.snapshot is seen.snapshot and seen.snapshot is not None:
                continue
            kernel = node_addresses(n.snapshot)
            insts = _instances_by_key(n.snapshot)
            inputs = {k: _cell_input(i, kernel) for k, i in insts.items()}
            old = seen.inputs
            dirty.update(k for k, v in inputs.items() if old.get(k) != v)
            dirty.update(old.keys() - inputs.keys())
            seen.snapshot, seen.own, seen.kernel, seen.insts, seen.inputs = (
                n.snapshot, _own_addresses(n.snapshot), kernel, insts, inputs)
        names = node_names(nodes)
        owners: dict[str, str] = {}
        for name, seen in zip(names, self._seen):
            for a in seen.own:
                owners.setdefault(a, name)
        reachable = [not n.stale(stale_after) for n in nodes]
        context = (tuple(names), owners, tuple(reachable),
                   tuple(None if ok else n.heard_age for n, ok in zip(nodes, reachable)))
        keys = set().union(*(seen.insts.keys() for seen in self._seen)) if self._seen else set()
        if context != self._context:
            self._context = context
            dirty = keys | set(self._rows)
        if keys != self._rows.keys():
            self._order = sorted(keys, key=lambda fv: (fv[1], fv[0]))
        for key in dirty:
            if key not in keys:
                self._rows.pop(key, None)
                continue
            family, vrid = key
            cells = tuple(_cell(names[k], nodes[k], seen.insts.get(key), seen.kernel, owners, reachable[k])
                          for k, seen in enumerate(self._seen))
            inst_names = tuple(dict.fromkeys(c.instance for c in cells if c.instance))
            self._rows[key] = ClusterRow(row_key(family, vrid), vrid, family, inst_names, cells,
                                         tuple(compare(cells, vrid)))
        self.rebuilt = len(dirty & keys)
        return [self._rows[k] for k in self._order]


def compare(cells: Sequence[NodeCell], vrid: int) -> list[Flag]:
    """What the nodes' words on one VRID contradict (see the module's list)."""
    flags: list[Flag] = []
    live = [c for c in cells if c.present and c.reachable]
    masters = [c for c in live if c.is_master]
    if len(masters) > 1:
        who = tuple(c.node for c in masters)
        flags.append(Flag(SPLIT_BRAIN, who, f"VRID {vrid}: {' and '.join(who)} are {'both' if len(who) == 2 else 'all'} MASTER (split brain)"))
    by_node = {c.node: c for c in cells}
    for c in live:
        if c.is_master or not c.master_node or c.master_node == c.node:
            continue
        other = by_node.get(c.master_node)
        if other is None or not other.reachable:
            continue
        if not (other.present and other.is_master):
            says = other.state if other.present else "no instance for it"
            flags.append(Flag(UNCONFIRMED, (c.node, other.node),
                              f"VRID {vrid}: {c.node} believes {other.node} ({c.master}) is master; "
                              f"{other.node} says {says}"))
    for c in live:
        if c.vips_held and not c.is_master:
            flags.append(Flag(VIP_NOT_MASTER, (c.node,),
                              f"VRID {vrid}: {', '.join(c.vips_held)} in {c.node}'s kernel, but it is {c.state}"))
        if c.is_master and len(c.vips_held) < len(c.vips):
            missing = [v for v in c.vips if v not in c.vips_held]
            flags.append(Flag(VIPS_MISSING, (c.node,),
                              f"VRID {vrid}: {c.node} is MASTER without {', '.join(missing)} in its kernel"))
    for c in cells:
        if c.present and not c.reachable:
            age = "never heard" if c.heard_age is None else f"last heard {c.heard_age:.1f} s ago"
            flags.append(Flag(UNREACHABLE, (c.node,), f"VRID {vrid}: {c.node} unreachable ({age}): "
                                                       "its last word is shown"))
    return flags


def all_flags(rows: Sequence[ClusterRow]) -> list[Flag]:
    return [f for r in rows for f in r.flags]
