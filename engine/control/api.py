"""Request handling behind the control socket (and the embedded client).

Each change is a transaction: validated first (a bad field is named in the
error), then persisted in the state store (``StateStore.commit``: on disk
before it is current), then applied to the machines (``engine.operator``,
the same translation start-up and reload use), then audited.  An accepted
request survives a restart even if the daemon dies right after answering; a
change the disk refuses (full, read-only...) changes nothing, and the client
is told which file and why (code ``storage``).

Takeover, failover, clear-hold and release of a member of a
vrrp_sync_group act on the whole group (``engine.operator.scope`` says
which instances; the reasons are there): one commit for every member, one
audit entry and one event naming the group and its members.

Every refusal is audited and put in the event stream too: who (the name the
client gave, and the uid and pid the kernel gave), op and why.  Refusals by
an unprivileged peer are rate-limited per uid (a burst, then one per 10 s;
the next entry says how many were left out), so the socket's group cannot
fill the disk or the event ring.  When the audit log itself cannot be
written the entry goes to the daemon's log and the event stream instead,
and the daemon goes on.
"""

from __future__ import annotations

import asyncio

import json
import logging
import time
from typing import Any, Awaitable, Callable

from vipdeck.engine import operator
from vipdeck.engine.control.limits import RateLimit
from vipdeck.engine.control.schema import CHANGE_OPS, ControlError
from vipdeck.engine.state import OperatorState, Override, Stamp, StateWriteError, rs_key
from vipdeck.engine.vrrp import machine as m

log = logging.getLogger("vipdeck.control")

MAX_AUDITED_ARGS = 2000     # characters of JSON: a refusal cannot carry a megabyte into the audit log


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
        self._refusal_limit = RateLimit(burst=10, interval=10.0)

    async def handle(self, op: str, args: dict[str, Any], uid: int) -> dict:
        if op == "ping":
            return {"pong": True}
        if op == "snapshot":
            fresh = getattr(getattr(self.engine, "lvs", None), "fresh_counters", None)
            if fresh is not None:
                try:
                    async with asyncio.timeout(0.5):
                        await fresh()                  # IPVS counters are read when someone looks
                except TimeoutError:
                    pass
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
            raise ControlError("unknown_op", f"unknown op {op[:100]!r}")
        who = f"uid {uid}"
        try:
            who = _str(args, "who", required=False, maxlen=100) or who
            if self.read_only:
                raise ControlError("forbidden", "this engine is read-only")
            message = await getattr(self, f"_op_{op}")(args, who)
            extra: dict[str, Any] = {}
            if isinstance(message, tuple):       # (message, what it acted on: a sync group)
                message, extra = message
        except ControlError as exc:
            self._refusal(op, args, uid, who, exc)
            raise
        except StateWriteError as exc:
            err = ControlError("storage", f"{op} refused, nothing was changed: {exc}")
            self._refusal(op, args, uid, who, err)
            raise err from None
        except Exception as exc:  # a bug: audited and answered, never fatal
            log.error("%s request failed", op, exc_info=exc)
            err = ControlError("internal", f"internal error in {op}: {exc}")
            self._refusal(op, args, uid, who, err)
            raise err from None
        self._audit(uid=uid, who=who, op=op, args=args, ok=True, result=message, **extra)
        self.engine.emit("operator", f"{who}: {message}", action=op, who=who, uid=uid, ok=True,
                         args=_bounded(args), **extra)
        return {"ok": True, "message": message}

    def refused(self, op: str, args: dict[str, Any], *, uid: int, pid: int | None, error: ControlError) -> None:
        """A change the server refused before it got here (not root): audit it."""
        claimed = args.get("who")
        who = claimed[:100] if isinstance(claimed, str) and claimed else f"uid {uid}"
        self._refusal(op, args, uid, who, error, pid=pid)

    # ---------------------------------------------------------------- audit

    def _refusal(self, op: str, args: dict, uid: int, who: str, exc: ControlError, pid: int | None = None) -> None:
        suppressed = 0
        if uid != 0:
            allowed, suppressed = self._refusal_limit.allow(uid)
            if not allowed:
                return
        extra: dict[str, Any] = {"code": exc.code}
        if pid:
            extra["pid"] = pid
        if suppressed:
            extra["suppressed"] = suppressed
        self._audit(uid=uid, who=who, op=op, args=args, ok=False, result=exc.message, **extra)
        self.engine.emit("operator", f"{who}: {op} refused: {exc.message}"
                         + (f" ({suppressed} more refusals of uid {uid} not recorded)" if suppressed else ""),
                         "warning", action=op, who=who, uid=uid, ok=False, code=exc.code, args=_bounded(args))

    def _audit(self, **entry: Any) -> None:
        entry["args"] = _bounded(entry.get("args") or {})
        try:
            self.engine.state.audit(**entry)
        except StateWriteError as exc:
            line = json.dumps(exc.entry, sort_keys=True, default=str)
            log.error("%s; the entry is kept here instead: %s", exc, line)
            self.engine.emit("daemon", f"audit log: {exc}; the entry is only in this event and the daemon's log",
                             "error", audit=exc.entry, path=exc.path)

    # ---------------------------------------------------------------- transactions

    def _commit(self, new: OperatorState, names: list[str] | None = None) -> None:
        """Persist ``new`` (StateWriteError: nothing changed), then apply it."""
        store = self.engine.state
        before = store.state
        store.commit(new)
        operator.apply_change(self.engine.drivers, before, new, time.time(), names)

    # ---------------------------------------------------------------- node / VRRP

    def _driver(self, args: dict):
        name = _str(args, "instance")
        d = self.engine.drivers.get(name)
        if d is None:
            known = ", ".join(sorted(self.engine.drivers)) or "none"
            raise ControlError("not_found", f"no vrrp_instance {name[:100]!r} here (known: {known})")
        return d

    async def _op_drain(self, args, who) -> str:
        new = self.engine.state.proposal()
        new.drained = Stamp(who=who, when=time.time(), why=_str(args, "reason", required=False))
        released = sorted(new.takeovers)
        new.takeovers.clear()          # a drained node takes nothing over
        masters = [n for n, d in self.engine.drivers.items() if d.machine.state == m.State.MASTER]
        self._commit(new)
        return ("node drained: " + (f"resigned {', '.join(masters)}" if masters else "no instance was master")
                + (f"; takeovers released: {', '.join(released)}" if released else "")
                + "; it stays backup until undrain")

    async def _op_undrain(self, args, who) -> str:
        if self.engine.state.state.drained is None:
            raise ControlError("conflict", "node is not drained")
        new = self.engine.state.proposal()
        new.drained = None
        self._commit(new)
        return "node undrained: normal election"

    def _scope(self, d) -> operator.Scope:
        """What an action on ``d``'s instance acts on: its whole sync group (engine.operator)."""
        return operator.scope(self.engine.config, d.inst.name, self.engine.drivers)

    def _machines(self, sc: operator.Scope) -> dict[str, m.VrrpMachine]:
        return {n: self.engine.drivers[n].machine for n in sc.members}

    @staticmethod
    def _acted_on(sc: operator.Scope) -> dict[str, Any]:
        """Audit and event fields naming the group an action moved (nothing for a lone instance)."""
        return {"group": sc.group, "instances": list(sc.members)} if sc.group else {}

    async def _op_failover(self, args, who):
        d = self._driver(args)
        hold = args.get("hold")
        if hold is not None and (isinstance(hold, bool) or not isinstance(hold, (int, float))
                                 or not 0 <= hold <= 7 * 86400):
            raise ControlError("bad_request", "field 'hold' must be a number of seconds (0 to 604800) or null")
        sc = self._scope(d)
        ms = self._machines(sc)
        masters = [n for n, x in ms.items() if x.state == m.State.MASTER]
        if not masters:
            if sc.group:
                states = ", ".join(f"{n} {x.state}" for n, x in ms.items())
                raise ControlError("conflict", f"sync group {sc.group}: no member is MASTER here ({states}): "
                                               "nothing to fail over (use takeover on a backup)")
            raise ControlError("conflict", f"{d.inst.name} is {d.machine.state} here, not MASTER: nothing to fail over "
                                           "(use takeover on a backup)")
        now = time.time()
        new = self.engine.state.proposal()
        operator.fail_over(new, sc, {"who": who, "when": now, "why": _str(args, "reason", required=False)},
                           None if hold is None else now + hold)
        self._commit(new, list(sc.members))
        held = "until cleared" if hold is None else f"for {hold:g}s"
        if sc.group:
            return (f"{sc.label()}: {', '.join(masters)} resigned; preemption held {held} on every member",
                    self._acted_on(sc))
        return f"{d.inst.name} resigned; preemption held {held}"

    async def _op_clear_hold(self, args, who):
        d = self._driver(args)
        sc = self._scope(d)
        new = self.engine.state.proposal()
        cleared = operator.clear_hold(new, sc)
        if not cleared:
            raise ControlError("conflict", f"sync group {sc.group}: no member has a failover hold" if sc.group
                               else f"{d.inst.name} has no failover hold")
        self._commit(new, list(sc.members))
        if sc.group:
            return f"{sc.label()}: failover hold cleared", self._acted_on(sc)
        return f"{d.inst.name}: failover hold cleared"

    async def _op_takeover(self, args, who):
        d = self._driver(args)
        if self.engine.state.state.drained:
            raise ControlError("conflict", "node is drained: undrain it before taking over")
        sc = self._scope(d)
        ms = self._machines(sc)
        what = f"sync group {sc.group}: " if sc.group else ""
        if all(x.state == m.State.MASTER for x in ms.values()):
            raise ControlError("conflict", f"{what}every member is already MASTER here" if sc.group
                               else f"{d.inst.name} is already MASTER here")
        for n, x in ms.items():
            if x.state not in (m.State.BACKUP, m.State.MASTER):
                raise ControlError("conflict", f"{what}{n} is {x.state}: cannot take over")
            if x.state == m.State.BACKUP and x.master_priority == 255:
                raise ControlError("conflict", f"{what}{n}'s master {x.master_address} is the address owner "
                                               "(priority 255): cannot take over")
        new = self.engine.state.proposal()
        operator.take_over(new, sc, {"who": who, "when": time.time(), "why": _str(args, "reason", required=False)})
        self._commit(new, list(sc.members))
        prios = ", ".join((f"{n} " if sc.group else "") + (
            f"pending: no master heard yet, takes over at the first advert" if x.takeover_pending
            and x.master_address is None else f"effective priority {x.effective_priority}") for n, x in ms.items())
        if sc.group:
            return f"{sc.label()}: taking over ({prios})", self._acted_on(sc)
        return f"{d.inst.name}: taking over ({prios})"

    async def _op_release(self, args, who):
        d = self._driver(args)
        sc = self._scope(d)
        new = self.engine.state.proposal()
        if not operator.release(new, sc):
            raise ControlError("conflict", f"sync group {sc.group}: no member has a takeover to release" if sc.group
                               else f"{d.inst.name} has no takeover to release")
        self._commit(new, list(sc.members))
        if sc.group:
            return f"{sc.label()}: takeover released, normal election", self._acted_on(sc)
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
        new = self.engine.state.proposal()
        if args.get("clear"):
            if new.weights.pop(key, None) is None:
                raise ControlError("conflict", f"{rs} in {vs.key} has no weight override")
            self._commit(new, [])
            await lvs.overrides_changed(vs.key)
            return f"{rs} in {vs.key}: weight back to configured {rs.weight}"
        w = args.get("weight")
        if not isinstance(w, int) or isinstance(w, bool) or not 0 <= w <= 65535:
            raise ControlError("bad_request", "field 'weight' must be an integer 0-65535")
        new.weights[key] = Override(weight=w, who=who, when=time.time(), why=_str(args, "reason", required=False))
        self._commit(new, [])
        await lvs.overrides_changed(vs.key)
        return f"{rs} in {vs.key}: weight {w} (cfg {rs.weight})"

    async def _op_rs_drain(self, args, who) -> str:
        lvs = self._lvs()
        vs, rs = lvs.find(_str(args, "vs"), _str(args, "rs"))
        new = self.engine.state.proposal()
        new.rs_drains[rs_key(vs.key, str(rs))] = Stamp(who=who, when=time.time(),
                                                       why=_str(args, "reason", required=False))
        self._commit(new, [])
        await lvs.overrides_changed(vs.key)
        return f"{rs} in {vs.key}: draining (weight 0, existing connections continue)"

    async def _op_rs_undrain(self, args, who) -> str:
        lvs = self._lvs()
        vs, rs = lvs.find(_str(args, "vs"), _str(args, "rs"))
        new = self.engine.state.proposal()
        if new.rs_drains.pop(rs_key(vs.key, str(rs)), None) is None:
            raise ControlError("conflict", f"{rs} in {vs.key} is not drained")
        self._commit(new, [])
        await lvs.overrides_changed(vs.key)
        return f"{rs} in {vs.key}: undrained"

    async def _op_reload(self, args, who) -> str:
        if self._reload is None:
            raise ControlError("unavailable", "reload is not available in this mode")
        return await self._reload()


def _public(args: dict) -> dict:
    return {k: v for k, v in args.items() if k not in ("who", "id")}


def _bounded(args: dict) -> dict:
    """The request's arguments for the audit log and events, at most ~2 KB of JSON."""
    pub = _public(args)
    text = json.dumps(pub, sort_keys=True, default=str)
    if len(text) <= MAX_AUDITED_ARGS:
        return pub
    return {"truncated": text[:200] + "...", "length": len(text)}
