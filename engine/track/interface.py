"""track_interface: link up/down as told by the net driver's link watch.

The tracker does not watch links itself: the daemon already owns a netlink
link watch (``engine.net.linkwatch``) and calls :meth:`set_up`.  At start it
can take a first reading from ``/sys/class/net`` (of the namespace we run
in) so an instance does not wait for the first netlink event; an interface
that does not exist counts as down, as keepalived faults an instance whose
tracked interface is missing.  "Up" is keepalived's ``IFF_UP`` and
``IFF_RUNNING`` (administratively up with carrier).
"""

from __future__ import annotations

import os

from vipdeck.engine.track.base import Listener, Tracker
from vipdeck.engine.track.weights import Effect, Weighting, binary_effect, fmt_delta

IFF_UP = 0x1
IFF_RUNNING = 0x40


def read_link_up(ifname: str, sysfs: str = "/sys/class/net") -> bool:
    try:
        with open(os.path.join(sysfs, ifname, "flags")) as f:
            flags = int(f.read().strip(), 0)
    except (OSError, ValueError):
        return False
    return bool(flags & IFF_UP) and bool(flags & IFF_RUNNING)


class InterfaceTracker(Tracker):
    kind = "interface"

    def __init__(self, ifname: str, on_change: Listener | None = None, *, up: bool | None = None):
        super().__init__(ifname, on_change)
        self._up = up

    @property
    def up(self) -> bool | None:
        return self._up

    def set_up(self, up: bool) -> bool:
        """The link's new state; True when it changed."""
        if up == self._up:
            return False
        self._up = up
        self._changed()
        return True

    def probe(self) -> None:
        """First reading from sysfs, without notifying (nobody computed yet)."""
        if self._up is None:
            self._up = read_link_up(self.name)

    def effect(self, w: Weighting) -> Effect:
        return binary_effect(self._up, w)

    def state_text(self) -> str:
        return {None: "unknown", True: "up", False: "down"}[self._up]

    def detail(self, w: Weighting) -> str:
        e = self.effect(w)
        head = "FAULT" if e.fault else fmt_delta(e.delta)
        return f"{self.name} {head} ({self.state_text()})"
