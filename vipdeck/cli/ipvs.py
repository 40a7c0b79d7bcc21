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
    fmt.add_argument("--tun-info", action="store_const", const="tun-info", dest="mode",
                     help="show each tunnelled real server's tunnel type, port and checksum option")
    fmt.add_argument("--daemon", action="store_const", const="daemon", dest="mode",
                     help="show the connection sync daemons instead of the table")
    fmt.add_argument("--timeout", action="store_const", const="timeout", dest="mode",
                     help="show the tcp, tcpfin and udp connection timeouts instead of the table")
    parser.add_argument("--exact", action="store_true", help="print exact numbers (no K/M/G)")
    parser.add_argument("--nosort", action="store_true", help="kernel order, as ipvsadm --nosort")
    parser.add_argument("--netns", metavar="NAME", help="read the IPVS table of this network namespace")
    parser.add_argument("--checks", action="store_true",
                        help="append each real server's checker state (from the daemon)")
    parser.add_argument("--socket", metavar="PATH", default=DEFAULT_SOCKET,
                        help=f"daemon control socket for --checks (default {DEFAULT_SOCKET})")
    parser.set_defaults(mode="list")


# ------------------------------------------------------------------ --checks
#
# Checker state lives in the daemon: fetch_checker_summaries() reads its
# snapshot over the control socket and turns each real server into one line
# of text keyed by (service key, dest key); checks_column() appends that text
# to the matching destination lines of the kernel table.  A destination the
# daemon does not configure (added by hand) gets "-".  The snapshot lists each
# block's kernel services, so a virtual_server group's members are found too.

CheckerSummaries = Mapping[tuple, str]   # (ServiceKey, DestKey) -> one-line summary
_ERROR_WIDTH = 60


def fetch_checker_summaries(socket_path: str) -> CheckerSummaries:
    """Checker summaries from the daemon behind ``socket_path``.

    Raises ``ControlError`` (no daemon, permission denied) for the caller to
    report; the kernel table is printed either way.
    """
    import asyncio

    from vipdeck.engine.control.client import SocketClient

    return summaries_from_snapshot(asyncio.run(SocketClient(socket_path).snapshot()))


def summaries_from_snapshot(snapshot: Mapping) -> dict[tuple, str]:
    """{(ServiceKey, DestKey): summary} for every real and sorry server of a daemon snapshot."""
    from vipdeck.engine.ipvs.model import DestKey, ModelError, ServiceKey

    out: dict[tuple, str] = {}
    for vs in snapshot.get("virtual_servers") or ():
        try:
            if vs.get("services"):
                services = [ServiceKey.fwm(k["fwmark"], k.get("family") or 4) if k.get("fwmark")
                            else ServiceKey.of(k["protocol"], k["address"], k.get("port") or 0)
                            for k in vs["services"]]
            elif vs.get("fwmark"):
                # the snapshot does not carry a fwmark service's family: it is one of the two
                services = [ServiceKey.fwm(vs["fwmark"], 4), ServiceKey.fwm(vs["fwmark"], 6)]
            elif vs.get("address") and vs.get("protocol"):
                services = [ServiceKey.of(vs["protocol"], vs["address"], vs.get("port") or 0)]
            else:
                continue
        except (ModelError, KeyError, TypeError):
            continue
        for rs in vs.get("real_servers") or ():
            try:
                dest = DestKey(rs["address"], rs.get("port") or 0)
            except (ModelError, KeyError):
                continue
            for svc in services:
                out[(svc, dest)] = real_server_summary(rs)
        sorry = _sorry_key(vs.get("sorry_server"))
        if sorry is not None:
            text = "sorry server" + (" (in: quorum lost)" if vs.get("sorry_active") else "")
            for svc in services:
                out.setdefault((svc, sorry), text)
    return out


def real_server_summary(rs: Mapping) -> str:
    """E.g. ``UP  HTTP_GET ok 1.8ms`` or ``DOWN  TCP_CHECK failed x2: connection refused``."""
    parts = [_checker_text(c) for c in rs.get("checkers") or ()]
    text = f"{rs.get('state') or '?'}  " + ("; ".join(parts) if parts else "no checker")
    override = rs.get("override")
    if override and override.get("weight") is not None:
        text += f"  (weight override {override['weight']}, cfg {rs.get('weight_config')})"
    return text


def _checker_text(c: Mapping) -> str:
    kind = c.get("kind") or "CHECK"
    if c.get("ok") is None:
        return f"{kind} pending"
    if c["ok"]:
        latency = c.get("latency")
        return f"{kind} ok" + ("" if latency is None else f" {latency * 1000:.1f}ms")
    error = " ".join(str(c.get("error") or "failed").split())
    if len(error) > _ERROR_WIDTH:
        error = error[:_ERROR_WIDTH - 1] + "…"
    return f"{kind} failed x{c.get('failures') or 0}: {error}"


def _sorry_key(text: str | None):
    """"198.18.0.30:80" / "[2001:db8::30]:80" -> DestKey, or None."""
    from vipdeck.engine.ipvs.model import DestKey, ModelError

    if not text or ":" not in text:
        return None
    host, _, port = text.rpartition(":")
    try:
        return DestKey(host.strip("[]"), int(port))
    except (ModelError, ValueError):
        return None


def checks_column(summaries: CheckerSummaries) -> Callable:
    """A ``table.render(extra=...)`` callback appending checker state to dest lines."""

    def extra(service, dest) -> str:
        if dest is None:
            return ""
        return "  " + summaries.get((service.key, dest.key), "-")

    return extra


# ------------------------------------------------------------------ command

def run(args: argparse.Namespace) -> int:
    from vipdeck.engine.ipvs.kernel import IpvsError, IpvsUnavailable, read_extras, read_snapshot
    from vipdeck.engine.ipvs.names import SYSTEM_RESOLVER
    from vipdeck.engine.ipvs.table import daemon_lines, render, timeout_line

    try:
        if args.mode in ("daemon", "timeout"):
            # as ipvsadm -L --daemon / --timeout: that alone, no table
            daemons, timeouts = read_extras(args.netns)
            sys.stdout.write(daemon_lines(daemons) if args.mode == "daemon" else timeout_line(timeouts))
            return 0
        snapshot = read_snapshot(args.netns)
    except IpvsUnavailable as exc:
        print(f"vipdeck ipvs: {exc}", file=sys.stderr)
        return 1
    except IpvsError as exc:
        print(f"vipdeck ipvs: cannot read the IPVS table: {exc}", file=sys.stderr)
        return 1
    extra = None
    if args.checks:
        from vipdeck.engine.control.schema import ControlError

        try:
            extra = checks_column(fetch_checker_summaries(args.socket))
        except (ControlError, OSError, ValueError) as exc:
            print(f"vipdeck ipvs: --checks: {exc}; showing the kernel table only", file=sys.stderr)
    sys.stdout.write(render(snapshot, args.mode, numeric=args.numeric, exact=args.exact,
                            sort=not args.nosort, extra=extra, resolver=SYSTEM_RESOLVER))
    return 0
