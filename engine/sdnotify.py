"""systemd's notify protocol (sd_notify(3)), spoken without libsystemd.

A ``Type=notify`` service tells the service manager when it is ready,
reloading or stopping, and pings the watchdog, by sending datagrams of
``KEY=VALUE`` lines to the ``AF_UNIX`` socket named in ``$NOTIFY_SOCKET``
(a path, or ``@name`` for the abstract namespace).  That is the whole
protocol, so it needs no dependency.

Outside systemd the variable is unset and every call here does nothing, so
the daemon behaves the same in a terminal, a lab or a container.  Sending
never blocks (``MSG_DONTWAIT``: a stalled service manager must not stall
the event loop) and never raises (a failed notification is logged once).

The variables are removed from the environment once read, as
``sd_notify(unset_environment=1)`` does: notify scripts and checkers
inherit our environment and must not speak for us.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import MutableMapping

log = logging.getLogger("vipdeck.sdnotify")

ENV_VARS = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")


def _address(value: str | None) -> str | None:
    if not value:
        return None
    if value.startswith("@"):          # abstract namespace
        return "\0" + value[1:]
    if value.startswith("/"):
        return value
    log.warning("NOTIFY_SOCKET=%r is neither a path nor @abstract; not notifying systemd", value)
    return None


def _watchdog_interval(env: MutableMapping[str, str]) -> float | None:
    """Seconds between pings: half of WATCHDOG_USEC, as sd_watchdog_enabled(3)
    recommends; None when the watchdog is off or meant for another process."""
    usec = env.get("WATCHDOG_USEC")
    if not usec:
        return None
    pid = env.get("WATCHDOG_PID")
    if pid and pid != str(os.getpid()):
        return None
    try:
        n = int(usec)
    except ValueError:
        log.warning("WATCHDOG_USEC=%r is not a number; watchdog pings off", usec)
        return None
    return n / 2e6 if n > 0 else None


def _clean(text: str) -> str:
    return " ".join(str(text).split())        # one line: a newline would start a new field


class SystemdNotifier:
    """The daemon's side of ``Type=notify``; see the module docstring."""

    def __init__(self, environ: MutableMapping[str, str] | None = None, *, unset_environment: bool = True):
        env = os.environ if environ is None else environ
        self.address = _address(env.get("NOTIFY_SOCKET"))
        self.watchdog_interval = _watchdog_interval(env) if self.address else None
        if unset_environment:
            for k in ENV_VARS:
                env.pop(k, None)
        self._sock: socket.socket | None = None
        self._warned = False

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def send(self, *fields: str) -> bool:
        """Send ``KEY=VALUE`` fields in one datagram; False when not delivered."""
        if self.address is None:
            return False
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.sendto("\n".join(fields).encode(), socket.MSG_DONTWAIT, self.address)
            return True
        except OSError as exc:
            if not self._warned:
                self._warned = True
                log.warning("cannot notify systemd at %s: %s", self.address.replace("\0", "@"), exc)
            return False

    def ready(self, status: str = "") -> bool:
        return self.send("READY=1", *([f"STATUS={_clean(status)}"] if status else []))

    def reloading(self, status: str = "") -> bool:
        # MONOTONIC_USEC lets Type=notify-reload (systemd 253+) tell this reload from an older one
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        return self.send("RELOADING=1", f"MONOTONIC_USEC={usec}", *([f"STATUS={_clean(status)}"] if status else []))

    def stopping(self, status: str = "") -> bool:
        return self.send("STOPPING=1", *([f"STATUS={_clean(status)}"] if status else []))

    def status(self, text: str) -> bool:
        return self.send(f"STATUS={_clean(text)}")

    def watchdog(self) -> bool:
        return self.send("WATCHDOG=1")

    async def run_watchdog(self) -> None:
        """Ping from the event loop itself: if the loop stalls, the pings stop
        and systemd restarts us, which is the point (a stalled VRRP daemon has
        already lost its masters to the peer)."""
        if self.watchdog_interval is None:
            return
        while True:
            self.watchdog()
            await asyncio.sleep(self.watchdog_interval)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
