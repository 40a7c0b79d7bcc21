"""Screen 2: what the wire says, per VRID, including routers that are not ours.

The table lists every source heard; the panel below explains the selected
VRID: its flags in words and a per-source priority timeline with master
changes marked, so "who was master when" needs no log reading.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Static

from vipdeck.console import format as fmt
from vipdeck.console.derive import SnapView, Timeline, block, timeline
from vipdeck.console.screens.base import View
from vipdeck.console.widgets.keyed_table import KeyedTable

COLUMNS = [
    ("vrid", "VRID"), ("source", "Source"), ("mac", "MAC"), ("prio", "Prio"), ("int", "Int"),
    ("ver", "Ver"), ("auth", "Auth"), ("vips", "VIPs"), ("rate", "Rate"), ("age", "Last"),
    ("ttl", "TTL"), ("count", "Count"), ("role", "Role"), ("flags", "Flags"),
]

WINDOW = 300.0
WIDTH = 60


def flags_cell(flags: list[dict]) -> Text:
    t = Text()
    for k, f in enumerate(flags):
        if k:
            t.append(" ")
        t.append(fmt.FLAG_LABEL.get(f.get("kind"), str(f.get("kind")).upper()), style="bold white on red")
    return t


def entries(sv: SnapView) -> list[dict]:
    """Every VRID heard, plus ours that nobody else advertises (a lone master)."""
    out = list(sv.adverts)
    heard = {a.get("vrid") for a in out}
    for vrid, insts in sv.instances_by_vrid.items():
        if vrid not in heard:
            out.append({"vrid": vrid, "master": None, "ours": True, "sources": [], "flags": [], "history": []})
    return out


def with_ourselves(sv: SnapView, entry: dict) -> list[dict]:
    """The sniffer may not list our own adverts; when this node is the
    master of the VRID, show it as a source built from our instance."""
    sources = list(entry.get("sources") or [])
    if any(sv.is_ours(s.get("address")) for s in sources):
        return sources
    mine = [i for i in sv.instances_by_vrid.get(entry.get("vrid")) or [] if i.get("state") == "MASTER"]
    if not mine:
        return sources
    i = mine[0]
    address = entry.get("master") if sv.is_ours(entry.get("master")) else None
    if address is None:
        addrs = [a for itf in sv.node.get("interfaces") or [] if itf.get("name") == i.get("interface")
                 for a in itf.get("addresses") or []]
        address = addrs[0].split("/")[0] if addrs else "this node"
    adv = i.get("advert_int") or 0
    sources.append({"address": address, "mac": sv.our_macs.get(i.get("interface")),
                    "priority": i.get("effective_priority"), "interval": i.get("advert_int"),
                    "version": i.get("version"), "auth_type": None,
                    "vips": [v.get("address", "").split("/")[0] for v in i.get("vips") or []],
                    "rate": 1 / adv if adv else None, "last_seen_age": None, "ttl": None,
                    "count": (i.get("counters") or {}).get("adverts_sent"), "here": True})
    return sources


def source_row(sv: SnapView, entry: dict, s: dict, flags_text: Text) -> tuple:
    vrid = entry.get("vrid")
    ours = entry.get("ours")
    vrid_cell = Text()
    vrid_cell.append(str(vrid), style="bold" if ours else "dim")
    if not ours:
        vrid_cell.append(" foreign", style="magenta")
    src = Text(str(s.get("address")))
    if sv.is_ours(s.get("address")) or s.get("here"):
        src.append(" (here)", style="green")
    is_master = s.get("address") == entry.get("master") or (s.get("here") and entry.get("master") is None)
    role = Text("MASTER", style="bold green") if is_master else Text("-", style="dim")
    prio = s.get("priority")
    prio_cell = Text(fmt.number(prio), style="bold red" if prio == 0 else "")
    ttl = s.get("ttl")
    ttl_cell = Text(fmt.number(ttl), style="bold red" if ttl is not None and ttl != 255 else "")
    vips = [str(v) for v in s.get("vips") or []]
    vips_cell = Text(vips[0] if vips else "-")
    if len(vips) > 1:
        vips_cell.append(f" +{len(vips) - 1}", style="dim")
    return (
        vrid_cell, src, s.get("mac") or "-", prio_cell, fmt.interval(s.get("interval")),
        f"v{s.get('version')}" if s.get("version") else "-", str(s.get("auth_type") or "-"),
        vips_cell, fmt.rate(s.get("rate")), fmt.age(s.get("last_seen_age")), ttl_cell,
        fmt.number(s.get("count")), role, flags_text,
    )


def timeline_text(tl: Timeline, ours: set[str]) -> Text:
    t = Text()
    span = tl.window / tl.width
    t.append(f"priority per source over the last {fmt.age(tl.window)} ({span:g}s per column, newest right; "
             "bar height = priority, 0 = resigned, green = master)\n", style="dim")
    label_w = 26
    for src, last, cols in tl.sources:
        label = f"{src}{' (here)' if src in ours else ''}"
        t.append(f"{label[:label_w - 5]:<{label_w - 5}} {fmt.number(last):>3} │")
        for b, p in enumerate(cols):
            style = "bold red" if p == 0 else ("green" if tl.masters[b] == src else "cyan")
            t.append(block(p, tl.top), style=style)
        t.append("│\n")
    if not tl.sources:
        t.append("no adverts from other routers in the window\n", style="dim")
        return t
    marks = [" "] * tl.width
    for _t, b, _old, _new in tl.changes:
        marks[b] = "▲"
    t.append(f"{'master changes':<{label_w}}│")
    t.append("".join(marks), style="bold yellow")
    t.append("│\n")
    now = tl.now
    for when, _b, old, new in tl.changes[-4:]:
        t.append(f"  {fmt.age(now - when)} ago: {old} → {new or 'nobody'}\n", style="yellow")
    if not tl.changes:
        t.append("  no master change in the window\n", style="dim")
    return t


def timeline_width(columns: int) -> int:
    """Columns for the bars: a round number of seconds per column that fits."""
    for w in (150, 120, 100, 75, 60, 50, 30):
        if w + 32 <= columns:
            return w
    return 20


def vrid_detail(sv: SnapView, entry: dict, width: int = WIDTH) -> Text:
    vrid = entry.get("vrid")
    t = Text()
    t.append(f"VRID {vrid}", style="bold")
    mine = sv.instances_by_vrid.get(vrid) or []
    if mine:
        t.append("  ours: " + ", ".join(f"{i['name']} ({i.get('state')} here)" for i in mine))
    else:
        t.append("  foreign: no instance of this node uses this VRID", style="magenta")
    master = entry.get("master")
    if master is None and any(i.get("state") == "MASTER" for i in mine):
        master = "this node"
    t.append(f"  master {master or 'none heard'}\n")
    for f in entry.get("flags") or []:
        t.append(f" {fmt.FLAG_LABEL.get(f.get('kind'), f.get('kind'))} ", style="bold white on red")
        t.append(f" {f.get('detail') or ''}\n", style="red")
    t.append_text(timeline_text(timeline(entry, sv.now, WINDOW, width), set(sv.our_addresses)))
    return t


class AdvertsView(View):
    def compose_body(self) -> ComposeResult:
        yield KeyedTable(COLUMNS, id="adverts-table")
        yield Static(id="advert-detail", classes="detail")

    def render_view(self, sv: SnapView) -> None:
        rows = []
        for entry in sorted(entries(sv), key=lambda a: (a.get("vrid") or 0)):
            flags = entry.get("flags") or []
            ftext = flags_cell(flags)
            sources = sorted(with_ourselves(sv, entry),
                             key=lambda s: (s.get("address") != entry.get("master"), -(s.get("priority") or 0),
                                            str(s.get("address"))))
            for s in sources:
                if not self.keep(entry.get("vrid"), s.get("address"), s.get("mac"), *(s.get("vips") or []),
                                 *(f.get("kind") for f in flags), "foreign" if not entry.get("ours") else "ours"):
                    continue
                rows.append((f"{entry.get('vrid')}|{s.get('address')}", source_row(sv, entry, s, ftext)))
        self.query_one("#adverts-table", KeyedTable).sync(rows)
        self._detail()

    def selected_vrid(self) -> int | None:
        key = self.query_one("#adverts-table", KeyedTable).selected_key
        if not key:
            return None
        try:
            return int(key.split("|", 1)[0])
        except ValueError:
            return None

    def _detail(self) -> None:
        sv = self.sv
        detail = self.query_one("#advert-detail", Static)
        vrid = self.selected_vrid()
        entry = next((e for e in entries(sv) if e.get("vrid") == vrid), None) if (sv and vrid is not None) else None
        text = vrid_detail(sv, entry, timeline_width(self.app.size.width)) if entry else Text("no advert heard yet", style="dim")
        if getattr(detail, "_last", None) != text:
            detail._last = text
            detail.update(text)

    def on_keyed_table_row_highlighted(self, event: KeyedTable.RowHighlighted) -> None:
        if self.sv is not None:
            self._detail()

    def selected_instance(self) -> str | None:
        vrid = self.selected_vrid()
        if vrid is None or self.sv is None:
            return None
        mine = self.sv.instances_by_vrid.get(vrid) or []
        return mine[0]["name"] if mine else None
