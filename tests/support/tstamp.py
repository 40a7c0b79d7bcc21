"""Kernel receive timestamps that are taken when a frame arrives.

Setting SO_TIMESTAMPNS on a socket only asks the kernel to turn its global
"stamp every frame" static key on; it does so from a work queue, later.
Until then, frames arrive unstamped and ``recvmsg`` stamps them when they are
*read*: frames that left 10 ms apart but were read together look 0.1 ms
apart.  That made the GARP scheduler's interval test fail on a loaded CI
machine (two frames "0.11 ms" apart with a 10 ms ``garp_interval``).

``timestamps(sock, node)`` sets the option on ``sock`` and returns once the
kernel stamps on arrival: it sends probe frames on ``node``'s loopback and
reads each one a few milliseconds later; a probe stamped before that read
shows the key is on (for every namespace: it is global, and stays on while
``sock`` wants it).
"""

from __future__ import annotations

import socket
import struct
import time

SO_TIMESTAMPNS = 35
_PROBE_TYPE = 0x88B5                  # IEEE local experimental ethertype
_READ_GAP = 0.005                     # a read this long after the send tells the two stamps apart


def stamp_of(ancdata) -> float | None:
    for level, ctype, data in ancdata:
        if level == socket.SOL_SOCKET and ctype == SO_TIMESTAMPNS:
            sec, nsec = struct.unpack("qq", data[:16])
            return sec + nsec / 1e9
    return None


def timestamps(sock: socket.socket, node, deadline: float = 10.0) -> None:
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    probe = node.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(_PROBE_TYPE))
    try:
        probe.bind(("lo", 0))
        probe.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        probe.settimeout(1.0)
        frame = b"\0" * 12 + struct.pack("!H", _PROBE_TYPE) + b"vipdeck timestamp probe".ljust(46, b"\0")
        end = time.monotonic() + deadline
        while True:
            sent = time.time()
            probe.send(frame)
            time.sleep(_READ_GAP)     # not a wait for anything: the gap between arrival and read
            _data, anc, _flags, _addr = probe.recvmsg(2048, socket.CMSG_SPACE(16))
            stamp = stamp_of(anc)
            if stamp is not None and stamp - sent < _READ_GAP * 0.8:
                return
            if time.monotonic() > end:
                raise TimeoutError(f"the kernel did not start stamping frames on arrival within {deadline} s")
    finally:
        probe.close()
