"""This host's own addresses, kept current from netlink address events.

The VRRP socket asks it whether a packet's source is ours (such packets are
dropped: a router must not take its own advert for a peer's).  ``LinkWatch``
feeds it; a plain ``set`` works where nothing changes.
"""

from __future__ import annotations

import functools
import ipaddress
from collections import Counter
from typing import Iterable


@functools.lru_cache(maxsize=4096)
def normalise(addr: str) -> str:
    """Canonical text form (cached: the same few peer addresses recur with
    every advert, and ipaddress parsing costs microseconds)."""
    return str(ipaddress.ip_address(addr.split("%")[0].split("/")[0]))


class LocalAddresses:
    """A multiset of addresses: the same address may sit on two interfaces,
    and removing it from one must leave it known as local."""

    def __init__(self, addresses: Iterable[str] = ()) -> None:
        self._count: Counter[str] = Counter(normalise(a) for a in addresses)
        # moves on with every change: a reader may cache its answers until it does
        # (the receive path's fast path asks about the same few peers 2550 times a second)
        self.generation = 0

    def add(self, addr: str) -> None:
        self._count[normalise(addr)] += 1
        self.generation += 1

    def discard(self, addr: str) -> None:
        key = normalise(addr)
        self.generation += 1
        if self._count[key] <= 1:
            self._count.pop(key, None)
        else:
            self._count[key] -= 1

    def replace(self, addresses: Iterable[str]) -> None:
        self._count = Counter(normalise(a) for a in addresses)
        self.generation += 1

    def __contains__(self, addr: object) -> bool:
        if not isinstance(addr, str):
            return False
        try:
            return normalise(addr) in self._count
        except ValueError:
            return False

    def __iter__(self):
        return iter(list(self._count))

    def __len__(self) -> int:
        return len(self._count)

    def __repr__(self) -> str:
        return f"LocalAddresses({sorted(self._count)})"
