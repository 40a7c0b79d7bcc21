"""The advert view: every VRRP advert heard on our interfaces, per (interface, family, VRID).

It sees what the VRRP sockets receive (every advert sent to the groups we
joined, for any VRID, from vipdeck, keepalived or FRR peers), decoded with
the struct codec, together with the verdict of the receive rules, and keeps
per view each source's last advert, a rate, a bounded priority history for
the console's timeline, and what an operator must see at once.

Why the key has the family and the interface: VRIDs are per link and per
address family.  FRR's usual dual-stack setup runs VRID 51 for IPv4 and for
IPv6 side by side; keyed by VRID alone that looks like two masters
announcing different VIPs.

Who counts as a master: only sources whose adverts pass the rules vipdeck
itself applies (the decoder's checks, TTL 255 on multicast, and for a VRID
we run that instance's version, authentication and interval).  A packet we
reject is shown apart, under ``rejected_sources`` with its reason, so a TTL-64
or wrong-password advert from anyone on the link can neither raise a split
brain alarm nor pose as a router.

Split brain, precisely: two validated sources advertising at a non-zero
priority *at the same time* for longer than a handover can last.  In a
handover the old master steps down on the first advert it hears from the
new one, so their adverts overlap by at most about one advert interval; the
alarm needs an overlap of more than ``SPLIT_INTERVALS`` advert intervals
(of the slower of the two) and at least ``SPLIT_MIN`` seconds (so a
scheduling hiccup at 10 ms intervals is not an alarm).  The overlap of two
sources is the time both have been advertising without a break: from the
later of their first adverts after a gap of more than ``RUN_GAP`` intervals
to the earlier of their last adverts.  When either stops (silent for
``SILENT_AFTER`` intervals, or priority 0) the split brain is over: an event
says so, and the next one raises a new alarm.

Other anomalies become events once per (view, source, kind) — or per (view,
kind) for rejects, whose sources an attacker may vary freely — never once
per packet.  Everything is bounded: sources and rejected sources per view
(the stalest go first), history points per view.

The view reads no clock and no socket: callers pass ``now`` (unix time) and
the engine wires its MAC learning (``want_mac`` / ``learn_mac``).
"""

from __future__ import annotations

import collections
import ipaddress
from dataclasses import dataclass, field
from typing import Callable, Protocol

from vipdeck.engine.control.schema import AdvertViewEntry, Flag
from vipdeck.engine.vrrp import packet

HISTORY = 600           # (time, source, priority) points kept per view
SILENT_AFTER = 3.5      # intervals without adverts before a source no longer counts as advertising
RUN_GAP = 2.5           # intervals: a longer gap starts a new run of adverts (one lost advert is a gap of 2)
SPLIT_INTERVALS = 4     # overlap, in advert intervals, beyond any handover's
SPLIT_MIN = 1.0         # seconds: and never less than this
MAX_SOURCES = 64        # validated sources kept per view
MAX_REJECTED = 64       # rejected sources kept per view
REJECT_EXPIRE = 600.0   # seconds: a rejected source not heard for this long is forgotten
MAC_RETRY = 10.0        # seconds before asking again for a MAC we could not learn

Key = tuple[str, int, int]      # (interface, family 4|6, vrid)

# reject reason -> flag kind (the rest are counted and shown, not flagged)
REJECT_FLAGS = {
    packet.RejectReason.TTL: "ttl",
    packet.RejectReason.AUTH_MISMATCH: "auth_mismatch",
    packet.RejectReason.AUTH_TYPE: "auth_mismatch",
    packet.RejectReason.INTERVAL_MISMATCH: "interval_mismatch",
    packet.RejectReason.CHECKSUM: "bad_checksum",
    packet.RejectReason.VERSION: "version_mismatch",
    packet.RejectReason.UNICAST_SRC: "unicast_src",
}


class OurSide(Protocol):
    """What the view needs of our own instance for a view's VRID."""

    name: str
    source: str | None            # the address we advertise from

    def master_since(self) -> float | None: ...   # unix time we became master; None when not master
    def priority(self) -> int: ...
    def interval(self) -> float: ...
    def vips(self) -> tuple[str, ...]: ...         # sorted


Emit = Callable[..., object]                      # emit(kind, message, severity, **fields)
WantMac = Callable[[str, int, str], object]       # want_mac(interface, family, address): False = busy, ask again


@dataclass(slots=True)          # read and written at every advert a backup hears
class Source:
    address: str
    mac: str | None = None
    priority: int = 0
    interval: float = 0.0
    version: int = 0
    auth_type: int = 0
    vips: tuple[str, ...] = ()
    ttl: int | None = None
    count: int = 0
    first_seen: float = 0.0
    last_seen: float = 0.0
    run_start: float = 0.0        # first advert of the current unbroken run
    times: collections.deque = field(default_factory=lambda: collections.deque(maxlen=32))
    # the advert object observed last (its fields are the ones above): ``AdvertView.observe_again``
    last: packet.Advert | None = None

    def rate(self, now: float) -> float:
        recent = [t for t in self.times if now - t <= 10]
        if len(recent) < 2:
            return 0.0
        span = max(now - recent[0], recent[-1] - recent[0])
        return (len(recent) - 1) / span if span > 0 else 0.0

    def live(self, now: float) -> bool:
        """Advertising as master now: non-zero priority, heard within SILENT_AFTER intervals."""
        return self.priority > 0 and now - self.last_seen <= SILENT_AFTER * max(self.interval, 0.01)


@dataclass
class RejectedSource:
    address: str
    reason: str
    detail: str
    mac: str | None = None
    priority: int | None = None
    count: int = 0
    first_seen: float = 0.0
    last_seen: float = 0.0


@dataclass
class Split:
    sources: tuple[str, ...]
    since: float                  # when the overlap began (unix time)
    detail: str


@dataclass
class VridView:
    interface: str
    family: int
    vrid: int
    sources: dict[str, Source] = field(default_factory=dict)
    rejected_sources: dict[str, RejectedSource] = field(default_factory=dict)
    history: collections.deque = field(default_factory=lambda: collections.deque(maxlen=HISTORY))
    bad: collections.Counter = field(default_factory=collections.Counter)
    flagged: dict = field(default_factory=dict)   # (source or "*", kind) -> detail text
    split: Split | None = None
    ours: OurSide | None = None

    @property
    def key(self) -> Key:
        return (self.interface, self.family, self.vrid)

    @property
    def label(self) -> str:
        return f"vrid {self.vrid} (IPv{self.family} on {self.interface})"


def _candidates(v: VridView, now: float) -> list[tuple[str, float, float, float]]:
    """(address, run start, last advert, interval) of every validated source
    advertising now, and us while we are master."""
    out = [(s.address, s.run_start, s.last_seen, s.interval) for s in v.sources.values() if s.live(now)]
    ours = v.ours
    if ours is not None and ours.source:
        since = ours.master_since()
        if since is not None and not any(a == ours.source for a, *_ in out):
            out.append((ours.source, since, now, ours.interval()))
    return out


def split_of(cands: list[tuple[str, float, float, float]]) -> tuple[tuple[str, str], float, float] | None:
    """The pair that has overlapped longest beyond the handover bound:
    ((a, b), overlap start, overlap seconds), or None."""
    best = None
    for i in range(len(cands)):
        a, sa, la, ia = cands[i]
        for j in range(i + 1, len(cands)):
            b, sb, lb, ib = cands[j]
            start = max(sa, sb)
            overlap = min(la, lb) - start
            if overlap > max(SPLIT_INTERVALS * max(ia, ib), SPLIT_MIN) and (best is None or overlap > best[2]):
                best = (tuple(sorted((a, b))), start, overlap)
    return best


class AdvertView:
    def __init__(self, emit: Emit, want_mac: WantMac | None = None):
        self.emit = emit
        self.want_mac = want_mac
        self.views: dict[Key, VridView] = {}
        self.macs: dict[tuple[str, str], str] = {}     # (interface, address) -> MAC learnt from its adverts
        self._asked: dict[tuple[str, str], float] = {}  # (interface, address) -> when we last asked for it

    # ------------------------------------------------------------------ input

    def _view(self, key: Key, ours: OurSide | None) -> VridView:
        v = self.views.get(key)
        if v is None:
            v = self.views[key] = VridView(*key)
        if ours is not None:
            v.ours = ours
        return v

    def observe(self, key: Key, adv: packet.Advert, verdict: packet.Reject | None,
                ours: OurSide | None, now: float) -> None:
        """One decoded advert and the receive rules' verdict on it (None: valid)."""
        v = self.views.get(key)
        if v is None:
            v = self._view(key, ours)
        elif ours is not None:
            v.ours = ours
        if verdict is not None:
            self._rejected(v, verdict, now, adv.priority)
            return
        s = v.sources.get(adv.src)
        if s is None:
            if len(v.sources) >= MAX_SOURCES:
                stalest = min(v.sources.values(), key=lambda x: x.last_seen)
                del v.sources[stalest.address]
            s = v.sources[adv.src] = Source(adv.src, first_seen=now, run_start=now)
            s.mac = self.macs.get((v.interface, adv.src))
            new_run = True
        else:
            new_run = s.priority == 0 or now - s.last_seen > RUN_GAP * max(s.interval, adv.interval, 0.01)
            if new_run:
                s.run_start = now
        prev_prio = s.priority if s.count else None
        changed = (s.count == 0 or s.vips != adv.addresses or s.interval != adv.interval
                   or s.version != adv.version)
        s.priority, s.interval, s.version, s.auth_type = adv.priority, adv.interval, adv.version, adv.auth_type
        s.vips, s.ttl = adv.addresses, adv.ttl
        s.count += 1
        s.last_seen = now
        s.times.append(now)
        s.last = adv
        # every priority change and the first advert of each run (a new master's first word, to
        # the millisecond, for the failover timeline); else about one point a second
        if prev_prio != adv.priority or new_run or not v.history or now - v.history[-1][0] >= 1.0:
            v.history.append((round(now, 3), adv.src, adv.priority))
        if adv.priority > 0 and (new_run or s.mac is None):
            self._ask_mac(v, adv.src, now)             # a new master, or the same one back: which box is it?
        if changed and v.ours is not None:
            mine = v.ours.vips()
            if tuple(sorted(adv.addresses)) != mine:
                self._flag(v, adv.src, "vip_mismatch",
                           f"{v.label}: {adv.src} announces {', '.join(adv.addresses) or 'no VIPs'}, "
                           f"we have {', '.join(mine) or 'none'}")
        self._maybe_judge(v, adv, now)

    def _maybe_judge(self, v: VridView, adv: packet.Advert, now: float) -> None:
        if v.split is None:
            if adv.priority == 0:
                return
            if len(v.sources) == 1:
                # one source and us not master: at most one candidate, no pair to judge
                o = v.ours
                if o is None or o.master_since() is None or not o.source:
                    return
        self._judge(v, now)

    def observe_again(self, key: Key, adv: packet.Advert, ours: OurSide | None, now: float) -> None:
        """``observe(key, adv, None, ours, now)`` for the dispatch's fast path, which
        hands in the very advert object it handed in last for this source (a
        master repeating itself).  When it is also the last one this view
        recorded from that source, the record already holds its fields, so only
        what time changes is done (count, times, run, history, MAC, split
        brain); nothing is compared or copied.  Anything else: ``observe``."""
        v = self.views.get(key)
        s = v.sources.get(adv.src) if v is not None else None
        if s is None or s.last is not adv:
            self.observe(key, adv, None, ours, now)
            return
        if ours is not None:
            v.ours = ours
        # as observe's: s.interval is adv.interval, s.priority adv.priority, s.count > 0
        new_run = s.priority == 0 or now - s.last_seen > RUN_GAP * max(s.interval, 0.01)
        if new_run:
            s.run_start = now
        s.count += 1
        s.last_seen = now
        s.times.append(now)
        h = v.history
        if new_run or not h or now - h[-1][0] >= 1.0:
            h.append((round(now, 3), adv.src, adv.priority))
        if adv.priority > 0 and (new_run or s.mac is None):
            self._ask_mac(v, adv.src, now)
        self._maybe_judge(v, adv, now)

    def observe_reject(self, key: Key, rej: packet.Reject, ours: OurSide | None, now: float) -> None:
        """A packet the decoder refused after reading its VRID (bad checksum, length...)."""
        self._rejected(self._view(key, ours), rej, now, None)

    def _rejected(self, v: VridView, rej: packet.Reject, now: float, priority: int | None) -> None:
        reason = rej.reason.value
        v.bad[reason] += 1
        src = rej.src or "?"
        r = v.rejected_sources.get(src)
        news = r is None or r.reason != reason
        if r is None:
            if len(v.rejected_sources) >= MAX_REJECTED:
                stalest = min(v.rejected_sources.values(), key=lambda x: x.last_seen)
                del v.rejected_sources[stalest.address]
            r = v.rejected_sources[src] = RejectedSource(src, reason, rej.detail, first_seen=now,
                                                         mac=self.macs.get((v.interface, src)))
        if rej.src and r.mac is None:
            self._ask_mac(v, rej.src, now)             # who sends it is what an operator asks next
        r.reason, r.detail, r.priority = reason, rej.detail, priority
        r.count += 1
        r.last_seen = now
        # one flag (and event) per view and kind: an attacker varies the source at will
        kind = REJECT_FLAGS.get(rej.reason, reason)
        if news or ("*", kind) not in v.flagged:
            n = sum(1 for x in v.rejected_sources.values() if x.reason == reason)
            more = f" (and {n - 1} more source{'s' if n > 2 else ''})" if n > 1 else ""
            self._flag(v, "*", kind, f"{v.label}: rejected from {src}: {reason}: {rej.detail}{more}", source=src)

    def _ask_mac(self, v: VridView, address: str, now: float) -> None:
        """At most once per MAC_RETRY per (interface, address), whatever happens
        to the records (a flood of forged sources churns them)."""
        if self.want_mac is None:
            return
        k = (v.interface, address)
        last = self._asked.get(k)
        if last is not None and now - last < MAC_RETRY:
            return
        self._asked[k] = now
        if len(self._asked) > 4 * (MAX_SOURCES + MAX_REJECTED):
            for old in [x for x, t in self._asked.items() if now - t >= MAC_RETRY] or [next(iter(self._asked))]:
                del self._asked[old]
        if self.want_mac(v.interface, v.family, address) is False:
            del self._asked[k]                 # busy, nothing opened: the next packet asks again

    def learn_mac(self, interface: str, family: int, address: str, mac: str) -> None:
        """The MAC ``address`` sends its adverts from (from the MAC probe)."""
        self.macs[(interface, address)] = mac
        if len(self.macs) > 4 * MAX_SOURCES * max(1, len(self.views)):
            self.macs.pop(next(iter(self.macs)))
        for v in self.views.values():
            if v.interface != interface:
                continue
            for table in (v.sources, v.rejected_sources):
                s = table.get(address)
                if s is not None:
                    s.mac = mac

    def mac_of(self, interface: str, address: str | None) -> str | None:
        return self.macs.get((interface, address)) if address else None

    # ------------------------------------------------------------------ judgement

    def _judge(self, v: VridView, now: float) -> None:
        found = split_of(_candidates(v, now))
        if found is not None:
            pair, since, overlap = found
            ours = v.ours.source if v.ours is not None else None
            names = [f"{a} (here)" if a == ours else a for a in pair]
            detail = f"{v.label}: {' and '.join(names)} have both advertised as master for {overlap:.1f} s"
            if v.split is None or v.split.sources != pair:
                v.split = Split(pair, since, detail)
                self._flag(v, "+".join(pair), "split_brain", detail)
            else:
                v.split.detail = detail
        elif v.split is not None:
            gone = v.split
            v.split = None
            v.flagged.pop(("+".join(gone.sources), "split_brain"), None)   # a later split brain is a new alarm
            left = [a for a, *_ in _candidates(v, now)]
            self.emit("advert", f"{v.label}: split brain of {' and '.join(gone.sources)} is over after "
                      f"{now - gone.since:.1f} s; master now {', '.join(left) or 'nobody'}", "info",
                      vrid=v.vrid, family=v.family, interface=v.interface, source="+".join(gone.sources),
                      flag="split_brain_resolved")

    def tick(self, now: float) -> None:
        """Re-judge views with a split brain (it ends by silence: no packet tells us)
        and forget rejected sources long gone."""
        for v in self.views.values():
            if v.split is not None:
                self._judge(v, now)
            if v.rejected_sources and now - min(r.last_seen for r in v.rejected_sources.values()) > REJECT_EXPIRE:
                for addr in [a for a, r in v.rejected_sources.items() if now - r.last_seen > REJECT_EXPIRE]:
                    del v.rejected_sources[addr]
                for (src, kind) in list(v.flagged):
                    if src == "*" and not any(REJECT_FLAGS.get(packet.RejectReason(r.reason), r.reason) == kind
                                              for r in v.rejected_sources.values()):
                        del v.flagged[(src, kind)]

    def _flag(self, v: VridView, src: str, kind: str, detail: str, source: str | None = None) -> None:
        key = (src, kind)
        if key in v.flagged:
            if src == "*":
                v.flagged[key] = detail       # keep the count of sources current
            return
        v.flagged[key] = detail
        self.emit("advert", detail, "warning", vrid=v.vrid, family=v.family, interface=v.interface,
                  source=source or src, flag=kind)

    # ------------------------------------------------------------------ output

    def snapshot(self, now: float) -> list[AdvertViewEntry]:
        out = []
        for key in sorted(self.views, key=lambda k: (k[2], k[1], k[0])):
            v = self.views[key]
            if v.split is not None:
                self._judge(v, now)
            cands = _candidates(v, now)
            flags: list[Flag] = [{"kind": k, "detail": detail, "source": None if src == "*" else src}
                     for (src, k), detail in sorted(v.flagged.items())]
            # a master gone silent: the last one we heard stopped without a priority-0 advert
            last = max(v.sources.values(), key=lambda s: s.last_seen, default=None)
            if last and last.priority > 0 and not cands:
                flags.append({"kind": "master_silent", "source": last.address,
                              "detail": f"{last.address} silent for {now - last.last_seen:.1f}s"})
            master = None
            if cands:
                ours = v.ours

                def prio(c) -> tuple:
                    s = v.sources.get(c[0])
                    p = s.priority if s is not None else (ours.priority() if ours is not None else 0)
                    return (p, packet_addr_key(c[0]))

                master = max(cands, key=prio)[0]
            out.append({
                "vrid": v.vrid, "family": v.family, "interface": v.interface, "master": master,
                "ours": v.ours is not None, "instance": v.ours.name if v.ours is not None else None,
                "sources": [{"address": s.address, "mac": s.mac, "priority": s.priority, "interval": s.interval,
                             "version": s.version, "auth_type": s.auth_type, "vips": list(s.vips),
                             "rate": round(s.rate(now), 2), "last_seen_age": round(now - s.last_seen, 3),
                             "ttl": s.ttl, "count": s.count}
                            for s in sorted(v.sources.values(), key=lambda s: s.address)],
                "rejected_sources": [{"address": r.address, "mac": r.mac, "reason": r.reason, "detail": r.detail,
                                      "priority": r.priority, "count": r.count,
                                      "last_seen_age": round(now - r.last_seen, 3)}
                                     for r in sorted(v.rejected_sources.values(), key=lambda r: r.address)],
                "split_brain": None if v.split is None else {"sources": list(v.split.sources),
                                                             "since": v.split.since},
                "flags": flags,
                "rejected": dict(v.bad),
                "history": [list(h) for h in v.history],
            })
        return out


def packet_addr_key(a: str) -> tuple:
    """RFC tie-break order of addresses (numeric, not textual)."""
    try:
        ip = ipaddress.ip_address(a)
        return (ip.version, int(ip))
    except ValueError:
        return (9, 0)
