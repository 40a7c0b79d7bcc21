"""The environment a health check runs in, and how a check body is timed.

Checks report failures as sentences an operator can act on ("connect timeout
after 3 s", "HTTP 503 not in 200-299") rather than exception reprs, because
those texts end up in the console and in notify/SMTP messages verbatim.

``CheckEnv`` carries everything a check needs from outside its own config
block.  Its ``socket_factory`` is the seam that keeps checks ignorant of
network namespaces: production passes ``socket.socket``; a lab test passes
``node.socket`` and the very same code runs from inside a lab node.
"""

from __future__ import annotations

import socket
import ssl
import time
from dataclasses import dataclass, field
from typing import Awaitable, Callable, Mapping, Protocol

from vipdeck.engine.check.outcome import CheckResult  # noqa: F401 (the checks take it from here too)
from vipdeck.engine.config.model import Config, SslContext, TrackFile


class SocketFactory(Protocol):
    def __call__(self, family: int, type_: int, proto: int = 0) -> socket.socket: ...


class CheckFailure(Exception):
    """Raised inside a check with the operator-facing reason."""


def fmt_seconds(t: float) -> str:
    return f"{t:g} s"


@dataclass
class CheckEnv:
    """Outside inputs of checks: sockets, track files, TLS client material."""

    socket_factory: SocketFactory = socket.socket
    track_files: Mapping[str, TrackFile] = field(default_factory=dict)
    ssl: SslContext | None = None
    smtp_helo_name: str | None = None       # global_defs smtp_helo_name
    script_security: bool = False           # global_defs enable_script_security (MISC_CHECK)
    _ssl_ctx: ssl.SSLContext | None = field(default=None, init=False, repr=False)

    @classmethod
    def from_config(cls, config: Config, socket_factory: SocketFactory = socket.socket) -> "CheckEnv":
        """The env a daemon wants: track files, SSL block and HELO name of ``config``."""
        return cls(socket_factory=socket_factory,
                   track_files={t.name: t for t in config.track_files},
                   ssl=config.ssl, smtp_helo_name=config.global_defs.smtp_helo_name,
                   script_security=config.global_defs.enable_script_security)

    def ssl_context(self) -> ssl.SSLContext:
        """Client TLS context; like keepalived, the server is *not* verified.

        Health checks talk to backends by address, usually with self-signed or
        internal certificates; verifying would turn every such backend DOWN.
        A client certificate from the ``SSL { }`` block is presented if set.
        """
        if self._ssl_ctx is None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            if self.ssl is not None and self.ssl.certificate:
                ctx.load_cert_chain(self.ssl.certificate, self.ssl.key or None,
                                    password=self.ssl.password or None)
            self._ssl_ctx = ctx
        return self._ssl_ctx


CheckFn = Callable[..., Awaitable[CheckResult]]


async def measured(body: Callable[[], Awaitable[int | None]]) -> CheckResult:
    """Run a check body, timing it and turning CheckFailure into a result.

    The body returns None (plain success) or an int (a dynamic weight).
    """
    t0 = time.monotonic()
    try:
        weight = await body()
    except CheckFailure as exc:
        return CheckResult(False, time.monotonic() - t0, str(exc))
    return CheckResult(True, time.monotonic() - t0, None, weight=weight)
