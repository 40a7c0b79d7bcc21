"""`vipdeck events [--follow] [--json]`: the daemon's event stream.

``--kind``, ``--exclude-kind``, ``--severity`` and ``--hide-passing-checks``
keep what an operator watching a failover wants (the same choices as the
console's events screen: ``console.filtering``); the daemon still sends
everything, the choice is made here.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from vipdeck.cli.common import add_socket, client
from vipdeck.console.filtering import SEVERITIES, EventChoice, split_kinds

KINDS_HELP = ("transition, advert, vip, tracker, notify, smtp, check, rs_state, ipvs, operator, config, daemon")


def add_arguments(p) -> None:
    add_socket(p)
    p.add_argument("--follow", "-f", action="store_true", help="keep printing new events")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("--since", type=int, default=0, help="only events after this sequence number")
    p.add_argument("--kind", action="append", default=[], metavar="KIND[,KIND]",
                   help=f"only events of these kinds (repeatable): {KINDS_HELP}")
    p.add_argument("--exclude-kind", action="append", default=[], metavar="KIND[,KIND]",
                   help="leave out events of these kinds (repeatable)")
    p.add_argument("--severity", choices=SEVERITIES, default="info",
                   help="only events of at least this severity (default info: all)")
    p.add_argument("--hide-passing-checks", action="store_true",
                   help="leave out checker runs that succeeded (a change of a real server's state is "
                        "an rs_state event and stays)")


def choice_of(args) -> EventChoice:
    return EventChoice(split_kinds(args.kind), split_kinds(args.exclude_kind), args.severity,
                       args.hide_passing_checks)


def line(ev: dict) -> str:
    t = time.strftime("%H:%M:%S", time.localtime(ev["time"])) + f".{int(ev['time'] % 1 * 1000):03d}"
    return f"{t} {ev['severity']:<7} {ev['kind']:<10} {ev['message']}"


def run(args) -> int:
    from vipdeck.engine.control.schema import ControlError

    out = (lambda e: json.dumps(e, default=str)) if args.json else line
    keep = choice_of(args).keeps

    async def go() -> None:
        c = client(args.socket)
        try:
            if args.follow:
                async for ev in c.follow(args.since):
                    if keep(ev):
                        print(out(ev), flush=True)
            else:
                for ev in await c.events(args.since):
                    if keep(ev):
                        print(out(ev))
        finally:
            await c.close()

    try:
        asyncio.run(go())
    except ControlError as exc:
        print(f"vipdeck: {exc.message}", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"vipdeck: --socket {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        pass
    return 0
