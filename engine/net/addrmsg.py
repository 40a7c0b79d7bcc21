"""Adding and removing one address over rtnetlink, at the cost of a syscall.

pyroute2 (engine/net/rtnl.py) stays the daemon's netlink library for dumps,
links and events; only the two requests a takeover makes per VIP come here.
Through pyroute2's request machinery an address add cost about 390 us of CPU
(measured in a namespace: 255 adds on one interface), so 255 VRIDs taking
over at once spent ~100 ms on their VIPs and the last of them advertised
25-35 ms after Master_Down_Interval (keepalived: under 5 ms).  The same
request as bytes on a socket of our own costs about 25 us, most of it the
kernel's (issue 13).

The messages are what pyroute2's ``addr("add" | "del", ...)`` sends
(pyroute2/requests/address.py): an ``ifaddrmsg`` with the family, prefix
length, scope and interface; IFA_LOCAL and IFA_ADDRESS for IPv4, IFA_ADDRESS
for IPv6; IFA_LABEL, IFA_BROADCAST and IFA_FLAGS when given.  A VIP's bytes
are made once and kept; each request stamps its own sequence number.

rtnetlink handles a request inside the sender's ``send`` (under the rtnl
lock), so the acknowledgement is already queued when ``send`` returns and
is read at once; a reply that is not there yet is awaited on the loop.
"""

from __future__ import annotations

import asyncio
import ctypes
import errno
import itertools
import os
import socket
import struct
import threading
from functools import lru_cache

RTM_NEWADDR = 20
RTM_DELADDR = 21
NLMSG_ERROR = 2
NLM_F_REQUEST = 0x01
NLM_F_ACK = 0x04
NLM_F_EXCL = 0x200
NLM_F_CREATE = 0x400
IFA_ADDRESS = 1
IFA_LOCAL = 2
IFA_LABEL = 3
IFA_BROADCAST = 4
IFA_FLAGS = 8

_HDR = struct.Struct("=IHHII")          # nlmsghdr: length, type, flags, sequence, port id
_IFADDR = struct.Struct("=BBBBI")       # ifaddrmsg: family, prefixlen, flags, scope, index
_ERR = struct.Struct("=i")              # nlmsgerr: error (0: the acknowledgement)


def _attr(kind: int, payload: bytes) -> bytes:
    n = 4 + len(payload)
    return struct.pack("=HH", n, kind) + payload + b"\0" * (-n % 4)


@lru_cache(maxsize=4096)
def encode(add: bool, family: int, address: str, prefixlen: int, index: int, scope: int = 0,
           label: str | None = None, broadcast: str | None = None, flags: int = 0) -> bytes:
    """One RTM_NEWADDR (``add``: create, exclusive, so a second add is EEXIST)
    or RTM_DELADDR request, sequence number 0."""
    packed = socket.inet_pton(family, address)
    body = _IFADDR.pack(family, prefixlen, 0, scope, index)
    if family == socket.AF_INET:
        body += _attr(IFA_LOCAL, packed)
    body += _attr(IFA_ADDRESS, packed)
    if label:
        body += _attr(IFA_LABEL, label.encode() + b"\0")
    if broadcast:
        body += _attr(IFA_BROADCAST, socket.inet_pton(socket.AF_INET, broadcast))
    if flags:
        body += _attr(IFA_FLAGS, struct.pack("=I", flags))
    kind, nl_flags = (RTM_NEWADDR, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL) if add \
        else (RTM_DELADDR, NLM_F_REQUEST | NLM_F_ACK)
    return _HDR.pack(_HDR.size + len(body), kind, nl_flags, 0, 0) + body


def answer(data: bytes, seq: int) -> int | None:
    """The errno the kernel answered request ``seq`` with (0: done), or None
    when ``data`` holds no answer to it."""
    off = 0
    while off + _HDR.size <= len(data):
        length, kind, _, got, _ = _HDR.unpack_from(data, off)
        if length < _HDR.size:
            break
        if kind == NLMSG_ERROR and got == seq and off + _HDR.size + _ERR.size <= len(data):
            return -_ERR.unpack_from(data, off + _HDR.size)[0]
        off += (length + 3) & ~3
    return None


CLONE_NEWNET = 0x40000000


def _socket() -> socket.socket:
    return socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, socket.NETLINK_ROUTE)


def _socket_in(netns: str) -> socket.socket:
    """A socket made inside the named namespace (``ip netns``'s /run/netns/NAME),
    by a short-lived thread that enters it: setns moves only the calling thread.
    (pyroute2's netns.create_socket forks a helper instead: in a full test run
    its wait for the helper never returned, seen with py-spy; a child forked
    from a process with other threads may block on a lock one of them held.)"""
    out: dict = {}

    def make() -> None:
        try:
            fd = os.open(f"/run/netns/{netns}", os.O_RDONLY | os.O_CLOEXEC)
            try:
                libc = ctypes.CDLL(None, use_errno=True)
                if libc.setns(fd, CLONE_NEWNET) != 0:
                    code = ctypes.get_errno()
                    raise OSError(code, f"entering network namespace {netns}: {os.strerror(code)}")
            finally:
                os.close(fd)
            out["sock"] = _socket()
        except BaseException as exc:  # handed to the caller
            out["error"] = exc

    t = threading.Thread(target=make, name=f"netns {netns}", daemon=True)
    t.start()
    t.join()
    if "error" in out:
        raise out["error"]
    return out["sock"]


class AddrSocket:
    """A NETLINK_ROUTE socket in ``netns`` (a named namespace; None: ours),
    for ``request``; opened on first use."""

    def __init__(self, netns: str | None = None) -> None:
        self.netns = netns
        self._sock: socket.socket | None = None
        self._seq = itertools.count(1)
        self._lock = asyncio.Lock()     # a reply awaited on the loop: the next request waits for it

    def _open(self) -> socket.socket:
        s = _socket() if self.netns is None else _socket_in(self.netns)
        s.setblocking(False)
        s.bind((0, 0))
        self._sock = s
        return s

    async def request(self, message: bytes, timeout: float = 5.0) -> int:
        """Send ``message`` (from ``encode``) and return the kernel's errno (0: done)."""
        async with self._lock:
            s = self._sock or self._open()
            seq = next(self._seq) & 0xFFFFFFFF
            buf = bytearray(message)
            struct.pack_into("=I", buf, 8, seq)
            s.send(buf)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            while True:
                try:
                    data = s.recv(65536)
                except BlockingIOError:
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        raise OSError(errno.ETIMEDOUT, "no answer from rtnetlink") from None
                    data = await asyncio.wait_for(loop.sock_recv(s, 65536), remaining)
                code = answer(data, seq)
                if code is not None:
                    return code

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
