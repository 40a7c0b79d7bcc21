"""The one client interface the console (and the CLI) use to reach an engine.

Two implementations with identical behaviour: ``SocketClient`` talks to a
daemon over its Unix control socket, ``EmbeddedClient`` calls an in-process
``ControlApi`` directly.  Both return the plain dicts described in
``engine.control.schema`` and raise ``ControlError`` for refusals.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import json
import os
import shlex
from dataclasses import dataclass
from typing import Any, AsyncIterator, Protocol, Sequence
from urllib.parse import urlsplit

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

    async def _closed(self, reader) -> str:
        """Why the connection ended before its first reply (ssh says its own words)."""
        return "daemon closed the connection"

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
            line = await reader.readline()
            if not line:
                raise ControlError("unavailable", await self._closed(reader))
            first = json.loads(line)
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


# --- peers: a socket path or ssh://[user@]host[:port][/path/to/control.sock] ---------------

DEFAULT_REMOTE_COMMAND = "vipdeck"


@dataclass(frozen=True)
class Address:
    """Where a node's control socket is: local (``path``) or behind ssh
    (``host`` with optional ``user``, ``port``; ``path`` None: the peer's default)."""

    text: str
    path: str | None
    host: str | None = None
    user: str | None = None
    port: int | None = None

    @property
    def is_ssh(self) -> bool:
        return self.host is not None


def parse_address(text: str) -> Address:
    """A peer as the operator writes it; ValueError with the reason otherwise."""
    text = text.strip()
    if not text:
        raise ValueError("empty peer address")
    if "://" not in text:
        return Address(text, text)
    parts = urlsplit(text)
    if parts.scheme != "ssh":
        raise ValueError(f"{text!r}: only ssh:// addresses or socket paths are understood")
    if not parts.hostname:
        raise ValueError(f"{text!r}: no host after ssh://")
    if parts.password is not None:
        raise ValueError(f"{text!r}: no passwords in addresses (ssh uses its keys and agent)")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"{text!r}: the port is not a number from 1 to 65535") from None
    if parts.query or parts.fragment:
        raise ValueError(f"{text!r}: unexpected ? or # in the address")
    return Address(text, parts.path or None, parts.hostname, parts.username, port)


def ssh_command(address: Address, *, ssh: Sequence[str] = ("ssh",), options: Sequence[str] = (),
                remote_command: str = DEFAULT_REMOTE_COMMAND) -> list[str]:
    """The OpenSSH command that reaches ``address``'s control socket through
    ``vipdeck proxy`` there.  BatchMode: a console owns the terminal, so ssh
    must fail (and say why) rather than ask for a password or a host key."""
    cmd = [*ssh, "-T", "-o", "BatchMode=yes", *options]
    if address.port is not None:
        cmd += ["-p", str(address.port)]
    target = f"{address.user}@{address.host}" if address.user else str(address.host)   # ssh takes IPv6 bare
    remote = f"{remote_command} proxy"
    if address.path:
        remote += f" --socket {shlex.quote(address.path)}"
    return [*cmd, "--", target, remote]


class _ProcessWriter:
    """The writing half of an ssh connection: closing it ends the process."""

    def __init__(self, proc: asyncio.subprocess.Process):
        self.proc = proc

    def write(self, data: bytes) -> None:
        self.proc.stdin.write(data)

    async def drain(self) -> None:
        try:
            await self.proc.stdin.drain()
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise EOFError(f"ssh connection lost: {exc}") from None

    def close(self) -> None:
        if self.proc.stdin is not None and not self.proc.stdin.is_closing():
            self.proc.stdin.close()
        if self.proc.returncode is None:
            try:
                self.proc.terminate()
            except ProcessLookupError:
                pass


class SshClient(SocketClient):
    """A daemon's control socket on another host, through ``ssh HOST vipdeck
    proxy``: OpenSSH does the authentication (keys, agent, known_hosts,
    ProxyJump from ~/.ssh/config) and the peer's socket permissions apply to
    the ssh user.  Requests share one long-lived connection (an ssh start per
    snapshot would cost more than the snapshot); ``follow`` opens its own."""

    def __init__(self, address: Address | str, who: str | None = None, *, ssh: Sequence[str] = ("ssh",),
                 options: Sequence[str] = (), remote_command: str = DEFAULT_REMOTE_COMMAND):
        self.address = parse_address(address) if isinstance(address, str) else address
        if not self.address.is_ssh:
            raise ValueError(f"{self.address.text!r} is not an ssh:// address")
        super().__init__(self.address.text, who)
        self.command = ssh_command(self.address, ssh=ssh, options=options, remote_command=remote_command)
        self._conn: tuple[asyncio.StreamReader, _ProcessWriter] | None = None
        self._lock: asyncio.Lock | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._procs: set[asyncio.subprocess.Process] = set()

    async def _open(self):
        try:
            proc = await asyncio.create_subprocess_exec(
                *self.command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE, limit=MAX_LINE, start_new_session=True)
        except OSError as exc:
            raise ControlError("unavailable", f"cannot run {self.command[0]}: {exc}") from None
        self._procs = {p for p in self._procs if p.returncode is None}
        self._procs.add(proc)
        reader = _SshReader(proc, self.address.host)
        return reader, _ProcessWriter(proc)

    def _serial(self) -> asyncio.Lock:
        """One request at a time on the shared connection, per event loop (the
        command line checks a peer in one ``asyncio.run`` and the console runs
        in another: a connection never outlives its loop, see ``close``)."""
        loop = asyncio.get_running_loop()
        if self._lock is None or self._loop is not loop:
            self._lock, self._loop, self._conn = asyncio.Lock(), loop, None
        return self._lock

    async def request(self, op: str, **args: Any) -> dict:
        async with self._serial():
            for attempt in (0, 1):
                if self._conn is not None and self._conn[1].proc.returncode is not None:
                    self._drop()        # ssh ended since (the peer closed the idle connection)
                if self._conn is None:
                    self._conn = await self._open()
                reader, writer = self._conn
                msg = {"id": next(self._ids), "op": op, "who": self.who, **args}
                try:
                    writer.write(json.dumps(msg).encode() + b"\n")
                    await writer.drain()
                    line = await reader.readline()
                except ControlError:
                    self._drop()
                    raise
                except (OSError, EOFError) as exc:
                    line, error = b"", str(exc)
                else:
                    error = None
                if not line:
                    # a connection that served requests before was closed idle, before this
                    # request was read (the daemon closes only between requests): once more, anew
                    self._drop()
                    if attempt == 0 and reader.used:
                        continue
                    raise ControlError("unavailable", await reader.why(error))
                reader.used = True
                reply = json.loads(line)
                if not reply.get("ok"):
                    err = reply.get("error") or {}
                    raise ControlError(err.get("code", "error"), err.get("message", "request failed"))
                return reply.get("result") or {}
        raise AssertionError("unreachable")

    async def _closed(self, reader) -> str:
        return await reader.why()

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn[1].close()
            self._conn = None

    async def close(self) -> None:
        self._drop()
        for proc in list(self._procs):
            if proc.returncode is None:
                try:
                    proc.terminate()
                except ProcessLookupError:
                    pass
            try:
                await asyncio.wait_for(proc.wait(), 2.0)
            except asyncio.TimeoutError:
                proc.kill()
                await proc.wait()
            self._procs.discard(proc)


class _SshReader:
    """The reading half of an ssh connection; at its end, ssh's own words
    (its stderr: "Permission denied (publickey)", the proxy's error) say why.
    Its stderr is read all along (the last lines kept), so a chatty ssh can
    never fill the pipe and stall."""

    def __init__(self, proc: asyncio.subprocess.Process, host: str | None):
        self.proc, self.host = proc, host
        self.used = False
        self.said: collections.deque[str] = collections.deque(maxlen=8)
        self._stderr = asyncio.get_running_loop().create_task(self._read_stderr())

    async def _read_stderr(self) -> None:
        while True:
            line = await self.proc.stderr.readline()
            if not line:
                return
            text = line.decode(errors="replace").strip()
            if text:
                self.said.append(text)

    async def readline(self) -> bytes:
        line = await self.proc.stdout.readline()
        if not line and self.proc.returncode is None:
            try:
                await asyncio.wait_for(self.proc.wait(), 2.0)
            except asyncio.TimeoutError:
                pass
        return line

    async def why(self, error: str | None = None) -> str:
        try:
            await asyncio.wait_for(asyncio.shield(self._stderr), 1.0)
        except asyncio.TimeoutError:
            pass
        said = self.said[-1] if self.said else (error or f"connection closed (ssh exit {self.proc.returncode})")
        return f"ssh {self.host}: {said}"


def client_for(address: str, who: str | None = None, **ssh: Any) -> Client:
    """The client for a peer address: a socket path or ssh://...  (``ssh``:
    SshClient's ``ssh``, ``options`` and ``remote_command``)."""
    addr = parse_address(address)
    if addr.is_ssh:
        return SshClient(addr, who, **ssh)
    return SocketClient(addr.path or address, who)
