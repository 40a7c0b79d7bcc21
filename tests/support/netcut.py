"""Cutting VRRP between lab nodes with nftables, and watching what hosts learn.

A split brain is made the way it happens: the routers stop hearing each
other (an nftables table in a node's namespace drops IP protocol 112) while
every host still reaches both.  The table goes with the namespace, so a
failed test leaves nothing behind.
"""

from __future__ import annotations

import json
import shutil
import socket
import struct

from tests.support.paths import require
from tests.support.tstamp import SO_TIMESTAMPNS, timestamps

TABLE = "vdcut"
ETH_P_ARP = 0x0806


def cut_vrrp(node, *, sources: list[str] | None = None, outgoing: bool = True) -> None:
    """``node`` stops hearing VRRP (only from ``sources`` when given) and, with
    ``outgoing``, stops sending it too."""
    require(shutil.which("nft") is not None, "nftables (nft) is needed to cut VRRP")
    match = "meta l4proto 112"
    rules = [f"add table inet {TABLE}",
             f"add chain inet {TABLE} in {{ type filter hook input priority 0 ; policy accept ; }}",
             f"add chain inet {TABLE} out {{ type filter hook output priority 0 ; policy accept ; }}"]
    if sources:
        for s in sources:
            fam = "ip6" if ":" in s else "ip"
            rules.append(f"add rule inet {TABLE} in {fam} saddr {s} {match} drop")
    else:
        rules.append(f"add rule inet {TABLE} in {match} drop")
    if outgoing:
        rules.append(f"add rule inet {TABLE} out {match} drop")
    node.run("nft", "-f", "-", input="\n".join(rules) + "\n")


def heal(node) -> None:
    """Undo ``cut_vrrp`` (one atomic change: both directions come back at once)."""
    node.run("nft", "delete", "table", "inet", TABLE)


def neigh_mac(node, addr: str) -> str | None:
    out = json.loads(node.run("ip", "-j", "neigh", "show", addr, "dev", node.ifname).stdout or "[]")
    return out[0].get("lladdr") if out else None


class ArpWatch:
    """Gratuitous ARPs arriving at a node, with kernel timestamps (read
    without threads: ``announcements()`` drains the socket)."""

    def __init__(self, node):
        self.sock = node.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ARP))
        self.sock.bind((node.ifname, 0))
        timestamps(self.sock, node)
        self.sock.setblocking(False)
        self.seen: list[tuple[float, str, str]] = []     # (time, sender MAC, announced address)
        node.lab.on_close(self.sock.close)

    def announcements(self, address: str | None = None, mac: str | None = None) -> list[tuple[float, str, str]]:
        while True:
            try:
                data, anc, _f, addr = self.sock.recvmsg(2048, socket.CMSG_SPACE(16))
            except BlockingIOError:
                break
            except OSError:
                break
            if addr[2] == socket.PACKET_OUTGOING or len(data) < 42:
                continue
            sha, spa, tpa = data[22:28], data[28:32], data[38:42]
            if spa != tpa:       # not gratuitous
                continue
            t = next((struct.unpack("qq", d[:16]) for _l, typ, d in anc if typ == SO_TIMESTAMPNS), (0, 0))
            self.seen.append((t[0] + t[1] / 1e9, sha.hex(":"), socket.inet_ntoa(spa)))
        return [x for x in self.seen if (address is None or x[2] == address) and (mac is None or x[1] == mac)]
