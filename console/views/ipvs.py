"""Screen 4: the IPVS table as ipvsadm draws it, with the checkers beside it.

When the kernel cannot be read (no ip_vs, no permission) the configured
table and the live checker state are still shown, under a banner that says
so plainly, because the checkers keep running and operators still need them.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from vipdeck.console import format as fmt
from vipdeck.console.changes import CHANGES, REAL_SERVER
from vipdeck.console.derive import NOT_APPLIED, SnapView, rs_shown_state
from vipdeck.console.views.base import View
from vipdeck.console.widgets.keyed_table import KeyedTable
from vipdeck.console.widgets.update import update_if_changed

COLUMNS = [
    ("name", "Service / -> Real server"), ("fwd", "Fwd"),
    ("weight", "Weight"), ("active", "ActConn"), ("inact", "InActConn"), ("state", "State"),
    ("check", "Checker"), ("latency", "Latency"), ("fail", "Fail"), ("error", "Error / note"),
    ("cps", "CPS"), ("inpps", "InPPS"), ("outpps", "OutPPS"), ("inbps", "InBPS"), ("outbps", "OutBPS"),
]

ERROR_WIDTH = 30


def _short(s: str | None, n: int = ERROR_WIDTH) -> str:
    if not s:
        return ""
    return s if len(s) <= n else s[: n - 1] + "…"


def vs_row(sv: SnapView, vs: dict) -> tuple:
    name = Text()
    name.append(f"{vs.get('protocol') or ''} {vs['key']} {vs.get('scheduler') or ''}".strip(), style="bold")
    if vs.get("persistence_timeout"):
        name.append(f" persistent {vs['persistence_timeout']}", style="dim")
    rss = vs.get("real_servers") or []
    up = sum(1 for r in rss if r.get("state") == "UP")
    if not vs.get("quorum_ok", True):
        state = Text("NO QUORUM", style="bold red")
    else:
        state = Text(f"{up}/{len(rss)} up", style="green" if up == len(rss) else "yellow")
    note = Text()
    if sv.ipvs.get("available") and not vs.get("in_kernel"):
        note.append("not in kernel ", style="bold red")
    if vs.get("sorry_server"):
        active = vs.get("sorry_active")
        note.append(f"sorry {vs['sorry_server']} ", style="dim")
        note.append("IN USE" if active else "idle", style="bold yellow" if active else "dim")
    return (name, vs.get("forward") or "", "", "", "", state, "", "", "", note, "", "", "", "", "")


def rs_row(sv: SnapView, vs: dict, rs: dict) -> tuple:
    checkers = rs.get("checkers") or []
    failing = [c for c in checkers if not c.get("ok")]
    first = failing[0] if failing else (checkers[0] if checkers else None)
    if first:
        check = Text(f"{first.get('kind')} ")
        check.append("ok" if first.get("ok") else "FAIL", style="green" if first.get("ok") else "bold red")
        if len(checkers) > 1:
            check.append(f" +{len(checkers) - 1}", style="dim")
    else:
        check = Text("no checker", style="dim")
    fails = sum(c.get("failures") or 0 for c in checkers)
    err = next((c.get("error") for c in failing if c.get("error")), None)
    return (
        Text(f"  -> {rs['key']}"), rs.get("forward") or vs.get("forward") or "", fmt.weight_text(rs),
        fmt.number(rs.get("active_conn")), fmt.number(rs.get("inactive_conn")), fmt.rs_state_text(rs_shown_state(rs)),
        check, fmt.latency(first.get("latency")) if first else "-",
        Text(str(fails), style="bold red" if fails else "dim"), Text(_short(err), style="red"),
        fmt.number(rs.get("cps")), fmt.number(rs.get("inpps")), fmt.number(rs.get("outpps")),
        fmt.number(rs.get("inbps")), fmt.number(rs.get("outbps")),
    )


def banner(sv: SnapView) -> Text:
    if not sv.virtual_servers:
        return Text("No virtual_server configured on this node.", style="dim")
    if not sv.ipvs.get("available", False):
        t = Text()
        t.append(" IPVS UNAVAILABLE ", style="bold white on red")
        t.append(f" {sv.ipvs.get('error') or 'the kernel IPVS table cannot be read'}", style="bold red")
        t.append("\nShowing the configured table and the live checker state. Weights and drains do not "
                 "reach the kernel: the engine records them, and they apply when the daemon next starts "
                 "with IPVS.", style="yellow")
        return t
    vss = sv.virtual_servers
    n_rs = sum(len(v.get("real_servers") or []) for v in vss)
    t = Text()
    t.append("IPVS ", style="bold")
    t.append(f"{len(vss)} virtual servers, {n_rs} real servers", style="")
    missing = [v["key"] for v in vss if not v.get("in_kernel")]
    if missing:
        t.append(f"  not in kernel: {', '.join(missing)}", style="bold red")
    lost = [v["key"] for v in vss if not v.get("quorum_ok", True)]
    if lost:
        t.append(f"  quorum lost: {', '.join(lost)}", style="bold red")
    return t


def detail_text(sv: SnapView, vs: dict, rs: dict | None) -> Text:
    t = Text()
    if rs is None:
        t.append(f"{vs.get('protocol')} {vs['key']}", style="bold")
        t.append(f"  scheduler {vs.get('scheduler')}  forward {vs.get('forward')}"
                 f"  persistence {vs.get('persistence_timeout') or '-'}  quorum {vs.get('quorum', 1)}"
                 f" (hysteresis {vs.get('hysteresis', 0)}) {'ok' if vs.get('quorum_ok', True) else 'LOST'}")
        if vs.get("sorry_server"):
            t.append(f"\nsorry server {vs['sorry_server']}: "
                     + ("IN USE (quorum lost)" if vs.get("sorry_active") else "idle"))
        return t
    t.append(f"{rs['key']}", style="bold")
    t.append(f" in {vs['key']}  ")
    shown = rs_shown_state(rs)
    t.append_text(fmt.rs_state_text(shown))
    t.append("  weight ")
    t.append_text(fmt.weight_text(rs))
    t.append(f"  kernel weight {fmt.number(rs.get('weight_kernel'))}")
    unavailable = not sv.ipvs.get("available", True)
    why = "IPVS is unavailable" if unavailable else "not in the kernel"
    if shown == NOT_APPLIED:
        t.append(f"\ndrain not applied: {why}, so its weight was not lowered and its connections are "
                 "unknown", style="bold yellow")
    o = rs.get("override")
    if o:
        t.append(f"\noverride  weight {o.get('weight')} by {o.get('who')} {fmt.ago(sv.now, o.get('when'))}: "
                 f"{o.get('why') or 'no reason given'}", style="yellow")
        if rs.get("weight_kernel") is None:
            t.append(f" (not applied: {why})", style="bold yellow")
    for c in rs.get("checkers") or []:
        t.append(f"\n{c.get('kind'):<9} ")
        t.append("ok" if c.get("ok") else "FAIL", style="green" if c.get("ok") else "bold red")
        t.append(f"  last {fmt.ago(sv.now, c.get('last_check'))}  latency {fmt.latency(c.get('latency'))}"
                 f"  failures {c.get('failures') or 0}")
        if c.get("error"):
            t.append(f"  {c['error']}", style="red")
    return t


class IpvsView(View):
    # the app binds these keys everywhere; here they are on the key bar
    BINDINGS = [Binding(c.key, f"app.change('{c.name}')", c.label) for c in CHANGES
                if c.target == REAL_SERVER and c.key]

    def compose_body(self) -> ComposeResult:
        yield Static(id="ipvs-banner", classes="panel")
        yield KeyedTable(COLUMNS, id="ipvs-table")
        yield Static(id="ipvs-detail", classes="detail")

    def render_view(self, sv: SnapView) -> None:
        b = banner(sv)
        ban = self.query_one("#ipvs-banner", Static)
        update_if_changed(ban, b)
        rows = []
        for vs in sv.virtual_servers:
            rss = [rs for rs in vs.get("real_servers") or []
                   if self.keep(vs["key"], rs.get("key"), rs.get("state"),
                                *[x for c in rs.get("checkers") or [] for x in (c.get("error"), c.get("kind"))])]
            if not rss and self.filter_text and not self.keep(vs["key"], vs.get("scheduler")):
                continue
            rows.append((f"vs|{vs['key']}", vs_row(sv, vs)))
            for rs in rss:
                rows.append((f"rs|{vs['key']}|{rs['key']}", rs_row(sv, vs, rs)))
        if not sv.virtual_servers:
            rows.append(("none", (Text("no virtual servers configured", style="dim"),) + ("",) * (len(COLUMNS) - 1)))
        self.query_one("#ipvs-table", KeyedTable).sync(rows)
        self._detail()

    def _selection(self) -> tuple[dict, dict | None] | None:
        key = self.query_one("#ipvs-table", KeyedTable).selected_key
        if not key or self.sv is None or key == "none":
            return None
        parts = key.split("|")
        vs = self.sv.vs_by_key.get(parts[1])
        if vs is None:
            return None
        if parts[0] == "vs":
            return vs, None
        rs = next((r for r in vs.get("real_servers") or [] if r.get("key") == parts[2]), None)
        return (vs, rs) if rs else None

    def _detail(self) -> None:
        detail = self.query_one("#ipvs-detail", Static)
        sel = self._selection()
        text = detail_text(self.sv, *sel) if sel else Text("no virtual server selected", style="dim")
        update_if_changed(detail, text)

    def on_keyed_table_row_highlighted(self, event: KeyedTable.RowHighlighted) -> None:
        if self.sv is not None:
            self._detail()

    def selected_rs(self) -> tuple[str, str] | None:
        sel = self._selection()
        if not sel or sel[1] is None:
            return None
        return sel[0]["key"], sel[1]["key"]
