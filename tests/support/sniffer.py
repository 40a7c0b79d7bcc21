"""A lab node that records every VRRP packet crossing the bridge: the labs' referee.

Test infrastructure, not product: ``vipdeck demo`` needs no referee.  The
``lab`` fixture's ``Lab`` is a ``SniffingLab``, so tests write
``lab.sniffer()``.

Timestamps come from the kernel (SO_TIMESTAMPNS on a packet socket), so
failover figures measured from them do not include Python's scheduling
delays.  Decoding is deliberately minimal and independent of
``engine.vrrp.packet``: the sniffer is the referee the engine is judged by.
"""

from __future__ import annotations

import ipaddress
import select
import socket
import struct
import threading
from dataclasses import dataclass

from vipdeck.engine.lab import Lab
from tests.support.tstamp import SO_TIMESTAMPNS, timestamps

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_ADD_MEMBERSHIP = 1
PACKET_MR_PROMISC = 1


@dataclass(frozen=True)
class Seen:
    time: float          # kernel receive time (CLOCK_REALTIME seconds)
    src: str
    dst: str
    ttl: int
    version: int
    vrid: int
    priority: int
    interval: float      # seconds
    src_mac: str
    raw: bytes           # the IP packet

    def __str__(self) -> str:
        return f"{self.time:.6f} {self.src} > {self.dst}: VRRPv{self.version} vrid {self.vrid} prio {self.priority} intvl {self.interval:g}s"


def decode(frame: bytes, t: float) -> Seen | None:
    if len(frame) < 14:
        return None
    ethertype = struct.unpack_from("!H", frame, 12)[0]
    src_mac = ":".join(f"{b:02x}" for b in frame[6:12])
    ip = frame[14:]
    if ethertype == 0x0800 and len(ip) >= 20:
        ihl = (ip[0] & 0x0F) * 4
        if ip[9] != 112 or len(ip) < ihl + 8:
            return None
        src, dst = str(ipaddress.IPv4Address(ip[12:16])), str(ipaddress.IPv4Address(ip[16:20]))
        ttl, vr = ip[8], ip[ihl:]
    elif ethertype == 0x86DD and len(ip) >= 48:
        if ip[6] != 112:
            return None
        src, dst = str(ipaddress.IPv6Address(ip[8:24])), str(ipaddress.IPv6Address(ip[24:40]))
        ttl, vr = ip[7], ip[40:]
    else:
        return None
    version = vr[0] >> 4
    if version == 2:
        interval = float(vr[5])
    else:
        interval = (struct.unpack_from("!H", vr, 4)[0] & 0x0FFF) / 100.0
    return Seen(t, src, dst, ttl, version, vr[1], vr[2], interval, src_mac, bytes(ip))


class Sniffer:
    def __init__(self, node):
        self.node = node
        self.packets: list[Seen] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None

    def start(self) -> None:
        s = self.node.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        s.bind((self.node.ifname, 0))
        idx = int(self.node.run("cat", f"/sys/class/net/{self.node.ifname}/ifindex").stdout)
        mreq = struct.pack("iHH8s", idx, PACKET_MR_PROMISC, 0, b"")
        s.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP, mreq)
        timestamps(s, self.node)
        self._sock = s
        self._thread = threading.Thread(target=self._loop, name="lab-sniffer", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        assert self._sock is not None
        while not self._stop.is_set():
            r, _, _ = select.select([self._sock], [], [], 0.1)
            if not r:
                continue
            try:
                data, anc, _flags, _addr = self._sock.recvmsg(65535, socket.CMSG_SPACE(16))
            except OSError:
                return
            t = None
            for level, ctype, cdata in anc:
                if level == socket.SOL_SOCKET and ctype == SO_TIMESTAMPNS:
                    sec, nsec = struct.unpack("qq", cdata[:16])
                    t = sec + nsec / 1e9
            if t is None:
                import time

                t = time.time()
            seen = decode(data, t)
            if seen is not None:
                with self._lock:
                    self.packets.append(seen)

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=2)
        if self._sock:
            self._sock.close()

    def snapshot(self, vrid: int | None = None, src: str | None = None) -> list[Seen]:
        with self._lock:
            pkts = list(self.packets)
        return [p for p in pkts if (vrid is None or p.vrid == vrid) and (src is None or p.src == src)]

    def last(self, **kw) -> Seen | None:
        pkts = self.snapshot(**kw)
        return pkts[-1] if pkts else None

    def clear(self) -> None:
        with self._lock:
            self.packets.clear()


class SniffingLab(Lab):
    """A ``Lab`` that can attach the referee."""

    def sniffer(self, name: str = "sniff", address: str | None = None) -> Sniffer:
        """Attach a node that records every VRRP packet on the bridge."""
        addr = address or f"198.19.255.{250 - len([n for n in self.nodes if n.startswith(name)])}/16"
        node = self.add_node(name, addr)
        s = Sniffer(node)
        s.start()
        self.on_close(s.stop)
        return s
