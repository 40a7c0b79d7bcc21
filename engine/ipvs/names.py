"""The system's name lookups for ipvsadm's non-numeric listing (``-l`` without ``-n``).

Apart from ``table`` because they are I/O (reverse DNS, the services
database): the table renders a snapshot with whatever ``Resolver`` it is
given, and ``vipdeck ipvs`` gives it this one.
"""

from __future__ import annotations

import socket

from vipdeck.engine.ipvs.table import Resolver


def system_host(addr: str) -> str | None:
    try:
        return socket.gethostbyaddr(addr)[0]
    except (OSError, UnicodeError):
        return None


def system_service(port: int, proto: str) -> str | None:
    try:
        return socket.getservbyport(port, proto)
    except (OSError, OverflowError):
        return None


SYSTEM_RESOLVER = Resolver(system_host, system_service)
