"""`vipdeck ipvs`: the kernel IPVS table, printed exactly like ipvsadm -L.

Reads the kernel over netlink (not through the daemon), so it works whether
or not vipdeck is running.  ``--checks`` appends each real server's checker
state, which only the daemon knows; see :func:`fetch_checker_summaries`.
"""

from __future__ import annotations

import argparse
import sys
from typing import Callable, Mapping

DEFAULT_SOCKET = "/run/vipdeck/control.sock"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-l", "-L", "--list", action="store_true", dest="list",
                        help="list the table (the default; accepted for ipvsadm habits)")
    parser.add_argument("-n", "--numeric", action="store_true",
                        help="numeric addresses and ports (no name lookups)")
    fmt = parser.add_mutually_exclusive_group()
    fmt.add_argument("--stats", action="store_const", const="stats", dest="mode",
                     help="show packet and byte counters")
    fmt.add_argument("--rate", action="store_const", const="rate", dest="mode",
                     help="show rates (per second)")
    fmt.add_argument("--thresholds", action="store_const", const="thresholds", dest="mode",
                     help="show upper/lower connection thresholds")
    fmt.add_argument("--persistent-conn", action="store_const", const="persistent-conn", dest="mode",
                     help="show persistent connection counts")
    parser.add_argument("--exact", action="store_true", help="print exact numbers (no K/M/G)")
    parser.add_argument("--nosort", action="store_true", help="kernel order, as ipvsadm --nosort")
    parser.add_argument("--netns", metavar="NAME", help="read the IPVS table of this network namespace")
    parser.add_argument("--checks", action="store_true",
                        help="append each real server's checker state (from the daemon)")
    parser.add_argument("--socket", metavar="PATH", default=DEFAULT_SOCKET,
                        help=f"daemon control socket for --checks (default {DEFAULT_SOCKET})")
    parser.set_defaults(mode="list")


# ------------------------------------------------------------------ --checks hook
#
# Checker state lives in the daemon.  When the control-socket client exists,
# fetch_checker_summaries() asks it for {(service key, dest key): summary}
# (e.g. "UP http 200 12ms" or "DOWN connect timeout") and checks_column()
# appends that text to each destination line.  Only the fetch is missing.

CheckerSummaries = Mapping[tuple, str]   # (ServiceKey, DestKey) -> one-line summary


def fetch_checker_summaries(socket_path: str) -> CheckerSummaries:
    """HOOK: read checker summaries from the daemon's control socket."""
    raise NotImplementedError("checker state from the daemon is not available in this build")


def checks_column(summaries: CheckerSummaries) -> Callable:
    """A ``table.render(extra=...)`` callback appending checker state to dest lines."""

    def extra(service, dest) -> str:
        if dest is None:
            return ""
        return "  " + summaries.get((service.key, dest.key), "-")

    return extra


# ------------------------------------------------------------------ command

def run(args: argparse.Namespace) -> int:
    from engine.ipvs.kernel import IpvsError, IpvsUnavailable, read_snapshot
    from engine.ipvs.table import render

    try:
        snapshot = read_snapshot(args.netns)
    except IpvsUnavailable as exc:
        print(f"vipdeck ipvs: {exc}", file=sys.stderr)
        return 1
    except IpvsError as exc:
        print(f"vipdeck ipvs: cannot read the IPVS table: {exc}", file=sys.stderr)
        return 1
    extra = None
    if args.checks:
        try:
            extra = checks_column(fetch_checker_summaries(args.socket))
        except (NotImplementedError, OSError) as exc:
            print(f"vipdeck ipvs: --checks: {exc}; showing the kernel table only", file=sys.stderr)
    sys.stdout.write(render(snapshot, args.mode, numeric=args.numeric, exact=args.exact,
                            sort=not args.nosort, extra=extra))
    return 0
