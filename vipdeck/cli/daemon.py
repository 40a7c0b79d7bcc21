"""`vipdeck daemon`: the engine in the foreground (what systemd wants).

Options mirror keepalived's where they overlap: ``-S 3`` logs to syslog
facility local3 and ``-D`` logs in detail, so a seed's
``KEEPALIVED_OPTIONS="-D -S 3"`` carries over.
"""

from __future__ import annotations

import argparse

DEFAULT_SOCKET = "/run/vipdeck/control.sock"
DEFAULT_STATE_DIR = "/var/lib/vipdeck"


def add_arguments(p) -> None:
    p.add_argument("-f", "--use-file", dest="config", default="/etc/keepalived/keepalived.conf",
                   metavar="FILE", help="keepalived.conf to run (default /etc/keepalived/keepalived.conf)")
    p.add_argument("--socket", default=DEFAULT_SOCKET, metavar="PATH", help="control socket path")
    p.add_argument("--state-dir", default=DEFAULT_STATE_DIR, metavar="DIR",
                   help="where operator overrides and the audit trail are kept")
    p.add_argument("--pid-file", default=None, metavar="PATH", help="write our pid here")
    p.add_argument("-S", "--log-facility", default=None, metavar="N",
                   help="log to syslog facility localN (0-7), like keepalived -S")
    p.add_argument("-D", "--log-detail", action="store_true", help="detailed logging")
    p.add_argument("--log-file", default=None, metavar="PATH", help="also log to this file")
    p.add_argument("-i", "--config-id", default=None, help="config id for @conditional lines")
    p.add_argument("--socket-group", default=None, metavar="GROUP",
                   help="group allowed to read status through the socket (default: root's)")
    p.add_argument("--control-idle-timeout", type=_positive(float), default=60.0, metavar="SECONDS",
                   help="close a control connection that sends no complete request for this long (default 60)")
    p.add_argument("--control-max-connections", type=_positive(int), default=16, metavar="N",
                   help="open control connections allowed per non-root uid (default 16; root gets "
                        "4 times as many, at least 64)")


def _positive(kind):
    def parse(text: str):
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not v > 0:
            raise argparse.ArgumentTypeError(f"{text!r} must be greater than 0")
        return v

    return parse


def setup_logging(args) -> None:
    import logging
    import logging.handlers
    import sys

    level = logging.DEBUG if args.log_detail else logging.INFO
    root = logging.getLogger()
    root.setLevel(level)
    fmt = logging.Formatter("%(asctime)s %(name)s %(levelname)s: %(message)s")
    h = logging.StreamHandler(sys.stderr)
    h.setFormatter(fmt)
    root.addHandler(h)
    if args.log_file:
        fh = logging.FileHandler(args.log_file)
        fh.setFormatter(fmt)
        root.addHandler(fh)
    if args.log_facility is not None:
        try:
            n = int(args.log_facility)
            if not 0 <= n <= 7:
                raise ValueError
        except ValueError:
            raise SystemExit(f"vipdeck daemon: -S {args.log_facility}: facility must be 0-7 (local0-local7)")
        facility = getattr(logging.handlers.SysLogHandler, f"LOG_LOCAL{n}")
        try:
            sh = logging.handlers.SysLogHandler(address="/dev/log", facility=facility)
            sh.setFormatter(logging.Formatter("vipdeck[%(process)d]: %(name)s: %(message)s"))
            root.addHandler(sh)
        except OSError as exc:
            logging.getLogger("vipdeck").warning("syslog unavailable (%s); logging to stderr only", exc)


def run(args) -> int:
    import asyncio
    import grp

    setup_logging(args)
    from vipdeck.engine.daemon import Daemon

    group = None
    if args.socket_group:
        try:
            group = grp.getgrnam(args.socket_group).gr_gid
        except KeyError:
            raise SystemExit(f"vipdeck daemon: --socket-group {args.socket_group}: no such group")
    d = Daemon(args.config, socket_path=args.socket, state_dir=args.state_dir, pid_file=args.pid_file,
               config_id=args.config_id, socket_group=group,
               control_idle_timeout=args.control_idle_timeout,
               control_max_per_uid=args.control_max_connections,
               control_max_per_root=max(64, 4 * args.control_max_connections))
    return asyncio.run(d.run())
