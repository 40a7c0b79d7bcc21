"""Hand-made VRRP packets from lab nodes: the labs' forgers.

``Forger`` writes the IP header itself (any source address, any TTL);
``raw_sender``/``send`` go through the kernel's IP layer with a chosen TTL;
``hand_advert`` builds a VRRPv2 advert with struct alone, independent of
``engine.vrrp.packet`` (for tests of what carries packets, not of the codec).
"""

from __future__ import annotations

import socket
import struct

from vipdeck.engine.vrrp import packet
from tests.support.labconf import SEED_GROUP, VIP1


class Forger:
    """Hand-made VRRP packets from a lab node, with any source address and
    TTL (a raw IPPROTO_RAW socket: we write the IP header; the kernel fills
    in its checksum and length)."""

    def __init__(self, node, group: str):
        self.node, self.group = node, group
        s = node.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, node.ifname.encode())
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(node.ip))
        self.sock = s
        node.lab.on_close(s.close)

    def send(self, payload: bytes, src: str, ttl: int = 255) -> None:
        hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0xC0, 0, 0, 0, ttl, 112, 0,
                          socket.inet_aton(src), socket.inet_aton(self.group))
        self.sock.sendto(hdr + payload, (self.group, 0))


def raw_sender(node, ttl: int = 255) -> socket.socket:
    """A raw VRRP socket in ``node`` sending with ``ttl``."""
    s = node.socket(socket.AF_INET, socket.SOCK_RAW, 112)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, node.ifname.encode())
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, ttl)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(node.ip))
    return s


def send(s, node, group: str = SEED_GROUP, **fields) -> None:
    """A VRRPv2 advert (``fields`` of ``packet.Advert``; one VIP, VIP1, by default) to ``group``."""
    adv = packet.Advert(**{"version": 2, "interval": 1.0, "addresses": (VIP1,), **fields})
    s.sendto(packet.encode(adv, node.ip, group), (group, 0))


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def hand_advert(vrid: int, prio: int, vip: str = "198.18.0.100") -> bytes:
    """A VRRPv2 advertisement, one address, no auth, checksum filled in."""
    body = struct.pack("!BBBBBBH4s8s", 0x21, vrid, prio, 1, 0, 1, 0, socket.inet_aton(vip), b"")
    return body[:6] + struct.pack("!H", checksum(body)) + body[8:]
