"""The `vipdeck` command line.

Each sub-command lives in its own module (``vipdeck/cli/<name>.py``) exposing
``add_arguments(parser)`` (or ``add_arguments(parser, name)`` for a module
serving several commands) and ``run(args) -> int``.  The modules import what
their command needs inside ``run``, so ``vipdeck check`` does not pay for
Textual or scapy.

This parser is the one source of the command line's documentation: every
sub-command's ``--help`` ends with its ``EXAMPLES``, and the man page and
the bash and zsh completions in ``vipdeck/share`` are generated from it
(``vipdeck generate-docs``, hidden; a unit test keeps them up to date).
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import sys

# command name -> (module under vipdeck.cli, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "check": ("check", "check a keepalived.conf like `keepalived -t`"),
    "daemon": ("daemon", "run the VRRP/IPVS engine in the foreground"),
    "status": ("status", "show the running daemon's instances"),
    "events": ("events", "show the daemon's event stream"),
    "ipvs": ("ipvs", "print the kernel IPVS table like ipvsadm"),
    "drain": ("actions", "every master here resigns; elect with priority 1 until undrain"),
    "undrain": ("actions", "return this node to normal election"),
    "failover": ("actions", "make this master resign one instance (its whole sync group)"),
    "takeover": ("actions", "make this backup take over one instance (its whole sync group)"),
    "weight": ("actions", "override a real server's weight"),
    "rs-drain": ("actions", "drain a real server (weight 0 until idle)"),
    "rs-undrain": ("actions", "undo rs-drain"),
    "console": ("console", "open the operator console"),
    "demo": ("demo", "open the console on a self-built demo lab"),
    "proxy": ("proxy", "relay stdin/stdout to the control socket (for ssh:// peers)"),
    "install-unit": ("install_unit", "install the systemd unit (vipdeck.service)"),
}

# not listed in --help: for maintainers
HIDDEN: dict[str, tuple[str, str]] = {
    "generate-docs": ("docgen", "regenerate the man page and shell completions from this parser"),
}

# command -> (command line, what it does); shown in --help, the man page and the README
EXAMPLES: dict[str, list[tuple[str, str]]] = {
    "check": [("vipdeck check -f /etc/keepalived/keepalived.conf", "check a config before a reload"),
              ("vipdeck check -f keepalived.conf --json", "the parsed model, secrets masked")],
    "daemon": [("vipdeck daemon -f /etc/keepalived/keepalived.conf -D --metrics 127.0.0.1:9650",
                "run in the foreground with detailed logs and Prometheus metrics")],
    "status": [("vipdeck status", "instances, priorities, VIPs, masters heard"),
               ("vipdeck status --json", "the whole snapshot as JSON")],
    "events": [("vipdeck events --follow", "transitions, anomalies, checker results as they happen"),
               ("vipdeck events -f --hide-passing-checks", "watch a failover without the routine checker runs"),
               ("vipdeck events --kind transition,operator", "only transitions and operator actions")],
    "ipvs": [("vipdeck ipvs -ln --stats", "the kernel IPVS table with counters, as ipvsadm -ln --stats"),
             ("vipdeck ipvs -ln --checks", "each real server with its checker state")],
    "drain": [("vipdeck drain --dry-run", "which VIPs would move to whom; changes nothing"),
              ('vipdeck drain --reason "kernel upgrade"', "every master here resigns; the peer takes over")],
    "undrain": [("vipdeck undrain", "back to normal election (preemption may move VIPs back)")],
    "failover": [('vipdeck failover VI_1 --hold 600 --reason "move VI_1 to node2"',
                  "this master resigns VI_1 and does not preempt for 10 minutes"),
                 ("vipdeck failover VI_1 --clear", "end the hold")],
    "takeover": [('vipdeck takeover VI_1 --reason "node1 maintenance"', "this backup takes VI_1 over"),
                 ("vipdeck takeover VI_1 --release", "give it back to normal election")],
    "weight": [('vipdeck weight 198.18.0.100:80 198.18.1.10:80 5 --reason canary', "override a weight"),
               ("vipdeck weight 198.18.0.100:80 198.18.1.10:80 --clear", "back to the configured weight")],
    "rs-drain": [('vipdeck rs-drain 198.18.0.100:80 198.18.1.10:80 --reason "patching"',
                  "no new connections; DRAINED once the existing ones are gone")],
    "rs-undrain": [("vipdeck rs-undrain 198.18.0.100:80 198.18.1.10:80", "back into service")],
    "console": [("vipdeck console", "attach to the local daemon (quitting leaves the VIPs alone)"),
                ("vipdeck console -f /etc/keepalived/keepalived.conf", "run the engine inside the console"),
                ("vipdeck console --peer ssh://root@node2", "the cluster view: this node and node2 per VRID")],
    "proxy": [("vipdeck proxy --socket /run/vipdeck/control.sock",
               "what `vipdeck console --peer ssh://node2` runs on node2 (through ssh -T)")],
    "demo": [("vipdeck demo", "the console on a two-node lab in network namespaces (root)")],
    "install-unit": [("vipdeck install-unit && systemctl enable --now vipdeck",
                      "install /etc/systemd/system/vipdeck.service and start it")],
    "generate-docs": [("vipdeck generate-docs", "rewrite vipdeck/share/{man,bash-completion,zsh}")],
}


def examples_epilog(name: str) -> str:
    lines = ["example:" if len(EXAMPLES.get(name, [])) == 1 else "examples:"]
    for cmd, what in EXAMPLES.get(name, []):
        lines += [f"  {cmd}", f"      {what}"]
    return "\n".join(lines)

DEFAULT_SOCKET = "/run/vipdeck/control.sock"


class _VersionAction(argparse.Action):
    """``--version``, with the version looked up only when it is asked for
    (argparse's own action takes the string up front, and finding it costs
    every daemon importlib.metadata and the email package: issue 13)."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS,
                 help="show program's version number and exit"):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        from vipdeck import __version__

        parser._print_message(f"vipdeck {__version__}\n", sys.stdout)
        parser.exit()


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole command line; with ``only`` (a command's name), that one
    command's options are the only ones added, so running it imports no other
    command's module (the daemon does not pay for the console's event filters:
    issue 13).  Every command is still listed in ``vipdeck --help``."""
    parser = argparse.ArgumentParser(
        prog="vipdeck", description="A keepalived-class VRRP + IPVS engine with a Textual operator console.",
        epilog="Run `vipdeck COMMAND --help` for a command's options and examples; man vipdeck(8).")
    parser.add_argument("--version", action=_VersionAction)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, (module, help_text) in {**COMMANDS, **HIDDEN}.items():
        kw = {"help": help_text} if name in COMMANDS else {}   # no help=: not listed
        p = sub.add_parser(name, description=help_text, epilog=examples_epilog(name),
                           formatter_class=argparse.RawDescriptionHelpFormatter, **kw)
        p.set_defaults(_module=module)
        if only is not None and name != only:
            continue
        mod = importlib.import_module(f"vipdeck.cli.{module}")
        add = getattr(mod, "add_arguments", None)
        if add is not None:
            # a module serving several commands takes the command name as well
            if len(inspect.signature(add).parameters) > 1:
                add(p, name)
            else:
                add(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # the command is the first word: the top level's only options, -h and --version, take no value
    only = argv[0] if argv and argv[0] in {**COMMANDS, **HIDDEN} else None
    parser = build_parser(only)
    args = parser.parse_args(argv)
    mod = importlib.import_module(f"vipdeck.cli.{args._module}")
    try:
        return int(mod.run(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
