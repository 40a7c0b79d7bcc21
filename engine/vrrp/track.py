"""Trackers → per-instance priority delta and fault, for the VRRP machine.

:class:`TrackingHub` builds one tracker per *referenced* tracked object of a
``Config`` (keepalived runs a vrrp_script only when some instance or sync
group tracks it), runs them, and keeps an :class:`InstanceTracking` per VRRP
instance that combines its references: ``effective(base_priority)`` gives
the priority, whether the instance must be in FAULT, and each tracker's
contribution.  The machine (``engine.vrrp.machine.TrackChanged``) takes
``delta``/``fault``/``detail`` from :meth:`InstanceTracking.effect`.

keepalived rules applied here (the per-object rules are in
``engine.track.weights``):

* A sync group's track_* references apply to every member instance.
* In a sync group without ``sync_group_tracking_weight``, and for an address
  owner (priority 255), an instance's own *weighted* references are ignored
  (a weighted track_interface becomes unweighted in a sync group; a
  track_file whose weight is 1, the default, becomes weight 0; keepalived
  2.2.7 compares the weight in effect, so an explicit ``weight 1`` too).
* An address owner's priority never moves.

The hub never reads a clock or decides states; it reports changes through
``on_change(tracker_name)`` and ``affected(tracker_name)`` tells which
instances to recompute.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from vipdeck.engine.config.model import NOWHERE, Config, SyncGroup, TrackRef, VrrpInstance
from vipdeck.engine.track.base import Tracker
from vipdeck.engine.track.file import POLL_INTERVAL, FileTracker
from vipdeck.engine.track.interface import InterfaceTracker
from vipdeck.engine.track.process import SCAN_INTERVAL, ProcessScanner, ProcessTracker
from vipdeck.engine.track.runner import ScriptRunner
from vipdeck.engine.track.script import ScriptTracker
from vipdeck.engine.track.weights import Weighting, resolve

log = logging.getLogger("vipdeck.track")

OWNER = 255


@dataclass(frozen=True)
class Entry:
    """One reference of one instance to one tracker, with its resolved weighting."""

    tracker: Tracker
    weighting: Weighting
    source: str = "instance"         # "instance" or "group NAME"
    ignored: str | None = None       # why keepalived ignores this reference


@dataclass(frozen=True)
class Contribution:
    name: str
    kind: str
    delta: int
    fault: bool
    pending: bool
    ignored: bool
    state: str                      # "ok" | "failed" | "fault" | "init" | "ignored"
    detail: str

    def as_dict(self) -> dict:
        """The control schema's tracker entry."""
        return {"name": self.name, "kind": self.kind, "state": self.state,
                "contribution": self.delta, "detail": self.detail}


@dataclass(frozen=True)
class Effective:
    """``priority, faulted, contributions = tracking.effective(base)`` works too."""

    priority: int                   # base + delta clamped to 1..254; an owner stays 255
    faulted: bool
    contributions: dict[str, int]   # tracker name → delta in effect (0 included)
    delta: int = 0
    faults: tuple[str, ...] = ()    # trackers forcing FAULT
    pending: tuple[str, ...] = ()   # unweighted trackers without a first result yet
    detail: str = ""

    def __iter__(self):
        return iter((self.priority, self.faulted, self.contributions))


class InstanceTracking:
    def __init__(self, name: str, entries: Sequence[Entry], base_priority: int = 100):
        self.name = name
        self.entries = list(entries)
        self.base_priority = base_priority

    @property
    def tracker_names(self) -> set[str]:
        return {e.tracker.name for e in self.entries}

    def contributions(self) -> list[Contribution]:
        out = []
        for e in self.entries:
            t = e.tracker
            if e.ignored:
                out.append(Contribution(t.name, t.kind, 0, False, False, True, "ignored",
                                        f"{t.name} ignored ({e.ignored})"))
                continue
            eff = t.effect(e.weighting)
            if eff.fault:
                state = "fault"
            elif eff.pending or t.up is None and t.kind != "file":
                state = "init"
            elif t.kind == "file" or t.up:
                state = "ok"
            else:
                state = "failed"
            out.append(Contribution(t.name, t.kind, eff.delta, eff.fault, eff.pending, False, state,
                                    t.detail(e.weighting)))
        return out

    def effective(self, base_priority: int | None = None) -> Effective:
        base = self.base_priority if base_priority is None else base_priority
        cons = self.contributions()
        live = [c for c in cons if not c.ignored]
        delta = 0 if base >= OWNER else sum(c.delta for c in live)
        faults = tuple(c.name for c in live if c.fault)
        pending = tuple(c.name for c in live if c.pending)
        prio = base if base >= OWNER else max(1, min(254, base + delta))
        shown = [c for c in live if c.fault] if faults else [c for c in live if c.delta or c.pending]
        return Effective(priority=prio, faulted=bool(faults),
                         contributions={c.name: (0 if base >= OWNER else c.delta) for c in live},
                         delta=delta, faults=faults, pending=pending,
                         detail="; ".join(c.detail for c in shown))

    def effect(self) -> tuple[int, bool, str]:
        """(delta, fault, detail) for ``machine.TrackChanged``."""
        e = self.effective()
        return e.delta, e.faulted, e.detail

    def detail(self) -> str:
        """Every reference, for status: "chk_down -20 (failed 1/1); chk_nginx 0 (ok 2/2)"."""
        return "; ".join(c.detail for c in self.contributions())

    def describe(self) -> list[dict]:
        return [c.as_dict() for c in self.contributions()]


def _plain(obj):
    """A config object without its location, to tell a real change on reload."""
    return dataclasses.replace(obj, loc=NOWHERE) if dataclasses.is_dataclass(obj) else obj


class TrackingHub:
    """All trackers of one configuration, and each instance's combination of them.

    ``on_change(tracker_name)`` is called on the event loop whenever a
    tracker's state changes in a way that can change an effect.
    """

    def __init__(self, config: Config, on_change: Callable[[str], None] | None = None, *,
                 runner: ScriptRunner | None = None, process_interval: float = SCAN_INTERVAL,
                 file_poll_interval: float = POLL_INTERVAL, use_inotify: bool = True,
                 probe_links: bool = True):
        self.on_change = on_change
        self.runner = runner or ScriptRunner(default_user=config.global_defs.script_user,
                                             default_group=config.global_defs.script_group,
                                             secure=config.global_defs.enable_script_security)
        self.process_interval = process_interval
        self.file_poll_interval = file_poll_interval
        self.use_inotify = use_inotify
        self.probe_links = probe_links
        self.trackers: dict[tuple[str, str], Tracker] = {}
        self.instances: dict[str, InstanceTracking] = {}
        self.problems: list[str] = []
        self.scanner = ProcessScanner(interval=process_interval)
        self.started = False
        self.config = config
        self._build(config, {})

    # -- building ----------------------------------------------------------

    def _listener(self, name: str) -> None:
        if self.on_change is not None:
            self.on_change(name)

    def _tracker(self, kind: str, name: str, config: Config, reuse: dict) -> Tracker | None:
        key = (kind, name)
        if key in self.trackers:
            return self.trackers[key]
        if kind == "script":
            obj = config.script(name)
        elif kind == "file":
            obj = config.track_file(name)
        elif kind == "process":
            obj = config.track_process(name)
        else:
            obj = name
        if obj is None:
            self.problems.append(f"{kind} '{name}' is tracked but not defined - ignored")
            return None
        old = reuse.get(key)
        if old is not None and old[1] == _plain(obj):
            t = old[0]
        elif kind == "script":
            t = ScriptTracker(obj, self.runner)
        elif kind == "file":
            t = FileTracker(obj, poll_interval=self.file_poll_interval, use_inotify=self.use_inotify)
        elif kind == "process":
            t = ProcessTracker(obj)
        else:
            t = InterfaceTracker(name)
        if old is None or old[0] is not t:
            t.add_listener(self._listener)
        self.trackers[key] = t
        self._defs[key] = _plain(obj)
        return t

    def _entries(self, config: Config, refs: Iterable[tuple[str, TrackRef]], source: str,
                 restrict: str | None, reuse: dict) -> list[Entry]:
        out = []
        for kind, ref in refs:
            t = self._tracker(kind, ref.name, config, reuse)
            if t is None:
                continue
            if kind == "script":
                w = resolve(ref, t.script.weight, t.script.weight_reverse)
            elif kind == "file":
                w = resolve(ref, t.track.weight, t.track.weight_reverse)
            elif kind == "process":
                w = resolve(ref, t.track.weight, t.track.weight_reverse)
            else:
                w = resolve(ref)
            ignored = None
            if restrict and w.weight:
                if kind == "interface" and restrict == "SYNC group":
                    w = Weighting(0, w.reverse)
                elif kind == "file" and w.weight == 1:    # keepalived: weight 1 (the default) → 0, given or not
                    w = Weighting(0, w.reverse)
                else:
                    ignored = f"weighted tracker in a {restrict}"
            out.append(Entry(t, w, source, ignored))
        return out

    @staticmethod
    def _refs(obj: VrrpInstance | SyncGroup) -> list[tuple[str, TrackRef]]:
        return ([("interface", r) for r in obj.track_interfaces] + [("script", r) for r in obj.track_scripts]
                + [("file", r) for r in obj.track_files] + [("process", r) for r in obj.track_processes])

    def _build(self, config: Config, reuse: dict) -> None:
        self.trackers, self.instances, self.problems, self._defs = {}, {}, [], {}
        for inst in config.vrrp_instances:
            group = config.sync_group_of(inst.name)
            restrict = None
            if inst.priority >= OWNER:
                restrict = "address owner"
            elif group is not None and not group.sync_group_tracking_weight:
                restrict = "SYNC group"
            entries = self._entries(config, self._refs(inst), "instance", restrict, reuse)
            if group is not None:
                entries += self._entries(config, self._refs(group), f"group {group.name}", None, reuse)
            self.instances[inst.name] = InstanceTracking(inst.name, entries, inst.priority)
        self.scanner.trackers = [t for t in self.trackers.values() if isinstance(t, ProcessTracker)]
        for p in self.problems:
            log.warning("tracking: %s", p)

    # -- running -----------------------------------------------------------

    async def start(self) -> None:
        for t in self.trackers.values():
            if isinstance(t, InterfaceTracker) and self.probe_links:
                t.probe()
            elif isinstance(t, FileTracker):
                await t.start()
        await self.scanner.start()
        for t in self.trackers.values():
            if isinstance(t, ScriptTracker):
                await t.start()
        self.started = True

    async def stop(self) -> None:
        for t in self.trackers.values():
            if not isinstance(t, (ProcessTracker, InterfaceTracker)):
                await t.stop()
        await self.scanner.stop()
        self.started = False

    async def reload(self, config: Config) -> None:
        """Rebuild for a new config; trackers whose definition did not change keep
        their state (a script's rise/fall count, a process quorum) and keep running."""
        old_trackers = self.trackers
        reuse = {k: (t, self._defs.get(k)) for k, t in old_trackers.items()}
        self.config = config
        self.runner.default_user = config.global_defs.script_user
        self.runner.default_group = config.global_defs.script_group
        was_running = self.started
        if was_running:
            await self.scanner.stop()
        self._build(config, reuse)
        for key, t in old_trackers.items():
            if self.trackers.get(key) is not t and not isinstance(t, (ProcessTracker, InterfaceTracker)):
                await t.stop()
        if was_running:
            for t in self.trackers.values():
                if isinstance(t, InterfaceTracker) and self.probe_links:
                    t.probe()
                elif isinstance(t, (FileTracker, ScriptTracker)) and t not in old_trackers.values():
                    await t.start()
            await self.scanner.start()

    # -- inputs and queries ------------------------------------------------

    def link_changed(self, ifname: str, up: bool) -> None:
        t = self.trackers.get(("interface", ifname))
        if isinstance(t, InterfaceTracker):
            t.set_up(up)

    def tracker(self, name: str, kind: str | None = None) -> Tracker | None:
        for (k, n), t in self.trackers.items():
            if n == name and (kind is None or k == kind):
                return t
        return None

    def affected(self, tracker_name: str) -> list[str]:
        return [n for n, it in self.instances.items() if tracker_name in it.tracker_names]

    def instance(self, inst: VrrpInstance | str) -> InstanceTracking:
        name = inst if isinstance(inst, str) else inst.name
        it = self.instances.get(name)
        if it is None:
            it = self.instances[name] = InstanceTracking(name, [], getattr(inst, "priority", 100))
        return it

    def effective(self, inst: VrrpInstance | str, base_priority: int | None = None) -> Effective:
        return self.instance(inst).effective(base_priority)

    def effect(self, inst: VrrpInstance | str) -> tuple[int, bool, str]:
        return self.instance(inst).effect()

    def describe(self, inst: VrrpInstance | str) -> list[dict]:
        return self.instance(inst).describe()

    def pending(self) -> dict[str, tuple[str, ...]]:
        """Instances still waiting for an unweighted tracker's first result."""
        out = {}
        for name, it in self.instances.items():
            p = it.effective().pending
            if p:
                out[name] = p
        return out
