"""Operator actions: drain, undrain, failover, takeover, weight, rs-drain, rs-undrain.

Each is one control request; the daemon validates it, persists it, audits
it and answers with what it did.  Refusals print the daemon's reason and
exit non-zero (3 when not allowed, 1 otherwise).

failover and takeover (with --clear / --release too) act on the whole
vrrp_sync_group of the instance named, as keepalived moves a group; the
daemon's answer names the group and its members.  ``--dry-run`` prints
what the request would do (the console's confirmation text, built from the
daemon's snapshot, which says what an action on each instance acts on) and
changes nothing.
"""

from __future__ import annotations

import json
import sys

from vipdeck.cli.common import add_socket, call


def add_arguments(p, command: str) -> None:
    add_socket(p)
    p.add_argument("--json", action="store_true", help="print the daemon's answer as JSON")
    if command in ("drain", "failover", "takeover", "weight", "rs-drain"):
        p.add_argument("--reason", default="", help="why (kept in the audit trail and shown everywhere)")
    if command in ("failover", "takeover"):
        p.add_argument("instance", help="vrrp_instance name, e.g. VI_1 (a member of a vrrp_sync_group: "
                                        "the whole group moves)")
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
    try:
        if op in ("clear_hold", "release"):
            plan = plans.plan_clear(sv, args.instance)
        else:
            plan = {"failover": plans.plan_failover, "takeover": plans.plan_takeover}[op](sv, args.instance)
    except plans.NotApplicable as exc:
        print(f"vipdeck: {exc}", file=sys.stderr)
        return 1
    if plan.op != op:       # plan_clear found the other kind of intent
        have = "a takeover (use takeover --release)" if plan.op == "release" else "a hold (use failover --clear)"
        print(f"vipdeck: {args.instance} has {have}, nothing for {op}", file=sys.stderr)
        return 1
    print(plan.title)
    print(plan.body.plain.rstrip())
    print("(dry run: nothing was changed)")
    return 0


def run(args) -> int:
    op, req = request_for(args)
    if getattr(args, "dry_run", False):
        return preview(args, op)
    rc, result = call(args.socket, op, **req)
    if rc:
        return rc
    if args.json:
        print(json.dumps(result, indent=1, default=str))
    else:
        print(result.get("message", "done") if isinstance(result, dict) else result)
    return 0
