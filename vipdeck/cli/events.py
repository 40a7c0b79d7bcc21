"""`vipdeck events [--follow] [--json]`: the daemon's event stream."""

from __future__ import annotations

import asyncio
import json
import sys
import time

from vipdeck.cli.common import add_socket


def add_arguments(p) -> None:
    add_socket(p)
    p.add_argument("--follow", "-f", action="store_true", help="keep printing new events")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("--since", type=int, default=0, help="only events after this sequence number")


def line(ev: dict) -> str:
    t = time.strftime("%H:%M:%S", time.localtime(ev["time"])) + f".{int(ev['time'] % 1 * 1000):03d}"
    return f"{t} {ev['severity']:<7} {ev['kind']:<10} {ev['message']}"


def run(args) -> int:
    from vipdeck.engine.control.client import SocketClient
    from vipdeck.engine.control.schema import ControlError

    out = (lambda e: json.dumps(e, default=str)) if args.json else line

    async def go() -> None:
        client = SocketClient(args.socket)
        if args.follow:
            async for ev in client.follow(args.since):
                print(out(ev), flush=True)
        else:
            for ev in await client.events(args.since):
                print(out(ev))

    try:
        asyncio.run(go())
    except ControlError as exc:
        print(f"vipdeck: {exc.message}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        pass
    return 0
