"""UDP_CHECK.

A connected UDP socket sends the payload (random bytes when none is set, as
keepalived does).  The kernel reports an ICMP port-unreachable for a
connected socket as ECONNREFUSED on the next receive, which is how a closed
port is told apart from a silent service.  Without ``require_reply`` the
check passes when no ICMP error arrives within connect_timeout (so it takes
that long unless the service answers); with it a reply must arrive, its
length must lie in [min_reply_length, max_reply_length] and, if a pattern
is given, match it over min(len(reply), len(pattern)) bytes.
"""

from __future__ import annotations

import asyncio
import os
import socket

from vipdeck.engine.config.model import UdpCheck
from vipdeck.engine.check.net import describe, make_socket, sockaddr
from vipdeck.engine.check.result import CheckEnv, CheckFailure, CheckResult, fmt_seconds, measured

Pattern = list[tuple[int, int]]     # (value, mask) per byte


def parse_hex_pattern(text: str) -> Pattern:
    """keepalived's free-format hex: space-separated groups, pairs from the
    left, an odd last digit is the low nibble ("456" → 45 06); x/X is a
    wildcard nibble."""
    out: Pattern = []
    for group in text.split():
        for i in range(0, len(group), 2):
            pair = group[i:i + 2]
            if len(pair) == 1:
                pair = "0" + pair
            value = mask = 0
            for ch in pair:
                value <<= 4
                mask <<= 4
                if ch in "xX":
                    continue
                try:
                    value |= int(ch, 16)
                except ValueError:
                    raise CheckFailure(f"require_reply pattern {text!r}: {ch!r} is not a hex digit") from None
                mask |= 0xF
            out.append((value, mask))
    return out


def match_pattern(data: bytes, pattern: Pattern) -> int | None:
    """Index of the first mismatching byte, or None when it matches."""
    for i, (byte, (value, mask)) in enumerate(zip(data, pattern)):
        if byte & mask != value:
            return i
    return None


async def check_udp(checker: UdpCheck, env: CheckEnv | None = None) -> CheckResult:
    env = env or CheckEnv()
    pattern = parse_hex_pattern(checker.reply_pattern) if checker.reply_pattern else None

    async def body() -> None:
        payload = checker.payload if checker.payload is not None else os.urandom(16)
        addr = sockaddr(checker)
        sock = make_socket(checker, env, socket.SOCK_DGRAM)
        loop = asyncio.get_running_loop()
        try:
            await loop.sock_connect(sock, addr)
            await loop.sock_sendall(sock, payload)
            try:
                async with asyncio.timeout(checker.connect_timeout):
                    data = await loop.sock_recv(sock, 65536)
            except TimeoutError:
                if checker.require_reply:
                    raise CheckFailure(f"no reply within {fmt_seconds(checker.connect_timeout)}") from None
                return
        except ConnectionRefusedError:
            raise CheckFailure("port unreachable") from None
        except OSError as exc:
            raise CheckFailure(describe(exc)) from None
        finally:
            sock.close()
        if not checker.require_reply:
            return
        if not checker.min_reply_length <= len(data) <= checker.max_reply_length:
            raise CheckFailure(f"reply of {len(data)} bytes outside "
                               f"{checker.min_reply_length}-{checker.max_reply_length}")
        if pattern is not None:
            bad = match_pattern(data, pattern)
            if bad is not None:
                raise CheckFailure(f"reply does not match pattern at byte {bad} "
                                   f"(got {data[bad]:02x})")

    return await measured(body)
