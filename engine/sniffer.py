"""The advert view: every VRRP advert heard on our interfaces, per VRID.

It sees what the VRRP sockets receive (every advert sent to the groups we
joined, for any VRID, from vipdeck or keepalived peers), decoded with the
struct codec.  Per VRID it keeps each source's last advert, a rate, a
bounded priority history for the console's timeline, and flags what an
operator must see at once: two masters (split brain), auth / interval / VIP
list mismatches, TTL not 255, bad checksums, a master gone silent.
Anomalies become events once per (VRID, source, kind), not once per packet.
"""

from __future__ import annotations

import collections
import time
from dataclasses import dataclass, field

from vipdeck.engine.vrrp import packet

HISTORY = 600           # (time, source, priority) points kept per VRID
SILENT_AFTER = 3.5      # intervals without adverts before a master is "silent"


@dataclass
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
    times: collections.deque = field(default_factory=lambda: collections.deque(maxlen=32))

    def rate(self, now: float) -> float:
        recent = [t for t in self.times if now - t <= 10]
        if len(recent) < 2:
            return 0.0
        span = max(now - recent[0], recent[-1] - recent[0])
        return (len(recent) - 1) / span if span > 0 else 0.0


@dataclass
class VridView:
    vrid: int
    interface: str
    sources: dict[str, Source] = field(default_factory=dict)
    history: collections.deque = field(default_factory=lambda: collections.deque(maxlen=HISTORY))
    bad: collections.Counter = field(default_factory=collections.Counter)
    flagged: dict = field(default_factory=dict)   # (source, kind) -> detail text


class AdvertView:
    def __init__(self, engine):
        self.engine = engine
        self.vrids: dict[int, VridView] = {}

    def _ours(self, vrid: int):
        return next((d for d in self.engine.drivers.values() if d.inst.vrid == vrid), None)

    def observe(self, ifname: str, rx, adv) -> None:
        now = time.time()
        if isinstance(adv, packet.Reject):
            if adv.vrid is None:
                return
            v = self.vrids.setdefault(adv.vrid, VridView(adv.vrid, ifname))
            v.bad[adv.reason.value] += 1
            if adv.reason in (packet.RejectReason.CHECKSUM, packet.RejectReason.TTL):
                self._flag(v, adv.src or "?", adv.reason.value if adv.reason != packet.RejectReason.CHECKSUM
                           else "bad_checksum", str(adv))
            return
        v = self.vrids.setdefault(adv.vrid, VridView(adv.vrid, ifname))
        s = v.sources.get(adv.src)
        if s is None:
            s = v.sources[adv.src] = Source(adv.src, first_seen=now)
        prev_prio = s.priority if s.count else None
        s.priority, s.interval, s.version, s.auth_type = adv.priority, adv.interval, adv.version, adv.auth_type
        s.vips, s.ttl = adv.addresses, adv.ttl
        s.count += 1
        s.last_seen = now
        s.times.append(now)
        if prev_prio != adv.priority or not v.history or now - v.history[-1][0] >= 1.0:
            v.history.append((round(now, 3), adv.src, adv.priority))
        if adv.ttl is not None and adv.ttl != 255:
            self._flag(v, adv.src, "ttl", f"TTL {adv.ttl} from {adv.src}")
        ours = self._ours(adv.vrid)
        if ours is not None:
            inst = ours.inst
            if adv.version == 2 and adv.interval != inst.advert_int:
                self._flag(v, adv.src, "interval_mismatch",
                           f"vrid {adv.vrid}: {adv.src} advertises every {adv.interval:g}s, we use {inst.advert_int:g}s")
            if adv.version == 2:
                rej = packet.validate(adv, vrid=inst.vrid, version=2, auth_type=ours._auth_type,
                                      auth_pass=inst.authentication.auth_pass if inst.authentication else None,
                                      interval=adv.interval)
                if rej is not None and rej.reason in (packet.RejectReason.AUTH_TYPE, packet.RejectReason.AUTH_MISMATCH):
                    self._flag(v, adv.src, "auth_mismatch", f"vrid {adv.vrid}: {adv.src}: {rej.detail}")
            if sorted(adv.addresses) != sorted(x.address for x in inst.virtual_ipaddresses):
                self._flag(v, adv.src, "vip_mismatch",
                           f"vrid {adv.vrid}: {adv.src} announces {', '.join(adv.addresses) or 'no VIPs'}")
        masters = self._masters(v, now)
        if len(masters) > 1:
            self._flag(v, "+".join(sorted(masters)), "split_brain",
                       f"vrid {adv.vrid}: two masters advertising: {', '.join(sorted(masters))}")

    def _masters(self, v: VridView, now: float) -> list[str]:
        """Sources currently advertising (a backup never sends adverts), plus us if master."""
        live = [s.address for s in v.sources.values()
                if s.priority > 0 and now - s.last_seen <= SILENT_AFTER * max(s.interval, 0.01)]
        ours = self._ours(v.vrid)
        if ours is not None and str(ours.machine.state) == "MASTER" and ours.source:
            live.append(ours.source)
        return live

    def _flag(self, v: VridView, src: str, kind: str, detail: str) -> None:
        key = (src, kind)
        if key in v.flagged:
            return
        v.flagged[key] = detail
        self.engine.emit("advert", detail, "warning", vrid=v.vrid, source=src, flag=kind)

    def snapshot(self) -> list[dict]:
        now = time.time()
        out = []
        for vrid in sorted(self.vrids):
            v = self.vrids[vrid]
            masters = self._masters(v, now)
            flags = [{"kind": k, "detail": detail, "source": src} for (src, k), detail in sorted(v.flagged.items())
                     if k != "split_brain" or len(masters) > 1]
            # a master gone silent: the last one we heard stopped without a priority-0 advert
            last = max(v.sources.values(), key=lambda s: s.last_seen, default=None)
            if last and last.priority > 0 and not masters:
                flags.append({"kind": "master_silent", "detail": f"{last.address} silent for {now - last.last_seen:.1f}s"})
            ours = self._ours(vrid)
            master = None
            if masters:
                master = max(masters, key=lambda a: (v.sources[a].priority if a in v.sources else
                                                     (ours.machine.effective_priority if ours else 0)))
            out.append({
                "vrid": vrid, "interface": v.interface, "master": master, "ours": ours is not None,
                "sources": [{"address": s.address, "mac": s.mac, "priority": s.priority, "interval": s.interval,
                             "version": s.version, "auth_type": s.auth_type, "vips": list(s.vips),
                             "rate": round(s.rate(now), 2), "last_seen_age": round(now - s.last_seen, 3),
                             "ttl": s.ttl, "count": s.count}
                            for s in sorted(v.sources.values(), key=lambda s: s.address)],
                "flags": flags,
                "rejected": dict(v.bad),
                "history": [list(h) for h in v.history],
            })
        return out
