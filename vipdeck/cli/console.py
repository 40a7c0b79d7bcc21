"""`vipdeck console`: the operator console, attached to a daemon or embedded.

``vipdeck console [--socket PATH]`` attaches to a running daemon (quitting
never touches its VIPs); ``vipdeck console -f FILE`` runs the engine inside
the console and resigns its VIPs when the operator quits.  ``--peer ADDR``
(or ``peers`` in /etc/vipdeck/console.toml) adds the cluster view: each
other node's daemon, by socket path or ``ssh://[user@]host[:port][/socket]``
(through ``ssh HOST vipdeck proxy``).
"""

from __future__ import annotations

import os
import sys

from vipdeck.cli.common import add_socket, client, is_remote, operator_name


def add_arguments(p) -> None:
    add_socket(p)
    p.add_argument("-f", "--config", metavar="FILE",
                   help="run the engine embedded in the console from this keepalived.conf")
    p.add_argument("--read-only", action="store_true",
                   help="look only: every change key shows a notice instead")
    p.add_argument("--peer", action="append", metavar="ADDR", default=None,
                   help="another node to watch and change (repeatable): its control socket path or "
                        "ssh://[user@]host[:port][/path/to/control.sock], reached with `ssh host vipdeck proxy`; "
                        "replaces the peers of the console config")
    p.add_argument("--console-config", metavar="PATH", default=None,
                   help="the console's settings (peers, ssh_options, remote_command; "
                        "default /etc/vipdeck/console.toml, if it exists)")


def _fail(message: str) -> int:
    print(f"vipdeck console: {message}", file=sys.stderr)
    return 1


def peer_settings(args):
    """(peer addresses, client factory, ssh options) from --peer and the console config;
    a ValueError with the file, key or address that is wrong."""
    from vipdeck.console.config import load
    from vipdeck.engine.control.client import client_for, parse_address

    cfg = load(args.console_config)
    peers = list(args.peer) if args.peer else list(cfg.peers)
    for p in peers:
        try:
            parse_address(p)
        except ValueError as exc:
            raise ValueError(f"--peer {exc}") from None
    local = args.socket if args.config is None else None
    if local is not None and not is_remote(local):
        local = os.path.realpath(local)
    peers = [p for p in dict.fromkeys(peers) if (p if is_remote(p) else os.path.realpath(p)) != local]
    who = operator_name()
    ssh = {"options": cfg.ssh_options, "remote_command": cfg.remote_command}

    def make(address: str):
        return client_for(address, who, **ssh)

    return peers, make, ssh


def run(args) -> int:
    try:
        peers, make, ssh = peer_settings(args)
    except ValueError as exc:
        return _fail(str(exc))
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

        app = ConsoleApp(starter=starter, read_only=args.read_only, label=args.config, peers=peers,
                         peer_client=make)
        app.run()
        return int(app.return_code or 0)

    import asyncio

    from vipdeck.engine.control.schema import ControlError

    if not is_remote(args.socket) and not os.path.exists(args.socket):
        return _fail(f"no daemon control socket at {args.socket} (is `vipdeck daemon` running? "
                     "use --socket PATH, or -f CONFIG to run the engine embedded)")
    try:
        attached = client(args.socket, **ssh)
    except ValueError as exc:
        return _fail(f"--socket {exc}")
    try:
        asyncio.run(attached.snapshot())
    except ControlError as exc:
        return _fail(exc.message)
    except OSError as exc:
        return _fail(f"cannot talk to the daemon at {args.socket}: {exc}")
    finally:
        asyncio.run(attached.close())   # an ssh connection belongs to that loop; the app opens its own

    from vipdeck.console.app import ConsoleApp

    app = ConsoleApp(attached, read_only=args.read_only, label=args.socket, peers=peers, peer_client=make)
    app.run()
    return int(app.return_code or 0)
