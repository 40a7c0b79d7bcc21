"""Operator actions: drain, undrain, failover, takeover, weight, rs-drain, rs-undrain.

Each is one control request; the daemon validates it, persists it, audits
it and answers with what it did.  Refusals print the daemon's reason and
exit non-zero (3 when not allowed, 1 otherwise).

Asking for the state a thing is in already changes nothing and exits 0,
both ways: ``drain`` of a drained node says so and sends nothing (a second
drain would overwrite who drained it, when and why), and ``undrain``,
``rs-undrain``, ``failover --clear``, ``takeover --release`` and ``weight
--clear`` of something that is not there say "nothing to undo".

failover and takeover (with --clear / --release too) act on the whole
vrrp_sync_group of the instance named, as keepalived moves a group; the
daemon's answer names the group and its members.  ``--dry-run`` (drain,
undrain, failover, takeover) prints what the request would do (the
console's confirmation text, built from the daemon's snapshot, which says
what an action on each instance acts on) and changes nothing.
"""

from __future__ import annotations

import json
import sys

from vipdeck.cli.common import add_socket, call, request, when

# requests that undo an intent: refused with "conflict" only when it is not there
UNDO_OPS = frozenset({"undrain", "rs_undrain", "clear_hold", "release"})
DRY_RUN = ("drain", "undrain", "failover", "takeover")


def add_arguments(p, command: str) -> None:
    add_socket(p)
    p.add_argument("--json", action="store_true", help="print the daemon's answer as JSON")
    if command in ("drain", "failover", "takeover", "weight", "rs-drain"):
        p.add_argument("--reason", default="", help="why (kept in the audit trail and shown everywhere)")
    if command in ("failover", "takeover"):
        p.add_argument("instance", help="vrrp_instance name, e.g. VI_1 (a member of a vrrp_sync_group: "
                                        "the whole group moves)")
    if command in DRY_RUN:
        p.add_argument("--dry-run", action="store_true",
                       help="print what it would do (which instances move, to whom) and change nothing")
    if command == "failover":
        p.add_argument("--hold", type=float, default=None, metavar="SECONDS",
                       help="hold off preemption this long (default: until cleared with --clear)")
        p.add_argument("--clear", action="store_true", help="clear a previous failover hold")
    if command == "takeover":
        p.add_argument("--release", action="store_true", help="undo a takeover")
    if command in ("weight", "rs-drain", "rs-undrain"):
        p.add_argument("vs", metavar="VIP:PORT", help="virtual server, e.g. 198.18.0.100:80 or 'fwmark 5'")
        p.add_argument("rs", metavar="RIP:PORT", help="real server, e.g. 198.18.1.10:80")
    if command == "weight":
        p.add_argument("weight", nargs="?", type=int, help="new weight (0-65535)")
        p.add_argument("--clear", action="store_true", help="return to the configured weight")


def request_for(args) -> tuple[str, dict]:
    c = args.command
    reason = getattr(args, "reason", "")
    if c == "drain":
        return "drain", {"reason": reason}
    if c == "undrain":
        return "undrain", {}
    if c == "failover":
        if args.clear:
            return "clear_hold", {"instance": args.instance}
        return "failover", {"instance": args.instance, "hold": args.hold, "reason": reason}
    if c == "takeover":
        if args.release:
            return "release", {"instance": args.instance}
        return "takeover", {"instance": args.instance, "reason": reason}
    if c == "weight":
        if args.clear:
            return "weight", {"vs": args.vs, "rs": args.rs, "clear": True}
        if args.weight is None:
            raise SystemExit("vipdeck weight: give a weight or --clear")
        return "weight", {"vs": args.vs, "rs": args.rs, "weight": args.weight, "reason": reason}
    if c == "rs-drain":
        return "rs_drain", {"vs": args.vs, "rs": args.rs, "reason": reason}
    if c == "rs-undrain":
        return "rs_undrain", {"vs": args.vs, "rs": args.rs}
    raise SystemExit(f"unknown action {c}")


def preview(args, op: str) -> int:
    """``--dry-run``: the console's plan for this request, from the daemon's snapshot."""
    from vipdeck.console import actions as plans
    from vipdeck.console.derive import SnapView

    rc, snap = call(args.socket, "snapshot")
    if rc:
        return rc
    sv = SnapView(snap)
    if op == "drain" and sv.drained:
        print(already_drained(sv))
        print("(dry run: nothing would change)")
        return 0
    try:
        if op in ("clear_hold", "release"):
            plan = plans.plan_clear(sv, args.instance)
        elif op in ("drain", "undrain"):
            plan = {"drain": plans.plan_drain, "undrain": plans.plan_undrain}[op](sv)
        else:
            plan = {"failover": plans.plan_failover, "takeover": plans.plan_takeover}[op](sv, args.instance)
    except plans.NotApplicable as exc:
        if op in UNDO_OPS:
            print(f"{exc}: nothing to undo")
            print("(dry run: nothing would change)")
            return 0
        print(f"vipdeck: {exc}", file=sys.stderr)
        return 1
    if plan.op != op:       # plan_clear found the other kind of intent
        have = "a takeover (use takeover --release)" if plan.op == "release" else "a hold (use failover --clear)"
        print(f"vipdeck: {args.instance} has {have}, nothing for {op}", file=sys.stderr)
        return 1
    print(plan.title)
    print(plan.body.plain.rstrip())
    if plan.typed:
        print("(the console asks to type " + " or ".join(repr(w) for w in plan.typed) + " to confirm this)")
    print("(dry run: nothing was changed)")
    return 0


def unchanged(args, message: str) -> int:
    """Nothing to do: say so (as JSON with --json) and succeed."""
    print(json.dumps({"message": message, "changed": False}) if args.json else message)
    return 0


def already_drained(sv) -> str:
    d = sv.drained or {}
    return (f"{sv.hostname} is drained already (by {d.get('who') or '?'} {when(d.get('when'), sv.now)}: "
            f"{d.get('why') or 'no reason given'}); nothing changed")


def run(args) -> int:
    from vipdeck.engine.control.schema import ControlError

    op, req = request_for(args)
    if getattr(args, "dry_run", False):
        return preview(args, op)
    if op == "drain":
        from vipdeck.console.derive import SnapView

        rc, snap = call(args.socket, "snapshot")
        if rc:
            return rc
        sv = SnapView(snap)
        if sv.drained:
            return unchanged(args, already_drained(sv))
    rc, result = request(args.socket, op, **req)
    if isinstance(result, ControlError):
        undo = op in UNDO_OPS or (op == "weight" and req.get("clear"))
        if undo and result.code == "conflict":
            return unchanged(args, f"{result.message}: nothing to undo")
        print(f"vipdeck: {result.message}", file=sys.stderr)
        return rc
    if args.json:
        print(json.dumps(result, indent=1, default=str))
    else:
        print(result.get("message", "done") if isinstance(result, dict) else result)
    return 0
