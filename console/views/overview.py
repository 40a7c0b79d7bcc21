"""Screen 1: this node and its instances, as an operator asks "who is master, why"."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Static

from vipdeck.console import format as fmt
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


class OverviewView(View):
    def compose_body(self) -> ComposeResult:
        yield Static(id="node", classes="panel")
        yield KeyedTable(COLUMNS, id="instances")
        yield Static(id="instance-detail", classes="detail")

    def render_view(self, sv: SnapView) -> None:
        node = self.query_one("#node", Static)
        text = node_text(sv)
        update_if_changed(node, text)
        rows = []
        for i in sv.instances:
            if not self.keep(i["name"], i.get("vrid"), i.get("state"), i.get("interface"),
                             *(v.get("address") for v in i.get("vips") or [])):
                continue
            rows.append((i["name"], instance_row(sv, i)))
        self.query_one("#instances", KeyedTable).sync(rows)
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
        return self.query_one("#instances", KeyedTable).selected_key
