"""The operator console: a Textual app that is only a client of the engine.

It hears the engine through a ``NodeFeed`` (``feed.py``: the event stream,
paced snapshots and the link's state, posted as messages) over one
``Client`` (a daemon's Unix socket or an embedded engine), and sends changes
as control requests, each after a confirmation that states its consequence
(the changes are one table, ``changes.py``).  Only the visible screen is
brought up to date with a snapshot, by diffing table cells, never by
refilling.
"""

from __future__ import annotations

import inspect
import time
from functools import partial
import collections
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Iterable, Sequence

from rich.text import Text
from textual import events
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.screen import ModalScreen, Screen
from textual.widgets import Input, Static, TabbedContent, TabPane

from vipdeck.console.actions import ChangePlan, NotApplicable
from vipdeck.console.cluster import ClusterComparison, ClusterRow, all_flags, node_names
from vipdeck.console.changes import BY_NAME, CHANGES, INSTANCE, IPVS_OPS, REAL_SERVER, Change
from vipdeck.console.derive import SnapView, held_vips, move_of
from vipdeck.console.failover import Followup, followed_instances
from vipdeck.console.feed import LinkState, NodeFeed
from vipdeck.console.help import HelpScreen
from vipdeck.console.peerview import PeerView
from vipdeck.console.format import age as format_age
from vipdeck.console.modals import ConfirmScreen
from vipdeck.console.views.adverts import AdvertsView
from vipdeck.console.views.base import View
from vipdeck.console.views.events import EventsView
from vipdeck.console.views.ipvs import IpvsView
from vipdeck.console.views.overview import OverviewView
from vipdeck.console.views.vips import VipsView
from vipdeck.console.system import local_system
from vipdeck.console.widgets.key_bar import KeyBar
from vipdeck.console.collector import Collector
from vipdeck.engine.control.client import Client, client_for
from vipdeck.console.widgets.update import update_if_changed
from vipdeck.engine.control.schema import ControlError

StopFn = Callable[..., Awaitable[Any]]
Starter = Callable[[], Any]   # returns (client, stop) or an awaitable of it

TABS: list[tuple[str, str, type[View]]] = [
    ("overview", "1 Overview", OverviewView),
    ("adverts", "2 Adverts", AdvertsView),
    ("vips", "3 VIPs", VipsView),
    ("ipvs", "4 IPVS", IpvsView),
    ("events", "5 Events", EventsView),
]

PEER_EVENTS = 500
Peer = Any   # a peer as the constructor takes it: an address, a Client, or (address, Client)


@dataclass
class PeerLink:
    """One other node the console watches: its connection, feed and last word."""

    address: str
    client: Any
    feed: NodeFeed | None = None
    raw: dict | None = None
    sv: SnapView | None = None
    link: LinkState | None = None
    is_self: bool = False        # the address reaches the node we are attached to (a shared console.toml)
    # its latest events, oldest first (for the failover timeline: the peer's view of a change)
    events: collections.deque = field(default_factory=lambda: collections.deque(maxlen=PEER_EVENTS))

    @property
    def name(self) -> str:
        return self.sv.hostname if self.sv is not None and self.sv.node else self.address


def same_node(a: dict | None, b: dict | None) -> bool:
    """Two snapshots of one daemon (the same host, pid and start)."""
    na, nb = (a or {}).get("node") or {}, (b or {}).get("node") or {}
    return bool(na) and all(na.get(k) == nb.get(k) for k in ("hostname", "pid", "started_at"))


class ScreenTabs(TabbedContent):
    """Tabs that change only when the operator (or the app) says so.

    TabbedContent activates the pane of any widget that gains focus; a focus
    request still queued from before a switch would then pull the console
    back to the previous screen (and the two would chase each other)."""

    def _on_tab_pane_focused(self, event: TabPane.Focused) -> None:
        event.stop()
        event.prevent_default()   # Textual would call TabbedContent's handler next


class ConsoleApp(App[int]):
    TITLE = "vipdeck"
    CSS = """
    #status { height: 1; background: $panel; padding: 0 1; }
    #tabs { height: 1fr; }
    #tabs > ContentSwitcher { height: 1fr; }
    TabPane { height: 1fr; padding: 0; }
    #advert-detail { max-height: 18; }
    #instance-detail { max-height: 10; }
    """
    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("question_mark", "help", "Help"),
        # priority: run as the key is read, not after it bubbled up from the table,
        # so the keys typed after it (already queued) reach the filter (check_action)
        Binding("slash", "filter", "Filter", priority=True),
        # naming one key for the palette drops Textual's own Ctrl+P: name both
        Binding("colon,ctrl+p", "command_palette", "Commands", show=False),
        Binding("1", "show_tab('overview')", "Overview", show=False),
        Binding("2", "show_tab('adverts')", "Adverts", show=False),
        Binding("3", "show_tab('vips')", "VIPs", show=False),
        Binding("4", "show_tab('ipvs')", "IPVS", show=False),
        Binding("5", "show_tab('events')", "Events", show=False),
        Binding("n", "next_node", "Target node", show=False),
        # the IPVS keys work everywhere (elsewhere they explain themselves); the IPVS screen shows them
        *(Binding(c.key, f"change('{c.name}')", c.label, show=c.on_bar) for c in CHANGES if c.key),
    ]

    def __init__(
        self,
        client: Client | None = None,
        *,
        starter: Starter | None = None,
        read_only: bool = False,
        label: str | None = None,
        refresh_interval: float = 1.0,
        coalesce: float = 0.25,
        system_probe: Callable[[], dict] | None = local_system,
        localtime: Callable[[float], time.struct_time] = time.localtime,
        frozen: bool = False,
        max_events: int = 2000,
        confirm_delay: float = ConfirmScreen.ARM_DELAY,
        peers: Sequence[Peer] = (),
        peer_client: Callable[[str], Client] | None = None,
    ):
        """``client``: an ``engine.control.client.Client``.  ``starter``: for an
        embedded engine, a callable returning ``(client, stop)`` (or an awaitable
        of it); ``stop(resign=True)`` is awaited when the console quits.
        ``frozen`` stops cursor blinking for reproducible pictures;
        ``localtime`` formats event times (tests pass ``time.gmtime``);
        ``confirm_delay``: how long a confirmation ignores keys after it opens.
        ``peers``: the other nodes of the cluster view, each an address (a
        socket path or ssh://..., made a client with ``peer_client``), a
        Client, or an (address, Client) pair; one feed each (by default an
        address's client speaks for the attached client's ``who``)."""
        super().__init__()
        if client is None and starter is None:
            raise ValueError("ConsoleApp needs a client or a starter")
        self.client = client
        self._starter = starter
        self._stop: StopFn | None = None
        self._stopped = False
        self.embedded = starter is not None
        self.read_only = read_only
        self.label = label
        self.refresh_interval = refresh_interval
        self.coalesce = coalesce
        self.system_probe = system_probe
        self.localtime = localtime
        self.frozen = frozen
        self.max_events = max_events
        self.confirm_delay = confirm_delay
        self.feed: NodeFeed | None = None
        self.link: LinkState | None = None   # the feed's last word on the connection
        self.starting: str | None = None     # what the status line says before there is a feed
        self.sv: SnapView | None = None
        self.version = 0                 # snapshots applied so far
        self.collector = Collector()     # the collector's pauses (console.collector)
        self.apply_cost = 0.0            # seconds the last snapshot took to show
        self._system: dict | None = None
        self.notices: list[tuple[str, str, str]] = []   # (severity, title, message), newest last
        if peer_client is None:
            who = getattr(client, "who", None)
            peer_client = partial(client_for, who=who)
        self.peer_links: list[PeerLink] = [self._peer_link(p, peer_client) for p in peers]
        self.target = 0                  # which node changes go to: 0 this one, k the k-th peer link
        self.cluster: list[ClusterRow] = []
        self._comparison = ClusterComparison()   # the rows, made again only where a node's word changed
        self._cluster_at = float("-inf")     # when the nodes were last compared (monotonic)
        self.followups: list[tuple[Followup, PeerLink | None]] = []   # changes sent, followed to their end

    @staticmethod
    def _peer_link(peer: Peer, make: Callable[[str], Client]) -> PeerLink:
        if isinstance(peer, str):
            return PeerLink(peer, make(peer))
        if isinstance(peer, tuple):
            return PeerLink(str(peer[0]), peer[1])
        return PeerLink(str(getattr(peer, "path", None) or getattr(peer, "address", None) or repr(peer)), peer)

    # -- layout ---------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static(id="status")
        with ScreenTabs(initial="overview", id="tabs"):
            for tab_id, title, cls in TABS:
                with TabPane(title, id=tab_id):
                    kw: dict[str, Any] = {"localtime": self.localtime, "frozen": self.frozen}
                    if cls is EventsView:
                        kw["max_events"] = self.max_events
                    if cls is OverviewView:
                        kw["cluster_nodes"] = 1 + len(self.peer_links)
                    yield cls(id=f"view-{tab_id}", **kw)
        yield KeyBar(id="keys")

    def view(self, tab_id: str) -> View:
        return self.query_one(f"#view-{tab_id}", View)

    @property
    def active_tab(self) -> str:
        return self.query_one("#tabs", TabbedContent).active or "overview"

    def active_view(self) -> View:
        return self.view(self.active_tab)

    @property
    def events_view(self) -> EventsView:
        return self.query_one("#view-events", EventsView)

    async def on_mount(self) -> None:
        self.set_interval(1.0, self.collector.idle, name="collector")   # full collections when nobody types
        self._update_status()
        self.active_view().focus_main()
        if self._starter is not None:
            self.run_worker(self._start_embedded, name="start-embedded", group="start")
        else:
            self._begin()

    async def _start_embedded(self) -> None:
        self.starting = "starting the embedded engine…"
        self._update_status()
        try:
            res = self._starter()
            if inspect.isawaitable(res):
                res = await res
            self.client, self._stop = res
        except Exception as exc:
            self.exit(return_code=1, message=f"vipdeck console: the embedded engine did not start: {exc}")
            return
        self.starting = None
        self._begin()

    def _begin(self) -> None:
        self.feed = NodeFeed(self.client, self.post_message, node=self.label or "local",
                             coalesce=self.coalesce, refresh_interval=self.refresh_interval,
                             max_events=self.max_events)
        self.feed.start()
        self.feed.tick()
        for k, p in enumerate(self.peer_links):
            p.feed = NodeFeed(p.client, self.post_message, node=p.address, coalesce=self.coalesce,
                              refresh_interval=self.refresh_interval, max_events=self.max_events)
            p.feed.start()
            p.feed.tick()

    def _peer_of(self, feed: NodeFeed) -> PeerLink | None:
        return next((p for p in self.peer_links if p.feed is feed), None)

    # -- what the feed says ------------------------------------------------------------------

    def on_node_feed_events(self, message: NodeFeed.Events) -> None:
        peer = self._peer_of(message.feed)
        if peer is not None:     # kept for what reasons about the pair (not on the events screen)
            peer.events.extend(message.events)
            return
        if self._exit:
            return
        try:
            with self.batch_update():
                self.events_view.add_events(message.events, visible=self.active_tab == "events")
                self.view("adverts").add_events(message.events, visible=self.active_tab == "adverts")
        except NoMatches:   # the DOM is being torn down (quitting)
            pass

    def on_node_feed_status(self, message: NodeFeed.Status) -> None:
        peer = self._peer_of(message.feed)
        if peer is not None:
            peer.link = message.state
        else:
            self.link = message.state
        self._update_cluster(force=True)    # a node went or came back: say so at once
        self._update_status()

    def on_node_feed_snapshot(self, message: NodeFeed.Snapshot) -> None:
        """Show it, and tell the feed once it is painted: the next snapshot is
        not fetched before the screen has caught up with this one."""
        started = time.perf_counter()
        try:
            peer = self._peer_of(message.feed)
            if peer is not None:
                self.apply_peer_snapshot(peer, message.raw)
            else:
                self.apply_snapshot(message.raw)
        finally:
            if self._exit:
                message.feed.shown(0.0)
            else:   # the cost that paces the feed includes painting it
                self.call_after_refresh(lambda: message.feed.shown(time.perf_counter() - started))

    def apply_snapshot(self, raw: dict) -> float:
        """Show a snapshot on the visible screen; the seconds it took."""
        system = None
        if not (raw.get("node") or {}).get("system") and self.system_probe is not None:
            if self._system is None or self.active_tab == "overview":
                self._system = self.system_probe()
            system = self._system
        self.sv = SnapView(raw, system)
        self.version += 1
        if self._exit:
            return 0.0
        if self.version == 1:
            self.call_after_refresh(self.collector.settle)
        started = time.perf_counter()
        try:
            with self.batch_update():
                self._update_cluster(render=False)
                self._update_status()
                self.active_view().show(self.sv, self.version)
            self._check_followups()
        except NoMatches:   # the DOM is being torn down (quitting)
            return 0.0
        self.apply_cost = time.perf_counter() - started
        return self.apply_cost

    def apply_peer_snapshot(self, peer: PeerLink, raw: dict) -> None:
        peer.raw = raw
        peer.sv = SnapView(raw)
        peer.is_self = same_node(raw, self.sv.raw if self.sv is not None else None)
        if self._exit:
            return
        try:
            with self.batch_update():
                self._update_cluster()
                self._update_status()
            self._check_followups()
        except NoMatches:
            pass

    # -- the cluster view ----------------------------------------------------------------------

    def _heard_age(self, link: LinkState | None, feed: NodeFeed | None = None) -> float | None:
        # the feed's own last reply: a posted LinkState keeps the last_heard of
        # when what it says last changed (last_heard is left out of equality)
        if feed is not None and feed.core.last_heard is not None:
            return max(0.0, feed.clock() - feed.core.last_heard)
        return link.heard_ago(time.monotonic()) if link is not None else None

    def node_view(self) -> PeerView:
        """This node as a PeerView (the first of ``cluster_nodes``)."""
        name = self.sv.hostname if self.sv is not None else (self.label or "this node")
        return PeerView(name, self.label or "local", self.sv.raw if self.sv is not None else None,
                        self._heard_age(self.link, self.feed), self.connected)

    def peer_view(self, p: PeerLink) -> PeerView:
        return PeerView(p.name, p.address, p.raw, self._heard_age(p.link, p.feed),
                        bool(p.link and p.link.connected))

    def visible_peers(self) -> list[PeerLink]:
        """The peer links shown (one that turned out to be this node is left out)."""
        return [p for p in self.peer_links if not p.is_self]

    @property
    def cluster_nodes(self) -> list[PeerView]:
        """Every node the console watches, this one first."""
        return [self.node_view(), *(self.peer_view(p) for p in self.visible_peers())]

    @property
    def peers(self) -> list[PeerView]:
        """The other nodes, seen from the node a change targets (the previews'
        ``peers``: who else could take a VRID over)."""
        nodes = self.cluster_nodes
        target = self.target_index()
        return [n for k, n in enumerate(nodes) if k != target]

    @property
    def stale_after(self) -> float:
        return self.feed.core.stale_after if self.feed is not None else max(3.0, 3 * self.refresh_interval)

    def refresh_cluster(self) -> None:
        """Compare the nodes now, the overview is being shown (unless they were
        compared within half a second: a screen switch must stay quick)."""
        if time.monotonic() - self._cluster_at >= 0.5:
            self._update_cluster(render=False, force=True)

    def _update_cluster(self, render: bool = True, force: bool = False) -> None:
        """Compare the nodes again and show it when the overview is on screen;
        elsewhere at most once a second (for the status line's flag count)."""
        if not self.peer_links:
            return
        now = time.monotonic()
        if not force and self.active_tab != "overview" and now - self._cluster_at < 1.0:
            return
        self._cluster_at = now
        nodes = self.cluster_nodes
        self.cluster = self._comparison.update(nodes, stale_after=self.stale_after)
        if self._exit:
            return
        try:
            view = self.view("overview")
        except NoMatches:
            return
        view.show_cluster(self.cluster, self.node_headings(nodes), render=render and self.active_tab == "overview")

    def node_headings(self, nodes: list[PeerView]) -> list[str]:
        names = node_names(nodes)
        out = []
        for k, n in enumerate(nodes):
            seen = "never heard" if n.heard_age is None else ("live" if n.heard_age < 2 else
                                                               f"heard {format_age(n.heard_age)} ago")
            if n.stale(self.stale_after):
                seen = f"UNREACHABLE ({seen})"
            mark = " ◀ target" if k == self.target_index() and len(nodes) > 1 and k else ""
            out.append(f"{names[k]}{' (here)' if k == 0 else ''} · {seen}{mark}")
        # a peer hidden as "this node" leaves its column empty
        while len(out) < 1 + len(self.peer_links):
            out.append("(this node again)")
        return out

    def target_index(self) -> int:
        """The target's position in ``cluster_nodes`` (0 when its peer went or turned out to be us)."""
        if self.target == 0:
            return 0
        visible = self.visible_peers()
        link = self.peer_links[self.target - 1] if self.target <= len(self.peer_links) else None
        return 1 + visible.index(link) if link in visible else 0

    def target_link(self) -> PeerLink | None:
        k = self.target_index()
        return self.visible_peers()[k - 1] if k else None

    def action_next_node(self) -> None:
        """Changes go to the next node (this one, then each peer with a snapshot)."""
        if not self.peer_links:
            self.notify("No peers: start the console with --peer ADDR to watch and change other nodes.",
                        severity="warning")
            return
        choices = [0] + [k + 1 for k, p in enumerate(self.peer_links) if p.sv is not None and not p.is_self]
        self.target = choices[(choices.index(self.target) + 1) % len(choices)] if self.target in choices else 0
        name = self.target_name()
        self.notify(f"Changes now go to {name}.", title="target node")
        self._update_cluster()
        self._update_status()

    def target_name(self) -> str:
        link = self.target_link()
        if link is None:
            return self.sv.hostname if self.sv is not None else "this node"
        return node_names(self.cluster_nodes)[self.target_index()]

    def views_but(self, k: int) -> tuple[list[PeerView], dict[str, list]]:
        """Every node but the k-th of ``cluster_nodes`` (0: this one), as PeerViews, and their
        own events by name (the failover timelines and follow-ups: the other side's view)."""
        nodes = self.cluster_nodes
        links: list[PeerLink | None] = [None, *self.visible_peers()]
        views, evs = [], {}
        for j, (n, ln) in enumerate(zip(nodes, links)):
            if j == k:
                continue
            views.append(n)
            try:
                evs[n.name] = list(ln.events) if ln is not None else list(self.view("adverts").events)
            except NoMatches:
                evs[n.name] = []
        return views, evs

    @property
    def peer_events(self) -> dict[str, list]:
        """The other nodes' events by name, seen from the node a change targets."""
        return self.views_but(self.target_index())[1]

    def _check_followups(self) -> None:
        """Say how each followed change ended (or what did not happen by its deadline): from
        the target node's snapshot and events, and the other nodes' views."""
        if not self.followups:
            return
        visible = self.visible_peers()
        for f, link in list(self.followups):
            if link is not None and link not in visible:
                continue
            sv = link.sv if link is not None else self.sv
            if sv is None:
                continue
            k = 1 + visible.index(link) if link is not None else 0
            peers, peer_events = self.views_but(k)
            own = list(link.events) if link is not None else list(self.view("adverts").events)
            where = f" ({link.name})" if link is not None else ""
            for severity, sentence in f.check(sv, own, peers, peer_events):
                self.notify(sentence, title=f"{f.op}{where}: followed", severity=severity, timeout=20)
            if f.finished:
                self.followups.remove((f, link))

    def request_refresh(self) -> None:
        if self.feed is not None:
            self.feed.refresh()

    @property
    def connected(self) -> bool:
        return bool(self.link and self.link.connected)

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        # A stale activation (the operator switched again before it arrived)
        # must not move focus back: focusing a pane re-activates it, and two
        # such messages in flight would chase each other for ever.
        if self._exit or event.pane.id != self.active_tab:
            return
        try:
            view = self.view(event.pane.id)
        except NoMatches:
            return
        if self.sv is not None and view.shown_version != self.version:
            view.show(self.sv, self.version)
        view.activate()
        focused = self.focused
        if focused is None or view not in focused.ancestors_with_self:
            view.focus_main()

    async def on_event(self, event: events.Event) -> None:
        # Keys typed ahead of a confirmation (read before it opened, or within
        # its arming delay) must not answer it: typing "/operator" once opened
        # "Take over VI_1?" on the t and confirmed it with the Enter after it.
        if isinstance(event, events.Key) and not event.is_forwarded:
            self.collector.key()
            screen = self.screen
            if isinstance(screen, ConfirmScreen) and not screen.accepts(event):
                return
        await super().on_event(event)

    def notify(self, message: str, *, title: str = "", severity: str = "information",
               timeout: float | None = None, markup: bool = False) -> None:
        """Engine messages are shown verbatim (no markup) and kept in
        ``notices`` so tests and the screenshot tool can read them."""
        self.notices.append((severity, title, str(message)))
        del self.notices[:-50]
        super().notify(str(message), title=title, severity=severity, timeout=timeout, markup=markup)

    # -- status line -----------------------------------------------------------------------

    @property
    def effective_read_only(self) -> bool:
        return self.read_only or bool(self.sv and self.sv.raw.get("read_only"))

    def status_text(self) -> Text:
        """The node, the link, then what needs attention, then where from: the
        badges come before the socket path and the mode, so a narrow terminal
        cuts those off first."""
        t = Text(no_wrap=True, overflow="ellipsis")
        t.append(" vipdeck ", style="bold reverse")
        sv = self.sv
        if sv is not None:
            t.append(f" {sv.hostname}", style="bold")
        t.append("  ")
        t.append_text(self.link_text())
        if self.effective_read_only:
            t.append("  READ-ONLY ", style="bold black on yellow")
        if sv is not None and sv.drained:
            t.append("  DRAINED ", style="bold white on dark_red")
        if sv is not None and any(a.get("flags") for a in sv.adverts):
            n = sum(1 for a in sv.adverts if a.get("flags"))
            t.append(f"  {n} VRID{'s' if n > 1 else ''} flagged (2) ", style="bold red")
        if sv is not None and not sv.ipvs.get("available", True) and sv.virtual_servers:
            t.append("  IPVS unavailable (4) ", style="bold red")
        if self.peer_links:
            t.append_text(self.nodes_text())
        if sv is not None:
            rid = sv.node.get("router_id")
            if rid and rid != sv.hostname:
                t.append(f"  router_id {rid}")
            mode = "embedded engine" if self.embedded else (sv.node.get("mode") or "daemon")
            t.append(f"  {mode}", style="dim")
        if self.label:
            t.append(f" {self.label}", style="dim")
        return t

    def nodes_text(self) -> Text:
        """Which nodes are seen, and where changes go."""
        t = Text()
        flagged = all_flags(self.cluster)
        if flagged:
            n = len({(f.kind, f.nodes) for f in flagged})
            t.append(f"  {n} cluster flag{'s' if n > 1 else ''} (1) ", style="bold red")
        t.append("  nodes:", style="dim")
        nodes = self.cluster_nodes
        for k, (name, n) in enumerate(zip(node_names(nodes), nodes)):
            ok = not n.stale(self.stale_after)
            t.append(f" {'●' if ok else '○'} {name}", style="green" if ok else "bold red")
        if self.target_index():
            t.append(f"  → changes go to {self.target_name()} ", style="bold black on cyan")
        return t

    def link_text(self) -> Text:
        link = self.link
        if self.starting:
            return Text(self.starting, style="yellow")
        if link is None or (not link.connected and not link.error):
            return Text("○ connecting…", style="yellow")
        if not link.connected:
            return Text(f"○ {link.error}", style="bold red")
        if link.stale:
            return Text(f"◐ no reply for over {link.stale_after:g} s", style="bold yellow")
        return Text("● live", style="bold green")

    def _update_status(self) -> None:
        try:
            status = self.query_one("#status", Static)
        except NoMatches:
            return
        update_if_changed(status, self.status_text())

    # -- navigation ------------------------------------------------------------------------

    def action_show_tab(self, tab_id: str) -> None:
        self.query_one("#tabs", TabbedContent).active = tab_id

    def action_next_tab(self, step: int = 1) -> None:
        ids = [t[0] for t in TABS]
        self.action_show_tab(ids[(ids.index(self.active_tab) + step) % len(ids)])

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "filter" and (isinstance(self.screen, ModalScreen) or isinstance(self.focused, Input)):
            return False    # a "/" typed into a field is a character
        return True

    def action_filter(self) -> None:
        self.active_view().open_filter()

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        for tab_id, title, _cls in TABS:
            yield SystemCommand(f"Show {title[2:]}", f"switch to screen {title[0]}",
                                partial(self.action_show_tab, tab_id))
        for c in CHANGES:
            yield SystemCommand(c.command, c.help + (f" ({c.key})" if c.key else ""),
                                partial(self.action_change, c.name))
        yield SystemCommand("Help", "keys and conventions (?)", self.action_help)
        yield from super().get_system_commands(screen)

    # -- changes ---------------------------------------------------------------------------

    def selection(self, target: str) -> Any:
        """What a change acts on: the row under the cursor of the visible screen,
        never a selection left on a screen the operator cannot see."""
        if target == INSTANCE:
            return self.active_view().selected_instance()
        if target == REAL_SERVER:
            return self.active_view().selected_rs()
        return None

    def target_selection(self, target: str) -> Any:
        """The selection, on the node changes go to: the instance of the same
        name there, else the one with the same VRID (a cluster row's VRID
        when the cluster table has the cursor)."""
        selection = self.selection(target)
        link = self.target_link()
        if target != INSTANCE or link is None or link.sv is None:
            return selection
        insts = link.sv.instances
        view = self.active_view()
        fam_vrid = view.selected_vrid() if isinstance(view, OverviewView) else None
        if fam_vrid is None and selection is not None and self.sv is not None:
            if selection in link.sv.instances_by_name:
                return selection
            local = self.sv.instances_by_name.get(selection) or {}
            fam_vrid = ((local.get("family") or 4), local.get("vrid"))
        if fam_vrid is None:
            return selection
        i = next((i for i in insts if ((i.get("family") or 4), i.get("vrid")) == fam_vrid), None)
        return i["name"] if i else None

    def action_change(self, name: str) -> None:
        change = BY_NAME[name]
        selection = self.target_selection(change.target)
        peers = tuple(self.peers)       # the other nodes, seen from the target: who else can take a VRID
        self.propose(change, lambda sv: change.build(sv, selection, peers))

    def propose(self, change: Change, build: Callable[[SnapView], ChangePlan]) -> None:
        """Build a change from the target node's snapshot and ask for confirmation;
        it is sent to that node's connection (so its audit trail has it)."""
        link = self.target_link()
        sv = link.sv if link is not None else self.sv
        client = link.client if link is not None else self.client
        if self.read_only or (sv is not None and sv.raw.get("read_only")):
            where = f" on {self.target_name()}" if link is not None else ""
            self.notify(f"Read-only console{where}: changes are disabled.", title="read-only", severity="warning")
            return
        if sv is None or client is None:
            self.notify("No snapshot from the engine yet.", severity="warning")
            return
        try:
            plan = build(sv)
        except NotApplicable as exc:
            self.notify(str(exc), severity="warning")
            return
        if self.peer_links:
            name = self.target_name() if link is not None else sv.hostname
            if name not in plan.title:
                plan.title = f"{plan.title.rstrip('?')} on {name}?"
        self.push_screen(self.confirmation(plan, node_wide=change.node_wide),
                         callback=lambda v: self._confirmed(plan, v, link))

    def confirmation(self, plan: ChangePlan, *, node_wide: bool = False) -> ConfirmScreen:
        return ConfirmScreen(plan, frozen=self.frozen, focus_cancel=node_wide, arm_delay=self.confirm_delay)

    def _confirmed(self, plan: ChangePlan, values: dict | None, link: PeerLink | None = None) -> None:
        if values is None:
            self.notify(f"{plan.title.rstrip('?')}: cancelled, nothing sent.")
            return
        self.run_worker(partial(self.send, plan.op, plan.request_args(values), link), name=f"request-{plan.op}",
                        group="request")

    async def send(self, op: str, args: dict, link: PeerLink | None = None) -> dict | None:
        """Send a change to this node, or to a peer's own connection."""
        client = link.client if link is not None else self.client
        sv = link.sv if link is not None else self.sv
        where = f" ({link.name})" if link is not None else ""
        try:
            result = await client.request(op, **args)
        except ControlError as exc:
            self.notify(exc.message, title=f"{op}{where} refused ({exc.code})", severity="error", timeout=10)
            return None
        except (OSError, ValueError, EOFError) as exc:
            self.notify(str(exc), title=f"{op}{where} failed", severity="error", timeout=10)
            return None
        msg = str((result.get("message") if isinstance(result, dict) else None) or "done")
        ipvs = sv.ipvs if sv is not None else {}
        if op in IPVS_OPS and not ipvs.get("available", True):
            # the engine records the intent and says so; the kernel was not touched
            self.notify(f"{msg}. Recorded only: IPVS is unavailable here "
                        f"({ipvs.get('error') or 'the kernel table cannot be read'}), so nothing was applied "
                        "to the kernel (the change is kept and applied when the daemon next starts with IPVS).",
                        title=f"{op}{where}: NOT applied", severity="warning", timeout=15)
        else:
            self.notify(msg, title=f"{op}{where}: ok")
        names = followed_instances(sv, op, args) if sv is not None else ()
        if names:
            self.followups.append((Followup(op, names, since=sv.now), link))
        self.request_refresh()
        if link is not None and link.feed is not None:
            link.feed.refresh()
        return result

    # -- quitting ----------------------------------------------------------------------------

    def quit_plan(self) -> ChangePlan:
        body = Text()
        held = held_vips(self.sv) if self.sv else []
        if held:
            vips = ", ".join(f"{v} ({name})" for name, v in held)
            body.append(f"This node holds VIPs {vips}; quitting will resign them to the peer")
            views = tuple(self.views_but(0)[0])     # the other nodes, seen from this one
            moves = {n: move_of(self.sv, self.sv.instances_by_name[n], views)
                     for n in dict.fromkeys(n for n, _ in held) if n in self.sv.instances_by_name}
            said = [f"{n} → {m.successor.label if m.successor else 'NOBODY (no router can take it)'}"
                    for n, m in moves.items()]
            body.append(f" ({'; '.join(said)}).\n")
            lost = [n for n, m in moves.items() if m.successor is None]
        else:
            body.append("This node holds no VIPs; quitting stops the embedded engine.\n")
            lost = []
        return ChangePlan("quit", {}, "Quit and stop the embedded engine?", body, danger=bool(lost))

    async def action_quit(self) -> None:
        if not self.embedded or self._stop is None:
            self.exit(0)
            return
        self.push_screen(self.confirmation(self.quit_plan(), node_wide=True), callback=self._quit_confirmed)

    def _quit_confirmed(self, values: dict | None) -> None:
        if values is None:
            return
        self.run_worker(self._stop_and_exit, name="stop-embedded", group="stop")

    async def _stop_and_exit(self) -> None:
        self.notify("Resigning and stopping the embedded engine…")
        await self.stop_engine()
        self.exit(0)

    async def stop_engine(self) -> None:
        """Stop an embedded engine once, resigning its VIPs; a no-op for a daemon."""
        if self._stop is None or self._stopped:
            return
        self._stopped = True
        try:
            await self._stop(resign=True)
        except Exception as exc:  # report, but let the console close
            self.log.error(f"embedded engine stop failed: {exc}")

    async def on_unmount(self) -> None:
        self.collector.release()
        if self.feed is not None:
            await self.feed.stop()
        for p in self.peer_links:
            if p.feed is not None:
                await p.feed.stop()
        await self.stop_engine()
        for c in [self.client, *(p.client for p in self.peer_links)]:
            close = getattr(c, "close", None)
            if close is not None:
                try:
                    await close()
                except Exception:
                    pass
