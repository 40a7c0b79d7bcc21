"""`vipdeck demo`: the console on a self-built lab, no setup needed (root).

Builds the seed's dual-master LVS pair in network namespaces (two vipdeck
daemons, two real web servers, a keepalived neighbour when installed; lab
addresses 198.18.0.0/15 only), opens the console attached to node1's
daemon, and removes the whole lab when the console closes.
"""

from __future__ import annotations

import os
import signal
import sys


def add_arguments(p) -> None:
    p.add_argument("--screenshots", metavar="DIR",
                   help="instead of opening the console, save an SVG of every screen into DIR")
    p.add_argument("--no-keepalived", action="store_true", help="do not start the keepalived neighbour")


def run(args) -> int:
    if os.geteuid() != 0:
        print("vipdeck demo: the demo builds network namespaces and needs root (try: sudo vipdeck demo)",
              file=sys.stderr)
        return 1
    import asyncio

    from vipdeck.demo_lab import build

    from vipdeck.engine.lab.netns import run_prefix

    prefix = run_prefix()
    print(f"building the demo lab (node1, node2, two real servers) in namespaces {prefix}-*...", file=sys.stderr)
    app = None
    hung_up = []

    def hang_up(signum, _frame) -> None:
        """A closed terminal (SIGHUP) or a kill (SIGTERM) still removes the lab:
        quit the console if it runs, otherwise unwind to the clean-up; a second
        signal does not interrupt the clean-up."""
        if hung_up:
            return
        hung_up.append(signum)
        if app is not None and app.is_running:
            app.exit(128 + signum)
        else:
            raise SystemExit(128 + signum)

    previous = {sig: signal.signal(sig, hang_up) for sig in (signal.SIGHUP, signal.SIGTERM)}
    demo = build(with_keepalived=not args.no_keepalived, prefix=prefix)
    try:
        from vipdeck.cli.common import client as socket_client
        from vipdeck.engine.lab.wait import wait_until

        client = socket_client(demo.socket)
        # let the checkers and the advert view fill in before the first picture
        wait_until(lambda: all(rs["state"] == "UP" for vs in asyncio.run(client.snapshot())["virtual_servers"]
                               for rs in vs["real_servers"]), 20, what="real servers UP")
        if args.screenshots:
            from vipdeck.console.screenshots import take_screenshots

            # pictures of a lab that has run a little: every router heard a few
            # times, so rates and the timelines show steady state, not start-up
            def heard_enough() -> bool:
                adverts = asyncio.run(client.snapshot())["adverts"]
                return bool(adverts) and all((s.get("count") or 0) >= 5 for a in adverts for s in a["sources"])

            wait_until(heard_enough, 30, what="every router heard 5 times")

            paths = asyncio.run(take_screenshots(client, args.screenshots))
            for p in paths:
                print(p)
            return 0
        from vipdeck.console.app import ConsoleApp

        app = ConsoleApp(client, label=f"demo node1 ({demo.socket})")
        app.run()
        return 128 + hung_up[0] if hung_up else int(app.return_code or 0)
    finally:
        demo.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
