"""The one client interface the console (and the CLI) use to reach an engine.

Two implementations with identical behaviour: ``SocketClient`` talks to a
daemon over its Unix control socket, ``EmbeddedClient`` calls an in-process
``ControlApi`` directly.  Both return the plain dicts described in
``engine.control.schema`` and raise ``ControlError`` for refusals.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
from typing import Any, AsyncIterator, Protocol

from vipdeck.engine.control.schema import ControlError, Event, Snapshot

MAX_LINE = 64 * 1024 * 1024


class Client(Protocol):
    async def snapshot(self) -> Snapshot: ...
    async def events(self, since: int = 0, limit: int | None = None) -> list[Event]: ...
    def follow(self, since: int = 0) -> AsyncIterator[Event]: ...
    async def request(self, op: str, **args: Any) -> dict: ...
    async def close(self) -> None: ...


class SocketClient:
    """Client for ``vipdeck daemon``'s control socket (one connection per call
    for requests, one long-lived connection per ``follow``)."""

    def __init__(self, path: str, who: str | None = None):
        self.path = path
        self.who = who or os.environ.get("SUDO_USER") or os.environ.get("USER") or str(os.getuid())
        self._ids = itertools.count(1)

    async def _open(self):
        try:
            return await asyncio.open_unix_connection(self.path, limit=MAX_LINE)
        except FileNotFoundError:
            raise ControlError("unavailable", f"no daemon control socket at {self.path}") from None
        except PermissionError:
            raise ControlError("forbidden", f"permission denied on {self.path}") from None
        except ConnectionRefusedError:
            raise ControlError("unavailable", f"daemon not listening on {self.path}") from None

    async def request(self, op: str, **args: Any) -> dict:
        reader, writer = await self._open()
        try:
            msg = {"id": next(self._ids), "op": op, "who": self.who, **args}
            writer.write(json.dumps(msg).encode() + b"\n")
            await writer.drain()
            line = await reader.readline()
            if not line:
                raise ControlError("unavailable", "daemon closed the connection")
            reply = json.loads(line)
            if not reply.get("ok"):
                err = reply.get("error") or {}
                raise ControlError(err.get("code", "error"), err.get("message", "request failed"))
            return reply.get("result") or {}
        finally:
            writer.close()

    async def snapshot(self) -> Snapshot:
        return await self.request("snapshot")

    async def events(self, since: int = 0, limit: int | None = None) -> list[Event]:
        return (await self.request("events", since=since, limit=limit))["events"]

    async def follow(self, since: int = 0) -> AsyncIterator[Event]:
        reader, writer = await self._open()
        try:
            writer.write(json.dumps({"id": 0, "op": "events", "since": since, "follow": True}).encode() + b"\n")
            await writer.drain()
            first = json.loads(await reader.readline())
            if not first.get("ok"):
                err = first.get("error") or {}
                raise ControlError(err.get("code", "error"), err.get("message", "request failed"))
            for ev in first["result"]["events"]:
                yield ev
            while True:
                line = await reader.readline()
                if not line:
                    return
                yield json.loads(line)["event"]
        finally:
            writer.close()

    async def close(self) -> None:
        pass


class EmbeddedClient:
    """Client for an engine running in this process (``vipdeck console -f``)."""

    def __init__(self, api, who: str | None = None):
        self.api = api
        self.who = who or os.environ.get("USER") or str(os.getuid())

    async def request(self, op: str, **args: Any) -> dict:
        return await self.api.handle(op, {"who": self.who, **args}, uid=os.getuid())

    async def snapshot(self) -> Snapshot:
        return await self.request("snapshot")

    async def events(self, since: int = 0, limit: int | None = None) -> list[Event]:
        return (await self.request("events", since=since, limit=limit))["events"]

    async def follow(self, since: int = 0) -> AsyncIterator[Event]:
        with self.api.bus.follow(since) as f:
            for ev in f.backlog:
                yield ev
            async for ev in f:
                yield ev

    async def close(self) -> None:
        pass
