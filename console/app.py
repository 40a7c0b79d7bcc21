"""The operator console: a Textual app that is only a client of the engine.

It reads snapshots and the event stream through one ``Client`` (a daemon's
Unix socket or an embedded engine) and sends changes as control requests,
each after a confirmation that states its consequence.  Updates are
coalesced: events mark the snapshot dirty, a 0.25 s tick fetches at most one
snapshot (and at least one per ``refresh_interval``), and only the visible
screen is brought up to date, by diffing table cells, never by refilling.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from functools import partial
from typing import Any, Awaitable, Callable, Iterable

from rich.text import Text
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import Static, TabbedContent, TabPane

from vipdeck.console import actions
from vipdeck.console.actions import ChangePlan, NotApplicable
from vipdeck.console.derive import SnapView, held_vips
from vipdeck.console.modals import ConfirmScreen
from vipdeck.console.views.adverts import AdvertsView
from vipdeck.console.views.base import View
from vipdeck.console.views.events import EventsView
from vipdeck.console.help import HelpScreen
from vipdeck.console.views.ipvs import IpvsView
from vipdeck.console.views.overview import OverviewView
from vipdeck.console.views.vips import VipsView
from vipdeck.console.system import local_system
from vipdeck.console.widgets.key_bar import KeyBar
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

# event kinds that do not change what a snapshot shows; every other kind
# (including ones added to the engine later) triggers a coalesced refresh
QUIET_KINDS = frozenset({"notify", "smtp"})


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
        Binding("slash", "filter", "Filter"),
        Binding("colon", "command_palette", "Commands", show=False),
        Binding("1", "show_tab('overview')", "Overview", show=False),
        Binding("2", "show_tab('adverts')", "Adverts", show=False),
        Binding("3", "show_tab('vips')", "VIPs", show=False),
        Binding("4", "show_tab('ipvs')", "IPVS", show=False),
        Binding("5", "show_tab('events')", "Events", show=False),
        Binding("d", "drain", "Drain"),
        Binding("u", "undrain", "Undrain"),
        Binding("f", "failover", "Failover"),
        Binding("t", "takeover", "Takeover"),
        Binding("c", "clear_hold", "Clear hold"),
        # shown in the footer by the IPVS screen only; elsewhere they explain themselves
        Binding("w", "set_weight", "Weight", show=False),
        Binding("W", "clear_weight", "Clear weight", show=False),
        Binding("r", "rs_drain", "RS drain", show=False),
        Binding("R", "rs_undrain", "RS undrain", show=False),
    ]

    def __init__(
        self,
        client: Any = None,
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
    ):
        """``client``: an ``engine.control.client.Client``.  ``starter``: for an
        embedded engine, a callable returning ``(client, stop)`` (or an awaitable
        of it); ``stop(resign=True)`` is awaited when the console quits.
        ``frozen`` stops cursor blinking for reproducible pictures;
        ``localtime`` formats event times (tests pass ``time.gmtime``)."""
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
        self.sv: SnapView | None = None
        self.version = 0                 # snapshots applied so far
        self.last_seq = 0
        self.connected = False
        self.conn_error: str | None = None
        self.fetch_count = 0
        self._pending: list[dict] = []
        self._dirty = True
        self._fetching = False
        self._last_fetch = -1e9
        self._min_gap = coalesce
        self.apply_cost = 0.0            # seconds the last snapshot took to show
        self._system: dict | None = None
        self._tick_timer = None
        self.notices: list[tuple[str, str, str]] = []   # (severity, title, message), newest last

    # -- layout ---------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static(id="status")
        with ScreenTabs(initial="overview", id="tabs"):
            for tab_id, title, cls in TABS:
                with TabPane(title, id=tab_id):
                    kw: dict[str, Any] = {"localtime": self.localtime, "frozen": self.frozen}
                    if cls is EventsView:
                        kw["max_events"] = self.max_events
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
        self._update_status()
        self._tick_timer = self.set_interval(self.coalesce, self._tick)
        self.active_view().focus_main()
        if self._starter is not None:
            self.run_worker(self._start_embedded, name="start-embedded", group="start")
        else:
            self._begin()

    async def _start_embedded(self) -> None:
        self.conn_error = "starting the embedded engine…"
        self._update_status()
        try:
            res = self._starter()
            if inspect.isawaitable(res):
                res = await res
            self.client, self._stop = res
        except Exception as exc:
            self.exit(return_code=1, message=f"vipdeck console: the embedded engine did not start: {exc}")
            return
        self._begin()

    def _begin(self) -> None:
        self.run_worker(self._follow, name="follow", group="follow", exclusive=True)
        self._dirty = True
        self._tick()

    # -- live updates --------------------------------------------------------------------

    async def _follow(self) -> None:
        """Follow the event stream; reconnect with a capped backoff."""
        backoff = 0.5
        while True:
            try:
                async for ev in self.client.follow(self.last_seq):
                    backoff = 0.5
                    self.on_engine_event(ev)
                err = "event stream closed"
            except ControlError as exc:
                err = exc.message
            except (OSError, ValueError, KeyError) as exc:
                err = f"event stream failed: {exc}"
            self._set_conn(False, err)
            await asyncio.sleep(backoff)   # retry pacing while the daemon is away
            backoff = min(5.0, backoff * 2)

    def on_engine_event(self, ev: dict) -> None:
        seq = ev.get("seq")
        if isinstance(seq, int):
            if seq <= self.last_seq:
                return
            self.last_seq = seq
        self._pending.append(ev)
        if len(self._pending) > self.max_events:
            del self._pending[: len(self._pending) - self.max_events]
        if ev.get("kind") not in QUIET_KINDS:
            self._dirty = True

    def _tick(self) -> None:
        if self._exit:
            return
        if self._pending:
            batch, self._pending = self._pending, []
            try:
                with self.batch_update():
                    self.events_view.add_events(batch, visible=self.active_tab == "events")
            except NoMatches:
                return
        if self.client is None or self._fetching:
            return
        now = time.monotonic()
        if now - self._last_fetch < self._min_gap:
            return          # a big snapshot costs a lot to show: keep the console's share of CPU bounded
        if self._dirty or now - self._last_fetch >= self.refresh_interval:
            self._dirty = False
            self._fetching = True
            self._last_fetch = now
            self.run_worker(self._fetch, name="fetch", group="fetch")

    def request_refresh(self) -> None:
        self._dirty = True

    async def _fetch(self) -> None:
        try:
            raw = await self.client.snapshot()
        except ControlError as exc:
            self._set_conn(False, exc.message)
            return
        except (OSError, ValueError, KeyError) as exc:
            self._set_conn(False, f"snapshot failed: {exc}")
            return
        finally:
            self._fetching = False
            self.fetch_count += 1
        self._set_conn(True)
        self.apply_snapshot(raw)

    def apply_snapshot(self, raw: dict) -> None:
        system = None
        if not (raw.get("node") or {}).get("system") and self.system_probe is not None:
            if self._system is None or self.active_tab == "overview":
                self._system = self.system_probe()
            system = self._system
        self.sv = SnapView(raw, system)
        self.version += 1
        if self._exit:
            return
        started = time.perf_counter()
        try:
            with self.batch_update():
                self._update_status()
                self.active_view().show(self.sv, self.version)
        except NoMatches:   # the DOM is being torn down (quitting)
            return
        self.apply_cost = time.perf_counter() - started
        self._min_gap = max(self.coalesce, 4 * self.apply_cost)

    def _set_conn(self, ok: bool, error: str | None = None) -> None:
        if ok == self.connected and error == self.conn_error:
            return
        self.connected = ok
        self.conn_error = None if ok else error
        self._update_status()

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
        t = Text()
        t.append(" vipdeck ", style="bold reverse")
        sv = self.sv
        if sv is not None:
            t.append(f" {sv.hostname}", style="bold")
            rid = sv.node.get("router_id")
            if rid and rid != sv.hostname:
                t.append(f" (router_id {rid})")
            mode = "embedded engine" if self.embedded else (sv.node.get("mode") or "daemon")
            t.append(f"  {mode}", style="dim")
        if self.label:
            t.append(f" {self.label}", style="dim")
        t.append("  ")
        if self.connected:
            t.append("● live", style="bold green")
        elif self.conn_error:
            t.append(f"○ {self.conn_error}", style="bold red")
        else:
            t.append("○ connecting…", style="yellow")
        if self.effective_read_only:
            t.append("  READ-ONLY ", style="bold black on yellow")
        if sv is not None and sv.drained:
            t.append("  DRAINED ", style="bold white on dark_red")
        if sv is not None and any(a.get("flags") for a in sv.adverts):
            n = sum(1 for a in sv.adverts if a.get("flags"))
            t.append(f"  {n} VRID{'s' if n > 1 else ''} flagged (2) ", style="bold red")
        if sv is not None and not sv.ipvs.get("available", True) and sv.virtual_servers:
            t.append("  IPVS unavailable (4) ", style="bold red")
        return t

    def _update_status(self) -> None:
        try:
            status = self.query_one("#status", Static)
        except Exception:
            return
        text = self.status_text()
        update_if_changed(status, text)

    # -- navigation ------------------------------------------------------------------------

    def action_show_tab(self, tab_id: str) -> None:
        self.query_one("#tabs", TabbedContent).active = tab_id

    def action_next_tab(self, step: int = 1) -> None:
        ids = [t[0] for t in TABS]
        self.action_show_tab(ids[(ids.index(self.active_tab) + step) % len(ids)])

    def action_filter(self) -> None:
        self.active_view().open_filter()

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        for tab_id, title, _cls in TABS:
            yield SystemCommand(f"Show {title[2:]}", f"switch to screen {title[0]}",
                                lambda t=tab_id: self.action_show_tab(t))
        yield SystemCommand("Drain node", "resign every instance and stay backup (d)", self.action_drain)
        yield SystemCommand("Undrain node", "return to normal election (u)", self.action_undrain)
        yield SystemCommand("Fail over selected instance", "resign the selected master (f)", self.action_failover)
        yield SystemCommand("Take over selected instance", "make this backup master (t)", self.action_takeover)
        yield SystemCommand("Clear hold / release takeover", "on the selected instance (c)", self.action_clear_hold)
        yield SystemCommand("Reload configuration", "ask the engine to re-read its configuration", self.action_reload)
        yield SystemCommand("Help", "keys and conventions (?)", self.action_help)
        yield from super().get_system_commands(screen)

    # -- changes ---------------------------------------------------------------------------

    def selected_instance(self) -> str | None:
        name = self.active_view().selected_instance()
        if name is None:
            name = self.view("overview").selected_instance()
        return name

    def selected_rs(self) -> tuple[str, str] | None:
        if self.active_tab != "ipvs":
            return None
        return self.view("ipvs").selected_rs()

    def propose(self, build: Callable[[SnapView], ChangePlan]) -> None:
        """Build a change from the current snapshot and ask for confirmation."""
        if self.effective_read_only:
            self.notify("Read-only console: changes are disabled.", title="read-only", severity="warning")
            return
        if self.sv is None or self.client is None:
            self.notify("No snapshot from the engine yet.", severity="warning")
            return
        try:
            plan = build(self.sv)
        except NotApplicable as exc:
            self.notify(str(exc), severity="warning")
            return
        self.push_screen(ConfirmScreen(plan, frozen=self.frozen), callback=lambda v: self._confirmed(plan, v))

    def _confirmed(self, plan: ChangePlan, values: dict | None) -> None:
        if values is None:
            self.notify(f"{plan.title.rstrip('?')}: cancelled, nothing sent.")
            return
        self.run_worker(partial(self.send, plan.op, plan.request_args(values)), name=f"request-{plan.op}",
                        group="request")

    async def send(self, op: str, args: dict) -> dict | None:
        try:
            result = await self.client.request(op, **args)
        except ControlError as exc:
            self.notify(exc.message, title=f"{op} refused ({exc.code})", severity="error", timeout=10)
            return None
        except (OSError, ValueError) as exc:
            self.notify(str(exc), title=f"{op} failed", severity="error", timeout=10)
            return None
        msg = result.get("message") if isinstance(result, dict) else None
        self.notify(str(msg or "done"), title=f"{op}: ok")
        self.request_refresh()
        return result

    def action_drain(self) -> None:
        self.propose(actions.plan_drain)

    def action_undrain(self) -> None:
        self.propose(actions.plan_undrain)

    def action_failover(self) -> None:
        name = self.selected_instance()
        self.propose(lambda sv: actions.plan_failover(sv, name))

    def action_takeover(self) -> None:
        name = self.selected_instance()
        self.propose(lambda sv: actions.plan_takeover(sv, name))

    def action_clear_hold(self) -> None:
        name = self.selected_instance()
        self.propose(lambda sv: actions.plan_clear(sv, name))

    def action_set_weight(self) -> None:
        sel = self.selected_rs()
        self.propose(lambda sv: actions.plan_weight(sv, sel))

    def action_clear_weight(self) -> None:
        sel = self.selected_rs()
        self.propose(lambda sv: actions.plan_clear_weight(sv, sel))

    def action_rs_drain(self) -> None:
        sel = self.selected_rs()
        self.propose(lambda sv: actions.plan_rs_drain(sv, sel))

    def action_rs_undrain(self) -> None:
        sel = self.selected_rs()
        self.propose(lambda sv: actions.plan_rs_undrain(sv, sel))

    def action_reload(self) -> None:
        self.propose(actions.plan_reload)

    # -- quitting ----------------------------------------------------------------------------

    def quit_plan(self) -> ChangePlan:
        body = Text()
        held = held_vips(self.sv) if self.sv else []
        if held:
            vips = ", ".join(f"{v} ({name})" for name, v in held)
            body.append(f"This node holds VIPs {vips}; quitting will resign them to the peer")
            peers = []
            for name in dict.fromkeys(n for n, _ in held):
                inst = self.sv.instances_by_name.get(name) or {}
                p = self.sv.peer(inst)
                peers.append(f"{name} → {p.get('address') if p else 'NOBODY (no peer heard)'}")
            body.append(f" ({'; '.join(peers)}).\n")
        else:
            body.append("This node holds no VIPs; quitting stops the embedded engine.\n")
        lost = [n for n, _ in held if self.sv and not self.sv.peer(self.sv.instances_by_name.get(n) or {})]
        return ChangePlan("quit", {}, "Quit and stop the embedded engine?", body, danger=bool(lost))

    async def action_quit(self) -> None:
        if not self.embedded or self._stop is None:
            self.exit(0)
            return
        plan = self.quit_plan()
        self.push_screen(ConfirmScreen(plan, frozen=self.frozen), callback=self._quit_confirmed)

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
        await self.stop_engine()
        close = getattr(self.client, "close", None)
        if close is not None:
            try:
                await close()
            except Exception:
                pass
