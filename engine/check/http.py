"""HTTP_GET and SSL_GET.

One GET per configured url, in order; the first url that fails fails the
check and its path is named in the error.  The digest is keepalived's
``genhash`` value: the MD5 hex digest of the response body (headers
excluded, chunked transfer decoded).  The body is only read when a digest or
a regex needs it, so a backend that keeps the connection open after the
headers is still checked within connect_timeout.

Difference from keepalived, on purpose: every url is checked on every run
(keepalived checks one url per delay_loop while recovering unless
``fast_recovery`` is set); the result is the same, only sooner.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import os
import re
import select
import socket

from vipdeck.engine.config.model import HttpCheck, HttpUrl
from vipdeck.engine.check.net import close_stream, describe, make_socket, open_stream, sockaddr, tcp_connect
from vipdeck.engine.check.result import CheckEnv, CheckFailure, CheckResult, fmt_seconds, measured

USER_AGENT = "vipdeck-healthcheck"
MAX_BODY = 16 << 20


def format_codes(ranges: tuple[tuple[int, int], ...]) -> str:
    return ", ".join(str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in ranges)


def build_request(checker: HttpCheck, url: HttpUrl, host: str) -> bytes:
    proto = checker.http_protocol.upper()
    version = "HTTP/1.1" if proto == "1.1" else "HTTP/1.0"
    lines = [f"GET {url.path or '/'} {version}", f"User-Agent: {USER_AGENT}", f"Host: {host}"]
    if proto in ("1.0C", "1.1"):
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")


def _host_header(checker: HttpCheck, url: HttpUrl) -> str:
    vhost = url.virtualhost or checker.virtualhost
    if vhost:
        return vhost
    host = f"[{checker.connect_ip}]" if ":" in checker.connect_ip else checker.connect_ip
    default = 443 if checker.kind == "SSL_GET" else 80
    return host if checker.connect_port in (None, default) else f"{host}:{checker.connect_port}"


@functools.lru_cache(maxsize=256)
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


async def _read_head(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            raise CheckFailure("connection closed before any response") from None
        raise CheckFailure("connection closed in the middle of the response headers") from None
    except asyncio.LimitOverrunError:
        raise CheckFailure("response headers larger than 64 KiB") from None
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(None, 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise CheckFailure(f"not an HTTP response: {lines[0][:60]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    return int(parts[1]), headers


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    try:
        if "chunked" in headers.get("transfer-encoding", "").lower():
            out = bytearray()
            while True:
                size_line = await reader.readuntil(b"\r\n")
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    break
                if len(out) + size > MAX_BODY:
                    raise CheckFailure("response body larger than 16 MiB")
                out += await reader.readexactly(size)
                await reader.readexactly(2)
            return bytes(out)
        if "content-length" in headers:
            n = int(headers["content-length"])
            if n > MAX_BODY:
                raise CheckFailure("response body larger than 16 MiB")
            return await reader.readexactly(n)
        body = await reader.read(MAX_BODY + 1)
        chunks = [body]
        while body:
            body = await reader.read(MAX_BODY + 1)
            chunks.append(body)
            if sum(map(len, chunks)) > MAX_BODY:
                raise CheckFailure("response body larger than 16 MiB")
        return b"".join(chunks)
    except asyncio.IncompleteReadError:
        raise CheckFailure("response body truncated") from None
    except ValueError:
        raise CheckFailure("malformed response body framing") from None


class SockReader:
    """The part of ``asyncio.StreamReader`` the response parsing uses, straight
    on a non-blocking socket with the loop's ``sock_recv``: a plain HTTP_GET
    then needs no transport, protocol or stream objects, and no closing
    handshake to wait for (200 HTTP_GETs a second were mostly that machinery)."""

    LIMIT = 1 << 16

    def __init__(self, sock, loop: asyncio.AbstractEventLoop):
        self.sock, self.loop = sock, loop
        self.buf = bytearray()
        self.eof = False

    async def _more(self) -> bool:
        if self.eof:
            return False
        data = await self.loop.sock_recv(self.sock, self.LIMIT)
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    async def readuntil(self, sep: bytes) -> bytes:
        start = 0
        while True:
            i = self.buf.find(sep, start)
            if i >= 0:
                out = bytes(self.buf[:i + len(sep)])
                del self.buf[:i + len(sep)]
                return out
            if len(self.buf) > self.LIMIT:
                raise asyncio.LimitOverrunError("separator not found within the limit", len(self.buf))
            start = max(0, len(self.buf) - len(sep) + 1)
            if not await self._more():
                partial = bytes(self.buf)
                self.buf.clear()
                raise asyncio.IncompleteReadError(partial, None)

    async def readexactly(self, n: int) -> bytes:
        while len(self.buf) < n:
            if not await self._more():
                partial = bytes(self.buf)
                self.buf.clear()
                raise asyncio.IncompleteReadError(partial, n)
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    async def read(self, n: int) -> bytes:
        if not self.buf and not await self._more():
            return b""
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out


async def _get(checker: HttpCheck, env: CheckEnv, url: HttpUrl) -> None:
    tls = checker.kind == "SSL_GET"
    host = _host_header(checker, url)
    need_body = bool(url.digest or url.regex)
    if tls:
        sni = (url.virtualhost or checker.virtualhost or "") if checker.enable_sni else ""
        reader, writer = await open_stream(checker, env, tls=True, server_hostname=sni)
        failed = True
        try:
            try:
                async with asyncio.timeout(checker.connect_timeout):
                    writer.write(build_request(checker, url, host))
                    await writer.drain()
                    status, headers = await _read_head(reader)
                    body = await _read_body(reader, headers) if need_body else b""
                failed = False
            except TimeoutError:
                raise CheckFailure(f"no complete response within {fmt_seconds(checker.connect_timeout)}") from None
            except OSError as exc:
                raise CheckFailure(describe(exc)) from None
        finally:
            await close_stream(writer, abort=failed)
    else:
        sock = await tcp_connect(checker, env)
        loop = asyncio.get_running_loop()
        try:
            sr = SockReader(sock, loop)
            async with asyncio.timeout(checker.connect_timeout):
                await loop.sock_sendall(sock, build_request(checker, url, host))
                status, headers = await _read_head(sr)           # type: ignore[arg-type]
                body = await _read_body(sr, headers) if need_body else b""  # type: ignore[arg-type]
        except TimeoutError:
            raise CheckFailure(f"no complete response within {fmt_seconds(checker.connect_timeout)}") from None
        except OSError as exc:
            raise CheckFailure(describe(exc)) from None
        finally:
            sock.close()
    _verify(url, status, body)


def _verify(url: HttpUrl, status: int, body: bytes) -> None:
    """The url's verdict on a complete response (both ways of checking)."""
    if not url.status_ok(status):
        codes = url.status_codes
        if len(codes) == 1 and codes[0][0] == codes[0][1]:
            raise CheckFailure(f"HTTP {status} ≠ {codes[0][0]}")
        raise CheckFailure(f"HTTP {status} not in {format_codes(codes)}")
    if url.digest:
        got = genhash(body)
        if got != url.digest.lower():
            raise CheckFailure(f"digest mismatch: got {got}, want {url.digest.lower()}")
    if url.regex:
        try:
            found = _regex(url.regex).search(body.decode("utf-8", "replace")) is not None
        except re.error as exc:
            raise CheckFailure(f"invalid regex {url.regex!r}: {exc}") from None
        if found and url.regex_no_match:
            raise CheckFailure(f"body matches regex {url.regex!r} (regex_no_match)")
        if not found and not url.regex_no_match:
            raise CheckFailure(f"body does not match regex {url.regex!r}")


async def check_http(checker: HttpCheck, env: CheckEnv | None = None) -> CheckResult:
    env = env or CheckEnv()
    urls = checker.urls or (HttpUrl(),)

    async def body() -> None:
        for url in urls:
            try:
                await _get(checker, env, url)
            except CheckFailure as exc:
                prefix = f"{url.path}: " if len(urls) > 1 else ""
                raise CheckFailure(prefix + str(exc)) from None

    return await measured(body)


def genhash(body: bytes) -> str:
    """The digest keepalived's genhash prints for a body (hashlib imported
    here: a daemon with no digest check does not keep it, issue 13)."""
    import hashlib

    return hashlib.md5(body).hexdigest()


# ---------------------------------------------------------------- HTTP_GET without a task
#
# The check runner steps ``http_get_flow`` itself (engine/check/runner.py):
# the coroutine yields ``Wait`` ("resume me when this socket is ready") and
# ``Phase`` ("what follows must be done within this long, or fail with this
# text") instead of awaiting the event loop, so a plain HTTP_GET costs no
# task, future, timeout context or loop handle; the runner watches the socket
# in its own epoll and keeps the deadline in its own heap.  The parsing and
# the verdict are the very functions ``check_http`` uses, so both ways give
# the same answer (tests/unit/test_check_http.py runs its cases both ways).


class Wait:
    """Yielded: resume when ``fd`` is ready for ``events`` (``fresh``: the
    first wait on this socket, so it is registered rather than re-armed)."""

    __slots__ = ("fd", "events", "fresh")

    def __init__(self, fd: int, events: int, fresh: bool):
        self.fd, self.events, self.fresh = fd, events, fresh

    def __await__(self):
        yield self


class Phase:
    """Yielded: the steps until the next Phase must finish within ``seconds``;
    if not, the check fails with ``message``."""

    __slots__ = ("seconds", "message")

    def __init__(self, seconds: float, message: str):
        self.seconds, self.message = seconds, message

    def __await__(self):
        yield self


class _Waiter:
    def __init__(self, sock):
        self.fd = sock.fileno()
        self.fresh = True

    def until(self, events: int) -> Wait:
        w = Wait(self.fd, events, self.fresh)
        self.fresh = False
        return w


class _FlowReader(SockReader):
    """SockReader reading straight from the socket, waiting through ``Wait``."""

    def __init__(self, sock, waiter: _Waiter):
        super().__init__(sock, None)
        self.waiter = waiter

    async def _more(self) -> bool:
        if self.eof:
            return False
        while True:
            try:
                data = self.sock.recv(self.LIMIT)
            except (BlockingIOError, InterruptedError):
                await self.waiter.until(select.EPOLLIN)
                continue
            break
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True


async def http_get_flow(checker: HttpCheck, env: CheckEnv, factory=None, addr: tuple | None = None,
                        family: int | None = None) -> None:
    """One plain HTTP_GET run (every url in order), for the runner to step;
    returns when it passed, raises CheckFailure naming why not."""
    urls = checker.urls or (HttpUrl(),)
    for url in urls:
        prefix = f"{url.path}: " if len(urls) > 1 else ""
        try:
            await _flow_one(checker, env, url, prefix, factory, addr, family)
        except CheckFailure as exc:
            raise CheckFailure(prefix + str(exc)) from None


async def _flow_one(checker: HttpCheck, env: CheckEnv, url: HttpUrl, prefix: str, factory,
                    addr: tuple | None, family: int | None) -> None:
    if addr is None:
        addr = sockaddr(checker)
    sock = make_socket(checker, env, socket.SOCK_STREAM, family=family, factory=factory)
    waiter = _Waiter(sock)
    limit = fmt_seconds(checker.connect_timeout)
    try:
        await Phase(checker.connect_timeout, f"{prefix}connect timeout after {limit}")
        err = sock.connect_ex(addr)
        if err in (errno.EINPROGRESS, errno.EAGAIN, errno.EWOULDBLOCK):
            await waiter.until(select.EPOLLOUT)
            err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            raise CheckFailure(describe(OSError(err, os.strerror(err))))
        await Phase(checker.connect_timeout, f"{prefix}no complete response within {limit}")
        request = memoryview(build_request(checker, url, _host_header(checker, url)))
        reader = _FlowReader(sock, waiter)
        try:
            while request:
                try:
                    request = request[sock.send(request):]
                except (BlockingIOError, InterruptedError):
                    await waiter.until(select.EPOLLOUT)
            status, headers = await _read_head(reader)                       # type: ignore[arg-type]
            body = await _read_body(reader, headers) if (url.digest or url.regex) else b""  # type: ignore[arg-type]
        except OSError as exc:
            raise CheckFailure(describe(exc)) from None
    finally:
        sock.close()
    _verify(url, status, body)
