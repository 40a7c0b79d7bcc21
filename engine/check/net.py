"""Socket plumbing shared by the network checks.

Every network check honours the same connection options (connect_ip,
connect_port, bindto, bind_port, bind_if, fwmark, connect_timeout), so they
are applied in one place.  Sockets come from ``CheckEnv.socket_factory`` and
are driven with the event loop's ``sock_*`` coroutines, so a socket made in
another network namespace works exactly like a local one.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import socket
import ssl

from vipdeck.engine.config.model import Checker
from vipdeck.engine.check.result import CheckEnv, CheckFailure, fmt_seconds

SO_MARK = getattr(socket, "SO_MARK", 36)
SO_BINDTODEVICE = getattr(socket, "SO_BINDTODEVICE", 25)
_NONBLOCK = getattr(socket, "SOCK_NONBLOCK", 0)

_ERRNO_TEXT = {
    errno.ECONNREFUSED: "connection refused",
    errno.ECONNRESET: "connection reset by peer",
    errno.EHOSTUNREACH: "host unreachable",
    errno.ENETUNREACH: "network unreachable",
    errno.EADDRNOTAVAIL: "source address not available",
    errno.EADDRINUSE: "source port already in use",
    errno.EPIPE: "connection closed by peer",
    errno.ETIMEDOUT: "connection timed out",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
}


def describe(exc: BaseException) -> str:
    """A short operator sentence for a socket error."""
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ConnectionResetError):
        return "connection reset by peer"
    if isinstance(exc, OSError) and exc.errno in _ERRNO_TEXT:
        return _ERRNO_TEXT[exc.errno]
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc) or type(exc).__name__


def family_of(address: str) -> int:
    try:
        ip = ipaddress.ip_address(address.strip("[]"))
    except ValueError:
        raise CheckFailure(f"connect_ip {address!r} is not an IP address") from None
    return socket.AF_INET6 if ip.version == 6 else socket.AF_INET


def sockaddr(checker: Checker, port: int | None = None) -> tuple:
    """Destination tuple for ``checker``; a port is required unless given."""
    family = family_of(checker.connect_ip)
    p = checker.connect_port if port is None else port
    if p is None:
        raise CheckFailure("no port to connect to (set connect_port or the real server port)")
    host = checker.connect_ip.strip("[]")
    if family == socket.AF_INET6:
        scope = _scope_id(host, checker.bind_if)
        return (host, p, 0, scope)
    return (host, p)


def _scope_id(host: str, ifname: str | None) -> int:
    if ifname and ipaddress.ip_address(host).is_link_local:
        try:
            return socket.if_nametoindex(ifname)
        except OSError:
            return 0
    return 0


def make_socket(checker: Checker, env: CheckEnv, type_: int, proto: int = 0,
                family: int | None = None, factory=None) -> socket.socket:
    """A non-blocking socket with the checker's source options applied
    (``family``: already known from ``family_of``, to save parsing it again;
    ``factory``: instead of ``env.socket_factory``)."""
    if family is None:
        family = family_of(checker.connect_ip)
    try:
        # non-blocking from the start: one system call less per check
        sock = (factory or env.socket_factory)(family, type_ | _NONBLOCK, proto)
    except OSError as exc:
        raise CheckFailure(f"cannot create socket: {describe(exc)}") from None
    try:
        if sock.gettimeout() != 0.0:
            sock.setblocking(False)
        if checker.fwmark:
            sock.setsockopt(socket.SOL_SOCKET, SO_MARK, checker.fwmark)
        if checker.bind_if:
            sock.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, checker.bind_if.encode())
        if checker.bindto or checker.bind_port:
            if checker.bind_port:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            src = checker.bindto or ("::" if family == socket.AF_INET6 else "0.0.0.0")
            if family == socket.AF_INET6:
                sock.bind((src, checker.bind_port or 0, 0, _scope_id(src, checker.bind_if)))
            else:
                sock.bind((src, checker.bind_port or 0))
    except OSError as exc:
        sock.close()
        what = f"bindto {checker.bindto}" if checker.bindto else "socket options"
        raise CheckFailure(f"cannot apply {what}: {describe(exc)}") from None
    return sock


async def tcp_connect(checker: Checker, env: CheckEnv) -> socket.socket:
    """Connected TCP socket, or CheckFailure naming why not."""
    addr = sockaddr(checker)
    sock = make_socket(checker, env, socket.SOCK_STREAM)
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(checker.connect_timeout):
            await loop.sock_connect(sock, addr)
    except TimeoutError:
        sock.close()
        raise CheckFailure(f"connect timeout after {fmt_seconds(checker.connect_timeout)}") from None
    except OSError as exc:
        sock.close()
        raise CheckFailure(describe(exc)) from None
    except BaseException:
        sock.close()
        raise
    return sock


async def open_stream(checker: Checker, env: CheckEnv, *, tls: bool = False,
                      server_hostname: str | None = None
                      ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Connect (then TLS-handshake when asked) and wrap in asyncio streams."""
    sock = await tcp_connect(checker, env)
    try:
        if not tls:
            return await asyncio.open_connection(sock=sock, limit=1 << 16)
        ctx = env.ssl_context()
        try:
            async with asyncio.timeout(checker.connect_timeout):
                return await asyncio.open_connection(
                    sock=sock, ssl=ctx, server_hostname=server_hostname or "", limit=1 << 16,
                    ssl_handshake_timeout=checker.connect_timeout + 1)
        except TimeoutError:
            raise CheckFailure(f"TLS handshake timeout after {fmt_seconds(checker.connect_timeout)}") from None
        except ssl.SSLError as exc:
            reason = exc.reason.lower().replace("_", " ") if exc.reason else str(exc)
            raise CheckFailure(f"TLS handshake failed: {reason}") from None
        except OSError as exc:
            raise CheckFailure(f"TLS handshake failed: {describe(exc)}") from None
    except BaseException:
        sock.close()
        raise


async def close_stream(writer: asyncio.StreamWriter, abort: bool = False) -> None:
    """Close without letting a stuck peer hold the check open.

    After a failure the connection is aborted (no TLS close_notify
    exchange with a peer that already misbehaved)."""
    transport = writer.transport
    if abort:
        if transport is not None:
            transport.abort()
        return
    try:
        writer.close()
        async with asyncio.timeout(0.5):
            await writer.wait_closed()
    except (Exception, TimeoutError):
        if transport is not None:
            transport.abort()
