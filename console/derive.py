"""What the console concludes from a snapshot, kept apart from widgets.

Everything an operator is asked to confirm (who takes over when we drain,
who holds a VIP, which VIPs conflict) is decided here from the snapshot
alone, so it can be tested without a terminal and shows the same answer on
every screen.  No Textual, no rich: the command line (`vipdeck status`,
`drain`) reads snapshots through it too, also as a user who can reach the
socket and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Sequence


def strip_prefix(address: str) -> str:
    return address.split("/", 1)[0]


class SnapView:
    """A snapshot plus the lookups several screens need (computed once)."""

    def __init__(self, raw: dict | None, system: dict | None = None):
        self.raw: dict = raw or {}
        self.node: dict = self.raw.get("node") or {}
        self.now: float = float(self.node.get("now") or 0.0)
        self.system: dict | None = self.node.get("system") or system
        self.instances: list[dict] = self.raw.get("instances") or []
        self.virtual_servers: list[dict] = self.raw.get("virtual_servers") or []
        self.adverts: list[dict] = self.raw.get("adverts") or []
        self.ipvs: dict = self.raw.get("ipvs") or {}
        self.operator: dict = self.raw.get("operator") or {}

    @property
    def hostname(self) -> str:
        return str(self.node.get("hostname") or self.node.get("router_id") or "this node")

    @property
    def drained(self) -> dict | None:
        return self.operator.get("drained")

    @cached_property
    def our_addresses(self) -> frozenset[str]:
        out = set()
        for itf in self.node.get("interfaces") or []:
            for a in itf.get("addresses") or []:
                out.add(strip_prefix(a))
        return frozenset(out)

    @cached_property
    def our_macs(self) -> dict[str, str]:
        return {i.get("name"): i.get("mac") for i in self.node.get("interfaces") or []}

    @cached_property
    def instances_by_name(self) -> dict[str, dict]:
        return {i["name"]: i for i in self.instances}

    @cached_property
    def instances_by_key(self) -> dict[tuple, list[dict]]:
        """Instances per advert view key (interface, family, VRID)."""
        out: dict[tuple, list[dict]] = {}
        for i in self.instances:
            out.setdefault(instance_key(i), []).append(i)
        return out

    @cached_property
    def adverts_by_key(self) -> dict[tuple, dict]:
        return {advert_key(a): a for a in self.adverts}

    def advert_of(self, instance: dict) -> dict | None:
        """The advert view of an instance's link, family and VRID (FRR's dual-stack
        routers use one VRID for both families: they are two views)."""
        a = self.adverts_by_key.get(instance_key(instance))
        if a is None:   # a daemon older than the (interface, family) key
            a = next((x for x in self.adverts if x.get("interface") is None and x.get("vrid") == instance.get("vrid")
                      and (x.get("family") or 4) == (instance.get("family") or 4)), None)
        return a

    def instances_of(self, entry: dict) -> list[dict]:
        """Our instances for an advert view (none for a foreign VRID)."""
        if entry.get("interface") is None:
            return [i for i in self.instances if i.get("vrid") == entry.get("vrid")
                    and (i.get("family") or 4) == (entry.get("family") or 4)]
        return self.instances_by_key.get(advert_key(entry)) or []

    @cached_property
    def vrrp_drops(self) -> dict[str, dict]:
        """Per interface, VRRP packets dropped before any instance saw them, by kind."""
        return {i.get("name"): (i.get("vrrp") or {}).get("dropped") or {} for i in self.node.get("interfaces") or []
                if ((i.get("vrrp") or {}).get("dropped"))}

    @cached_property
    def vs_by_key(self) -> dict[str, dict]:
        return {v["key"]: v for v in self.virtual_servers}

    def is_ours(self, address: str | None) -> bool:
        return address is not None and strip_prefix(address) in self.our_addresses

    def flags_of(self, instance: dict) -> list[dict]:
        return list((self.advert_of(instance) or {}).get("flags") or [])

    def peer(self, instance: dict) -> dict | None:
        """The router expected to take over if this node resigns: the best
        other source heard for the VRID.  A source whose last advert had
        priority 0 has itself resigned and does not count (nor does one whose
        adverts we reject: it is not a router we would hand over to)."""
        entry = self.advert_of(instance) or {}
        best = None
        for s in entry.get("sources") or []:
            if self.is_ours(s.get("address")) or not s.get("priority"):
                continue
            key = (s.get("priority") or 0, -(s.get("last_seen_age") or 0.0))
            if best is None or key > best[0]:
                best = (key, s)
        return best[1] if best else None

    def master_of(self, instance: dict) -> dict | None:
        """The master as seen from here (None when this node is master)."""
        if instance.get("state") == "MASTER":
            return None
        m = instance.get("master") or {}
        return m if m.get("address") else None


def advert_key(a: dict) -> tuple:
    return (a.get("interface"), a.get("family") or 4, a.get("vrid"))


def instance_key(i: dict) -> tuple:
    return (i.get("interface"), i.get("family") or 4, i.get("vrid"))


# --- drain / failover consequences ------------------------------------------------
#
# Who takes a VRID over when this node lets go of it.  A backup says nothing on
# the wire while we are master, so the VRID's own adverts cannot answer that;
# three other witnesses can: the router's adverts on our other VRIDs (the pair
# partner is often master of one of them: same source address or MAC), its
# old adverts on this VRID (which give its priority), and its own daemon over
# a peer connection (``PeerView``: state, priority, VIPs, from its snapshot).

STALE_INTERVALS = 3     # a router not heard for longer than this many advert intervals is stale
# ... and a peer connection not heard for longer than this many seconds either (whichever is longer):
# it is read about once a second (snapshots and events), so 3 intervals of 0.1 s would call every peer stale
PEER_STALE_FLOOR = 3.0
LIVE_CONTROL = 2.0      # a peer connection heard within this is "live" (as the cluster view says)
CANNOT_TAKE = frozenset({"FAULT", "STOP", "INIT"})


@dataclass(frozen=True)
class Successor:
    """A router that could become master of a VRID when this node lets go of it."""

    name: str                  # the peer's node name, else its address
    address: str | None
    priority: int | None       # None: unknown (never heard on this VRID, no peer connection)
    state: str | None          # its own word (control connection), else None
    heard_age: float | None    # seconds since it was last heard from, by any witness
    via: str                   # "control connection", "wire", "wire (VRID 52)"
    stale: bool                # not heard for more than STALE_INTERVALS advert intervals
    note: str = ""             # why it counts, or why it does not

    @property
    def can_take(self) -> bool:
        return not self.stale and self.state not in CANNOT_TAKE

    def rank(self) -> tuple:
        return (self.priority if self.priority is not None else -1, _addr_key(self.address or ""))

    @property
    def label(self) -> str:
        return self.name if self.address in (None, self.name) else f"{self.name} ({self.address})"

    def describe(self, named: bool = True) -> str:
        """``node2 (198.18.0.2): priority 100, BACKUP, heard 0.3 s ago over the control connection``"""
        bits = [f"priority {self.priority}" if self.priority is not None else "priority unknown"]
        if self.state:
            bits.append(self.state)
        if self.heard_age is None:
            bits.append(f"never heard over the {self.via}")
        elif self.via == "control connection" and self.heard_age < LIVE_CONTROL:
            bits.append("live over the control connection")     # read about once a second: no finer
        else:
            bits.append(f"heard {seconds(self.heard_age)} ago over the {self.via}")
        text = ", ".join(bits) + (f"; {self.note}" if self.note else "")
        return f"{self.label}: {text}" if named else text


def seconds(value: float | None) -> str:
    """An age precise enough to tell live from stale (0.3 s, 12 s, 2m11s)."""
    if value is None:
        return "?"
    v = max(0.0, float(value))
    if v < 10:
        return f"{v:.1f} s"
    if v < 60:
        return f"{v:.0f} s"
    return f"{int(v // 60)}m{int(v % 60):02d}s" if v < 3600 else f"{int(v // 3600)}h{int(v % 3600 // 60):02d}m"


def _interval(instance: dict, entry: dict | None) -> float:
    ints = [s.get("interval") for s in (entry or {}).get("sources") or [] if s.get("interval")]
    return float(instance.get("advert_int") or (max(ints) if ints else 1.0))


def _alive_index(sv: SnapView) -> dict:
    """Per interface, address (and MAC) -> the two freshest (seconds ago, VRID, address) of
    routers heard within 3 intervals on VRIDs of ours, on distinct VRIDs (so the one
    asked about can be left out).  Computed once per snapshot: a drain asks it per VRID."""
    cached = sv.__dict__.get("_alive")
    if cached is not None:
        return cached
    out: dict = {}
    for e in sv.adverts:
        if not (e.get("ours") or sv.instances_of(e)):
            continue
        per = out.setdefault(e.get("interface"), {})
        for s in e.get("sources") or []:
            addr, age = s.get("address"), s.get("last_seen_age")
            if addr is None or age is None or sv.is_ours(addr):
                continue
            if age > STALE_INTERVALS * float(s.get("interval") or 1.0):
                continue
            item = (float(age), int(e.get("vrid") or 0), addr)
            for k in (addr, s.get("mac")):
                if not k:
                    continue
                best = [x for x in per.get(k, []) if x[1] != item[1]] + \
                    [min([x for x in per.get(k, []) if x[1] == item[1]] + [item])]
                per[k] = sorted(best)[:2]
    sv.__dict__["_alive"] = out
    return out


def alive_elsewhere(sv: SnapView, instance: dict) -> dict[str, tuple[float, int, str | None]]:
    """Routers heard recently on the instance's link for *other* VRIDs of ours:
    address (and MAC) -> (seconds ago, VRID, address).  A router that runs only
    foreign VRIDs is not our peer and does not count."""
    index = _alive_index(sv)
    vrid = instance.get("vrid")
    out: dict[str, tuple[float, int, str | None]] = {}
    for itf in {instance.get("interface"), None}:
        for k, items in (index.get(itf) or {}).items():
            for item in items:
                if item[1] != vrid and (k not in out or item[0] < out[k][0]):
                    out[k] = item
                    break
    return out


def _peer_instance(peer, instance: dict) -> dict | None:
    snap = peer.snapshot or {}
    fam = instance.get("family") or 4
    same = [x for x in snap.get("instances") or [] if x.get("vrid") == instance.get("vrid")
            and (x.get("family") or 4) == fam]
    named = [x for x in same if x.get("name") == instance.get("name")]
    return (named or same or [None])[0]


def _peer_addresses(peer, inst: dict | None) -> set[str]:
    snap = peer.snapshot or {}
    out = {strip_prefix(a) for itf in (snap.get("node") or {}).get("interfaces") or []
           for a in itf.get("addresses") or []}
    src = ((inst or {}).get("wire") or {}).get("source")
    if src:
        out.add(src)
    return out


def successors(sv: SnapView, instance: dict, peers: Sequence = ()) -> tuple[list[Successor], list[Successor]]:
    """(routers that can take the VRID, best first; routers known but stale or
    unable to take it).  Every witness is used: the VRID's adverts, the same
    router's adverts on our other VRIDs, and the peers' own snapshots."""
    entry = sv.advert_of(instance) or {}
    vrid = instance.get("vrid")
    limit = STALE_INTERVALS * _interval(instance, entry)
    elsewhere = alive_elsewhere(sv, instance)
    found: dict[str, Successor] = {}
    for s in entry.get("sources") or []:
        addr = s.get("address")
        if addr is None or sv.is_ours(addr):
            continue
        prio, age = s.get("priority"), s.get("last_seen_age")
        if not prio:        # it resigned (priority 0): not a router we hand over to
            found[addr] = Successor(addr, addr, 0, None, age, "wire", True,
                                    f"resigned on VRID {vrid} (priority 0)")
            continue
        if age is not None and age <= STALE_INTERVALS * float(s.get("interval") or 1.0):
            found[addr] = Successor(addr, addr, prio, None, age, "wire", False, f"advertising on VRID {vrid}")
            continue
        alive = elsewhere.get(addr) or elsewhere.get(s.get("mac") or "")
        if alive is not None:
            why = " as a backup is while we are master" if instance.get("state") == "MASTER" else ""
            found[addr] = Successor(addr, addr, prio, None, alive[0], f"wire (VRID {alive[1]})", False,
                                    f"silent on VRID {vrid}{why}; it last advertised priority {prio} there "
                                    f"{seconds(age)} ago")
        else:
            found[addr] = Successor(addr, addr, prio, None, age, "wire", True,
                                    f"STALE: not heard for more than {STALE_INTERVALS} advert intervals "
                                    f"({seconds(limit)}), on any VRID")
    if instance.get("state") == "MASTER":
        # a partner never heard on this VRID but alive on another of ours: a silent backup
        seen = {a for a in found}
        for key, (age, other, addr) in sorted(elsewhere.items(), key=lambda kv: kv[1][0]):
            if addr is None or addr in seen:
                continue
            seen.add(addr)
            found[addr] = Successor(addr, addr, None, None, age, f"wire (VRID {other})", False,
                                    f"never heard on VRID {vrid} (a backup is silent while we are master); "
                                    f"alive as a router of VRID {other}")
    for p in peers:
        inst = _peer_instance(p, instance)
        addrs = _peer_addresses(p, inst)
        same = [a for a in found if a in addrs]
        wire = found.pop(same[0]) if same else None
        address = (wire.address if wire else None) or ((inst or {}).get("wire") or {}).get("source")
        if inst is None and p.snapshot is not None:
            if wire is not None:
                found[wire.address or p.name] = wire
            continue
        stale = p.stale(max(limit, PEER_STALE_FLOOR))
        state = (inst or {}).get("state")
        prio = (inst or {}).get("effective_priority", wire.priority if wire else None)
        if stale:
            why = ("STALE: its control connection is down" if not p.reachable else
                   "STALE: no snapshot from it yet" if p.snapshot is None else
                   f"STALE: not heard over its control connection for {seconds(p.heard_age)} "
                   f"(more than {seconds(max(limit, PEER_STALE_FLOOR))})")
            if wire is not None and wire.can_take:     # the wire still vouches for it
                found[wire.address or p.name] = Successor(p.name, address, wire.priority, None, wire.heard_age,
                                                          wire.via, False, wire.note + f"; {why[7:]}")
                continue
            found[p.name] = Successor(p.name, address, prio, state, p.heard_age, "control connection", True, why)
            continue
        note = ""
        if state in CANNOT_TAKE:
            note = f"{state} on its own side: it cannot take over"
        elif (inst or {}).get("operator", {}).get("drained"):
            note = "drained: it elects with priority 1"
        found[p.name] = Successor(p.name, address, prio, state, p.heard_age, "control connection",
                                  False, note)
    live = sorted((c for c in found.values() if c.can_take), key=Successor.rank, reverse=True)
    dead = [c for c in found.values() if not c.can_take]
    return live, dead


@dataclass(frozen=True)
class Move:
    instance: str
    vrid: int
    state: str
    vips: tuple[str, ...]
    successor: Successor | None       # the expected new master; None: no router can take it
    others: tuple[Successor, ...] = ()      # the other routers that could
    stale: tuple[Successor, ...] = ()       # known, but stale or unable: never the expected master
    master: dict | None = None        # for an instance not MASTER here: its master as seen from here

    @property
    def orphaned(self) -> bool:
        return self.state == "MASTER" and self.successor is None


def move_of(sv: SnapView, instance: dict, peers: Sequence = ()) -> Move:
    vips = tuple(v.get("address", "?") for v in instance.get("vips") or [])
    live, dead = successors(sv, instance, peers)
    return Move(instance["name"], instance.get("vrid"), instance.get("state", "?"), vips,
                live[0] if live else None, tuple(live[1:]), tuple(dead), sv.master_of(instance))


def drain_moves(sv: SnapView, peers: Sequence = ()) -> list[Move]:
    """For each instance, what draining this node would do to it."""
    return [move_of(sv, i, peers) for i in sv.instances]


def orphaned(moves: list[Move]) -> list[Move]:
    return [m for m in moves if m.orphaned]


def held_vips(sv: SnapView) -> list[tuple[str, str]]:
    """(instance, vip) this node holds now."""
    return [(i["name"], v.get("address", "?")) for i in sv.instances
            if i.get("state") == "MASTER" for v in i.get("vips") or []]


# --- real servers --------------------------------------------------------------------

NOT_APPLIED = "NOT APPLIED"


def rs_shown_state(rs: dict) -> str:
    """The engine's state of a real server, except that a drain the kernel has
    not taken (IPVS unavailable, or the destination not in the kernel: no
    kernel weight) is NOT APPLIED, never DRAINED: its weight was not lowered
    and nobody knows its connections."""
    state = str(rs.get("state") or "?")
    if state in ("DRAINING", "DRAINED") and rs.get("weight_kernel") is None:
        return NOT_APPLIED
    return state


# --- VIPs -----------------------------------------------------------------------------

@dataclass
class VipRow:
    key: str
    address: str
    dev: str
    label: str
    instance: str
    vrid: int
    state: str
    holder: str            # "this node", a master address, or "nobody heard"
    holder_mac: str
    present: bool
    last_garp: float | None
    issues: list[str] = field(default_factory=list)
    excluded: bool = False         # virtual_ipaddress_excluded: held by the master, not advertised


def vip_rows(sv: SnapView) -> list[VipRow]:
    by_addr: dict[str, list[str]] = {}
    for i in sv.instances:
        for v in i.get("vips") or []:
            by_addr.setdefault(strip_prefix(v.get("address", "")), []).append(i["name"])
    foreign: dict[str, list[str]] = {}
    for a in sv.adverts:
        for s in a.get("sources") or []:
            for vip in s.get("vips") or []:
                foreign.setdefault(strip_prefix(str(vip)), []).append(f"VRID {a.get('vrid')} ({s.get('address')})")
    rows = []
    for i in sv.instances:
        state = i.get("state", "?")
        flags = {f.get("kind") for f in sv.flags_of(i)}
        for v in i.get("vips") or []:
            addr = v.get("address", "?")
            bare = strip_prefix(addr)
            dev = v.get("dev") or i.get("interface") or ""
            if state == "MASTER":
                holder, mac = "this node", sv.our_macs.get(dev) or sv.our_macs.get(i.get("interface")) or ""
            else:
                m = sv.master_of(i)
                holder = m.get("address") if m else "nobody heard"
                mac = (m or {}).get("mac") or ""
            issues = []
            present = bool(v.get("present"))
            if state == "MASTER" and not present:
                issues.append("MASTER but not in the kernel")
            if state != "MASTER" and present:
                issues.append(f"in the kernel while {state}")
            if "split_brain" in flags:
                issues.append(f"split brain on VRID {i.get('vrid')}")
            if "vip_mismatch" in flags:
                issues.append("routers advertise different VIPs")
            others = [n for n in by_addr.get(bare, []) if n != i["name"]]
            if others:
                issues.append("also in " + ", ".join(others))
            elsewhere = [f for f in foreign.get(bare, []) if not f.startswith(f"VRID {i.get('vrid')} ")]
            if elsewhere:
                issues.append("also advertised by " + ", ".join(sorted(set(elsewhere))))
            rows.append(VipRow(f"{i['name']}|{addr}", addr, dev, v.get("label") or "", i["name"],
                               i.get("vrid"), state, holder, mac, present, v.get("last_garp"), issues,
                               bool(v.get("excluded"))))
    return rows


# --- advert timeline ----------------------------------------------------------------

BLOCKS = "▁▂▃▄▅▆▇█"


@dataclass
class Timeline:
    window: float
    width: int
    sources: list[tuple[str, int | None, list[int | None]]]   # address, last priority, per bucket max priority
    masters: list[str | None]                                   # master at the end of each bucket
    changes: list[tuple[float, int, str | None, str | None]]   # time, bucket, old, new
    top: int                                                    # highest priority drawn (bar scale)
    now: float = 0.0


def timeline(entry: dict, now: float, window: float = 300.0, width: int = 60,
             own: Sequence[tuple[float, float | None, str, int, bool]] = ()) -> Timeline:
    """Bucket ``history`` ([time, source, priority]) into ``width`` columns
    ending at ``now`` and replay it to find master changes: the master is the
    highest priority source heard within three advert intervals (ties to the
    higher address, as in the RFC); priority 0 means that source resigned.

    Our own adverts are not in the history (a socket drops its own packets):
    ``own`` gives this node's periods as master of the VRID, (start, end or
    None: still master, address, priority, resigned with a priority 0 at the
    end), from its transition events, so our own master changes show too."""
    span = window / width
    start = now - window
    items = []
    for item in entry.get("history") or []:
        try:
            items.append((float(item[0]), str(item[1]), int(item[2])))
        except (TypeError, ValueError, IndexError):
            continue
    intervals = [s.get("interval") or 1.0 for s in entry.get("sources") or []]
    step = min(span, 1.0)          # dense enough never to look silent (stale is 3 intervals + 0.5 s)
    for t0, t1, addr, prio, resigned in own:
        end = now if t1 is None else t1
        t = max(t0, start - step)
        while t < end:
            items.append((t, addr, prio))
            t += step
        if t1 is not None:
            items.append((t1, addr, 0 if resigned else prio))
    items.sort(key=lambda x: x[0])
    stale = 3 * max(intervals or [1.0]) + 0.5
    per: dict[str, list[int | None]] = {}
    last: dict[str, int] = {}
    heard: dict[str, tuple[float, int]] = {}
    changes: list[tuple[float, int, str | None, str | None]] = []
    master: str | None = None
    started = False
    master_at: list[tuple[float, str | None]] = []
    for t, src, prio in items:
        last[src] = prio
        heard[src] = (t, prio)
        best = None
        for s, (ts, p) in heard.items():
            if p == 0 or t - ts > stale:
                continue
            k = (p, _addr_key(s))
            if best is None or k > best[0]:
                best = (k, s)
        new = best[1] if best else None
        if new != master or not started:
            if started and t >= start:
                b = min(width - 1, max(0, int((t - start) / span)))
                changes.append((t, b, master, new))
            master = new
            started = True
            master_at.append((t, new))
        if start <= t <= now + span:
            b = min(width - 1, int((t - start) / span))
            col = per.setdefault(src, [None] * width)
            col[b] = prio if col[b] is None else max(col[b], prio)
    masters: list[str | None] = []
    k = 0
    current = None
    for b in range(width):
        end = start + (b + 1) * span
        while k < len(master_at) and master_at[k][0] <= end:
            current = master_at[k][1]
            k += 1
        masters.append(current)
    order = sorted(per, key=lambda s: (-(last.get(s) or 0), _addr_key(s)))
    top = max([p for col in per.values() for p in col if p] or [1])
    return Timeline(window, width, [(s, last.get(s), per[s]) for s in order], masters, changes, top, now)


def block(prio: int | None, top: int = 255) -> str:
    """One column of a source's bar: height relative to the highest priority drawn."""
    if prio is None:
        return " "
    if prio == 0:
        return "0"
    return BLOCKS[max(0, min(7, round(prio * 8 / max(top, 1)) - 1))]


@lru_cache(maxsize=4096)
def _addr_key(a: str) -> tuple:
    """An address's sort key (family, integer; unparsable last).  Cached: the
    timeline's replay asks it for every source heard at every advert kept
    (130 parses of the same two addresses per draw of the adverts panel)."""
    try:
        import ipaddress
        ip = ipaddress.ip_address(a)
        return (ip.version, int(ip))
    except ValueError:
        return (9, 0)


# --- misc -------------------------------------------------------------------------------

def event_subject(ev: dict) -> str:
    """The thing an event is about, for the events table."""
    k = ev.get("kind")
    if k in ("transition", "tracker"):
        s = str(ev.get("instance") or "")
        return s + (f"/{ev['tracker']}" if ev.get("tracker") else "")
    if k in ("check", "rs_state"):
        return f"{ev.get('vs') or ''} → {ev.get('rs') or ''}".strip(" →")
    if k == "advert":
        return f"VRID {ev.get('vrid')}" + (f" {ev['source']}" if ev.get("source") else "")
    if k == "notify":
        return str(ev.get("script") or "")
    if k == "smtp":
        to = ev.get("to")
        return ", ".join(map(str, to)) if isinstance(to, (list, tuple)) else str(to or "")
    if k == "operator":
        return str(ev.get("action") or "") + (f" by {ev['who']}" if ev.get("who") else "")
    return str(ev.get("instance") or ev.get("vs") or "")

