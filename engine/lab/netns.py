"""Network-namespace labs built with iproute2.

Shape of a lab::

    <prefix>-br      namespace holding bridge ``br0`` (multicast snooping off,
                     so non-link-local groups like 224.1.101.33 are flooded)
    <prefix>-<node>  one namespace per node; its ``eth0`` is a veth whose peer
                     is a port of ``br0``

Nothing is created in the root namespace: veth pairs are created inside the
bridge namespace with their peer placed straight into the node namespace.
Addresses must come from 198.18.0.0/15 or 2001:db8::/32; ``add_node`` refuses
anything else so a typo cannot send lab traffic to a real network.
"""

from __future__ import annotations

import ctypes
import ipaddress
import os
import secrets
import signal
import socket
import subprocess
import threading
from dataclasses import dataclass, field

LAB_NET4 = ipaddress.ip_network("198.18.0.0/15")
LAB_NET6 = ipaddress.ip_network("2001:db8::/32")
CLONE_NEWNET = 0x40000000


def run_prefix() -> str:
    """A short per-run prefix: 'vd' + 4 hex chars (namespace names stay short).

    ``VIPDECK_LAB_PREFIX=abc`` makes it 'abc' + 2 hex chars instead, so runs
    started side by side (benchmarks, several checkouts) are told apart by
    name as well: a clash of two random prefixes would let one run's
    ``Lab.close`` delete the other's namespaces.
    """
    stem = os.environ.get("VIPDECK_LAB_PREFIX", "")
    if stem:
        if not (stem.isascii() and stem.isalnum() and len(stem) <= 6):
            raise ValueError(f"VIPDECK_LAB_PREFIX={stem!r}: up to 6 letters or digits")
        return stem + secrets.token_hex(1)
    return "vd" + secrets.token_hex(2)


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True)


def check_lab_address(addr: str) -> None:
    iface = ipaddress.ip_interface(addr)
    net = LAB_NET4 if iface.version == 4 else LAB_NET6
    if iface.ip not in net:
        raise ValueError(f"{addr}: lab addresses must be inside {net}")


_libc = None


def _setns(fd: int) -> None:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def socket_in_netns(netns: str, family: int, type_: int, proto: int = 0) -> socket.socket:
    """Open a socket inside ``netns`` without moving this process.

    setns() changes only the calling thread's namespace, so the socket is made
    in a short-lived thread; a socket keeps the namespace it was created in.
    """
    result: dict = {}

    def target() -> None:
        try:
            with open(f"/run/netns/{netns}") as f:
                _setns(f.fileno())
            result["sock"] = socket.socket(family, type_, proto)
        except BaseException as exc:  # handed back to the caller
            result["exc"] = exc

    t = threading.Thread(target=target, name=f"setns-{netns}")
    t.start()
    t.join()
    if "exc" in result:
        raise result["exc"]
    return result["sock"]


@dataclass
class Node:
    lab: "Lab"
    name: str
    netns: str
    ifname: str
    addresses: list[str]
    mac: str = ""
    ifindex: int = 0
    procs: list[subprocess.Popen] = field(default_factory=list)

    @property
    def ip(self) -> str:
        """The node's first address without prefix length."""
        return str(ipaddress.ip_interface(self.addresses[0]).ip)

    def cmd(self, *args: str) -> list[str]:
        return ["ip", "netns", "exec", self.netns, *args]

    def run(self, *args: str, check: bool = True, timeout: float = 30, **kw) -> subprocess.CompletedProcess:
        kw.setdefault("capture_output", True)
        kw.setdefault("text", True)
        return subprocess.run(self.cmd(*args), check=check, timeout=timeout, **kw)

    def popen(self, *args: str, **kw) -> subprocess.Popen:
        """Start a process in this node; ``Lab.close`` kills its whole group."""
        kw.setdefault("start_new_session", True)
        p = subprocess.Popen(self.cmd(*args), **kw)
        self.procs.append(p)
        return p

    def addresses_on(self, ifname: str | None = None) -> list[str]:
        """Addresses the kernel has on the interface, as 'addr/prefix'."""
        import json

        out = self.run("ip", "-j", "addr", "show", "dev", ifname or self.ifname).stdout
        return [f"{a['local']}/{a['prefixlen']}" for link in json.loads(out) for a in link.get("addr_info", [])]

    def has_address(self, addr: str, ifname: str | None = None) -> bool:
        ip = str(ipaddress.ip_interface(addr).ip)
        return any(a.split("/")[0] == ip for a in self.addresses_on(ifname))

    def link_set(self, state: str, ifname: str | None = None) -> None:
        self.run("ip", "link", "set", ifname or self.ifname, state)

    def socket(self, family: int, type_: int, proto: int = 0) -> socket.socket:
        return socket_in_netns(self.netns, family, type_, proto)


class Lab:
    """A bridge namespace plus node namespaces; use as a context manager."""

    def __init__(self, prefix: str | None = None):
        self.prefix = prefix or run_prefix()
        self.bridge_ns = f"{self.prefix}-br"
        self.nodes: dict[str, Node] = {}
        self._namespaces: list[str] = []
        self._closers: list = []
        self._port = 0
        self._add_ns(self.bridge_ns)
        _ip("-n", self.bridge_ns, "link", "add", "br0", "type", "bridge",
            "mcast_snooping", "0", "forward_delay", "0")
        _ip("-n", self.bridge_ns, "link", "set", "br0", "up")

    def _add_ns(self, name: str) -> None:
        self._namespaces.append(name)      # first: an interrupted add is still removed by close()
        _ip("netns", "add", name)
        _ip("-n", name, "link", "set", "lo", "up")

    def add_node(self, name: str, addresses: list[str] | str, ifname: str = "eth0",
                 mac: str | None = None) -> Node:
        if isinstance(addresses, str):
            addresses = [addresses]
        for a in addresses:
            check_lab_address(a)
        ns = f"{self.prefix}-{name}"
        self._add_ns(ns)
        node = Node(self, name, ns, ifname, list(addresses))
        self._plug(node, mac)
        self.nodes[name] = node
        return node

    def _plug(self, node: Node, mac: str | None = None) -> None:
        """A new veth pair from the bridge to ``node``, addressed and up."""
        ns, ifname = node.netns, node.ifname
        self._port += 1
        port = f"p{self._port}"
        _ip("-n", self.bridge_ns, "link", "add", port, "type", "veth", "peer", "name", ifname, "netns", ns)
        if mac:
            _ip("-n", ns, "link", "set", ifname, "address", mac)
        _ip("-n", self.bridge_ns, "link", "set", port, "master", "br0", "up")
        # IPv6 DAD would delay the use of 2001:db8:: addresses by ~1 s
        subprocess.run(["ip", "netns", "exec", ns, "sysctl", "-qw", f"net.ipv6.conf.{ifname}.accept_dad=0"],
                       capture_output=True)
        for a in node.addresses:
            _ip("-n", ns, "addr", "add", a, "dev", ifname)
        _ip("-n", ns, "link", "set", ifname, "up")
        import json

        link = json.loads(_ip("-n", ns, "-j", "link", "show", ifname).stdout)[0]
        node.mac = link.get("address", "")
        node.ifindex = link.get("ifindex", 0)

    def replug(self, node: Node) -> None:
        """Delete the node's interface and make a new one of the same name and
        addresses (a new ifindex and MAC), as an ifdown/ifup of a VLAN or bond does."""
        _ip("-n", node.netns, "link", "del", node.ifname)
        self._plug(node)

    def __getitem__(self, name: str) -> Node:
        return self.nodes[name]

    def on_close(self, fn) -> None:
        """Run ``fn`` first thing in ``close`` (sniffers, servers...)."""
        self._closers.append(fn)

    def close(self) -> None:
        for fn in reversed(self._closers):
            try:
                fn()
            except Exception:
                pass
        self._closers.clear()
        for node in self.nodes.values():
            for p in node.procs:
                _kill_group(p)
        for ns in reversed(self._namespaces):
            # anything still running in the namespace (a daemon's children...)
            pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout.split()
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            _ip("netns", "del", ns, check=False)
        self._namespaces.clear()

    def __enter__(self) -> "Lab":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _kill_group(p: subprocess.Popen) -> None:
    if p.poll() is not None:
        return
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        p.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass
