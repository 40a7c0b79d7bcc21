"""Interface facts read through a socket, so they come from the socket's namespace.

A socket keeps the network namespace it was created in.  Asking the kernel
through that socket (ioctl, or the source a UDP ``connect`` would pick) gives
answers about the namespace the socket lives in, whatever namespace the
calling thread is in.  That keeps the drivers namespace-agnostic: the daemon
runs inside a node's namespace, while tests hand in sockets made inside a lab
namespace from the root namespace.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import socket
import struct
import threading
from typing import Protocol

SIOCGIFADDR = 0x8915
SIOCGIFHWADDR = 0x8927
SIOCGIFINDEX = 0x8933
SIOCGSKNS = 0x894C
CLONE_NEWNET = 0x40000000
IFNAMSIZ = 16
_IFREQ_SIZE = 40


class SocketFactory(Protocol):
    def __call__(self, family: int, type_: int, proto: int = 0, /) -> socket.socket: ...


def default_factory(family: int, type_: int, proto: int = 0) -> socket.socket:
    return socket.socket(family, type_, proto)


def check_ifname(ifname: str) -> bytes:
    """Interface names are at most 15 bytes; anything else is a config error."""
    raw = ifname.encode()
    if not raw or len(raw) >= IFNAMSIZ or b"/" in raw or b"\0" in raw or any(c <= 32 for c in raw):
        raise ValueError(f"interface: {ifname!r} is not a valid interface name")
    return raw


def _ifreq(sock: socket.socket, request: int, ifname: str) -> bytes:
    buf = struct.pack(f"{IFNAMSIZ}s", check_ifname(ifname)).ljust(_IFREQ_SIZE, b"\0")
    return fcntl.ioctl(sock.fileno(), request, buf)


def ifindex(sock: socket.socket, ifname: str) -> int:
    """Index of ``ifname`` in ``sock``'s namespace (socket.if_nametoindex
    would answer for the caller's namespace instead)."""
    return struct.unpack_from("i", _ifreq(sock, SIOCGIFINDEX, ifname), IFNAMSIZ)[0]


def hwaddr(sock: socket.socket, ifname: str) -> bytes:
    """The interface's 6-byte MAC address."""
    res = _ifreq(sock, SIOCGIFHWADDR, ifname)
    return res[IFNAMSIZ + 2:IFNAMSIZ + 8]


def ipv4_address(sock: socket.socket, ifname: str) -> str | None:
    """The primary IPv4 address (the first one labelled exactly ``ifname``;
    VIPs labelled ``eth0:0`` never qualify), or None when there is none."""
    try:
        res = _ifreq(sock, SIOCGIFADDR, ifname)
    except OSError as exc:
        if exc.errno in (errno.EADDRNOTAVAIL, errno.ENODEV):
            return None
        raise
    return socket.inet_ntoa(res[IFNAMSIZ + 4:IFNAMSIZ + 8])


def ipv6_link_local(factory: SocketFactory, ifname: str) -> str | None:
    """The link-local source the kernel would use on ``ifname`` (the source
    RFC 5798 requires for VRRP over IPv6 and RFC 4861 for neighbour adverts).

    A UDP ``connect`` sends nothing; it only runs source selection.
    """
    s = factory(socket.AF_INET6, socket.SOCK_DGRAM, 0)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, check_ifname(ifname))
        idx = ifindex(s, ifname)
        try:
            s.connect(("ff02::1", 9, 0, idx))
        except OSError:
            return None
        addr = s.getsockname()[0].split("%")[0]
        return None if addr == "::" or not addr.lower().startswith("fe80") else addr
    finally:
        s.close()


def read_sysctl(sock: socket.socket, path: str) -> str | None:
    """A sysctl of ``sock``'s namespace, e.g. ``net/ipv6/conf/eth0/forwarding``
    (None when it does not exist).  /proc/sys/net answers for the namespace of
    whoever opens the file, so it is opened where the socket lives."""
    def read() -> str | None:
        try:
            with open(f"/proc/sys/{path}") as f:
                return f.read().strip()
        except OSError:
            return None

    return _in_namespace_of(sock, read)


def _in_namespace_of(sock: socket.socket, fn):  # type: ignore[no-untyped-def]
    """Run ``fn`` in ``sock``'s network namespace (a short-lived thread when it is not ours)."""
    nsfd = fcntl.ioctl(sock.fileno(), SIOCGSKNS)
    try:
        if os.fstat(nsfd).st_ino == os.stat("/proc/thread-self/ns/net").st_ino:
            return fn()
        result: dict = {}

        def target() -> None:
            try:
                _setns(nsfd)
                result["value"] = fn()
            except BaseException as exc:  # handed back to the caller
                result["exc"] = exc

        t = threading.Thread(target=target, name="in-netns")
        t.start()
        t.join()
        if "exc" in result:
            raise result["exc"]
        return result.get("value")
    finally:
        os.close(nsfd)


def sibling_factory(sock: socket.socket) -> SocketFactory:
    """A factory making sockets in the same namespace as ``sock``.

    Lets a driver that was handed one socket (made in a lab namespace, say)
    open the helper sockets it needs next to it.  SIOCGSKNS gives the socket's
    namespace; setns() only moves the calling thread, so when that namespace
    is not ours the socket is made in a short-lived thread.
    """

    def make(family: int, type_: int, proto: int = 0) -> socket.socket:
        return _in_namespace_of(sock, lambda: socket.socket(family, type_, proto))

    return make


_libc: ctypes.CDLL | None = None


def _setns(fd: int) -> None:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
