"""Request handling behind the control socket (and the embedded client).

Each change is validated first (a bad field is named in the error), then
persisted in the state store, then applied, then audited — so an accepted
request survives a restart even if the daemon dies right after answering.
"""

from __future__ import annotations

import time
from typing import Any, Awaitable, Callable

from vipdeck.engine.control.schema import CHANGE_OPS, ControlError
from vipdeck.engine.state import Override, Stamp, rs_key
from vipdeck.engine.vrrp import machine as m


def _str(args: dict, name: str, required: bool = True, maxlen: int = 500) -> str:
    v = args.get(name)
    if v is None or v == "":
        if required:
            raise ControlError("bad_request", f"field '{name}' is required")
        return ""
    if not isinstance(v, str) or len(v) > maxlen:
        raise ControlError("bad_request", f"field '{name}' must be a string of at most {maxlen} characters")
    return v


class EngineApi:
    """Implements ``ControlApi`` for an ``Engine``; ``reload`` is the daemon's."""

    def __init__(self, engine, reload: Callable[[], Awaitable[str]] | None = None, read_only: bool = False):
        self.engine = engine
        self.bus = engine.bus
        self._reload = reload
        self.read_only = read_only

    async def handle(self, op: str, args: dict[str, Any], uid: int) -> dict:
        if op == "ping":
            return {"pong": True}
        if op == "snapshot":
            snap = self.engine.snapshot()
            snap["read_only"] = self.read_only
            return snap
        if op == "events":
            since = args.get("since") or 0
            limit = args.get("limit")
            if not isinstance(since, int) or (limit is not None and not isinstance(limit, int)):
                raise ControlError("bad_request", "fields 'since' and 'limit' must be integers")
            return {"events": self.bus.since(since, limit), "last": self.bus.last_seq}
        if op not in CHANGE_OPS:
            raise ControlError("unknown_op", f"unknown op {op!r}")
        who = _str(args, "who", required=False, maxlen=100) or f"uid {uid}"
        store = self.engine.state
        if self.read_only:
            raise ControlError("forbidden", "this engine is read-only")
        try:
            message = await getattr(self, f"_op_{op}")(args, who)
        except ControlError as exc:
            store.audit(uid=uid, who=who, op=op, args=args, ok=False, result=exc.message)
            self.engine.emit("operator", f"{who}: {op} refused: {exc.message}", "warning",
                             action=op, who=who, ok=False, args=_public(args))
            raise
        store.audit(uid=uid, who=who, op=op, args=args, ok=True, result=message)
        self.engine.emit("operator", f"{who}: {message}", action=op, who=who, ok=True, args=_public(args))
        return {"ok": True, "message": message}

    # ---------------------------------------------------------------- node / VRRP

    def _driver(self, args: dict):
        name = _str(args, "instance")
        d = self.engine.drivers.get(name)
        if d is None:
            known = ", ".join(sorted(self.engine.drivers)) or "none"
            raise ControlError("not_found", f"no vrrp_instance {name!r} here (known: {known})")
        return d

    async def _op_drain(self, args, who) -> str:
        st = self.engine.state
        st.state.drained = Stamp(who=who, when=time.time(), why=_str(args, "reason", required=False))
        st.save()
        masters = [n for n, d in self.engine.drivers.items() if d.machine.state == m.State.MASTER]
        for d in self.engine.drivers.values():
            d.feed(m.Drain(True))
        return ("node drained: " + (f"resigned {', '.join(masters)}" if masters else "no instance was master")
                + "; it stays backup until undrain")

    async def _op_undrain(self, args, who) -> str:
        st = self.engine.state
        if st.state.drained is None:
            raise ControlError("conflict", "node is not drained")
        st.state.drained = None
        st.save()
        for d in self.engine.drivers.values():
            d.feed(m.Drain(False))
        return "node undrained: normal election"

    async def _op_failover(self, args, who) -> str:
        d = self._driver(args)
        hold = args.get("hold")
        if hold is not None and (not isinstance(hold, (int, float)) or hold < 0 or hold > 7 * 86400):
            raise ControlError("bad_request", "field 'hold' must be a number of seconds (0 to 604800) or null")
        if d.machine.state != m.State.MASTER:
            raise ControlError("conflict", f"{d.inst.name} is {d.machine.state} here, not MASTER: nothing to fail over "
                                           "(use takeover on a backup)")
        st = self.engine.state
        until = None if hold is None else time.time() + hold
        st.state.holds[d.inst.name] = {"until": until, "who": who, "when": time.time(),
                                       "why": _str(args, "reason", required=False)}
        st.save()
        d.feed(m.Resign(hold_until=None if hold is None else d.now() + hold))
        return (f"{d.inst.name} resigned; preemption held "
                + ("until cleared" if hold is None else f"for {hold:g}s"))

    async def _op_clear_hold(self, args, who) -> str:
        d = self._driver(args)
        st = self.engine.state
        if st.state.holds.pop(d.inst.name, None) is None:
            raise ControlError("conflict", f"{d.inst.name} has no failover hold")
        st.save()
        d.feed(m.ClearHold())
        return f"{d.inst.name}: failover hold cleared"

    async def _op_takeover(self, args, who) -> str:
        d = self._driver(args)
        if self.engine.state.state.drained:
            raise ControlError("conflict", "node is drained: undrain it before taking over")
        if d.machine.state == m.State.MASTER:
            raise ControlError("conflict", f"{d.inst.name} is already MASTER here")
        if d.machine.state not in (m.State.BACKUP,):
            raise ControlError("conflict", f"{d.inst.name} is {d.machine.state}: cannot take over")
        st = self.engine.state
        st.state.takeovers[d.inst.name] = {"who": who, "when": time.time(), "why": _str(args, "reason", required=False)}
        st.state.holds.pop(d.inst.name, None)
        st.save()
        d.feed(m.ClearHold())
        d.feed(m.Takeover(True))
        return f"{d.inst.name}: taking over (effective priority {d.machine.effective_priority})"

    async def _op_release(self, args, who) -> str:
        d = self._driver(args)
        st = self.engine.state
        if st.state.takeovers.pop(d.inst.name, None) is None:
            raise ControlError("conflict", f"{d.inst.name} has no takeover to release")
        st.save()
        d.feed(m.Takeover(False))
        return f"{d.inst.name}: takeover released, normal election"

    # ---------------------------------------------------------------- LVS

    def _lvs(self):
        if self.engine.lvs is None:
            raise ControlError("not_found", "no virtual_server is configured on this node")
        return self.engine.lvs

    async def _op_weight(self, args, who) -> str:
        lvs = self._lvs()
        vs, rs = lvs.find(_str(args, "vs"), _str(args, "rs"))
        key = rs_key(vs.key, str(rs))
        st = self.engine.state
        if args.get("clear"):
            if st.state.weights.pop(key, None) is None:
                raise ControlError("conflict", f"{rs} in {vs.key} has no weight override")
            st.save()
            await lvs.overrides_changed(vs.key)
            return f"{rs} in {vs.key}: weight back to configured {rs.weight}"
        w = args.get("weight")
        if not isinstance(w, int) or isinstance(w, bool) or not 0 <= w <= 65535:
            raise ControlError("bad_request", "field 'weight' must be an integer 0-65535")
        st.state.weights[key] = Override(weight=w, who=who, when=time.time(), why=_str(args, "reason", required=False))
        st.save()
        await lvs.overrides_changed(vs.key)
        return f"{rs} in {vs.key}: weight {w} (cfg {rs.weight})"

    async def _op_rs_drain(self, args, who) -> str:
        lvs = self._lvs()
        vs, rs = lvs.find(_str(args, "vs"), _str(args, "rs"))
        st = self.engine.state
        st.state.rs_drains[rs_key(vs.key, str(rs))] = Stamp(who=who, when=time.time(), why=_str(args, "reason", required=False))
        st.save()
        await lvs.overrides_changed(vs.key)
        return f"{rs} in {vs.key}: draining (weight 0, existing connections continue)"

    async def _op_rs_undrain(self, args, who) -> str:
        lvs = self._lvs()
        vs, rs = lvs.find(_str(args, "vs"), _str(args, "rs"))
        st = self.engine.state
        if st.state.rs_drains.pop(rs_key(vs.key, str(rs)), None) is None:
            raise ControlError("conflict", f"{rs} in {vs.key} is not drained")
        st.save()
        await lvs.overrides_changed(vs.key)
        return f"{rs} in {vs.key}: undrained"

    async def _op_reload(self, args, who) -> str:
        if self._reload is None:
            raise ControlError("unavailable", "reload is not available in this mode")
        return await self._reload()


def _public(args: dict) -> dict:
    return {k: v for k, v in args.items() if k not in ("who", "id")}
