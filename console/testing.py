"""A scripted engine for the console's tests, demos and benchmarks.

``ScriptedClient`` implements the ``engine.control.client.Client`` protocol
from plain snapshot dicts: it serves the snapshot it was given, records every
change request, and lets a test push events or swap the snapshot to
simulate live changes.  ``synthetic_snapshot`` builds a node with many VRIDs
for load tests (255 VRIDs advertising 10×/s).
"""

from __future__ import annotations

import asyncio
import copy
import json
from pathlib import Path
from typing import Any, AsyncIterator

from vipdeck.engine.control.schema import CHANGE_OPS, SCHEMA_VERSION, ControlError, Event, Snapshot


class ScriptedClient:
    def __init__(self, snapshot: Snapshot, events: list[Event] | None = None, *,
                 replies: dict[str, Any] | None = None):
        self._snapshot = snapshot
        self._events: list[dict] = list(events or [])
        self.requests: list[tuple[str, dict]] = []      # change requests, in order
        self.snapshot_calls = 0
        self.replies: dict[str, Any] = dict(replies or {})   # op -> result dict or ControlError
        self._queues: set[asyncio.Queue] = set()
        self.closed = False

    @classmethod
    def from_fixture(cls, path: str | Path, **kwargs) -> "ScriptedClient":
        data = json.loads(Path(path).read_text())
        return cls(data["snapshot"], data.get("events") or [], **kwargs)

    # -- Client protocol --------------------------------------------------------------------

    async def snapshot(self) -> Snapshot:
        self.snapshot_calls += 1
        return self._snapshot

    async def events(self, since: int = 0, limit: int | None = None) -> list[Event]:
        out = [e for e in self._events if e["seq"] > since]
        return out[-limit:] if limit else out

    async def follow(self, since: int = 0) -> AsyncIterator[Event]:
        q: asyncio.Queue = asyncio.Queue()
        self._queues.add(q)
        try:
            for ev in list(self._events):
                if ev["seq"] > since:
                    yield ev
                    since = ev["seq"]
            while True:
                ev = await q.get()
                if ev is None:
                    return
                if ev["seq"] > since:
                    since = ev["seq"]
                    yield ev
        finally:
            self._queues.discard(q)

    async def request(self, op: str, **args: Any) -> dict:
        if op == "snapshot":
            return await self.snapshot()
        if op == "events":
            return {"events": await self.events(args.get("since") or 0, args.get("limit"))}
        if op not in CHANGE_OPS:
            raise ControlError("unknown_op", f"unknown op {op!r}")
        self.requests.append((op, dict(args)))
        reply = self.replies.get(op)
        if isinstance(reply, ControlError):
            raise reply
        return reply if reply is not None else {"message": f"{op} accepted"}

    async def close(self) -> None:
        self.closed = True

    # -- scripting --------------------------------------------------------------------------

    @property
    def last_seq(self) -> int:
        return self._events[-1]["seq"] if self._events else 0

    def push_event(self, kind: str, message: str, severity: str = "info", **fields: Any) -> dict:
        ev = {"seq": self.last_seq + 1, "time": (self._snapshot.get("node") or {}).get("now", 0.0),
              "kind": kind, "severity": severity, "message": message, **fields}
        self._events.append(ev)
        for q in list(self._queues):
            q.put_nowait(ev)
        return ev

    def set_snapshot(self, snapshot: dict) -> None:
        self._snapshot = snapshot

    def edit_snapshot(self) -> dict:
        """A deep copy to modify and hand back with ``set_snapshot``."""
        return copy.deepcopy(self._snapshot)

    def end_stream(self) -> None:
        """End every ``follow`` (as when a daemon goes away)."""
        for q in list(self._queues):
            q.put_nowait(None)


def synthetic_snapshot(vrids: int = 255, sources: int = 2, now: float = 1_700_000_000.0,
                       interval: float = 0.1, tick: int = 0) -> Snapshot:
    """A node running ``vrids`` instances (half MASTER) with ``sources``
    routers heard per VRID; ``tick`` moves counters and ages as time passes."""
    instances, adverts = [], []
    for k in range(vrids):
        vrid = k + 1
        master = k % 2 == 0
        vip = f"198.18.{2 + k // 200}.{k % 200 + 10}/32"
        instances.append({
            "name": f"VI_{vrid}", "vrid": vrid, "interface": "eth0", "family": 4, "version": 3,
            "advert_int": interval, "configured_state": "BACKUP", "state": "MASTER" if master else "BACKUP",
            "base_priority": 100 if master else 90, "effective_priority": 100 if master else 90,
            "trackers": [], "vips": [{"address": vip, "dev": "eth0", "label": None, "present": master,
                                      "last_garp": now - 60 if master else None, "excluded": False}],
            "master": ({"address": None, "priority": None, "interval": None, "last_advert_age": None, "mac": None}
                       if master else {"address": "198.18.0.2", "priority": 100, "interval": interval,
                                       "last_advert_age": (tick % 10) * 0.01, "mac": "02:00:c6:12:00:02"}),
            "counters": {"adverts_sent": tick * 10 if master else 0, "adverts_received": tick * 10,
                         "transitions": 1, "rejects": {}},
            "last_transition": {"from": "BACKUP" if master else "INIT", "to": "MASTER" if master else "BACKUP",
                                "reason": "master_down_timer" if master else "startup", "detail": "",
                                "time": now - 60},
            "wire": {"source": "198.18.0.1", "mcast_group": "224.0.0.18", "unicast_peers": [], "vmac": None},
            "sync_group": None, "preempt": True, "preempt_delay": 0.0,
            "operator": {"drained": False, "hold_until": None, "held": False, "takeover": False,
                         "takeover_pending": False, "who": None, "when": None, "why": None, "group": None,
                         "scope": [f"VI_{vrid}"]},
        })
        srcs = []
        for s in range(sources):
            addr = f"198.18.0.{s + 1}"
            srcs.append({"address": addr, "mac": f"02:00:c6:12:00:{s + 1:02x}",
                         "priority": 100 - 10 * s if (s == 0) == master else 90,
                         "interval": interval, "version": 3, "auth_type": 0, "vips": [vip.split("/")[0]],
                         "rate": 10.0 if (s == 0) == master else 0.0,
                         "last_seen_age": (tick % 10) * 0.01 if (s == 0) == master else 60.0 + tick,
                         "ttl": 255, "count": 600 + tick * 10})
        adverts.append({"vrid": vrid, "family": 4, "interface": "eth0", "instance": f"VI_{vrid}",
                        "master": "198.18.0.1" if master else "198.18.0.2", "ours": True,
                        "sources": srcs, "flags": [], "rejected_sources": [], "split_brain": None, "rejected": {},
                        "history": [[now - 300 + 5 * j, "198.18.0.1" if master else "198.18.0.2", 100]
                                    for j in range(60)]})
    return {
        "schema": SCHEMA_VERSION,
        "node": {"hostname": "bench", "router_id": "bench", "pid": 1, "version": "0.1.0",
                 "config_file": "/etc/keepalived/keepalived.conf", "started_at": now - 3600, "now": now + tick,
                 "mode": "daemon",
                 "interfaces": [{"name": "eth0", "up": True, "mac": "02:00:c6:12:00:01",
                                 "addresses": ["198.18.0.1/24"], "vrrp": {"received": tick * 10 * vrids, "dropped": {}}}],
                 "system": {"load": [0.1, 0.1, 0.1], "cpus": 2, "mem_total": 2 << 30, "mem_used": 1 << 30,
                            "disk_path": "/", "disk_total": 20 << 30, "disk_used": 5 << 30}},
        "instances": instances, "virtual_servers": [], "ipvs": {"available": True, "error": None},
        "sync_daemon": None, "adverts": adverts, "operator": {"drained": None, "audit_tail": []}, "read_only": False,
    }


async def wait_for(predicate, timeout: float = 5.0, what: str = "condition", interval: float = 0.02):
    """Poll ``predicate`` on the running loop (the app's, under ``run_test``)
    until it is true; fail with ``what`` after ``timeout`` seconds."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.1f}s waiting for {what}")
        await asyncio.sleep(interval)


async def settle(app, client: "ScriptedClient | None" = None, timeout: float = 5.0) -> None:
    """Wait until the app shows a snapshot and every scripted event so far."""
    await wait_for(lambda: app.version > 0, timeout, "the first snapshot")
    if client is not None:
        n = len(client._events)
        await wait_for(lambda: len(app.events_view.events) >= min(n, app.max_events), timeout, "the event backlog")
