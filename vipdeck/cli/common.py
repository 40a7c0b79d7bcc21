"""Helpers shared by the client commands (status, events, actions...)."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

DEFAULT_SOCKET = "/run/vipdeck/control.sock"


def add_socket(parser) -> None:
    parser.add_argument("--socket", default=DEFAULT_SOCKET, metavar="PATH",
                        help=f"daemon control socket (default {DEFAULT_SOCKET})")


def call(socket_path: str, op: str, **args: Any) -> tuple[int, Any]:
    """Run one request; (0, result) or (1, None) after printing a clear error."""
    from vipdeck.engine.control.client import SocketClient
    from vipdeck.engine.control.schema import ControlError

    async def go():
        return await SocketClient(socket_path).request(op, **args)

    try:
        return 0, asyncio.run(go())
    except ControlError as exc:
        print(f"vipdeck: {exc.message}", file=sys.stderr)
        return (3 if exc.code == "forbidden" else 1), None


def age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 10:
        return f"{seconds:.1f}s"
    if seconds < 3600:
        return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"
    return f"{int(seconds // 3600)}h{int(seconds % 3600 // 60):02d}m"
