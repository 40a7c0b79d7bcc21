"""Screen 3: every VIP, who holds it, and whether the kernel agrees."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Static

from vipdeck.console import format as fmt
from vipdeck.console.derive import SnapView, VipRow, vip_rows
from vipdeck.console.views.base import View
from vipdeck.console.widgets.keyed_table import KeyedTable
from vipdeck.console.widgets.update import update_if_changed

COLUMNS = [
    ("vip", "VIP"), ("dev", "Dev"), ("instance", "Instance"), ("vrid", "VRID"), ("state", "State here"),
    ("holder", "Held by"), ("mac", "MAC"), ("kernel", "In kernel"), ("garp", "Last GARP"),
    ("issues", "Issues"),
]


def vip_row(sv: SnapView, r: VipRow) -> tuple:
    holder = Text(r.holder, style="bold green" if r.holder == "this node" else
                  ("bold red" if r.holder == "nobody heard" else ""))
    consistent = r.present == (r.state == "MASTER")
    kernel = Text("yes" if r.present else "no",
                  style=("green" if r.present else "dim") if consistent else "bold red")
    issues = Text("; ".join(r.issues), style="bold red") if r.issues else Text("-", style="dim")
    dev = Text(r.dev + (f" ({r.label})" if r.label else ""))
    if r.excluded:
        dev.append(" excluded", style="dim")
    return (Text(r.address, style="bold"), dev, r.instance, str(r.vrid), fmt.state_text(r.state), holder,
            r.holder_mac or "-", kernel, fmt.ago(sv.now, r.last_garp), issues)


class VipsView(View):
    def compose_body(self) -> ComposeResult:
        yield Static(id="vip-summary", classes="panel")
        yield KeyedTable(COLUMNS, id="vips-table")
        yield Static(id="vip-detail", classes="detail")

    def render_view(self, sv: SnapView) -> None:
        all_rows = vip_rows(sv)
        rows = [(r.key, vip_row(sv, r)) for r in all_rows
                if self.keep(r.address, r.instance, r.vrid, r.state, r.holder, *r.issues)]
        self.query_one("#vips-table", KeyedTable).sync(rows)
        held = sum(1 for r in all_rows if r.holder == "this node")
        bad = sum(1 for r in all_rows if r.issues)
        t = Text(f"{len(all_rows)} VIPs, {held} held by this node, ")
        t.append(f"{bad} with issues" if bad else "no conflicts", style="bold red" if bad else "green")
        summary = self.query_one("#vip-summary", Static)
        update_if_changed(summary, t)
        self._rows = {r.key: r for r in all_rows}
        self._detail()

    def _detail(self) -> None:
        detail = self.query_one("#vip-detail", Static)
        key = self.query_one("#vips-table", KeyedTable).selected_key
        r = getattr(self, "_rows", {}).get(key) if key else None
        if r is None:
            text = Text("no VIP selected", style="dim")
        else:
            text = Text()
            text.append(r.address, style="bold")
            text.append(f" on {r.dev}" + (f" label {r.label}" if r.label else "") + f", {r.instance} VRID {r.vrid}: ")
            text.append(f"held by {r.holder}" + (f" ({r.holder_mac})" if r.holder_mac else ""))
            text.append(f"; {'in' if r.present else 'not in'} the kernel; last GARP {fmt.ago(self.sv.now, r.last_garp)}")
            for issue in r.issues:
                text.append(f"\n⚠ {issue}", style="bold red")
            if not r.issues:
                text.append("\nno conflict", style="green")
        update_if_changed(detail, text)

    def on_keyed_table_row_highlighted(self, event) -> None:
        if self.sv is not None:
            self._detail()

    def selected_instance(self) -> str | None:
        key = self.query_one("#vips-table", KeyedTable).selected_key
        return key.split("|", 1)[0] if key else None
