"""The daemon's Unix control socket.

Mode 0660 owned by root: the socket's group may read (snapshot, events);
changes need uid 0, checked per request from the peer's SO_PEERCRED, never
from anything the client says about itself.  A malformed request gets an
error reply naming the problem; nothing a client sends can take the daemon
down.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import struct
from typing import Any, Protocol

from vipdeck.engine.control.schema import ALL_OPS, CHANGE_OPS, ControlError
from vipdeck.engine.events import EventBus

log = logging.getLogger("vipdeck.control")

MAX_REQUEST = 1024 * 1024


class ControlApi(Protocol):
    bus: EventBus

    async def handle(self, op: str, args: dict[str, Any], uid: int) -> dict: ...


def peer_uid(writer: asyncio.StreamWriter) -> int:
    sock = writer.get_extra_info("socket")
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return uid


def check_request(msg: Any, uid: int) -> tuple[str, dict]:
    """Validate the envelope; return (op, args) or raise ControlError."""
    if not isinstance(msg, dict):
        raise ControlError("bad_request", "request must be a JSON object")
    op = msg.get("op")
    if not isinstance(op, str):
        raise ControlError("bad_request", "field 'op' is missing or not a string")
    if op not in ALL_OPS:
        raise ControlError("unknown_op", f"unknown op {op!r}")
    if op in CHANGE_OPS and uid != 0:
        raise ControlError("forbidden", f"'{op}' changes the node and is allowed to root only (your uid is {uid})")
    args = {k: v for k, v in msg.items() if k not in ("op", "id")}
    return op, args


class ControlServer:
    def __init__(self, path: str, api: ControlApi, group: int | None = None):
        self.path = path
        self.api = api
        self.group = group
        self._server: asyncio.base_events.Server | None = None
        self._handlers: dict[asyncio.Task, asyncio.StreamWriter] = {}

    async def start(self) -> None:
        os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        old = os.umask(0o117)
        try:
            self._server = await asyncio.start_unix_server(self._client, self.path, limit=MAX_REQUEST)
        finally:
            os.umask(old)
        os.chmod(self.path, 0o660)
        if self.group is not None:
            os.chown(self.path, 0, self.group)

    async def stop(self) -> None:
        """Stop listening and end every open connection (followers see EOF)."""
        if self._server:
            self._server.close()
        for task, writer in list(self._handlers.items()):
            writer.close()
            task.cancel()
        if self._handlers:
            await asyncio.wait(list(self._handlers), timeout=1)
        if self._server:
            try:
                await asyncio.wait_for(self._server.wait_closed(), 1)
            except asyncio.TimeoutError:
                pass
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._handlers[task] = writer
        try:
            uid = peer_uid(writer)
            while True:
                try:
                    line = await reader.readline()
                except (ValueError, asyncio.LimitOverrunError):
                    await self._reply(writer, None, error=ControlError("bad_request", "request line too long"))
                    return
                if not line:
                    return
                req_id = None
                try:
                    msg = json.loads(line)
                    req_id = msg.get("id") if isinstance(msg, dict) else None
                    op, args = check_request(msg, uid)
                    if op == "events" and args.get("follow"):
                        await self._follow(writer, args)
                        return
                    result = await self.api.handle(op, args, uid)
                    await self._reply(writer, req_id, result=result)
                except json.JSONDecodeError as exc:
                    await self._reply(writer, None, error=ControlError("bad_request", f"not JSON: {exc.msg} at column {exc.colno}"))
                except ControlError as exc:
                    await self._reply(writer, req_id, error=exc)
                except Exception as exc:  # a bug in a handler must not kill the daemon
                    log.exception("control request failed")
                    await self._reply(writer, req_id, error=ControlError("internal", f"internal error: {exc}"))
        except (ConnectionError, BrokenPipeError, asyncio.CancelledError):
            pass  # client gone, or the server is stopping
        finally:
            self._handlers.pop(task, None)
            writer.close()

    async def _reply(self, writer, req_id, result=None, error: ControlError | None = None) -> None:
        msg: dict[str, Any] = {"id": req_id, "ok": error is None}
        if error is None:
            msg["result"] = result
        else:
            msg["error"] = error.to_dict()
        writer.write(json.dumps(msg, default=str).encode() + b"\n")
        await writer.drain()

    async def _follow(self, writer: asyncio.StreamWriter, args: dict) -> None:
        bus = self.api.bus
        q = bus.subscribe()
        try:
            since = int(args.get("since") or 0)
            backlog = bus.since(since)
            last = backlog[-1]["seq"] if backlog else since
            await self._reply(writer, args.get("id"), result={"events": backlog, "last": bus.last_seq})
            while True:
                ev = await q.get()
                if ev["seq"] <= last:
                    continue
                writer.write(json.dumps({"event": ev}, default=str).encode() + b"\n")
                await writer.drain()
        finally:
            bus.unsubscribe(q)
