"""Failover timelines: each master change of a VRID, wire and engine on one time axis.

An operator who watched a failover wants to know what happened and whether
it was as fast as VRRP allows.  No single witness can say: our own adverts
are not in our advert view (a socket drops its own packets), a backup is
silent until it takes over, and only the engine knows when its timer fired,
when the VIPs went in and when the GARP left.  So a timeline is built from
all of them: our transition events (with the old master, its last advert
and the timer, ``control.schema.TransitionEvent``), our ``vip`` events (VIPs
added or removed, the first GARP burst), the advert view's history (the
first advert of each run of a source, to the millisecond) and, when the
console has a connection to the other node, that node's own snapshot
(``PeerView``: its transition, VIPs, last GARP).

The total is compared with the RFC's bound: Master_Down_Interval when the
old master went silent (3 × Master_Adver_Interval + Skew_Time, from its last
advert to the new master's first), Skew_Time after a priority-0 advert.

Pure: snapshot and event dicts in, dataclasses out; no Textual, no clock
(``now`` is the snapshot's).  ``Followup`` uses the same builder to follow a
change the console sent to its end.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

from vipdeck.console.derive import SnapView, strip_prefix

TOLERANCE = 0.1          # seconds over the bound still counted as within it (timers, scheduling)
DEADLINE = 10.0          # seconds after a transition by which each step should have happened
WINDOW = 5.0             # seconds after a transition in which its VIP / GARP events are looked for
RESIGNS = frozenset({"operator", "shutdown"})


@dataclass(frozen=True)
class Step:
    time: float              # unix time
    who: str                 # the router or node it happened on
    what: str
    witness: str             # "wire", "engine" (ours), "peer" (the other node's own snapshot)


@dataclass
class Failover:
    vrid: int
    instance: str | None
    old: str | None          # the master before (an address, or "this node")
    new: str | None          # the master after
    start: float             # the first step's time
    steps: list[Step]
    bound: float | None = None
    bound_name: str = ""     # "Master_Down_Interval" or "Skew_Time"
    total: float | None = None      # old master's last word -> new master's first
    missing: list[str] = field(default_factory=list)    # what did not happen by the deadline

    @property
    def verdict(self) -> str:
        if self.total is None:
            return "total unknown"
        if self.bound is None:
            return f"total {self.total * 1000:.0f} ms"
        late = self.total - self.bound
        how = "within it" if late <= TOLERANCE else f"{late * 1000:.0f} ms over it"
        return f"total {self.total * 1000:.0f} ms; {self.bound_name} {self.bound * 1000:.0f} ms: {how}"

    @property
    def within(self) -> bool | None:
        if self.total is None or self.bound is None:
            return None
        return self.total - self.bound <= TOLERANCE


def skew_time(priority: int, interval: float) -> float:
    return (256 - priority) * interval / 256


def master_down_interval(priority: int, interval: float) -> float:
    return 3 * interval + skew_time(priority, interval)


# --- the witnesses ---------------------------------------------------------------------

def _ours(sv: SnapView, entry: dict) -> list[dict]:
    return sv.instances_of(entry)


def _peer_of(peers: Sequence, address: str | None, vrid: int, family: int) -> tuple[object, dict] | None:
    """The PeerView whose node has ``address`` (its interfaces or the instance's source), with its
    instance for the VRID."""
    if address is None:
        return None
    for p in peers:
        snap = p.snapshot or {}
        inst = next((i for i in snap.get("instances") or [] if i.get("vrid") == vrid
                     and (i.get("family") or 4) == family), None)
        if inst is None:
            continue
        addrs = {strip_prefix(a) for itf in (snap.get("node") or {}).get("interfaces") or []
                 for a in itf.get("addresses") or []}
        addrs.add(str((inst.get("wire") or {}).get("source")))
        if address in addrs:
            return p, inst
    return None


def _peer_steps(peers: Sequence, address: str | None, vrid: int, family: int, t: float,
                peer_events: Mapping[str, Sequence[dict]] | None = None) -> tuple[list[Step], str | None]:
    """What the other node says of the change, and its name: from its own events when the
    console keeps them (``peer_events``: node name -> events; its transition, VIPs added and
    first GARP, each with its time), else from its snapshot (its last transition near ``t``,
    its VIPs present, its last GARP)."""
    found = _peer_of(peers, address, vrid, family)
    if found is None:
        return [], None
    p, inst = found
    name = inst.get("name")
    evs = [e for e in (peer_events or {}).get(p.name) or () if e.get("instance") == name
           and abs(float(e.get("time") or 0) - t) <= DEADLINE]
    moved = [e for e in evs if e.get("kind") == "transition" and "MASTER" in (e.get("from"), e.get("to"))
             and e.get("from") != e.get("to")]
    if moved:
        tr = min(moved, key=lambda e: abs(float(e["time"]) - t))
        at = float(tr["time"])
        out = [Step(at, p.name, f"{tr.get('from')} → {tr.get('to')} ({tr.get('reason')})", "peer")]
        if tr.get("to") == "MASTER":
            vip = _after(evs, at, str(name), lambda e: e.get("added") is True and e.get("vips"))
            garp = _after(evs, at, str(name), lambda e: e.get("garp"))
            if vip is not None:
                out.append(Step(float(vip["time"]), p.name, f"VIPs added: {', '.join(vip['vips'])}", "peer"))
            if garp is not None:
                out.append(Step(float(garp["time"]), p.name, "GARP/NA sent", "peer"))
        return out, p.name
    out = []
    lt = inst.get("last_transition") or {}
    if lt.get("time") is not None and abs(float(lt["time"]) - t) <= DEADLINE:
        out.append(Step(float(lt["time"]), p.name, f"{lt.get('from')} → {lt.get('to')} ({lt.get('reason')})", "peer"))
        if lt.get("to") == "MASTER":
            vips = inst.get("vips") or []
            present = [v.get("address") for v in vips if v.get("present")]
            garps = [v.get("last_garp") for v in vips if v.get("last_garp") is not None]
            if present:
                out.append(Step(float(lt["time"]), p.name, f"VIPs present: {', '.join(present)}", "peer"))
            if garps and min(garps) >= float(lt["time"]) - 0.5:
                out.append(Step(float(min(garps)), p.name, "GARP/NA sent", "peer"))
    return out, p.name


def _history(entry: dict) -> list[tuple[float, str, int]]:
    out = []
    for h in entry.get("history") or []:
        try:
            out.append((float(h[0]), str(h[1]), int(h[2])))
        except (TypeError, ValueError, IndexError):
            continue
    out.sort()
    return out


def _interval(entry: dict, instance: dict | None) -> float:
    if instance and instance.get("advert_int"):
        return float(instance["advert_int"])
    ints = [s.get("interval") for s in entry.get("sources") or [] if s.get("interval")]
    return float(max(ints)) if ints else 1.0


def _after(events: Iterable[dict], t: float, instance: str, pred) -> dict | None:
    return next((e for e in events if e.get("instance") == instance and t - 0.01 <= float(e.get("time") or 0)
                 <= t + WINDOW and pred(e)), None)


# --- the builder ------------------------------------------------------------------------

def failovers(sv: SnapView, entry: dict, events: Sequence[dict], peers: Sequence = (),
              peer_events: Mapping[str, Sequence[dict]] | None = None) -> list[Failover]:
    """Every master change of one advert view (one VRID on one link and family), oldest first.
    ``peers``: PeerViews; ``peer_events``: their own events by node name, when kept."""
    vrid = int(entry.get("vrid") or 0)
    family = int(entry.get("family") or 4)
    mine = _ours(sv, entry)
    names = {i["name"] for i in mine}
    inst = mine[0] if mine else None
    here = f"{sv.hostname} (here)"
    interval = _interval(entry, inst)
    hist = _history(entry)
    evs = sorted((e for e in events if e.get("kind") in ("transition", "vip")), key=lambda e: float(e.get("time") or 0))
    out: list[Failover] = []
    for ev in evs:
        if ev.get("kind") != "transition" or ev.get("instance") not in names or "to" not in ev:
            continue
        old_state, new_state = ev.get("from"), ev.get("to")
        if "MASTER" not in (old_state, new_state) or old_state == new_state:
            continue
        t = float(ev["time"])
        name = str(ev["instance"])
        reason = str(ev.get("reason") or "")
        other = ev.get("master")
        last = ev.get("last_advert")
        steps: list[Step] = []
        if new_state == "MASTER":
            fo = Failover(vrid, name, other, here, t, steps)
            if last is not None and other:
                word = "priority-0 advert" if reason == "priority_zero_received" else "last advert"
                steps.append(Step(float(last), str(other), f"{word} heard", "wire"))
            why = {"master_down_timer": "master-down timer expired", "priority_zero_received": "skew time expired",
                   "preempt": "preempted (higher priority)", "operator": "operator takeover"}.get(reason, reason)
            timer = ev.get("timer")
            steps.append(Step(t, here, f"{why}{f' ({float(timer):.3f} s)' if timer else ''}: "
                                       f"{old_state} → MASTER, first advert sent", "engine"))
            # the snapshot vouches for what older events no longer show (the latest transition only)
            snap = sv.instances_by_name.get(name) or {}
            latest = snap.get("state") == "MASTER" and abs(float((snap.get("last_transition") or {}).get("time")
                                                                 or 0) - t) < 0.05
            vip = _after(evs, t, name, lambda e: e.get("added") is True and e.get("vips"))
            if vip is not None:
                steps.append(Step(float(vip["time"]), here, f"VIPs added: {', '.join(vip['vips'])}", "engine"))
            elif not (latest and all(v.get("present") for v in snap.get("vips") or [])):
                fo.missing.append("no VIPs added here")
            garp = _after(evs, t, name, lambda e: e.get("garp"))
            garps = [float(v["last_garp"]) for v in snap.get("vips") or [] if v.get("last_garp") is not None]
            if garp is not None:
                steps.append(Step(float(garp["time"]), here, f"GARP/NA sent ({garp['garp']} frames)", "engine"))
            elif latest and garps and t - 0.01 <= min(garps) <= t + WINDOW:
                steps.append(Step(min(garps), here, "GARP/NA sent (the snapshot's last GARP)", "engine"))
            else:
                fo.missing.append("no GARP/NA sent")
            psteps, pname = _peer_steps(peers, other, vrid, family, t, peer_events)
            steps.extend(psteps)
            if pname:
                fo.old = f"{pname} ({other})"
            if timer and reason in ("master_down_timer", "priority_zero_received"):
                fo.bound = float(timer)
                fo.bound_name = "Skew_Time" if reason == "priority_zero_received" else "Master_Down_Interval"
            if last is not None and other:
                fo.total = t - float(last)
        else:
            fo = Failover(vrid, name, here, other, t, steps)
            resigned = reason in RESIGNS and "yielding" not in str(ev.get("detail") or "")
            steps.append(Step(t, here, f"MASTER → {new_state} ({reason})"
                                       + (": priority-0 advert sent" if resigned else ""), "engine"))
            vip = _after(evs, t, name, lambda e: e.get("added") is False and e.get("vips"))
            if vip is not None:
                steps.append(Step(float(vip["time"]), here, f"VIPs removed: {', '.join(vip['vips'])}", "engine"))
            first = next(((ht, src, p) for ht, src, p in hist if ht >= t - 0.001 and p > 0 and not sv.is_ours(src)),
                         None)
            if reason == "higher_priority_seen" and last is not None and other:
                first = next(((ht, src, p) for ht, src, p in hist if abs(ht - float(last)) < 0.01 and src == other),
                             (float(last), str(other), None))
            if first is not None and first[0] - t <= DEADLINE:
                ft, src, prio = first
                fo.new = src
                word = "higher-priority advert heard" if reason == "higher_priority_seen" else "first advert heard"
                steps.append(Step(ft, src, word + (f" (priority {prio})" if prio else ""), "wire"))
                fo.total = ft - t
                if resigned and prio:
                    fo.bound, fo.bound_name = skew_time(prio, interval), "Skew_Time"
            else:
                fo.missing.append("no advert from a new master heard")
            psteps, pname = _peer_steps(peers, fo.new, vrid, family, t, peer_events)
            steps.extend(psteps)
            if pname:
                fo.new = f"{pname} ({fo.new})"
        steps.sort(key=lambda s: s.time)
        fo.start = steps[0].time
        if sv.now - t < DEADLINE:
            fo.missing = []         # not yet due
        out.append(fo)
    out.extend(_wire_changes(sv, entry, hist, interval, [f.start for f in out]))
    out.sort(key=lambda f: f.start)
    return out


def _wire_changes(sv: SnapView, entry: dict, hist: list, interval: float, ours: list[float]) -> list[Failover]:
    """Master changes between other routers, from the wire alone: a source's run ends
    (silent for more than 3 intervals, or priority 0) and another's begins.  Those
    within DEADLINE of one of our own transitions are that transition, already told."""
    out = []
    last_of: dict[str, tuple[float, int]] = {}
    current: str | None = None
    for ht, src, p in hist:
        if sv.is_ours(src):
            continue
        if current is not None and src != current and p > 0:
            old_t, old_p = last_of[current]
            gap = ht - old_t
            resigned = old_p == 0
            if (resigned or gap > 3 * interval) and not any(abs(ht - o) <= DEADLINE for o in ours):
                word = "priority-0 advert" if resigned else "last advert"
                bound = skew_time(p, interval) if resigned else master_down_interval(p, interval)
                out.append(Failover(int(entry.get("vrid") or 0), None, current, src, old_t,
                                    [Step(old_t, current, f"{word} heard", "wire"),
                                     Step(ht, src, f"first advert heard (priority {p})", "wire")],
                                    bound, "Skew_Time" if resigned else "Master_Down_Interval", gap))
        last_of[src] = (ht, p)
        current = src
    return out


def timeline_lines(fo: Failover) -> list[tuple[str, str]]:
    """(text, style) lines: a header with the verdict, then one line per step with its
    offset from the first and the gap from the previous, in milliseconds."""
    head = f"{fo.instance or 'VRID ' + str(fo.vrid)}: {fo.old or 'no master heard'} → {fo.new or 'nobody'}  {fo.verdict}"
    style = "bold" if fo.within in (True, None) else "bold red"
    lines = [(head, style)]
    prev = fo.start
    for s in fo.steps:
        off = (s.time - fo.start) * 1000
        gap = (s.time - prev) * 1000
        prev = s.time
        lines.append((f"  +{off:7.0f} ms (Δ{gap:6.0f})  {s.who[:24]:<24} {s.what}  [{s.witness}]",
                      {"wire": "cyan", "engine": "", "peer": "magenta"}.get(s.witness, "")))
    for m in fo.missing:
        lines.append((f"  not seen within {DEADLINE:g} s: {m}", "bold yellow"))
    return lines


# --- following a change to its end -------------------------------------------------------

@dataclass
class Followup:
    """A change the console sent (drain, failover, takeover): which VRIDs should change
    master, from when; ``check`` says, once per VRID, how it ended or what did not happen."""

    op: str
    instances: tuple[str, ...]
    since: float                 # the engine's time just before the request
    deadline: float = DEADLINE
    done: set = field(default_factory=set)

    @property
    def finished(self) -> bool:
        return set(self.instances) <= self.done

    def check(self, sv: SnapView, events: Sequence[dict], peers: Sequence = (),
              peer_events: Mapping[str, Sequence[dict]] | None = None) -> list[tuple[str, str]]:
        """(severity, sentence) for each instance that finished or ran out of time since the last call."""
        out = []
        for name in self.instances:
            if name in self.done:
                continue
            inst = sv.instances_by_name.get(name)
            if inst is None:
                continue
            entry = sv.advert_of(inst) or {"vrid": inst.get("vrid"), "family": inst.get("family") or 4,
                                           "interface": inst.get("interface"), "history": [], "sources": []}
            mine = [f for f in failovers(sv, entry, events, peers, peer_events) if f.instance == name
                    and any(st.witness == "engine" and st.time >= self.since - 0.5 for st in f.steps)]
            fo = mine[-1] if mine else None
            late = sv.now - self.since > self.deadline
            said = self._sentence(name, fo, late, bool(peers))
            if said is not None:
                self.done.add(name)
                out.append(said)
        return out

    @staticmethod
    def _sentence(name: str, fo: Failover | None, late: bool, with_peers: bool) -> tuple[str, str] | None:
        if fo is None:
            return ("warning", f"{name}: no master change within {DEADLINE:g} s of the request") if late else None
        first = next((s for s in fo.steps if s.what.startswith(("first advert", "higher-priority advert"))
                      or "→ MASTER" in s.what), None)
        if first is None:
            return ("warning", f"{name}: no advert from a new master heard within {DEADLINE:g} s "
                               f"({fo.old} resigned)") if late else None
        after = first.time - fo.start
        bits = [f"{name}: {fo.new} MASTER after {after:.2f} s"]
        peer = [s for s in fo.steps if s.witness == "peer"]
        if fo.new and "(here)" in fo.new:
            bits += [s.what for s in fo.steps if s.what.startswith(("VIPs added", "GARP"))]
            missing = not any(s.what.startswith("GARP") for s in fo.steps)    # it goes after the VIPs
        elif peer:
            who = peer[0].who
            bits += [f"{s.what[:s.what.index(':')] if ':' in s.what else s.what} on {who}" for s in peer
                     if s.what.startswith(("VIPs", "GARP"))]
            missing = not any(s.what.startswith("VIPs") for s in peer) or not any(s.what.startswith("GARP")
                                                                                  for s in peer)
        else:
            bits.append("its VIPs and GARP are not visible from here (no connection to that node)")
            missing = False
        if missing and not late:
            return None             # wait for the rest, up to the deadline
        if missing:
            bits.append("not seen within the deadline: " + ", ".join(fo.missing or ["VIPs or GARP"]))
        if fo.bound is not None:
            bits.append(fo.verdict)
        return ("information" if not missing else "warning", "; ".join(bits))


def master_periods(sv: SnapView, entry: dict, events: Sequence[dict]) -> list[tuple[float, float | None, str, int, bool]]:
    """This node's periods as master of an advert view's VRID, for ``derive.timeline``:
    (start, end or None, our address, priority, resigned at the end), from our transition
    events, and from the snapshot when the events do not reach back far enough."""
    mine = _ours(sv, entry)
    if not mine:
        return []
    inst = mine[0]
    names = {i["name"] for i in mine}
    addr = (inst.get("wire") or {}).get("source") or sv.hostname
    out: list[tuple[float, float | None, str, int, bool]] = []
    since: float | None = None
    prio = int(inst.get("effective_priority") or 0)
    for e in sorted((e for e in events if e.get("kind") == "transition" and e.get("instance") in names and "to" in e),
                    key=lambda e: float(e.get("time") or 0)):
        if e.get("to") == "MASTER" and since is None:
            since = float(e["time"])
            prio = int(e.get("priority") or inst.get("effective_priority") or 0)
        elif e.get("from") == "MASTER" and e.get("to") != "MASTER":
            begin = since if since is not None else float("-inf")
            resigned = e.get("reason") in RESIGNS and "yielding" not in str(e.get("detail") or "")
            out.append((begin, float(e["time"]), addr, prio, resigned))
            since = None
    if inst.get("state") == "MASTER":
        if since is None:
            lt = inst.get("last_transition") or {}
            since = float(lt["time"]) if lt.get("to") == "MASTER" and lt.get("time") is not None else float("-inf")
        out.append((since, None, addr, int(inst.get("effective_priority") or prio), False))
    return out


FOLLOWED = frozenset({"drain", "failover", "takeover"})


def followed_instances(sv: SnapView, op: str, args: dict) -> tuple[str, ...]:
    """The instances a change should move: a drain's masters; a failover's or takeover's
    instance and its sync group (the snapshot's ``operator.scope``)."""
    if op == "drain":
        return tuple(i["name"] for i in sv.instances if i.get("state") == "MASTER")
    if op not in FOLLOWED:
        return ()
    inst = sv.instances_by_name.get(str(args.get("instance")))
    if inst is None:
        return ()
    names = (inst.get("operator") or {}).get("scope") or [inst["name"]]
    want = "MASTER" if op == "failover" else "BACKUP"
    return tuple(n for n in names if (sv.instances_by_name.get(n) or {}).get("state") == want)
