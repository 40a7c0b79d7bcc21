"""The `vipdeck` command line.

Each sub-command lives in its own module (``engine/cli/<name>.py``) exposing
``add_arguments(parser)`` and ``run(args) -> int``.  Modules are imported only
when their command runs, so ``vipdeck check`` does not pay for Textual or
scapy, and a command whose module is not there yet says so instead of
breaking the others.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# command name -> (module under vipdeck.cli, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "check": ("check", "check a keepalived.conf like `keepalived -t`"),
    "daemon": ("daemon", "run the VRRP/IPVS engine in the foreground"),
    "status": ("status", "show the running daemon's instances"),
    "events": ("events", "show the daemon's event stream"),
    "ipvs": ("ipvs", "print the kernel IPVS table like ipvsadm"),
    "drain": ("actions", "resign every instance on this node and stay backup"),
    "undrain": ("actions", "return this node to normal election"),
    "failover": ("actions", "make this master resign one instance (its whole sync group)"),
    "takeover": ("actions", "make this backup take over one instance (its whole sync group)"),
    "weight": ("actions", "override a real server's weight"),
    "rs-drain": ("actions", "drain a real server (weight 0 until idle)"),
    "rs-undrain": ("actions", "undo rs-drain"),
    "console": ("console", "open the operator console"),
    "demo": ("demo", "open the console on a self-built demo lab"),
}

DEFAULT_SOCKET = "/run/vipdeck/control.sock"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vipdeck", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_module=module)
        try:
            mod = importlib.import_module(f"vipdeck.cli.{module}")
        except ModuleNotFoundError as exc:
            if exc.name != f"vipdeck.cli.{module}":
                raise
            p.set_defaults(_missing=True)
            continue
        add = getattr(mod, "add_arguments", None)
        if add is not None:
            # modules serving several commands get the command name
            try:
                add(p, name)
            except TypeError:
                add(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "_missing", False):
        print(f"vipdeck: '{args.command}' is not available in this build", file=sys.stderr)
        return 2
    mod = importlib.import_module(f"vipdeck.cli.{args._module}")
    try:
        return int(mod.run(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
