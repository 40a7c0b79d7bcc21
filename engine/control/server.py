"""The daemon's Unix control socket.

Mode 0660 owned by root: the socket's group may read (snapshot, events);
changes need uid 0, checked per request from the peer's SO_PEERCRED, never
from anything the client says about itself.  A malformed request gets an
error reply naming the problem; nothing a client sends can take the daemon
down, and nothing it sends can flood the daemon's log, event ring or audit
log (``limits.RateLimit``).

Limits (a member of the socket's group must not be able to exhaust the
daemon's file descriptors or memory):

* **Request size**: one line of at most 1 MiB (``MAX_REQUEST``), UTF-8 JSON.
  Undecodable input (not UTF-8, not JSON, nested too deeply, an absurd
  number) is answered ``bad_request`` naming the problem; the log gets one
  line per uid at most every 10 s after a burst of 5, never a traceback.
* **Idle timeout** (``idle_timeout``, default 60 s): a request connection
  that has not sent a complete request line within that time after
  connecting or after its last reply gets a ``timeout`` error and is
  closed; the deadline covers the whole line, so a client trickling one
  byte at a time is closed too.  A reply (or a followed event) the client
  does not read within the same time closes the connection.
* **Follow streams** (``events`` with ``follow``) have no idle timeout: a
  quiet node sends nothing for hours and the console must not be dropped.
  A follower lasts until it closes its end (noticed at once: the server
  keeps reading it) or stops reading: a pending write that cannot complete
  within ``idle_timeout`` ends it.
* **Connections per uid** (``max_per_uid``, default 16; uid 0 gets
  ``max_per_root``, default 64, so the group's members cannot lock root
  out): the connection over the limit gets a ``busy`` error and is closed.
  Connections are counted per peer uid from SO_PEERCRED.

Refusals of change requests (an unprivileged ``drain``...) are audited
through the API's ``refused`` hook: who (the claimed name, uid, pid), op and
why.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import os
import socket
import struct
from typing import Any, Protocol

from vipdeck.engine.control.limits import RateLimit
from vipdeck.engine.control.schema import ALL_OPS, CHANGE_OPS, ControlError
from vipdeck.engine.events import EventBus

log = logging.getLogger("vipdeck.control")

MAX_REQUEST = 1024 * 1024
DEFAULT_IDLE_TIMEOUT = 60.0
DEFAULT_MAX_PER_UID = 16
DEFAULT_MAX_PER_ROOT = 64


class ControlApi(Protocol):
    bus: EventBus

    async def handle(self, op: str, args: dict[str, Any], uid: int) -> dict: ...

    # optional: def refused(self, op, args, uid, pid, error) -> None  (audit a refusal made here)


def peer_cred(writer: asyncio.StreamWriter) -> tuple[int, int, int]:
    """(pid, uid, gid) of the connected peer, from the kernel."""
    sock = writer.get_extra_info("socket")
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return struct.unpack("3i", creds)


def peer_uid(writer: asyncio.StreamWriter) -> int:
    return peer_cred(writer)[1]


class _Gone(Exception):
    """The client went away or stopped reading: end its connection quietly."""


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def decode_request(line: bytes) -> Any:
    """One request line → the JSON value, or ControlError("bad_request") saying why not."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ControlError("bad_request", f"request is not UTF-8 text: byte 0x{line[exc.start]:02x} "
                                          f"at offset {exc.start}") from None
    try:
        return json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise ControlError("bad_request", f"not JSON: {exc.msg} at column {exc.colno}") from None
    except RecursionError:
        raise ControlError("bad_request", "not JSON we accept: nested too deeply") from None
    except ValueError as exc:
        why = "a number with more than 4300 digits" if "digits" in str(exc) else str(exc)
        raise ControlError("bad_request", f"not JSON we accept: {why}") from None


def parse_envelope(msg: Any) -> tuple[str, dict]:
    """Validate the envelope; return (op, args) or raise ControlError."""
    if not isinstance(msg, dict):
        raise ControlError("bad_request", "request must be a JSON object")
    op = msg.get("op")
    if not isinstance(op, str):
        raise ControlError("bad_request", "field 'op' is missing or not a string")
    if op not in ALL_OPS:
        raise ControlError("unknown_op", f"unknown op {op[:100]!r}")
    args = {k: v for k, v in msg.items() if k not in ("op", "id")}
    return op, args


def forbidden(op: str, uid: int) -> ControlError | None:
    if op in CHANGE_OPS and uid != 0:
        return ControlError("forbidden", f"'{op}' changes the node and is allowed to root only (your uid is {uid})")
    return None


def check_request(msg: Any, uid: int) -> tuple[str, dict]:
    """Envelope and permission; return (op, args) or raise ControlError."""
    op, args = parse_envelope(msg)
    err = forbidden(op, uid)
    if err is not None:
        raise err
    return op, args


class ControlServer:
    def __init__(self, path: str, api: ControlApi, group: int | None = None, *,
                 idle_timeout: float = DEFAULT_IDLE_TIMEOUT, max_per_uid: int = DEFAULT_MAX_PER_UID,
                 max_per_root: int = DEFAULT_MAX_PER_ROOT):
        self.path = path
        self.api = api
        self.group = group
        self.idle_timeout = idle_timeout
        self.max_per_uid = max_per_uid
        self.max_per_root = max_per_root
        self._server: asyncio.base_events.Server | None = None
        self._handlers: dict[asyncio.Task, asyncio.StreamWriter] = {}
        self.connections: collections.Counter[int] = collections.Counter()   # uid -> open connections
        self._log_limit = RateLimit(burst=5, interval=10.0)

    def limit_for(self, uid: int) -> int:
        return self.max_per_root if uid == 0 else self.max_per_uid

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

    # ------------------------------------------------------------------ logging, limited

    def _note(self, key: Any, level: int, msg: str, *args: Any, exc: BaseException | None = None) -> None:
        ok, suppressed = self._log_limit.allow(key)
        if not ok:
            return
        if suppressed:
            msg += f" ({suppressed} similar line(s) suppressed)"
        log.log(level, msg, *args, exc_info=exc)

    # ------------------------------------------------------------------ one connection

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._handlers[task] = writer
        uid: int | None = None
        counted = False
        try:
            try:
                pid, uid, _gid = peer_cred(writer)
            except OSError as exc:
                self._note("peercred", logging.WARNING, "control connection without peer credentials: %s", exc)
                return
            limit = self.limit_for(uid)
            if self.connections[uid] >= limit:
                self._note(("busy", uid), logging.WARNING,
                           "control connection from uid %d (pid %d) refused: %d open, limit %d",
                           uid, pid, self.connections[uid], limit)
                await self._reply(writer, None, error=ControlError(
                    "busy", f"too many connections from uid {uid} (limit {limit}); close some and retry"))
                return
            self.connections[uid] += 1
            counted = True
            await self._serve(reader, writer, uid, pid)
        except _Gone as exc:
            if str(exc) == "not reading":
                self._note(("gone", uid), logging.INFO, "control connection from uid %s dropped: it did not read "
                           "what was sent for %g s", uid, self.idle_timeout)
        except (ConnectionError, asyncio.CancelledError):
            pass  # client gone, or the server is stopping
        finally:
            if counted:
                self.connections[uid] -= 1
                if self.connections[uid] <= 0:
                    del self.connections[uid]
            self._handlers.pop(task, None)
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, uid: int, pid: int) -> None:
        while True:
            try:
                line = await asyncio.wait_for(reader.readline(), self.idle_timeout)
            except asyncio.TimeoutError:
                await self._reply(writer, None, error=ControlError(
                    "timeout", f"no complete request within {self.idle_timeout:g} s: closing the connection"))
                return
            except (ValueError, asyncio.LimitOverrunError):
                self._note(("bad", uid), logging.WARNING, "control request from uid %d (pid %d): line over %d bytes",
                           uid, pid, MAX_REQUEST)
                await self._reply(writer, None, error=ControlError("bad_request", "request line too long"))
                return
            if not line:
                return
            req_id = None
            try:
                msg = decode_request(line)
                req_id = msg.get("id") if isinstance(msg, dict) else None
                op, args = parse_envelope(msg)
                err = forbidden(op, uid)
                if err is not None:
                    refused = getattr(self.api, "refused", None)
                    if refused is not None:
                        refused(op, args, uid=uid, pid=pid, error=err)
                    raise err
                if op == "events" and args.get("follow"):
                    await self._follow(reader, writer, req_id, args)
                    return
                result = await self.api.handle(op, args, uid)
                await self._reply(writer, req_id, result=result)
            except ControlError as exc:
                if exc.code in ("bad_request", "unknown_op"):
                    self._note(("bad", uid), logging.INFO, "control request from uid %d (pid %d) refused: %s",
                               uid, pid, exc.message)
                await self._reply(writer, req_id, error=exc)
            except _Gone:
                raise
            except Exception as exc:  # a bug in a handler must not kill the daemon (nor flood its log)
                self._note("internal", logging.ERROR, "control request failed", exc=exc)
                await self._reply(writer, req_id, error=ControlError("internal", f"internal error: {exc}"))

    async def _reply(self, writer, req_id, result=None, error: ControlError | None = None) -> None:
        msg: dict[str, Any] = {"id": req_id if isinstance(req_id, (int, str)) or req_id is None else None,
                               "ok": error is None}
        if error is None:
            msg["result"] = result
        else:
            msg["error"] = error.to_dict()
        writer.write(json.dumps(msg, default=str).encode() + b"\n")
        await self._drain(writer)

    async def _drain(self, writer: asyncio.StreamWriter) -> None:
        """Wait for the client to take what we wrote; one that does not within
        the idle timeout, or has gone, is dropped."""
        try:
            await asyncio.wait_for(writer.drain(), self.idle_timeout)
        except asyncio.TimeoutError:
            raise _Gone("not reading") from None
        except ConnectionError as exc:
            raise _Gone(str(exc)) from None

    async def _follow(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, req_id: Any,
                      args: dict) -> None:
        bus = self.api.bus
        me = asyncio.current_task()

        async def until_eof() -> None:
            # the client sends nothing more; its EOF (or reset) ends the stream at once
            try:
                while await reader.read(65536):
                    pass
            except (ConnectionError, OSError):
                pass
            me.cancel()

        watcher = asyncio.get_running_loop().create_task(until_eof(), name="control follower EOF")
        try:
            since = args.get("since") or 0
            if not isinstance(since, int) or isinstance(since, bool):
                raise ControlError("bad_request", "field 'since' must be an integer")
            with bus.follow(since) as f:
                await self._reply(writer, req_id, result={"events": f.backlog, "last": bus.last_seq})
                async for ev in f:
                    writer.write(json.dumps({"event": ev}, default=str).encode() + b"\n")
                    await self._drain(writer)
        finally:
            watcher.cancel()
