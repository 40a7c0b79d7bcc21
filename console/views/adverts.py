"""Screen 2: what the wire says, per VRID, including routers that are not ours.

A view is one VRID on one link in one address family (FRR's dual-stack
routers run VRID 51 for IPv4 and IPv6: two views).  The table lists every
source heard, and below them the sources whose adverts we reject, with the
reason (they never count as masters); the panel below explains the selected
view: its flags in words, the packets the interface dropped before any VRID
was read, and a per-source priority timeline with master changes marked, so
"who was master when" needs no log reading.
"""

from __future__ import annotations

import collections
import functools
from typing import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Static

from vipdeck.console import format as fmt
from vipdeck.console.derive import SnapView, Timeline, advert_key, block, timeline
from vipdeck.console.failover import failovers, master_periods, timeline_lines
from vipdeck.console.views.base import View
from vipdeck.console.widgets.keyed_table import KeyedTable
from vipdeck.console.widgets.update import update_if_changed

COLUMNS = [
    ("vrid", "VRID"), ("source", "Source"), ("mac", "MAC"), ("prio", "Prio"), ("int", "Int"),
    ("ver", "Ver"), ("auth", "Auth"), ("vips", "VIPs"), ("rate", "Rate"), ("age", "Last"),
    ("ttl", "TTL"), ("count", "Count"), ("role", "Role"), ("flags", "Flags"),
]

WINDOW = 300.0
WIDTH = 60
KEEP_EVENTS = 2000          # transition and vip events kept for the timelines
SHOWN_FAILOVERS = 2         # the newest master changes of the selected VRID


def flags_cell(flags: list[dict]) -> Text:
    t = Text()
    for k, f in enumerate(flags):
        if k:
            t.append(" ")
        t.append(fmt.FLAG_LABEL.get(f.get("kind"), str(f.get("kind")).upper()), style="bold white on red")
    return t


def entries(sv: SnapView) -> list[dict]:
    """Every view heard, plus ours that nobody else advertises (a lone master)."""
    out = list(sv.adverts)
    lone = set()
    for i in sv.instances:
        key = (i.get("interface"), i.get("family") or 4, i.get("vrid"))
        if sv.advert_of(i) is None and key not in lone:
            lone.add(key)
            out.append({"vrid": i.get("vrid"), "family": i.get("family") or 4, "interface": i.get("interface"),
                        "master": None, "ours": True, "instance": i["name"], "sources": [], "flags": [],
                        "history": []})
    return out


def entry_key(entry: dict) -> str:
    iface, fam, vrid = advert_key(entry)
    return f"{iface or ''}/{fam}/{vrid}"


def _entry_order(a: dict) -> tuple:
    """Where a VRID's rows go on the adverts screen: by VRID, family, link."""
    return (a.get("vrid") or 0, a.get("family") or 4, a.get("interface") or "")


def vrid_label(entry: dict) -> str:
    return f"{entry.get('vrid')}{' v6' if (entry.get('family') or 4) == 6 else ''}"


def with_ourselves(sv: SnapView, entry: dict) -> list[dict]:
    """The sniffer may not list our own adverts; when this node is the
    master of the VRID, show it as a source built from our instance."""
    sources = list(entry.get("sources") or [])
    if any(sv.is_ours(s.get("address")) for s in sources):
        return sources
    mine = our_source(sv, entry, sources)
    if mine is not None:
        sources.append(mine)
    return sources


def our_source(sv: SnapView, entry: dict, sources: Sequence[dict]) -> dict | None:
    """The source ``with_ourselves`` adds for this node when it is the
    master of the VRID and no source heard is ours (None otherwise: not
    master here).  Apart, so the adverts screen copies no list of sources
    for a VRID where nothing is added (510 a snapshot at 255 VRIDs)."""
    mine = [i for i in sv.instances_of(entry) if i.get("state") == "MASTER"]
    if not mine:
        return None
    i = mine[0]
    address = entry.get("master") if sv.is_ours(entry.get("master")) else (i.get("wire") or {}).get("source")
    if address is None:
        addrs = [a for itf in sv.node.get("interfaces") or [] if itf.get("name") == i.get("interface")
                 for a in itf.get("addresses") or []]
        address = addrs[0].split("/")[0] if addrs else "this node"
    adv = i.get("advert_int") or 0
    return {"address": address, "mac": sv.our_macs.get(i.get("interface")),
            "priority": i.get("effective_priority"), "interval": i.get("advert_int"),
            "version": i.get("version"), "auth_type": our_auth(i, sources),
            "vips": [v.get("address", "").split("/")[0] for v in i.get("vips") or []],
            "rate": 1 / adv if adv else None, "last_seen_age": None, "ttl": None,
            "count": (i.get("counters") or {}).get("adverts_sent"), "here": True}


def our_auth(i: dict, sources: list[dict]) -> object:
    """The authentication type of our own adverts: the snapshot's when it says
    (``wire.auth_type``); none for VRRPv3 (RFC 5798 has no authentication);
    else that of an accepted peer, since we accept only adverts whose type is
    ours; else unknown."""
    wire = i.get("wire") or {}
    if wire.get("auth_type") is not None:
        return wire["auth_type"]
    if i.get("version") == 3:
        return 0
    return next((s.get("auth_type") for s in sources if s.get("auth_type") is not None), None)


def _source_row(sv: SnapView, entry: dict, s: dict, flags: list[dict]) -> tuple:
    return source_row(sv, entry, s, flags_cell(flags))


def source_row(sv: SnapView, entry: dict, s: dict, flags_text: Text) -> tuple:
    ours = entry.get("ours")
    vrid_cell = Text()
    vrid_cell.append(vrid_label(entry), style="bold" if ours else "dim")
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
        f"v{s.get('version')}" if s.get("version") else "-", fmt.auth(s.get("auth_type")),
        vips_cell, fmt.rate(s.get("rate")), fmt.age(s.get("last_seen_age")), ttl_cell,
        fmt.number(s.get("count")), role, flags_text,
    )


def rejected_row(entry: dict, r: dict) -> tuple:
    """A source whose adverts we drop: never a master, shown with why."""
    vrid_cell = Text(vrid_label(entry), style="dim")
    if not entry.get("ours"):
        vrid_cell.append(" foreign", style="magenta")
    src = Text(str(r.get("address")), style="red")
    prio = r.get("priority")
    return (
        vrid_cell, src, r.get("mac") or "-", fmt.number(prio), "-", "-", "-", Text("-", style="dim"), "-",
        fmt.age(r.get("last_seen_age")), "-", fmt.number(r.get("count")), Text("REJECTED", style="bold red"),
        Text(str(r.get("reason") or "?").upper(), style="bold white on dark_red"),
    )


DROP_LABEL = {"own_source": "our own source address", "truncated": "too short", "malformed": "malformed IP",
              "ip_header": "bad IP header", "auth_unsupported": "IPsec AH", "addr_family": "bad address"}


def drops_text(sv: SnapView, interface: str | None) -> Text:
    t = Text()
    dropped = sv.vrrp_drops.get(interface) if interface else None
    if dropped:
        t.append(f"{interface} dropped before any VRID was read: ", style="red")
        t.append(", ".join(f"{DROP_LABEL.get(k, k)} {n}" for k, n in sorted(dropped.items())) + "\n", style="red")
    return t


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
        t.append(f"  {fmt.age(now - when)} ago: {old or 'nobody'} → {new or 'nobody'}\n", style="yellow")
    if not tl.changes:
        t.append("  no master change in the window\n", style="dim")
    return t


def timeline_width(columns: int) -> int:
    """Columns for the bars: a round number of seconds per column that fits."""
    for w in (150, 120, 100, 75, 60, 50, 30):
        if w + 32 <= columns:
            return w
    return 20


def failover_text(sv: SnapView, entry: dict, events: Sequence[dict], peers: Sequence = (),
                  shown: int = SHOWN_FAILOVERS, peer_events: dict | None = None) -> Text:
    """The newest master changes of one VRID, step by step (``console.failover``)."""
    t = Text()
    fos = failovers(sv, entry, events, peers, peer_events)
    t.append(f"failover timeline of VRID {entry.get('vrid')} ({len(fos)} master change"
             f"{'s' if len(fos) != 1 else ''} known; ms from the first step, Δ from the previous)\n", style="dim")
    if not fos:
        t.append("  no master change in the events and adverts kept\n", style="dim")
    for fo in fos[-shown:]:
        for line, style in timeline_lines(fo):
            t.append(line + "\n", style=style)
    return t


def vrid_detail(sv: SnapView, entry: dict, width: int = WIDTH, events: Sequence[dict] = ()) -> Text:
    vrid = entry.get("vrid")
    t = Text()
    t.append(f"VRID {vrid} IPv{entry.get('family') or 4}" + (f" on {entry['interface']}" if entry.get("interface") else ""),
             style="bold")
    mine = sv.instances_of(entry)
    if mine:
        t.append("  ours: " + ", ".join(f"{i['name']} ({i.get('state')} here)" for i in mine))
    else:
        t.append("  foreign: no instance of this node uses this VRID", style="magenta")
    master = entry.get("master")
    if master is None and any(i.get("state") == "MASTER" for i in mine):
        master = "this node"
    t.append(f"  master {master or 'none heard'}\n")
    for f in entry.get("flags") or []:
        t.append(f" {fmt.FLAG_LABEL.get(f.get('kind'), str(f.get('kind')).upper())} ", style="bold white on red")
        t.append(f" {f.get('detail') or ''}\n", style="red")
    rejected = entry.get("rejected_sources") or []
    if rejected:
        t.append(f"{len(rejected)} source{'s' if len(rejected) > 1 else ''} rejected (never counted as master): ",
                 style="red")
        t.append(", ".join(f"{r.get('address')} {r.get('reason')}" for r in rejected[:4])
                 + (" …" if len(rejected) > 4 else "") + "\n", style="red")
    t.append_text(drops_text(sv, entry.get("interface")))
    own = master_periods(sv, entry, events)
    t.append_text(timeline_text(timeline(entry, sv.now, WINDOW, width, own), set(sv.our_addresses)))
    return t


class AdvertsView(View):
    DEFAULT_CSS = """
    AdvertsView #advert-failovers { max-height: 12; }
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.events: collections.deque[dict] = collections.deque(maxlen=KEEP_EVENTS)

    def add_events(self, events: Sequence[dict], visible: bool = False) -> None:
        """Keep what the timelines read (transitions, VIPs and GARP); redraw if shown."""
        kept = [e for e in events if e.get("kind") in ("transition", "vip")]
        self.events.extend(kept)
        if kept and visible and self.sv is not None:
            self._detail()

    def peers(self) -> Sequence:
        """The other nodes as PeerViews, seen from this one (``app.views_but(0)``)."""
        others = getattr(self.app, "views_but", None)
        return tuple(others(0)[0]) if others is not None else ()

    def peer_events(self) -> dict:
        """The other nodes' own events by node name, as the app keeps them."""
        others = getattr(self.app, "views_but", None)
        return dict(others(0)[1]) if others is not None else {}

    def compose_body(self) -> ComposeResult:
        yield KeyedTable(COLUMNS, id="adverts-table")
        yield Static(id="advert-detail", classes="detail")
        yield Static(id="advert-failovers", classes="detail")

    def render_view(self, sv: SnapView) -> None:
        """Rows are synchronised lazily: a row is (key, what its cells are made
        from, how to make them), so only the rows on screen are made (510 at
        255 VRIDs, every one changing on every snapshot).

        The rest is kept cheap because it runs for all 510 rows on every
        snapshot and on the key that shows this screen: a row's signature
        holds what ``source_row`` reads (the entry's few fields, the source
        dict, whether the source is this node's) rather than the node's
        address set, which cost a 130-address set comparison per row with
        the VIPs held; our own source is built only where it is missing, no
        list of sources is copied, the sources of a VRID are sorted only if
        out of order, and the VRIDs are sorted again only when the views
        differ from the last snapshot's."""
        rows = []
        append = rows.append
        by_key: dict[str, dict] = {}
        view_keys = []
        for e in entries(sv):
            ak = advert_key(e)
            view_keys.append(ak)
            by_key[f"{ak[0] or ''}/{ak[1]}/{ak[2]}"] = e      # entry_key(e)
        self._entries = by_key
        # the VRIDs in display order: the same views (advert_key, exact values, in the
        # same order) sort the same, and their sort keys are made from nothing else
        cached = getattr(self, "_order_cache", None)
        if cached is not None and cached[0] == view_keys:
            order = cached[1]
        else:
            order = sorted(by_key, key=lambda k: _entry_order(by_key[k]))
            self._order_cache = (view_keys, order)
        is_ours = sv.is_ours
        filtering = bool(self.text_filter)   # no filter: nothing to match (510 rows a snapshot at 255 VRIDs)
        for ek in order:
            entry = by_key[ek]
            flags = entry.get("flags") or []
            master = entry.get("master")
            head = (entry.get("ours"), master, entry.get("vrid"), entry.get("family"), flags)
            tags = ([f.get("kind") for f in flags] + ["foreign" if not entry.get("ours") else "ours",
                                                       f"v{entry.get('family') or 4}"]) if filtering else ()
            sources = entry.get("sources") or []
            here = [is_ours(s.get("address")) for s in sources]
            if not any(here):                   # as with_ourselves
                extra = our_source(sv, entry, sources)
                if extra is not None:
                    sources = [*sources, extra]
                    here.append(False)     # "here" is in the source itself
            if len(sources) > 1:
                keys = [(s.get("address") != master, -(s.get("priority") or 0), str(s.get("address")))
                        for s in sources]
                if any(keys[k + 1] < keys[k] for k in range(len(keys) - 1)):
                    ranked = sorted(range(len(sources)), key=keys.__getitem__)     # stable, as before
                    sources = [sources[k] for k in ranked]
                    here = [here[k] for k in ranked]
            for s, ours in zip(sources, here):
                if filtering and not self.keep(entry.get("vrid"), s.get("address"), s.get("mac"),
                                               *(s.get("vips") or []), *tags):
                    continue
                # the flags' cell is made with the row, only for the rows made (those on screen);
                # the signature: source_row reads the node only through is_ours(address)
                append((f"{ek}|{s.get('address')}", (head, ours, s),
                        functools.partial(_source_row, sv, entry, s, flags)))
            for r in entry.get("rejected_sources") or []:
                if filtering and not self.keep(entry.get("vrid"), r.get("address"), r.get("mac"), r.get("reason"),
                                               "rejected", *tags):
                    continue
                append((f"{ek}|rejected|{r.get('address')}", (head, r), functools.partial(rejected_row, entry, r)))
        self.query_one("#adverts-table", KeyedTable).sync_lazy(rows)
        self._detail()

    def selected_entry(self) -> dict | None:
        key = self.query_one("#adverts-table", KeyedTable).selected_key
        if not key or self.sv is None:
            return None
        entries_ = getattr(self, "_entries", None) or {entry_key(e): e for e in entries(self.sv)}
        return entries_.get(key.split("|", 1)[0])

    def selected_vrid(self) -> int | None:
        entry = self.selected_entry()
        return entry.get("vrid") if entry else None

    def _detail(self) -> None:
        sv = self.sv
        detail = self.query_one("#advert-detail", Static)
        entry = self.selected_entry() if sv else None
        text = vrid_detail(sv, entry, timeline_width(self.app.size.width), self.events) if entry \
            else Text("no advert heard yet", style="dim")
        update_if_changed(detail, text)
        fo = failover_text(sv, entry, self.events, self.peers(), peer_events=self.peer_events()) if entry \
            else Text("")
        update_if_changed(self.query_one("#advert-failovers", Static), fo)

    def on_keyed_table_row_highlighted(self, event: KeyedTable.RowHighlighted) -> None:
        if self.sv is not None:
            self._detail()

    def selected_instance(self) -> str | None:
        entry = self.selected_entry()
        if entry is None or self.sv is None:
            return None
        mine = self.sv.instances_of(entry)
        return mine[0]["name"] if mine else None
