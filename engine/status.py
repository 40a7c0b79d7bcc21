"""The snapshot (``control.schema.Snapshot``), read from a running engine's parts.

The only code that assembles the snapshot; each part describes itself
(``InstanceDriver.snapshot``, ``LvsManager.snapshot``, ``AdvertView.snapshot``,
``HostSide.describe``, ``AdvertDispatch.drops``) and this adds what lies
between them: the operator's intent per instance, the masters' MACs, the
VRRP counters per interface.  It reads, never changes.
"""

from __future__ import annotations

import os
import socket
import sys
import time

from vipdeck.engine import operator
from vipdeck.engine.control.schema import SCHEMA_VERSION, Instance, InstanceOperator, Interface, Snapshot
from vipdeck.engine.version import package_version
from vipdeck.engine.vrrp import machine as m
from vipdeck.engine.vrrp.driver import InstanceDriver


def snapshot(engine) -> Snapshot:
    st = engine.state.state
    instances: list[Instance] = [d.snapshot(engine.tracking.describe(d.inst) if engine.tracking else [],
                            _operator(engine, name, d), _group(engine, name), _master_mac(engine, d))
                 for name, d in engine.drivers.items()]
    g = engine.config.global_defs
    return {
        "schema": SCHEMA_VERSION,
        "node": {"hostname": socket.gethostname(), "router_id": g.router_id or socket.gethostname(),
                 "pid": os.getpid(), "version": package_version(), "config_file": engine.config_path,
                 "started_at": engine.started_at, "now": time.time(), "mode": engine.mode,
                 "interfaces": _interfaces(engine)},
        "instances": instances,
        "virtual_servers": engine.lvs.snapshot() if engine.lvs else [],
        "ipvs": engine.lvs.ipvs_status() if engine.lvs else {"available": False,
                                                             "error": "no virtual_server configured"},
        "sync_daemon": engine.syncd.snapshot() if engine.syncd else None,
        "adverts": engine.advert_view.snapshot(time.time()) if engine.advert_view else [],
        "operator": {"drained": vars(st.drained) if st.drained else None,
                     "audit_tail": engine.state.audit_tail(10)},
        "read_only": False,
    }


def _operator(engine, name: str, d: InstanceDriver) -> InstanceOperator:
    st = engine.state.state
    hold = st.holds.get(name)
    tk = st.takeovers.get(name)
    stamp = hold or tk or (vars(st.drained) if st.drained else None) or {}
    return {"drained": st.drained is not None, "hold_until": (hold or {}).get("until"),
            "held": d.machine.held, "takeover": tk is not None,
            # not master yet: no master heard to take over from (or not fed yet: INIT)
            "takeover_pending": tk is not None and (d.machine.takeover_pending or not d.machine.takeover),
            "who": stamp.get("who"), "when": stamp.get("when"), "why": stamp.get("why"),
            "group": (hold or tk or {}).get("group"),     # the sync group it was given to
            "scope": list(operator.scope(engine.config, name, engine.drivers).members)}


def _group(engine, name: str) -> str | None:
    grp = engine.config.sync_group_of(name)
    return grp.name if grp else None


def _master_mac(engine, d: InstanceDriver) -> str | None:
    """Ours while master; else the MAC the master's adverts come from (learnt
    by the advert view's MAC probe when it became master)."""
    if d.machine.state == m.State.MASTER:
        return engine.host.master_mac(d.inst) if engine.host else None
    return engine.advert_view.mac_of(d.sock.ifname, d.machine.master_address) if engine.advert_view else None


def _interfaces(engine) -> list[Interface]:
    interfaces = engine.host.describe() if engine.host else []
    drops = engine.dispatch.drops() if engine.dispatch else {}
    for itf in interfaces:
        itf["vrrp"] = drops.pop(itf["name"], {"received": 0, "dropped": {}})
    for name, counts in sorted(drops.items()):    # a socket on an interface the link watch lost
        interfaces.append({"name": name, "up": False, "mac": None, "addresses": [], "vrrp": counts})
    return interfaces
