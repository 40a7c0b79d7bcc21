"""The link-layer source of a router's adverts, learnt on demand.

A raw IP socket never shows the Ethernet header, so the VRRP socket cannot
tell which MAC an advert came from; operators want it to tell which box
really holds a VIP (and keepalived's or FRR's virtual MAC shows up here as
what it is).  A packet socket on the whole VRRP path would copy every advert
a second time, and the backup's receive path is meant to stay cheap, so the
MAC is learnt only when it is new to us:

* ``want(ifname, family, address)`` opens one AF_PACKET socket bound to the
  interface with a classic BPF filter that passes only VRRP (IP protocol
  112) from ``address``; the kernel drops everything else before it is
  queued.  The socket is made with protocol 0 (it receives nothing), the
  filter is attached, and only then is it bound to the ethertype, so not
  one unfiltered frame gets in.
* The first matching frame gives the source MAC; the socket is closed.  A
  master advertises every interval, so that takes one interval.  Nothing
  heard within ``timeout`` closes it too (the router went quiet).
* At most ``max_open`` probes run at once (a flood of forged sources cannot
  exhaust file descriptors); a request beyond that is refused (``want``
  answers False) and the caller asks again with a later packet; a probe
  that could not be opened answers None (the caller waits before trying
  again: no socket per packet).

The cost is one socket, one filter and one frame per new source (or per
master change), none per advert.
"""

from __future__ import annotations

import asyncio
import ctypes
import ipaddress
import logging
import socket
import struct
from typing import Callable

from vipdeck.engine.net import ifinfo
from vipdeck.engine.net.ifinfo import SocketFactory

log = logging.getLogger(__name__)

ETH_P_IP = 0x0800
ETH_P_IPV6 = 0x86DD
SO_ATTACH_FILTER = 26
VRRP_PROTO = 112

# classic BPF opcodes
_LD_H_ABS = 0x28
_LD_B_ABS = 0x30
_LD_W_ABS = 0x20
_JEQ_K = 0x15
_RET_K = 0x06
_SNAP = 128           # bytes of a matching frame kept (Ethernet + IP headers are enough)

Found = Callable[[str, int, str, str], None]     # ifname, family (4|6), address, "aa:bb:cc:dd:ee:ff"


def _insn(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("HBBI", code, jt, jf, k)


def vrrp_from(address: str) -> tuple[int, list[bytes]]:
    """(ethertype, BPF program) passing VRRP frames whose IP source is ``address``."""
    ip = ipaddress.ip_address(address)
    if ip.version == 4:
        words = [int.from_bytes(ip.packed, "big")]
        ethertype, proto_at, src_at = ETH_P_IP, 14 + 9, 14 + 12
    else:
        words = [int.from_bytes(ip.packed[i:i + 4], "big") for i in range(0, 16, 4)]
        ethertype, proto_at, src_at = ETH_P_IPV6, 14 + 6, 14 + 8
    checks = [(_LD_H_ABS, 12, ethertype), (_LD_B_ABS, proto_at, VRRP_PROTO)]
    checks += [(_LD_W_ABS, src_at + 4 * k, w) for k, w in enumerate(words)]
    prog: list[bytes] = []
    n = len(checks)
    for k, (load, offset, value) in enumerate(checks):
        prog.append(_insn(load, 0, 0, offset))
        # remaining instructions after this jump: the other checks (2 each) and the accept
        drop = 2 * (n - k - 1) + 1
        prog.append(_insn(_JEQ_K, 0, drop, value))
    prog.append(_insn(_RET_K, 0, 0, _SNAP))
    prog.append(_insn(_RET_K, 0, 0, 0))
    return ethertype, prog


def attach_filter(sock: socket.socket, prog: list[bytes]) -> None:
    code = b"".join(prog)
    buf = ctypes.create_string_buffer(code, len(code))
    fprog = struct.pack("HL", len(prog), ctypes.addressof(buf))   # struct sock_fprog (native alignment)
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)


class _Probe:
    def __init__(self, owner: "MacProbe", key: tuple[str, int, str], sock: socket.socket) -> None:
        self.owner, self.key, self.sock = owner, key, sock
        self.timer: asyncio.TimerHandle | None = None


class MacProbe:
    """On-demand MAC learning for the advert view and the instances' masters."""

    def __init__(self, found: Found, *, factory: SocketFactory | None = None,
                 loop: asyncio.AbstractEventLoop | None = None, max_open: int = 16,
                 timeout: float = 5.0) -> None:
        self._found = found
        self._factory = factory or ifinfo.default_factory
        self._loop = loop
        self.max_open = max_open
        self.timeout = timeout
        self._open: dict[tuple[str, int, str], _Probe] = {}
        self.learnt = 0
        self.refused = 0
        self.failed = 0

    def pending(self, ifname: str, family: int, address: str) -> bool:
        return (ifname, family, address) in self._open

    def want(self, ifname: str, family: int, address: str, timeout: float | None = None) -> bool | None:
        """Learn the MAC ``address`` sends VRRP from on ``ifname``: True when
        a probe runs for it (already, or now), False when too many run (ask
        again later), None when it could not be opened."""
        key = (ifname, family, address)
        if key in self._open:
            return True
        if len(self._open) >= self.max_open:
            self.refused += 1
            return False
        loop = self._loop or asyncio.get_running_loop()
        try:
            ethertype, prog = vrrp_from(address)
        except ValueError:
            return None
        sock = None
        try:
            sock = self._factory(socket.AF_PACKET, socket.SOCK_RAW, 0)
            sock.setblocking(False)
            attach_filter(sock, prog)
            sock.bind((ifname, ethertype))
            probe = _Probe(self, key, sock)
            loop.add_reader(sock.fileno(), self._readable, probe)
        except OSError as exc:
            self.failed += 1
            log.debug("MAC probe for %s on %s: %s", address, ifname, exc)
            if sock is not None:
                sock.close()
            return None
        probe.timer = loop.call_later(self.timeout if timeout is None else timeout, self._close, probe)
        self._open[key] = probe
        return True

    def _readable(self, probe: _Probe) -> None:
        while True:
            try:
                frame, addr = probe.sock.recvfrom(_SNAP)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.debug("MAC probe %s: %s", probe.key, exc)
                self._close(probe)
                return
            if len(addr) > 2 and addr[2] == socket.PACKET_OUTGOING:
                continue
            if len(frame) < 14:
                continue
            mac = frame[6:12].hex(":")
            self._close(probe)
            self.learnt += 1
            ifname, family, address = probe.key
            try:
                self._found(ifname, 4 if family == 4 else 6, address, mac)
            except Exception:  # the receiver's bug must not leak the socket or stop the loop
                log.exception("MAC probe callback failed")
            return

    def _close(self, probe: _Probe) -> None:
        if self._open.get(probe.key) is probe:
            del self._open[probe.key]
        if probe.timer is not None:
            probe.timer.cancel()
            probe.timer = None
        loop = self._loop
        try:
            (loop or asyncio.get_running_loop()).remove_reader(probe.sock.fileno())
        except (RuntimeError, ValueError, OSError):
            pass
        probe.sock.close()

    def close(self) -> None:
        for probe in list(self._open.values()):
            self._close(probe)

    @property
    def open_count(self) -> int:
        return len(self._open)
