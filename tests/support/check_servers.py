"""Small real servers for the checker tests, served from the test's event loop.

Each can listen on loopback or on a socket made inside a lab node
(``sock=node.socket(...)``), so the same servers answer checks in both
kinds of test.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import time
import ssl
import struct
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from vipdeck.engine.config.model import Notify


@dataclass
class Route:
    status: int = 200
    body: bytes = b"hello\n"
    chunked: bool = False


@dataclass
class HttpBackend:
    """HTTP/1.x responder that records what it was asked."""

    routes: dict[str, Route] = field(default_factory=dict)
    hang: bool = False                       # accept, read, never answer
    tls: ssl.SSLContext | None = None
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    times: list[float] = field(default_factory=list)     # time.monotonic() of each request
    sni: list[str | None] = field(default_factory=list)
    server: asyncio.AbstractServer | None = None
    port: int = 0

    async def start(self, host: str = "127.0.0.1", port: int = 0, sock: socket.socket | None = None) -> int:
        if self.tls is not None:
            def sni_cb(sslobj, name, ctx):
                self.sni.append(name)
            self.tls.sni_callback = sni_cb
        if sock is not None:
            self.server = await asyncio.start_server(self._handle, sock=sock, ssl=self.tls)
        else:
            self.server = await asyncio.start_server(self._handle, host, port, ssl=self.tls)
        self.port = self.server.sockets[0].getsockname()[1]
        return self.port

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            headers = {k.strip().lower(): v.strip() for k, v in
                       (ln.split(":", 1) for ln in lines[1:] if ":" in ln)}
            self.requests.append((lines[0], headers))
            self.times.append(time.monotonic())
            if self.hang:
                await reader.read()          # until the client gives up
                return
            path = lines[0].split()[1]
            route = self.routes.get(path, Route(404, b"not found\n"))
            if route.chunked:
                half = len(route.body) // 2
                parts = [route.body[:half], route.body[half:]]
                payload = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts if p) + b"0\r\n\r\n"
                writer.write(b"HTTP/1.1 %d X\r\nTransfer-Encoding: chunked\r\n\r\n" % route.status + payload)
            else:
                writer.write(b"HTTP/1.0 %d X\r\nContent-Length: %d\r\n\r\n" % (route.status, len(route.body))
                             + route.body)
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()


def make_cert(directory: Path, cn: str = "backend.test") -> tuple[Path, Path] | None:
    """A self-signed certificate made with the openssl command, if present."""
    if shutil.which("openssl") is None:
        return None
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", f"/CN={cn}", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key


class UdpResponder(asyncio.DatagramProtocol):
    """Echo (optionally transformed) or DNS answers, recording queries."""

    def __init__(self, reply=None):
        self.reply = reply or (lambda data: data)
        self.received: list[bytes] = []
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        self.received.append(data)
        out = self.reply(data)
        if out is not None:
            for d in out if isinstance(out, list) else [out]:
                self.transport.sendto(d, addr)


async def udp_server(reply=None, host: str = "127.0.0.1", sock: socket.socket | None = None
                     ) -> tuple[UdpResponder, int]:
    loop = asyncio.get_running_loop()
    proto = UdpResponder(reply)
    if sock is not None:
        await loop.create_datagram_endpoint(lambda: proto, sock=sock)
    else:
        await loop.create_datagram_endpoint(lambda: proto, local_addr=(host, 0))
    return proto, proto.transport.get_extra_info("sockname")[1]


def dns_reply(rcode: int = 0, id_delta: int = 0, answers: int = 1):
    """A DNS responder body: copies the question, sets QR|RA and ``rcode``."""
    def reply(query: bytes) -> bytes:
        qid, flags = struct.unpack_from("!HH", query)
        question = query[12:]
        rid = (qid + id_delta) & 0xFFFF
        head = struct.pack("!HHHHHH", rid, 0x8000 | 0x0080 | (flags & 0x0100) | rcode, 1, answers, 0, 0)
        rr = b"".join(b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + bytes([198, 18, 0, 53])
                      for _ in range(answers))
        return head + question + rr
    return reply


async def run_script(notify: Notify, args) -> int:
    """A stand-in for engine.notify.scripts: exec the command line, wait."""
    import shlex

    proc = await asyncio.create_subprocess_exec(*shlex.split(notify.command), *args)
    return await proc.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
