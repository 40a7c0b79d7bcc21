"""Screen 1: this node and its instances, as an operator asks "who is master, why"."""

from __future__ import annotations

import functools

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from vipdeck.console import format as fmt
from vipdeck.console.cluster import (SPLIT_BRAIN, UNCONFIRMED, UNREACHABLE, VIP_NOT_MASTER, VIPS_MISSING,
                                     ClusterRow, NodeCell)
from vipdeck.console.derive import SnapView
from vipdeck.console.views.base import View
from vipdeck.console.widgets.keyed_table import KeyedTable
from vipdeck.console.widgets.update import update_if_changed

COLUMNS = [
    ("name", "Instance"), ("vrid", "VRID"), ("state", "State"),
    ("prio", "Priority"), ("trackers", "Trackers"), ("master", "Master seen from here"),
    ("vips", "VIPs"), ("last", "Last transition"), ("op", "Operator"),
]


def node_text(sv: SnapView) -> Text:
    n = sv.node
    t = Text()
    t.append(sv.hostname, style="bold")
    t.append(f"  router_id {n.get('router_id') or '-'}", style="")
    mode = n.get("mode") or "?"
    t.append(f"  ·  {mode}" + (f" pid {n['pid']}" if n.get("pid") else ""))
    if n.get("version"):
        t.append(f"  ·  vipdeck {n['version']}")
    if n.get("started_at"):
        t.append(f"  ·  up {fmt.age(sv.now - n['started_at'])}")
    if n.get("config_file"):
        t.append(f"  ·  {n['config_file']}", style="dim")
    t.append("\n")
    itfs = n.get("interfaces") or []
    for k, itf in enumerate(itfs):
        if k:
            t.append("    ")
        t.append(str(itf.get("name")), style="bold")
        up = itf.get("up")
        t.append(" UP" if up else " DOWN", style="green" if up else "bold red")
        t.append(f" {itf.get('mac') or ''} ", style="dim")
        t.append(" ".join(itf.get("addresses") or []))
        dropped = (itf.get("vrrp") or {}).get("dropped") or {}
        if dropped:
            t.append(f"  VRRP dropped: {', '.join(f'{DROP_SHORT.get(k, k)} {n}' for k, n in sorted(dropped.items()))}",
                     style="bold red")
    if not itfs:
        t.append("no interfaces reported", style="dim")
    t.append("\n")
    s = sv.system or {}
    if s:
        load = s.get("load") or []
        t.append("load ", style="dim")
        t.append(" ".join(f"{x:.2f}" for x in load) or "-")
        if s.get("cpus"):
            t.append(f" ({s['cpus']} CPUs)", style="dim")
        t.append("    memory ", style="dim")
        t.append(_used(s.get("mem_used"), s.get("mem_total")))
        t.append(f"    disk {s.get('disk_path') or '/'} ", style="dim")
        t.append(_used(s.get("disk_used"), s.get("disk_total")))
    else:
        t.append("load / memory / disk not available", style="dim")
    t.append("\n")
    d = sv.drained
    if d:
        t.append(f" DRAINED by {d.get('who') or '?'} {fmt.ago(sv.now, d.get('when'))}: "
                 f"{d.get('why') or 'no reason given'} ", style="bold white on dark_red")
        t.append("  (u to undrain)", style="dim")
    else:
        t.append("operator: ", style="dim")
        holds = []
        for i in sv.instances:
            op = i.get("operator") or {}
            grp = f" (sync group {op['group']})" if op.get("group") else ""
            if op.get("takeover"):
                holds.append(f"{i['name']} takeover{' PENDING' if op.get('takeover_pending') else ''}{grp} "
                             f"by {op.get('who')} {fmt.ago(sv.now, op.get('when'))}"
                             + (f" ({op['why']})" if op.get("why") else ""))
            elif op.get("hold_until") or op.get("held"):
                left = f"for {fmt.age(op['hold_until'] - sv.now)}" if op.get("hold_until") else "until cleared"
                holds.append(f"{i['name']} held backup {left}{grp} by {op.get('who')}"
                             + (f" ({op['why']})" if op.get("why") else ""))
        if holds:
            t.append("; ".join(holds), style="yellow")
        else:
            t.append("normal election (not drained, no holds)")
    return t


# what the engine does while drained (vrrp.machine: Drain): the same words everywhere
DRAINED_PRIORITY_NOTE = "drained: resigned with a priority-0 advert, elects with priority 1 until undrained"

DROP_SHORT = {"own_source": "own address", "truncated": "too short", "malformed": "malformed"}


def _used(used, total) -> str:
    if not total:
        return "-"
    return f"{fmt.size(used)} / {fmt.size(total)} ({100 * (used or 0) / total:.0f}%)"


def trackers_cell(i: dict) -> Text:
    trackers = i.get("trackers") or []
    t = Text()
    moved = [x for x in trackers if x.get("contribution")]
    for k, x in enumerate(moved):
        if k:
            t.append(", ")
        style = "red" if x["contribution"] < 0 else "green"
        t.append(f"{x.get('name')} {fmt.signed(x['contribution'])}", style=style)
    bad = [x for x in trackers if x.get("state") != "ok" and not x.get("contribution")]
    for x in bad:
        if len(t):
            t.append(", ")
        t.append(f"{x.get('name')} {x.get('state')}", style="bold red")
    ok = len(trackers) - len(moved) - len(bad)
    if ok:
        if len(t):
            t.append(", ")
        t.append(f"{ok} ok", style="dim")
    if not trackers:
        t.append("-", style="dim")
    return t


def master_cell(sv: SnapView, i: dict) -> Text:
    if i.get("state") == "MASTER":
        return Text("this node", style="bold green")
    m = sv.master_of(i)
    if not m:
        return Text("none heard", style="bold red")
    t = Text(str(m.get("address")))
    t.append(f" ({m.get('priority')}, {fmt.age(m.get('last_advert_age'))})", style="dim")
    return t


def vips_cell(i: dict) -> Text:
    vips = [v.get("address", "?") for v in i.get("vips") or []]
    if not vips:
        return Text("-", style="dim")
    t = Text(vips[0])
    if len(vips) > 1:
        t.append(f" +{len(vips) - 1}", style="dim")
    if i.get("state") == "MASTER" and not all(v.get("present") for v in i.get("vips") or []):
        t.append(" missing!", style="bold red")
    return t


def last_cell(sv: SnapView, i: dict) -> Text:
    lt = i.get("last_transition")
    if not lt:
        return Text("-", style="dim")
    t = Text(fmt.age(sv.now - lt["time"]) + " " if lt.get("time") is not None else "")
    t.append(f"{lt.get('from')}→{lt.get('to')}", style=fmt.STATE_STYLE.get(lt.get("to"), ""))
    t.append(f" {lt.get('reason') or ''}", style="dim")
    return t


def operator_cell(sv: SnapView, i: dict) -> Text:
    op = i.get("operator") or {}
    if op.get("drained"):
        return Text("drained", style="bold yellow")
    if op.get("takeover"):
        pending = " pending" if op.get("takeover_pending") else ""
        return Text(f"takeover{pending} ({op.get('who')})", style="bold yellow")
    if op.get("hold_until"):
        return Text(f"hold {fmt.age(op['hold_until'] - sv.now)} ({op.get('who')})", style="yellow")
    if op.get("held"):
        return Text(f"hold ({op.get('who')})", style="yellow")
    return Text("-", style="dim")


def instance_row(sv: SnapView, i: dict) -> tuple:
    base, eff = i.get("base_priority"), i.get("effective_priority")
    prio = Text(f"{base} → ")
    prio.append(str(eff), style="bold" if eff == base else "bold yellow")
    return (
        Text(i["name"], style="bold"), str(i.get("vrid")), fmt.state_text(i.get("state")), prio, trackers_cell(i), master_cell(sv, i),
        vips_cell(i), last_cell(sv, i), operator_cell(sv, i),
    )


def instance_sig(sv: SnapView, i: dict) -> tuple:
    """What ``instance_row`` reads besides the instance (the master it heard is
    in it): the clock, for the ages of its last transition and of a hold."""
    return (i, sv.now if i.get("last_transition") or i.get("operator") else None)


def instance_detail(sv: SnapView, i: dict) -> Text:
    t = Text()
    t.append(i["name"], style="bold")
    t.append(f"  VRID {i.get('vrid')} on {i.get('interface')}  VRRPv{i.get('version')}  IPv{i.get('family', 4)}"
             f"  advert {fmt.interval(i.get('advert_int'))}  configured {i.get('configured_state')}"
             f"  preempt {'on' if i.get('preempt', True) else 'off'}"
             + (f" (delay {fmt.interval(i.get('preempt_delay'))})" if i.get("preempt_delay") else "")
             + (f"  sync group {i['sync_group']}" if i.get("sync_group") else ""))
    wire = i.get("wire")
    if wire:
        t.append("\nadverts   ", style="dim")
        peers = wire.get("unicast_peers") or []
        t.append(f"unicast to {', '.join(peers)}" if peers else f"multicast to {wire.get('mcast_group') or '?'}")
        if wire.get("source"):
            t.append(f" from {wire['source']}")
    t.append("\npriority  ", style="dim")
    t.append(f"base {i.get('base_priority')}")
    for x in i.get("trackers") or []:
        style = "red" if (x.get("contribution") or 0) < 0 else ("green" if x.get("contribution") else "")
        if x.get("state") != "ok" and not x.get("contribution"):
            style = "bold red"
        t.append(f"  {x.get('name')} ({x.get('kind')}) {x.get('state')} {fmt.signed(x.get('contribution'))}", style=style)
        if x.get("detail"):
            t.append(f" [{x['detail']}]", style="dim")
    t.append(f"  → effective {i.get('effective_priority')}", style="bold")
    if (i.get("operator") or {}).get("drained"):
        t.append(f" ({DRAINED_PRIORITY_NOTE})", style="yellow")
    t.append("\nmaster    ", style="dim")
    t.append_text(master_cell(sv, i))
    mac = (i.get("master") or {}).get("mac")     # the master's, ours while MASTER (tells which box holds the VIPs)
    if mac:
        t.append(f" {mac}", style="dim")
    lt = i.get("last_transition")
    if lt:
        t.append(f"  since {fmt.age(sv.now - lt['time']) if lt.get('time') else '?'}: ", style="")
        t.append(f"{lt.get('from')} → {lt.get('to')}", style=fmt.STATE_STYLE.get(lt.get("to"), ""))
        t.append(f", {lt.get('reason')}")
        if lt.get("detail"):
            t.append(f" ({lt['detail']})", style="dim")
    t.append("\nVIPs      ", style="dim")
    vips = i.get("vips") or []
    for k, v in enumerate(vips):
        if k:
            t.append("; ")
        t.append(v.get("address", "?"))
        if v.get("label"):
            t.append(f" ({v['label']})", style="dim")
        present = v.get("present")
        t.append(" in kernel" if present else " not in kernel",
                 style=("green" if present else "dim") if (present == (i.get("state") == "MASTER")) else "bold red")
        if v.get("last_garp"):
            t.append(f", GARP {fmt.ago(sv.now, v['last_garp'])}", style="dim")
    if not vips:
        t.append("-", style="dim")
    c = i.get("counters") or {}
    t.append("\ncounters  ", style="dim")
    t.append(f"sent {c.get('adverts_sent', 0)}  received {c.get('adverts_received', 0)}  "
             f"transitions {c.get('transitions', 0)}  rejected: ")
    rej = c.get("rejects") or {}
    t.append(", ".join(f"{k} {v}" for k, v in sorted(rej.items())) or "none", style="yellow" if rej else "")
    op = i.get("operator") or {}
    if op.get("drained") or op.get("takeover") or op.get("hold_until") or op.get("held"):
        t.append("\noperator  ", style="dim")
        t.append_text(operator_cell(sv, i))
        t.append(f" by {op.get('who')} {fmt.ago(sv.now, op.get('when'))}: {op.get('why') or 'no reason given'}")
    return t


# --- the cluster rows: one per VRID, one column per node ------------------------------

CLUSTER_FLAG_LABEL = {SPLIT_BRAIN: "SPLIT BRAIN", UNCONFIRMED: "UNCONFIRMED MASTER",
                      VIP_NOT_MASTER: "VIP ON NON-MASTER", VIPS_MISSING: "VIPS MISSING",
                      UNREACHABLE: "UNREACHABLE"}


def cluster_columns(nodes: int) -> list[tuple[str, str]]:
    return [("vrid", "VRID"), ("name", "Instance"),
            *((f"node{k}", "node 1 (here)" if k == 0 else f"node {k + 1}") for k in range(nodes)),
            ("flags", "Cluster")]


def cluster_cell(c: NodeCell) -> Text:
    """State, effective priority, VIPs in its kernel, the master it believes in."""
    if not c.present:
        return Text("-", style="dim")
    t = Text()
    t.append_text(fmt.state_text(c.state))
    t.append(f" {c.priority if c.priority is not None else '?'}")
    if c.vips:
        ok = bool(c.vips_held) == c.is_master and (not c.is_master or len(c.vips_held) == len(c.vips))
        mark = "VIPs" if len(c.vips_held) == len(c.vips) else (f"{len(c.vips_held)}/{len(c.vips)} VIPs"
                                                             if c.vips_held else "no VIPs")
        t.append(f" {mark}", style=("green" if c.vips_held else "dim") if ok else "bold red")
    if not c.is_master:
        t.append(" → ", style="dim")
        t.append(c.master_node or c.master or "none heard", style="" if (c.master_node or c.master) else "bold red")
    if not c.reachable:
        t.append(" (stale)", style="bold yellow")
    return t


def cluster_row_cells(r: ClusterRow) -> tuple:
    flags = Text()
    for k, kind in enumerate(dict.fromkeys(f.kind for f in r.flags)):
        if k:
            flags.append(" ")
        flags.append(CLUSTER_FLAG_LABEL.get(kind, kind), style="bold yellow" if kind == UNREACHABLE else "bold red")
    if not r.flags:
        flags.append("agree", style="green")
    return (str(r.vrid) + ("" if r.family == 4 else " v6"), Text(" ".join(r.names) or "-", style="bold"),
            *(cluster_cell(c) for c in r.cells), flags)


class OverviewView(View):
    """``cluster_nodes`` > 1: the console watches peers too, and the cluster
    rows (``cluster``, set by the app) are shown under this node's instances;
    ``o`` moves the cursor between the two tables."""

    BINDINGS = [Binding("o", "other_table", "Cluster rows", show=False)]

    DEFAULT_CSS = """
    OverviewView.cluster #instances { max-height: 35%; }
    OverviewView #cluster { max-height: 35%; }
    OverviewView #cluster-title { height: 1; padding: 0 1; background: $boost; }
    OverviewView #cluster-flags { height: auto; max-height: 5; padding: 0 1; }
    """

    def __init__(self, *, cluster_nodes: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.cluster_nodes = cluster_nodes
        self.cluster: list[ClusterRow] = []
        self.cluster_headings: list[str] = []
        self._cell_cache: dict[str, tuple[ClusterRow, tuple]] = {}
        if cluster_nodes > 1:
            self.add_class("cluster")

    def compose_body(self) -> ComposeResult:
        yield Static(id="node", classes="panel")
        yield KeyedTable(COLUMNS, id="instances")
        if self.cluster_nodes > 1:
            yield Static(Text("cluster: every node's own word per VRID  (o: cursor here / back; n: which node changes go to)",
                              style="bold"), id="cluster-title")
            yield KeyedTable(cluster_columns(self.cluster_nodes), id="cluster")
            yield Static(id="cluster-flags")
        yield Static(id="instance-detail", classes="detail")

    def show_cluster(self, rows: list[ClusterRow], headings: list[str], render: bool = True) -> None:
        """New cluster rows (the app calls this when any node said something;
        ``render`` False: kept for the next ``show`` or activation)."""
        self.cluster, self.cluster_headings = rows, headings
        if render and self.cluster_nodes > 1 and self.is_mounted:
            self._render_cluster()

    def activate(self) -> None:
        if self.cluster_nodes > 1:
            refresh = getattr(self.app, "refresh_cluster", None)   # the rows may be up to a second old
            if refresh is not None:
                refresh()
            self._render_cluster()

    def _render_cluster(self) -> None:
        table = self.query_one("#cluster", KeyedTable)
        if self.cluster_headings:
            table.relabel([c[1] for c in cluster_columns(self.cluster_nodes)[:2]] + self.cluster_headings
                          + ["Cluster"])
        # lazily, as the instances (255 VRIDs: only the rows on screen are made); the row
        # itself is the signature (a frozen dataclass: an unchanged row compares equal)
        table.sync_lazy((r.key, r, functools.partial(self._cells_of, r)) for r in self.cluster
                        if self.keep(r.vrid, *r.names, *(c.state for c in r.cells)))
        t = Text()
        details = [f.detail for r in self.cluster for f in r.flags]
        for k, d in enumerate(details[:4]):
            if k:
                t.append("\n")
            t.append(f"! {d}", style="bold red")
        if len(self._cell_cache) > 2 * len(self.cluster) + 16:
            keys = {r.key for r in self.cluster}
            self._cell_cache = {k: v for k, v in self._cell_cache.items() if k in keys}
        if len(details) > 4:
            t.append(f"\n… {len(details) - 4} more", style="bold red")
        update_if_changed(self.query_one("#cluster-flags", Static), t)

    def _cells_of(self, r: ClusterRow) -> tuple:
        """A row's cells, made again only when what it says changed (255 VRIDs
        on two nodes at 10 adverts/s: most rows say the same every time)."""
        cached = self._cell_cache.get(r.key)
        if cached is not None and (cached[0] is r or cached[0] == r):   # the same object: an unchanged row
            return cached[1]
        cells = self._padded(cluster_row_cells(r))
        self._cell_cache[r.key] = (r, cells)
        return cells

    def _padded(self, cells: tuple) -> tuple:
        """A peer left out (it was this node again) leaves its column empty."""
        missing = self.cluster_nodes + 3 - len(cells)
        return cells if missing <= 0 else (*cells[:-1], *("",) * missing, cells[-1])

    def action_other_table(self) -> None:
        if self.cluster_nodes < 2:
            return
        cluster = self.query_one("#cluster", KeyedTable)
        (self.query_one("#instances", KeyedTable) if cluster.has_focus else cluster).focus()

    def selected_vrid(self) -> tuple[int, int] | None:
        """(family, VRID) under the cluster table's cursor, when it has focus."""
        if self.cluster_nodes < 2:
            return None
        table = self.query_one("#cluster", KeyedTable)
        if not table.has_focus or table.selected_key is None:
            return None
        r = next((r for r in self.cluster if r.key == table.selected_key), None)
        return (r.family, r.vrid) if r else None

    def render_view(self, sv: SnapView) -> None:
        node = self.query_one("#node", Static)
        text = node_text(sv)
        update_if_changed(node, text)
        if self.cluster_nodes > 1:
            self._render_cluster()
        rows = []
        for i in sv.instances:
            if not self.keep(i["name"], i.get("vrid"), i.get("state"), i.get("interface"),
                             *(v.get("address") for v in i.get("vips") or [])):
                continue
            rows.append((i["name"], instance_sig(sv, i), functools.partial(instance_row, sv, i)))
        self.query_one("#instances", KeyedTable).sync_lazy(rows)
        self._detail()

    def _detail(self) -> None:
        sv = self.sv
        detail = self.query_one("#instance-detail", Static)
        name = self.selected_instance()
        i = sv.instances_by_name.get(name) if (sv and name) else None
        text = instance_detail(sv, i) if i else Text("no instance selected", style="dim")
        update_if_changed(detail, text)

    def on_keyed_table_row_highlighted(self, event: KeyedTable.RowHighlighted) -> None:
        if self.sv is not None:
            self._detail()

    def selected_instance(self) -> str | None:
        vrid = self.selected_vrid()
        if vrid is not None and self.sv is not None:   # the cluster row's instance on this node
            i = next((i for i in self.sv.instances if ((i.get("family") or 4), i.get("vrid")) == vrid), None)
            return i["name"] if i else None
        return self.query_one("#instances", KeyedTable).selected_key
