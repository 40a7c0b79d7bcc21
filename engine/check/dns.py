"""DNS_CHECK: one UDP query; up when a reply with our id, QR set and
RCODE NOERROR arrives within connect_timeout (keepalived does not look at
the answer count either).  Replies with another id are ignored, as a
resolver would."""

from __future__ import annotations

import asyncio
import os
import socket
import struct

from vipdeck.engine.config.model import DnsCheck
from vipdeck.engine.check.net import describe, make_socket, sockaddr
from vipdeck.engine.check.result import CheckEnv, CheckFailure, CheckResult, fmt_seconds, measured

QTYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "PTR": 12, "MX": 15, "TXT": 16, "AAAA": 28}
RCODES = {1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}
FLAG_QR = 0x8000
FLAG_RD = 0x0100
HEADER = struct.Struct("!HHHHHH")


def encode_name(name: str) -> bytes:
    out = bytearray()
    for label in name.strip().rstrip(".").split(".") if name.strip(".") else []:
        raw = label.encode("idna") if not label.isascii() else label.encode()
        if not raw or len(raw) > 63:
            raise CheckFailure(f"DNS name {name!r}: label {label!r} is empty or longer than 63 bytes")
        out += bytes([len(raw)]) + raw
    out += b"\0"
    if len(out) > 255:
        raise CheckFailure(f"DNS name {name!r} is longer than 255 bytes")
    return bytes(out)


def build_query(qid: int, name: str, qtype: str) -> bytes:
    code = QTYPES.get(qtype.upper())
    if code is None:
        raise CheckFailure(f"DNS type {qtype!r} is not one of {', '.join(QTYPES)}")
    return HEADER.pack(qid, FLAG_RD, 1, 0, 0, 0) + encode_name(name) + struct.pack("!HH", code, 1)


def parse_reply(data: bytes, qid: int) -> int | None:
    """RCODE of a reply to ``qid``; None if the datagram is not that reply."""
    if len(data) < HEADER.size:
        return None
    rid, flags, *_ = HEADER.unpack_from(data)
    if rid != qid or not flags & FLAG_QR:
        return None
    return flags & 0x000F


async def check_dns(checker: DnsCheck, env: CheckEnv | None = None) -> CheckResult:
    env = env or CheckEnv()

    async def body() -> None:
        qid = int.from_bytes(os.urandom(2), "big")
        query = build_query(qid, checker.name, checker.type)
        addr = sockaddr(checker, 53 if checker.connect_port is None else None)
        sock = make_socket(checker, env, socket.SOCK_DGRAM)
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(checker.connect_timeout):
                await loop.sock_connect(sock, addr)
                await loop.sock_sendall(sock, query)
                while True:
                    rcode = parse_reply(await loop.sock_recv(sock, 4096), qid)
                    if rcode is None:
                        continue
                    if rcode:
                        raise CheckFailure(f"DNS {checker.type} {checker.name}: rcode {RCODES.get(rcode, rcode)}")
                    return
        except TimeoutError:
            raise CheckFailure(f"no DNS reply within {fmt_seconds(checker.connect_timeout)}") from None
        except ConnectionRefusedError:
            raise CheckFailure("port unreachable") from None
        except OSError as exc:
            raise CheckFailure(describe(exc)) from None
        finally:
            sock.close()

    return await measured(body)
