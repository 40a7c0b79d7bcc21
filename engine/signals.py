"""What every signal means to the daemon, keepalived's meanings first.

An operator who runs keepalived sends it signals from runbooks and
monitoring (``kill -USR2 $(cat /run/keepalived.pid)``, ``kill -s $(keepalived
--signum=JSON) ...``).  Python's default action for most of them is to die
at once, which would leave this node's VIPs and IPVS services in place
while the peer takes them over too.  So the daemon decides for each one:

=====================================  ===========================================================
signal                                 action
=====================================  ===========================================================
SIGHUP (keepalived RELOAD)             reload the config (a bad one is refused, the old one runs)
SIGTERM (STOP), SIGINT                 clean shutdown (masters send priority 0, VIPs and routes
                                       removed, IPVS as configured, notify_stop, pid file
                                       removed); exit status 0
SIGUSR1 (DATA), SIGUSR2 (STATS),       keepalived's dumps: logged and put in the event stream,
SIGRTMIN+2 (JSON),                     the daemon goes on (the dumps themselves are not written
SIGRTMAX-1 (STATS_CLEAR),              yet: ``Daemon.dump_hooks`` is where they plug in)
SIGRTMAX (TDUMP)
SIGQUIT, SIGTRAP, SIGABRT, SIGALRM,    clean shutdown as for SIGTERM, logged as an unexpected
SIGSTKFLT, SIGXCPU, SIGVTALRM,         signal; exit status 128 + N, so a supervisor sees a stop
SIGPROF, SIGIO, SIGPWR, SIGSYS, the    nobody asked for (keepalived ignores these; dying
other real-time signals                without cleanup is what must never happen, and a clean
                                       stop is the conservative reading of "terminate")
SIGPIPE, SIGXFSZ                       ignored (Python's own setting): the write that caused them
                                       fails with EPIPE / EFBIG and is handled where it happens
SIGTSTP                                logged and ignored: job control never suspends a VRRP
                                       router holding VIPs (SIGSTOP still can, deliberately)
SIGTTIN, SIGTTOU                       ignored (a backgrounded daemon's terminal I/O must not
                                       stop it)
SIGCHLD, SIGCONT, SIGURG, SIGWINCH     default (nothing happens)
SIGKILL, SIGSTOP                       cannot be caught
SIGSEGV, SIGBUS, SIGILL, SIGFPE        default (crash, core dump), as in keepalived: they report
                                       a fault in the process itself, whose handler could not
                                       return (the faulting instruction would run again)
=====================================  ===========================================================

A second stop signal while stopping is logged and changes nothing (the
shutdown has its own timeouts).  The table is data (``table()``), so the
daemon, the unit test that checks no terminating signal is left to its
default, and the docs read the same thing.
"""

from __future__ import annotations

import enum
import signal
from dataclasses import dataclass
from typing import Callable


class Action(str, enum.Enum):
    RELOAD = "reload"
    STOP = "stop"              # clean shutdown, requested (exit 0)
    STOP_UNEXPECTED = "stop_unexpected"   # clean shutdown, exit 128 + N
    DUMP = "dump"              # keepalived's dump signals: log, hook
    IGNORE = "ignore"          # SIG_IGN
    LOG_IGNORE = "log_ignore"  # caught, logged, nothing else
    DEFAULT = "default"        # leave the kernel's default


@dataclass(frozen=True)
class Meaning:
    action: Action
    keepalived: str | None = None    # its name in `keepalived --signum=NAME`, if any
    dump: str | None = None          # which dump (for DUMP)


def name(sig: int) -> str:
    """SIGUSR1, SIGRTMIN+2, SIGRTMAX-1 ..."""
    lo, hi = signal.SIGRTMIN, signal.SIGRTMAX
    if lo < sig < hi:
        return f"SIGRTMIN+{sig - lo}" if sig - lo <= hi - sig else f"SIGRTMAX-{hi - sig}"
    try:
        return signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"


def table() -> dict[int, Meaning]:
    """Every valid signal number → what the daemon does with it."""
    S = signal
    t: dict[int, Meaning] = {}
    for sig in S.valid_signals():
        t[int(sig)] = Meaning(Action.STOP_UNEXPECTED)
    t[S.SIGHUP] = Meaning(Action.RELOAD, "RELOAD")
    t[S.SIGTERM] = Meaning(Action.STOP, "STOP")
    t[S.SIGINT] = Meaning(Action.STOP)
    t[S.SIGUSR1] = Meaning(Action.DUMP, "DATA", "data")
    t[S.SIGUSR2] = Meaning(Action.DUMP, "STATS", "stats")
    t[S.SIGRTMIN + 2] = Meaning(Action.DUMP, "JSON", "json")
    t[S.SIGRTMAX - 1] = Meaning(Action.DUMP, "STATS_CLEAR", "stats_clear")
    t[S.SIGRTMAX] = Meaning(Action.DUMP, "TDUMP", "thread_dump")
    for sig in (S.SIGPIPE, S.SIGXFSZ, S.SIGTTIN, S.SIGTTOU):
        t[sig] = Meaning(Action.IGNORE)
    t[S.SIGTSTP] = Meaning(Action.LOG_IGNORE)
    for sig in (S.SIGCHLD, S.SIGCONT, S.SIGURG, S.SIGWINCH, S.SIGKILL, S.SIGSTOP,
                S.SIGSEGV, S.SIGBUS, S.SIGILL, S.SIGFPE):
        t[sig] = Meaning(Action.DEFAULT)
    return t


def install(loop, *, on_reload: Callable[[], None], on_stop: Callable[[int], None],
            on_dump: Callable[[int, Meaning], None], on_ignored: Callable[[int], None]) -> None:
    """Install the table on ``loop``: handlers run in the loop, never in a signal context."""
    for sig, meaning in sorted(table().items()):
        a = meaning.action
        if a is Action.DEFAULT:
            continue
        if a is Action.IGNORE:
            signal.signal(sig, signal.SIG_IGN)
        elif a is Action.RELOAD:
            loop.add_signal_handler(sig, on_reload)
        elif a in (Action.STOP, Action.STOP_UNEXPECTED):
            loop.add_signal_handler(sig, on_stop, sig)
        elif a is Action.DUMP:
            loop.add_signal_handler(sig, on_dump, sig, meaning)
        elif a is Action.LOG_IGNORE:
            loop.add_signal_handler(sig, on_ignored, sig)

