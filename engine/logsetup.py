"""Logging like keepalived: to syslog, facility daemon, one program name per half.

keepalived opens syslog with ``LOG_PID`` and facility ``daemon`` (``-S``
picks local0-7, ``user`` or ``daemon``); its VRRP process logs as
``Keepalived_vrrp``, its checker process as ``Keepalived_healthcheckers``,
the parent as ``Keepalived``.  vipdeck is one process: each record is sent
with the program name of the half it belongs to (by logger name, or by the
event kind for the event bus's lines) — ``vipdeck`` for every half by
default, keepalived's names with ``idents="keepalived"`` so rsyslog rules
like ``if $programname == 'Keepalived_vrrp'`` keep matching.

A datagram is what glibc's syslog() writes to ``/dev/log``:
``<PRI>Mmm dd HH:MM:SS IDENT[PID]: MESSAGE`` (no trailing NUL).  When there
is no syslog socket (containers, these lab machines) the log goes to
stderr instead, with a note saying so, once.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
import time

LOG_DAEMON = logging.handlers.SysLogHandler.LOG_DAEMON
LOG_USER = logging.handlers.SysLogHandler.LOG_USER
FACILITY_NAMES = {"daemon": LOG_DAEMON, "user": LOG_USER,
                  **{f"local{n}": getattr(logging.handlers.SysLogHandler, f"LOG_LOCAL{n}") for n in range(8)}}

IDENTS = {
    "vipdeck": {"vrrp": "vipdeck", "check": "vipdeck", "parent": "vipdeck"},
    "keepalived": {"vrrp": "Keepalived_vrrp", "check": "Keepalived_healthcheckers", "parent": "Keepalived"},
}

_VRRP_LOGGERS = ("vipdeck.vrrp", "vipdeck.engine", "vipdeck.track", "vipdeck.notify", "vipdeck.hosting",
                 "vipdeck.net")
_CHECK_LOGGERS = ("vipdeck.check", "vipdeck.lvs", "vipdeck.ipvs")
_VRRP_EVENTS = frozenset({"transition", "advert", "tracker", "notify", "smtp", "vip"})
_CHECK_EVENTS = frozenset({"check", "rs_state", "ipvs"})
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
CONSOLE_FORMAT = "%(asctime)s %(name)s %(levelname)s: %(message)s"


def parse_facility(text: str) -> int:
    """keepalived -S: 0-7 or local0-local7 (LOG_LOCALn), daemon or user."""
    t = text.strip().lower()
    if t.isdigit() and 0 <= int(t) <= 7:
        t = f"local{int(t)}"
    try:
        return FACILITY_NAMES[t]
    except KeyError:
        raise ValueError(f"invalid log facility '{text}': use 0-7, local0-local7, daemon or user") from None


def half_of(record: logging.LogRecord) -> str:
    kind = getattr(record, "event_kind", None)
    if kind in _VRRP_EVENTS:
        return "vrrp"
    if kind in _CHECK_EVENTS:
        return "check"
    name = record.name
    if name.startswith(_CHECK_LOGGERS):
        return "check"
    if name.startswith(_VRRP_LOGGERS):
        return "vrrp"
    return "parent"


class SyslogFormatter(logging.Formatter):
    """glibc syslog()'s line: timestamp (local time, C locale), ident[pid]: message."""

    def __init__(self, idents: str = "vipdeck"):
        super().__init__()
        self.idents = IDENTS[idents]

    def format(self, record: logging.LogRecord) -> str:
        tm = time.localtime(record.created)
        stamp = f"{_MONTHS[tm.tm_mon - 1]} {tm.tm_mday:2d} {tm.tm_hour:02d}:{tm.tm_min:02d}:{tm.tm_sec:02d}"
        msg = record.getMessage()
        if record.exc_info:
            msg += " " + self.formatException(record.exc_info).replace("\n", " | ")
        return f"{stamp} {self.idents[half_of(record)]}[{record.process}]: {msg}"


class SyslogHandler(logging.handlers.SysLogHandler):
    append_nul = False      # glibc sends no NUL; some receivers show it


def _syslog_handler(address: str, facility: int, idents: str) -> logging.Handler:
    h = SyslogHandler(address=address, facility=facility)
    h.setFormatter(SyslogFormatter(idents))
    return h


def setup(*, syslog: bool = True, console: bool = False, facility: int = LOG_DAEMON, detail: bool = False,
          log_file: str | None = None, idents: str = "vipdeck", address: str = "/dev/log",
          stream=None) -> list[str]:
    """Configure the root logger; returns notes worth logging once (e.g. no syslog).

    ``console`` is keepalived's -l (also to stderr), ``syslog=False`` its -G,
    ``detail`` its -D, ``log_file`` its -g.
    """
    if idents not in IDENTS:
        raise ValueError(f"unknown program names '{idents}': use {' or '.join(IDENTS)}")
    notes: list[str] = []
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.setLevel(logging.DEBUG if detail else logging.INFO)
    fmt = logging.Formatter(CONSOLE_FORMAT)
    stream = stream if stream is not None else sys.stderr
    to_console = console
    if syslog:
        try:
            if not os.path.exists(address):
                raise FileNotFoundError(2, "No such file or directory")
            root.addHandler(_syslog_handler(address, facility, idents))
        except OSError as exc:
            notes.append(f"no syslog at {address} ({exc.strerror or exc}); logging to stderr instead")
            to_console = True
    if to_console or not (syslog or log_file):
        h = logging.StreamHandler(stream)
        h.setFormatter(fmt)
        root.addHandler(h)
    if log_file:
        fh = logging.FileHandler(log_file)
        fh.setFormatter(fmt)
        root.addHandler(fh)
    return notes
