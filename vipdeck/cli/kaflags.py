"""keepalived's command line for ``vipdeck daemon``, so ``/etc/default/keepalived``
(``DAEMON_ARGS="-D -S 3"``) and operators' habits carry over.

Debian's unit runs ``keepalived --dont-fork $DAEMON_ARGS``.  Every option of
keepalived 2.2.7 is accepted.  Those with a meaning here keep keepalived's
(``-P``/``-C`` run one half, ``-l``/``-G``/``-S``/``-D``/``-g`` logging, the
``-p``/``-r``/``-c`` pid files with keepalived's default paths, ``-t``
config test, ``--signum``, ``-u``); the ones that mean nothing for vipdeck
(one process, no children to respawn, no SNMP ...) are said once at start,
each with what vipdeck does instead.  ``-s/--namespace`` is refused: running
in the wrong network namespace would put the VIPs on the wrong interfaces.

vipdeck is one process, so the VRRP and checker pid files (``-r``, ``-c``)
hold the same pid as the main one (``-p``, default ``/run/keepalived.pid``
as keepalived's; ``/run/keepalived/keepalived.pid`` with ``use_pid_dir``,
``keepalived_NAME.pid`` there with ``instance NAME``): a runbook's ``kill
-USR1 $(cat /run/vrrp.pid)`` reaches the daemon.
"""

from __future__ import annotations

import argparse
import os
import signal
from dataclasses import dataclass, field

# keepalived --signum=NAME (lib/signals.c)
SIGNUMS = {
    "STOP": signal.SIGTERM, "RELOAD": signal.SIGHUP, "DATA": signal.SIGUSR1, "STATS": signal.SIGUSR2,
    "STATS_CLEAR": signal.SIGRTMAX - 1, "JSON": signal.SIGRTMIN + 2, "TDUMP": signal.SIGRTMAX,
}

# accepted, meaningless here: dest -> (option as written, what vipdeck does instead)
NO_EFFECT = {
    "dont_respawn": ("-R/--dont-respawn", "vipdeck is one process with no children to respawn"),
    "release_vips": ("-X/--release-vips", "not implemented: VIPs are removed only when an instance leaves MASTER"),
    "dont_release_vrrp": ("-V/--dont-release-vrrp", "not implemented: VIPs, routes and rules are removed at stop"),
    "dont_release_ipvs": ("-I/--dont-release-ipvs", "not implemented: the IPVS services vipdeck made are removed "
                                                     "at stop"),
    "core_dump": ("-m/--core-dump", "not applicable: a Python traceback is logged instead of a core"),
    "core_dump_pattern": ("-M/--core-dump-pattern", "not applicable: a Python traceback is logged instead of a core"),
    "address_monitoring": ("-a/--address-monitoring", "not implemented: address changes are events "
                                                       "(vipdeck events)"),
    "snmp": ("-x/--snmp", "not implemented: no SNMP subsystem (use vipdeck status or the dumps)"),
    "snmp_agent_socket": ("-A/--snmp-agent-socket", "not implemented: no SNMP subsystem"),
    "all_config": ("-e/--all-config", "not implemented: a missing include is reported as the parser finds it"),
    "all_children": ("--all", "vipdeck is one process: both halves run unless -P or -C"),
    "no_bfd": ("-B/--no_bfd", "vipdeck has no BFD subsystem"),
    "bfd_pid_file": ("-b/--bfd_pid", "vipdeck has no BFD subsystem; no BFD pid file is written"),
    "debug_options": ("--debug", "keepalived's debug options do not apply; -D logs in detail"),
    "perf": ("--perf", "not applicable"),
    "no_mem_check": ("--no-mem-check", "not applicable"),
    "dump_conf": ("-d/--dump-conf", "not implemented: send SIGUSR1 for keepalived's data dump"),
}


def default_log_file() -> str:
    tmp = os.environ.get("TMPDIR", "")
    return os.path.join(tmp if tmp.startswith("/") else "/tmp", "keepalived.log")


def add_keepalived_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("keepalived options", "keepalived's own options, with its meanings "
                             "(DAEMON_ARGS from /etc/default/keepalived work as they are)")
    g.add_argument("-P", "--vrrp", dest="only_vrrp", action="store_true", help="run only the VRRP half")
    g.add_argument("-C", "--check", dest="only_check", action="store_true",
                   help="run only the checker (LVS) half")
    g.add_argument("-l", "--log-console", dest="log_console", action="store_true",
                   help="log to the console (stderr) too")
    g.add_argument("-D", "--log-detail", dest="log_detail", action="count", default=0, help="detailed logging")
    g.add_argument("-S", "--log-facility", dest="log_facility", default="daemon", metavar="FACILITY",
                   help="syslog facility: 0-7 (local0-local7), local0-local7, user or daemon (default)")
    g.add_argument("-G", "--no-syslog", dest="no_syslog", action="store_true", help="don't log via syslog")
    g.add_argument("-g", "--log-file", dest="log_file", nargs="?", const=default_log_file(), default=None,
                   metavar="FILE", help=f"also log to FILE (default {default_log_file()})")
    g.add_argument("--flush-log-file", action="store_true", help="(every line is flushed anyway)")
    g.add_argument("-n", "--dont-fork", dest="dont_fork", action="store_true",
                   help="stay in the foreground (vipdeck always does)")
    g.add_argument("-p", "--pid", "--pid-file", dest="pid_file", default=None, metavar="FILE",
                   help="pid file (default as keepalived: /run/keepalived.pid)")
    g.add_argument("-r", "--vrrp_pid", dest="vrrp_pid_file", default=None, metavar="FILE",
                   help="VRRP pid file: vipdeck's own pid (one process)")
    g.add_argument("-c", "--checkers_pid", dest="checkers_pid_file", default=None, metavar="FILE",
                   help="checkers pid file: vipdeck's own pid (one process)")
    g.add_argument("-t", "--config-test", dest="config_test", nargs="?", const="-", default=None,
                   metavar="LOG_FILE", help="check the configuration and exit (as vipdeck check)")
    g.add_argument("--signum", default=None, metavar="SIGFUNC",
                   help="print the signal number for STOP, RELOAD, DATA, STATS, STATS_CLEAR, JSON, TDUMP")
    g.add_argument("-u", "--umask", default=None, metavar="MASK", help="umask for files created (numeric)")
    g.add_argument("-s", "--namespace", default=None, metavar="NAME",
                   help="refused: start vipdeck with `ip netns exec NAME` instead")
    g.add_argument("--log-ident", choices=("vipdeck", "keepalived"), default="vipdeck",
                   help="syslog program names: vipdeck, or keepalived's (Keepalived_vrrp, "
                        "Keepalived_healthcheckers, Keepalived) for existing rsyslog rules")
    g.add_argument("--syslog-socket", default="/dev/log", metavar="PATH",
                   help="syslog socket (default /dev/log)")
    for dest, (opts, _why) in NO_EFFECT.items():
        names = [o for o in opts.split("/")]
        kw: dict = {"dest": dest, "help": argparse.SUPPRESS}
        if dest in ("snmp_agent_socket", "bfd_pid_file"):
            kw.update(default=None, metavar="FILE")
        elif dest in ("core_dump_pattern", "debug_options", "perf"):
            kw.update(nargs="?", const="", default=None)
        else:
            kw.update(action="store_true")
        g.add_argument(*names, **kw)


@dataclass
class KaSettings:
    run_vrrp: bool = True
    run_checkers: bool = True
    facility: int = 3               # LOG_DAEMON
    notes: list[str] = field(default_factory=list)   # said once at start


def resolve(args: argparse.Namespace) -> KaSettings:
    """Check the keepalived options; SystemExit with a clear message when one is wrong."""
    from vipdeck.engine.logsetup import parse_facility

    if args.namespace:
        raise SystemExit(f"vipdeck daemon: -s/--namespace {args.namespace} is not implemented; run "
                         f"`ip netns exec {args.namespace} vipdeck daemon ...` instead")
    if args.only_vrrp and args.only_check:
        raise SystemExit("vipdeck daemon: -P/--vrrp and -C/--check together leave nothing to run")
    try:
        facility = parse_facility(args.log_facility)
    except ValueError as exc:
        raise SystemExit(f"vipdeck daemon: -S: {exc}") from None
    s = KaSettings(run_vrrp=not args.only_check, run_checkers=not args.only_vrrp, facility=facility)
    for dest, (opts, why) in NO_EFFECT.items():
        v = getattr(args, dest, None)
        if v is not None and v is not False:
            s.notes.append(f"keepalived option {opts} accepted with no effect: {why}")
    if args.vrrp_pid_file or args.checkers_pid_file:
        s.notes.append("-r/-c: vipdeck is one process; the VRRP and checkers pid files hold the daemon's pid")
    if args.umask is not None:
        try:
            mask = int(args.umask, 0)
            if not 0 <= mask <= 0o777:
                raise ValueError
        except ValueError:
            raise SystemExit(f"vipdeck daemon: -u {args.umask}: not a numeric umask (e.g. 0177)") from None
        os.umask(mask)
    return s


def signum(name: str) -> int:
    try:
        return int(SIGNUMS[name])
    except KeyError:
        raise SystemExit(f"Unknown sigfunc {name}") from None


