"""`vipdeck daemon`: the engine in the foreground (what systemd wants).

keepalived's own options are accepted with keepalived's meanings
(``vipdeck.cli.kaflags``), so Debian's ``DAEMON_ARGS`` and a seed's
``KEEPALIVED_OPTIONS="-D -S 3"`` carry over; logging goes to syslog,
facility daemon, like keepalived's.
"""

from __future__ import annotations

import argparse

from vipdeck.cli import kaflags

DEFAULT_SOCKET = "/run/vipdeck/control.sock"
DEFAULT_STATE_DIR = "/var/lib/vipdeck"


def add_arguments(p) -> None:
    p.add_argument("-f", "--use-file", dest="config", default="/etc/keepalived/keepalived.conf",
                   metavar="FILE", help="keepalived.conf to run (default /etc/keepalived/keepalived.conf)")
    p.add_argument("--socket", default=DEFAULT_SOCKET, metavar="PATH", help="control socket path")
    p.add_argument("--state-dir", default=DEFAULT_STATE_DIR, metavar="DIR",
                   help="where operator overrides and the audit trail are kept")
    p.add_argument("-i", "--config-id", default=None, help="config id for @conditional lines")
    p.add_argument("--socket-group", default=None, metavar="GROUP",
                   help="group allowed to read status through the socket (default: root's)")
    p.add_argument("--metrics", default=None, metavar="ADDR:PORT",
                   help="serve Prometheus metrics on http://ADDR:PORT/metrics, e.g. 127.0.0.1:9650 "
                        "or [::1]:9650 (default: off)")
    kaflags.add_keepalived_arguments(p)
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


def setup_logging(args) -> list[str]:
    """keepalived's logging: syslog (facility daemon unless -S), -l console, -G none, -g file."""
    from vipdeck.engine import logsetup

    return logsetup.setup(syslog=not args.no_syslog, console=args.log_console,
                          facility=logsetup.parse_facility(args.log_facility), detail=bool(args.log_detail),
                          log_file=args.log_file, idents=args.log_ident, address=args.syslog_socket)


def _config_test(args) -> int:
    """keepalived -t[=LOG_FILE]: the checks of `vipdeck check`, diagnostics to stderr or LOG_FILE."""
    import argparse
    import contextlib
    import sys

    from vipdeck.cli import check

    ns = argparse.Namespace(file=args.config, config_id=args.config_id, json=False, strict=False)
    if args.config_test in (None, "-"):
        return check.run(ns)
    with open(args.config_test, "a") as log, contextlib.redirect_stderr(log), contextlib.redirect_stdout(log):
        rc = check.run(ns)
    if rc:
        print(f"vipdeck daemon: {args.config}: configuration errors, see {args.config_test}", file=sys.stderr)
    return rc


def run(args) -> int:
    import asyncio
    import grp
    import logging

    if args.signum:
        print(kaflags.signum(args.signum))
        return 0
    if args.config_test is not None:
        return _config_test(args)
    settings = kaflags.resolve(args)
    notes = setup_logging(args)
    log = logging.getLogger("vipdeck.daemon")
    for note in notes + settings.notes:
        log.warning("%s", note)
    from vipdeck.engine.daemon import Daemon

    group = None
    if args.socket_group:
        try:
            group = grp.getgrnam(args.socket_group).gr_gid
        except KeyError:
            raise SystemExit(f"vipdeck daemon: --socket-group {args.socket_group}: no such group")
    metrics = None
    if args.metrics:
        from vipdeck.engine.metrics import parse_listen

        try:
            metrics = parse_listen(args.metrics)
        except ValueError as exc:
            raise SystemExit(f"vipdeck daemon: --metrics {exc}")
    d = Daemon(args.config, socket_path=args.socket, state_dir=args.state_dir, pid_file=args.pid_file,
               config_id=args.config_id, socket_group=group,
               vrrp_pid_file=args.vrrp_pid_file, checkers_pid_file=args.checkers_pid_file,
               run_vrrp=settings.run_vrrp, run_checkers=settings.run_checkers,
               control_idle_timeout=args.control_idle_timeout,
               control_max_per_uid=args.control_max_connections,
               control_max_per_root=max(64, 4 * args.control_max_connections), metrics=metrics)
    return asyncio.run(d.run())
