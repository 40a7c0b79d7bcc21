"""PING_CHECK: one ICMP / ICMPv6 echo, up when the matching reply arrives.

An unprivileged ICMP datagram socket is tried first (the kernel then owns
the echo identifier and hands this socket only its own replies); where
``net.ipv4.ping_group_range`` forbids it (the default in a fresh network
namespace) a raw socket is used and replies are matched by identifier,
sequence, source and a random token in the payload.
"""

from __future__ import annotations

import asyncio
import os
import socket
import struct

from vipdeck.engine.config.model import PingCheck
from vipdeck.engine.check.net import describe, family_of, make_socket
from vipdeck.engine.check.result import CheckEnv, CheckFailure, CheckResult, fmt_seconds, measured

ECHO_REQUEST = {socket.AF_INET: 8, socket.AF_INET6: 128}
ECHO_REPLY = {socket.AF_INET: 0, socket.AF_INET6: 129}
PROTO = {socket.AF_INET: socket.IPPROTO_ICMP, socket.AF_INET6: socket.IPPROTO_ICMPV6}
ICMP = struct.Struct("!BBHHH")


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def echo_request(family: int, ident: int, seq: int, payload: bytes) -> bytes:
    head = ICMP.pack(ECHO_REQUEST[family], 0, 0, ident, seq)
    if family == socket.AF_INET6:
        return head + payload           # the kernel fills the ICMPv6 checksum
    csum = checksum(head + payload)
    return ICMP.pack(ECHO_REQUEST[family], 0, csum, ident, seq) + payload


def _open(checker: PingCheck, env: CheckEnv, family: int) -> tuple[socket.socket, bool]:
    try:
        return make_socket(checker, env, socket.SOCK_DGRAM, PROTO[family]), False
    except CheckFailure:
        pass
    try:
        return make_socket(checker, env, socket.SOCK_RAW, PROTO[family]), True
    except CheckFailure as exc:
        raise CheckFailure(f"cannot open an ICMP socket (needs root or ping_group_range): {exc}") from None


async def check_ping(checker: PingCheck, env: CheckEnv | None = None) -> CheckResult:
    env = env or CheckEnv()

    async def body() -> None:
        family = family_of(checker.connect_ip)
        target = checker.connect_ip.strip("[]")
        sock, raw = _open(checker, env, family)
        ident, seq = struct.unpack("!HH", os.urandom(4))
        token = os.urandom(8) + b"vipdeck-ping"
        packet = echo_request(family, ident, seq, token)
        dest = (target, 0, 0, 0) if family == socket.AF_INET6 else (target, 0)
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(checker.connect_timeout):
                await loop.sock_sendto(sock, packet, dest)
                while True:
                    data, src = await loop.sock_recvfrom(sock, 2048)
                    if raw and family == socket.AF_INET and data:
                        data = data[(data[0] & 0x0F) * 4:]
                    if len(data) < ICMP.size or data[0] != ECHO_REPLY[family]:
                        continue
                    _, _, _, rid, rseq = ICMP.unpack_from(data)
                    if rseq != seq or data[ICMP.size:] != token:
                        continue
                    if raw and (rid != ident or src[0].split("%")[0] != _canon(target, family)):
                        continue
                    return
        except TimeoutError:
            raise CheckFailure(f"no echo reply within {fmt_seconds(checker.connect_timeout)}") from None
        except OSError as exc:
            raise CheckFailure(describe(exc)) from None
        finally:
            sock.close()

    return await measured(body)


def _canon(addr: str, family: int) -> str:
    return socket.inet_ntop(family, socket.inet_pton(family, addr))
