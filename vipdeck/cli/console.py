"""`vipdeck console`: the operator console, attached to a daemon or embedded.

``vipdeck console [--socket PATH]`` attaches to a running daemon (quitting
never touches its VIPs); ``vipdeck console -f FILE`` runs the engine inside
the console and resigns its VIPs when the operator quits.
"""

from __future__ import annotations

import sys

from vipdeck.cli.common import add_socket, client, operator_name


def add_arguments(p) -> None:
    add_socket(p)
    p.add_argument("-f", "--config", metavar="FILE",
                   help="run the engine embedded in the console from this keepalived.conf")
    p.add_argument("--read-only", action="store_true",
                   help="look only: every change key shows a notice instead")


def _fail(message: str) -> int:
    print(f"vipdeck console: {message}", file=sys.stderr)
    return 1


def run(args) -> int:
    if args.config:
        try:
            from vipdeck.engine.embedded import start_embedded
        except ModuleNotFoundError as exc:
            if exc.name not in ("vipdeck.engine.embedded",):
                raise
            return _fail("the embedded engine is not available in this build; "
                         "attach to a daemon with --socket PATH instead")
        except ImportError as exc:
            return _fail(f"the embedded engine cannot be loaded: {exc}")
        from vipdeck.console.app import ConsoleApp

        async def starter():
            embedded, stop = await start_embedded(args.config)
            embedded.who = operator_name()
            return embedded, stop

        app = ConsoleApp(starter=starter, read_only=args.read_only, label=args.config)
        app.run()
        return int(app.return_code or 0)

    import asyncio
    import os

    from vipdeck.engine.control.schema import ControlError

    if not os.path.exists(args.socket):
        return _fail(f"no daemon control socket at {args.socket} (is `vipdeck daemon` running? "
                     "use --socket PATH, or -f CONFIG to run the engine embedded)")
    attached = client(args.socket)
    try:
        asyncio.run(attached.snapshot())
    except ControlError as exc:
        return _fail(exc.message)
    except OSError as exc:
        return _fail(f"cannot talk to the daemon at {args.socket}: {exc}")

    from vipdeck.console.app import ConsoleApp

    app = ConsoleApp(attached, read_only=args.read_only, label=args.socket)
    app.run()
    return int(app.return_code or 0)
