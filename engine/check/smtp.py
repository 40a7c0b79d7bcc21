"""SMTP_CHECK: banner 220, HELO → 250, QUIT → 221.

The dialogue is the one keepalived has; no mail is sent and no
authentication is attempted, so no credential is ever involved.
"""

from __future__ import annotations

import asyncio
import socket

from vipdeck.engine.config.model import SmtpCheck
from vipdeck.engine.check.net import close_stream, describe, open_stream
from vipdeck.engine.check.result import CheckEnv, CheckFailure, CheckResult, fmt_seconds, measured


async def read_reply(reader: asyncio.StreamReader) -> tuple[int, str]:
    """One (possibly multi-line) SMTP reply: code and the first line's text."""
    first = ""
    while True:
        line = await reader.readline()
        if not line:
            raise CheckFailure("connection closed by the SMTP server")
        text = line.decode("latin-1").rstrip("\r\n")
        if len(text) < 3 or not text[:3].isdigit():
            raise CheckFailure(f"not an SMTP reply: {text[:60]!r}")
        first = first or text
        if text[3:4] != "-":
            return int(text[:3]), first


async def check_smtp(checker: SmtpCheck, env: CheckEnv | None = None) -> CheckResult:
    env = env or CheckEnv()
    helo = checker.helo_name or env.smtp_helo_name or socket.gethostname()

    async def step(reader, writer, send: str | None, want: int, what: str) -> None:
        if send is not None:
            writer.write(send.encode() + b"\r\n")
            await writer.drain()
        code, text = await read_reply(reader)
        if code != want:
            raise CheckFailure(f"SMTP {what}: got {code}, want {want} ({text[:80]})")

    async def body() -> None:
        reader, writer = await open_stream(checker, env)
        failed = True
        try:
            async with asyncio.timeout(checker.connect_timeout):
                await step(reader, writer, None, 220, "banner")
                await step(reader, writer, f"HELO {helo}", 250, "HELO")
                await step(reader, writer, "QUIT", 221, "QUIT")
            failed = False
        except TimeoutError:
            raise CheckFailure(f"SMTP dialogue not finished within {fmt_seconds(checker.connect_timeout)}") from None
        except OSError as exc:
            raise CheckFailure(describe(exc)) from None
        finally:
            await close_stream(writer, abort=failed)

    return await measured(body)
