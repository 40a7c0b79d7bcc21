"""Operator changes: what each one will do, said before it is done.

Each builder turns the current snapshot and the selection into a
``ChangePlan``: the request to send and the consequence the confirmation
modal shows.  A builder raises ``NotApplicable`` with a sentence for the
operator when the change makes no sense for the selection (failover of a
backup, clearing a weight that is not overridden ...), so nothing is sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from rich.text import Text

from vipdeck.console import format as fmt
from vipdeck.console.derive import (Move, SnapView, drain_moves, move_of, orphaned, rs_shown_state, seconds,
                                    successors)


class NotApplicable(Exception):
    pass


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    placeholder: str = ""
    integer: bool = False
    required: bool = False
    minimum: int | None = None
    maximum: int | None = None
    default: str = ""


@dataclass
class ChangePlan:
    op: str
    args: dict[str, Any]
    title: str
    body: Text
    danger: bool = False
    typed: tuple[str, ...] = ()          # any of these must be typed to confirm
    fields: tuple[Field, ...] = ()

    def request_args(self, values: dict[str, str]) -> dict[str, Any]:
        """Merge what the operator typed into the request (empty reason: none)."""
        args = dict(self.args)
        for f in self.fields:
            raw = (values.get(f.name) or "").strip()
            if f.integer:
                args[f.name] = int(raw) if raw else None
            elif raw:
                args[f.name] = raw
        return args


REASON = Field("reason", "Reason (recorded with the change)", "optional")


def _successor_text(m: Move, indent: str = "      ") -> Text:
    """The expected new master and why, then the others that could, then the
    routers known but not counted on (stale, resigned, faulty)."""
    t = Text()
    if m.successor is None:
        t.append("NOBODY", style="bold red")
    else:
        t.append(m.successor.label, style="bold")
    t.append("\n")
    if m.successor is not None:
        t.append(f"{indent}{m.successor.describe(named=False)}\n")
    for o in m.others:
        t.append(f"{indent}could also take it: {o.describe()}\n", style="dim")
    for o in m.stale:
        t.append(f"{indent}not counted on: {o.describe()}\n", style="yellow")
    return t


def _nobody_warning(sv: SnapView, lost: list[Move], what: str) -> str:
    names = ", ".join(f"{m.instance} ({', '.join(m.vips) or 'no VIPs'})" for m in lost)
    return (f"WARNING: no other router can take {names}: none is heard on the wire (on this VRID or "
            f"another of ours) or over a peer connection, and a stale one is not counted on. A backup "
            f"stays silent while this node is master, so one may still be running; if none is, {what} "
            "leaves these VIPs with NOBODY and the service behind them goes down.\n")


def plan_drain(sv: SnapView, peers: Sequence = ()) -> ChangePlan:
    if sv.drained:
        d = sv.drained
        raise NotApplicable(f"{sv.hostname} is already drained (by {d.get('who')}, {fmt.ago(sv.now, d.get('when'))}); press u to undrain")
    moves = drain_moves(sv, peers)
    lost = orphaned(moves)
    body = Text()
    body.append(f"Every master on {sv.hostname} resigns at once with a priority-0 advert, so its peer takes "
                "over after its skew time. Until undrained every instance elects with priority 1: it stays "
                "BACKUP while another router is alive, and serves the VIPs again only if none is.\n\n")
    for m in moves:
        vips = ", ".join(m.vips) or "no VIPs"
        body.append(f"  {m.instance} (VRID {m.vrid}) ", style="bold")
        if m.state == "MASTER":
            body.append(f"{vips} → ")
            body.append_text(_successor_text(m))
        else:
            body.append(f"{m.state} here, no change", style="dim")
            if m.master:
                body.append(f" (master {m.master.get('address')})", style="dim")
            body.append("\n")
    if not moves:
        body.append("  (no VRRP instances on this node)\n", style="dim")
    typed: tuple[str, ...] = ()
    if lost:
        body.append("\n")
        body.append(_nobody_warning(sv, lost, "draining"), style="bold white on red")
        typed = (sv.hostname, "drain")
    return ChangePlan("drain", {}, f"Drain node {sv.hostname}?", body, danger=bool(lost),
                      typed=typed, fields=(REASON,))


def plan_undrain(sv: SnapView) -> ChangePlan:
    if not sv.drained and not any((i.get("operator") or {}).get("drained") for i in sv.instances):
        raise NotApplicable(f"{sv.hostname} is not drained")
    body = Text(f"{sv.hostname} returns to normal election.\n\n")
    for i in sv.instances:
        m = sv.master_of(i) or {}
        mine = i.get("base_priority") or 0
        mine += sum(t.get("contribution") or 0 for t in i.get("trackers") or [])
        theirs = m.get("priority")
        body.append(f"  {i['name']} (VRID {i.get('vrid')}) ", style="bold")
        if theirs is None:
            body.append(f"no master heard: this node (priority {mine}) becomes MASTER\n")
        elif mine > theirs and i.get("preempt", True):
            body.append(f"priority {mine} > master {m.get('address')} ({theirs}): takes the VIPs back (preempt)\n")
        else:
            body.append(f"priority {mine}, master {m.get('address')} ({theirs}): stays BACKUP\n", style="dim")
    return ChangePlan("undrain", {}, f"Undrain node {sv.hostname}?", body)


def _instance(sv: SnapView, name: str | None) -> dict:
    if not name:
        raise NotApplicable("no instance selected on this screen: f, t and c act on the instance under the "
                            "cursor on screens 1-3 (Overview, Adverts, VIPs)")
    inst = sv.instances_by_name.get(name)
    if inst is None:
        raise NotApplicable(f"instance {name} is not in the current snapshot")
    return inst


def _scope(sv: SnapView, i: dict) -> tuple[str | None, list[dict]]:
    """(sync group, instances) an action on ``i`` acts on, as the engine states it
    (``operator.scope`` of the snapshot: a member of a sync group moves its whole
    group); (None, [i]) for an instance alone or a snapshot that does not say."""
    names = (i.get("operator") or {}).get("scope") or [i["name"]]
    members = [sv.instances_by_name[n] for n in names if n in sv.instances_by_name]
    if len(members) < 2 or i not in members:
        return None, [i]
    return i.get("sync_group") or "?", members


def _vips(i: dict) -> str:
    return ", ".join(v.get("address", "?") for v in i.get("vips") or []) or "no VIPs"


def _group_intro(body: Text, group: str, members: list[dict], what: str) -> None:
    body.append(f"{', '.join(x['name'] for x in members)} are sync group {group}, which moves as one "
                f"(as keepalived's does): {what} every member.\n\n", style="bold")


def plan_failover(sv: SnapView, name: str | None, peers: Sequence = ()) -> ChangePlan:
    i = _instance(sv, name)
    group, members = _scope(sv, i)
    masters = [x for x in members if x.get("state") == "MASTER"]
    if not masters:
        if group:
            states = ", ".join(f"{x['name']} {x.get('state')}" for x in members)
            raise NotApplicable(f"sync group {group} has no MASTER member here ({states}); failover resigns "
                                "a master (use t to take over)")
        raise NotApplicable(f"{i['name']} is {i.get('state')} here; failover resigns a master (use t to take over)")
    body = Text()
    if group:
        _group_intro(body, group, members, "failover resigns and holds")
    alone = []
    for x in members:
        if x.get("state") != "MASTER":
            body.append(f"{x['name']} (VRID {x.get('vrid')}) is {x.get('state')} here: it is held too.\n")
            continue
        m = move_of(sv, x, peers)
        body.append(f"{x['name']} (VRID {x.get('vrid')}) resigns now with a priority-0 advert and removes "
                    f"{_vips(x)}.\n")
        body.append("Expected new master: ")
        body.append_text(_successor_text(m, indent="  "))
        if m.successor is None:
            alone.append(m)
    body.append("Preemption back to this node is held off for the hold time "
                "(empty: until cleared with c).\n")
    typed: tuple[str, ...] = ()
    if alone:
        body.append("\n")
        body.append(_nobody_warning(sv, alone, "failing over"), style="bold white on red")
        typed = (i["name"], "failover")
    hold = Field("hold", "Hold seconds", "empty = until cleared", integer=True, minimum=0, maximum=86400 * 365)
    title = f"Fail over sync group {group} ({', '.join(x['name'] for x in members)})?" if group \
        else f"Fail over {i['name']}?"
    return ChangePlan("failover", {"instance": i["name"]}, title, body,
                      danger=bool(alone), typed=typed, fields=(hold, REASON))


def plan_takeover(sv: SnapView, name: str | None, peers: Sequence = ()) -> ChangePlan:
    i = _instance(sv, name)
    group, members = _scope(sv, i)
    if all(x.get("state") == "MASTER" for x in members):
        raise NotApplicable(f"sync group {group}: every member is already MASTER here (use f to fail over)"
                            if group else f"{i['name']} is already MASTER here (use f to fail over)")
    for x in members:
        if x.get("state") not in ("BACKUP", "MASTER"):
            raise NotApplicable(f"{'sync group ' + group + ': ' if group else ''}{x['name']} is "
                                f"{x.get('state')} here and cannot take over")
        m = sv.master_of(x) or {}
        if m.get("priority") == 255:
            raise NotApplicable(f"{'sync group ' + group + ': ' if group else ''}{x['name']}'s master "
                                f"{m.get('address')} is the address owner (priority 255): it cannot be taken over")
    body = Text()
    if group:
        _group_intro(body, group, members, "takeover raises the priority of")
    for x in members:
        if x.get("state") == "MASTER":
            body.append(f"{x['name']} (VRID {x.get('vrid')}) is MASTER here already and stays master.\n")
            continue
        m = sv.master_of(x) or {}
        who = f"{m.get('address')} (priority {m.get('priority')})" if m else "no master heard"
        body.append(f"{x['name']} (VRID {x.get('vrid')}): this node raises its effective priority above the "
                    f"current master {who} and takes over {_vips(x)}.\n")
        body.append(f"  expected master: {sv.hostname} (this node), priority above {m.get('priority') or '?'}, "
                    f"{x.get('state')} now\n")
        live, _dead = successors(sv, x, peers)
        cur = next((c for c in live if c.address == m.get("address") or c.state == "MASTER"), None)
        if cur is not None:
            body.append(f"  current master: {cur.describe()}\n", style="dim")
        elif m:
            body.append(f"  current master: {m.get('address')}, last advert "
                        f"{seconds(m.get('last_advert_age'))} ago over the wire\n", style="dim")
    body.append("They stay master until released (c).\n" if group else "It stays master until released (c).\n")
    title = f"Take over sync group {group} ({', '.join(x['name'] for x in members)})?" if group \
        else f"Take over {i['name']}?"
    return ChangePlan("takeover", {"instance": i["name"]}, title, body, fields=(REASON,))


def plan_clear(sv: SnapView, name: str | None) -> ChangePlan:
    i = _instance(sv, name)
    group, members = _scope(sv, i)
    ops = [(x, x.get("operator") or {}) for x in members]
    names = ", ".join(x["name"] for x in members)
    took = [(x, op) for x, op in ops if op.get("takeover")]
    if took:
        if group:
            body = Text(f"Sync group {group} ({names}) moves as one: every member drops its raised priority; "
                        "normal election decides the master again:\n")
            for x, _op in ops:
                body.append(f"  {x['name']}: base {x.get('base_priority')}, effective "
                            f"{x.get('effective_priority')}\n")
            return ChangePlan("release", {"instance": i["name"]}, f"Release takeover of sync group {group} ({names})?",
                              body)
        body = Text(f"{i['name']} drops its raised priority; normal election decides the master again "
                    f"(base {i.get('base_priority')}, effective {i.get('effective_priority')}).\n")
        return ChangePlan("release", {"instance": i["name"]}, f"Release takeover of {i['name']}?", body)
    held = [(x, op) for x, op in ops if op.get("hold_until") or op.get("held")]
    if held:
        _x, op = held[0]
        left = f"{fmt.age(op['hold_until'] - sv.now)} left" if op.get("hold_until") else "until cleared"
        if group:
            body = Text(f"Sync group {group} ({names}) moves as one: the hold set by {op.get('who')} ({left}) "
                        "is cleared on every member; this node may preempt again if its priority is higher.\n")
            return ChangePlan("clear_hold", {"instance": i["name"]}, f"Clear hold on sync group {group} ({names})?",
                              body)
        body = Text(f"{i['name']}: the hold set by {op.get('who')} ({left}) "
                    "is cleared; this node may preempt again if its priority is higher.\n")
        return ChangePlan("clear_hold", {"instance": i["name"]}, f"Clear hold on {i['name']}?", body)
    raise NotApplicable(f"sync group {group} has no operator hold or takeover to clear" if group
                        else f"{i['name']} has no operator hold or takeover to clear")


def _rs(sv: SnapView, sel: tuple[str, str] | None) -> tuple[dict, dict]:
    if not sel:
        raise NotApplicable("no real server selected: w, W, r and R act on the real server under the cursor "
                            "on the IPVS screen (key 4)")
    vs = sv.vs_by_key.get(sel[0])
    rs = next((r for r in (vs or {}).get("real_servers") or [] if r.get("key") == sel[1]), None)
    if vs is None or rs is None:
        raise NotApplicable(f"{sel[1]} in {sel[0]} is not in the current snapshot")
    return vs, rs


def _ipvs_note(sv: SnapView, body: Text) -> None:
    if not sv.ipvs.get("available", True):
        body.append(f"\nIPVS is unavailable here ({sv.ipvs.get('error') or 'unknown error'}): nothing reaches "
                    "the kernel now. The engine only records the change (it applies when the daemon next "
                    "starts with IPVS).\n", style="bold yellow")


def plan_weight(sv: SnapView, sel: tuple[str, str] | None) -> ChangePlan:
    vs, rs = _rs(sv, sel)
    body = Text(f"{rs['key']} in {vs.get('protocol', '')} {vs['key']}: weight ")
    body.append_text(fmt.weight_text(rs))
    body.append(" → the new weight, applied to kernel IPVS at once and kept as an override "
                f"of the configured {rs.get('weight_config')} until cleared (W).\n")
    body.append("Weight 0 stops new connections to it (existing ones continue).\n", style="dim")
    _ipvs_note(sv, body)
    w = Field("weight", "New weight (0-65535)", str(rs.get("weight_effective", "")), integer=True,
              required=True, minimum=0, maximum=65535)
    return ChangePlan("weight", {"vs": vs["key"], "rs": rs["key"]}, f"Set weight of {rs['key']}?", body,
                      fields=(w, REASON))


def plan_clear_weight(sv: SnapView, sel: tuple[str, str] | None) -> ChangePlan:
    vs, rs = _rs(sv, sel)
    if rs.get("override") is None:
        raise NotApplicable(f"{rs['key']} has no weight override (weight {rs.get('weight_effective')} is the configured one)")
    o = rs["override"]
    body = Text(f"{rs['key']} in {vs['key']}: override {o.get('weight')} (set by {o.get('who')}, "
                f"{fmt.ago(sv.now, o.get('when'))}) is removed; weight returns to the configured "
                f"{rs.get('weight_config')}.\n")
    _ipvs_note(sv, body)
    return ChangePlan("weight", {"vs": vs["key"], "rs": rs["key"], "clear": True},
                      f"Clear weight override of {rs['key']}?", body)


def plan_rs_drain(sv: SnapView, sel: tuple[str, str] | None) -> ChangePlan:
    vs, rs = _rs(sv, sel)
    if rs.get("state") in ("DRAINING", "DRAINED"):
        raise NotApplicable(f"{rs['key']} is drained already ({rs_shown_state(rs)}; R to undrain)")
    ac = rs.get("active_conn")
    body = Text(f"{rs['key']} in {vs['key']}: weight ")
    body.append_text(fmt.weight_text(rs))
    body.append(" → 0 (quiescent): no new connections; ")
    body.append(f"its {ac} active connections continue" if ac is not None else "active connections continue")
    body.append(". Shown as DRAINING until they reach 0, then DRAINED.\n")
    up = [r for r in vs.get("real_servers") or [] if r is not rs and r.get("state") == "UP"]
    if not up:
        body.append("\nWARNING: no other real server of this service is UP: "
                    + ("the sorry server takes new connections.\n" if vs.get("sorry_server")
                       else "new connections will find nobody.\n"), style="bold white on red")
    _ipvs_note(sv, body)
    return ChangePlan("rs_drain", {"vs": vs["key"], "rs": rs["key"]}, f"Drain real server {rs['key']}?", body,
                      danger=not up, fields=(REASON,))


def plan_rs_undrain(sv: SnapView, sel: tuple[str, str] | None) -> ChangePlan:
    vs, rs = _rs(sv, sel)
    if rs.get("state") not in ("DRAINING", "DRAINED") and rs.get("override") is None:
        raise NotApplicable(f"{rs['key']} is not drained")
    body = Text(f"{rs['key']} in {vs['key']}: weight returns to {rs.get('weight_config')} "
                "and it takes new connections again (if its checkers pass).\n")
    _ipvs_note(sv, body)
    return ChangePlan("rs_undrain", {"vs": vs["key"], "rs": rs["key"]}, f"Undrain real server {rs['key']}?", body)


def plan_reload(sv: SnapView) -> ChangePlan:
    body = Text(f"{sv.hostname} re-reads {sv.node.get('config_file') or 'its configuration'}. "
                "A configuration with errors is refused and the running one kept.\n")
    return ChangePlan("reload", {}, "Reload the configuration?", body)
