"""Plain values for IPVS state: what we want in the kernel and what it holds.

The same classes describe both sides so the reconciler can compare them field
by field; runtime-only data (connection counters, statistics) lives in the
``*Status`` wrappers and never takes part in a comparison.  Values are
validated and normalised on construction (addresses in canonical text form,
scheduler flags sorted) so that two descriptions of the same thing compare
equal no matter how they were spelt.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field, replace
from typing import Iterable

PROTOCOLS = ("TCP", "UDP", "SCTP")
# kernel forwarding methods (IP_VS_CONN_F_*) and how ipvsadm prints them
FORWARD_CODES = {"masq": 0, "local": 1, "tunnel": 2, "route": 3, "bypass": 4}
FORWARD_NAMES = {v: k for k, v in FORWARD_CODES.items()}
FORWARD_LABELS = {"masq": "Masq", "local": "Local", "tunnel": "Tunnel", "route": "Route"}
TUNNEL_TYPES = {"ipip": 0, "gue": 1, "gre": 2}
# IP_VS_TUNNEL_ENCAP_FLAG_* (a value, not a bit set: remcsum is 2 alone) and ipvsadm's --tun-info text
TUNNEL_CSUM = {"nocsum": 0, "csum": 1, "remcsum": 2}
TUNNEL_CSUM_LABELS = {0: "-c", 1: "+c", 2: "r+c"}
# IP_VS_STATE_*: the connection sync daemons, and the kernel's defaults for what is left unset
SYNC_STATES = {"master": 1, "backup": 2}
SYNC_DEFAULT_GROUP = "224.0.0.81"
SYNC_DEFAULT_PORT = 8848
SYNC_DEFAULT_TTL = 1
SCHED_FLAGS = ("flag-1", "flag-2", "flag-3")
# scheduler-specific aliases ipvsadm accepts and prints for the three flags
SCHED_FLAG_ALIASES = {
    "sh-fallback": "flag-1", "sh-port": "flag-2",
    "mh-fallback": "flag-1", "mh-port": "flag-2",
}


class ModelError(ValueError):
    """A field has a value the kernel cannot take; the message names the field."""


def _addr(value: str, what: str) -> tuple[str, int]:
    try:
        ip = ipaddress.ip_address(str(value).strip("[]"))
    except ValueError:
        raise ModelError(f"{what}: {value!r} is not an IP address") from None
    return str(ip), ip.version


def _port(value: int, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 65535:
        raise ModelError(f"{what}: {value!r} is not a port number (0-65535)")
    return value


def _u32(value: int, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 0xFFFFFFFF:
        raise ModelError(f"{what}: {value!r} is out of range (0-4294967295)")
    return value


@dataclass(frozen=True, order=True)
class ServiceKey:
    """Identity of a virtual service: (protocol, address, port) or a fwmark.

    ``family`` is 4 or 6; for address services it follows the address, for
    fwmark services it is part of the key (``FWM 5`` and ``FWM 5 IPv6`` are two
    services).  Use :meth:`of` and :meth:`fwm` rather than the constructor.
    """

    protocol: str = ""      # TCP / UDP / SCTP; "" for a fwmark service
    address: str = ""       # "" for a fwmark service
    port: int = 0
    fwmark: int = 0
    family: int = 4

    def __post_init__(self) -> None:
        if self.fwmark:
            _u32(self.fwmark, "fwmark")
            if self.protocol or self.address or self.port:
                raise ModelError("fwmark: a fwmark service has no protocol, address or port")
            if self.family not in (4, 6):
                raise ModelError(f"family: {self.family!r} is not 4 or 6")
            return
        if self.protocol not in PROTOCOLS:
            raise ModelError(f"protocol: {self.protocol!r} is not one of {', '.join(PROTOCOLS)}")
        addr, family = _addr(self.address, "address")
        object.__setattr__(self, "address", addr)
        object.__setattr__(self, "family", family)
        _port(self.port, "port")

    @classmethod
    def of(cls, protocol: str, address: str, port: int) -> "ServiceKey":
        return cls(protocol=str(protocol).upper(), address=address, port=port)

    @classmethod
    def fwm(cls, mark: int, family: int = 4) -> "ServiceKey":
        if not isinstance(mark, int) or mark <= 0:
            raise ModelError(f"fwmark: {mark!r} must be a positive integer")
        return cls(fwmark=mark, family=family)

    @property
    def is_fwmark(self) -> bool:
        return self.fwmark != 0

    def __str__(self) -> str:
        if self.fwmark:
            return f"FWM {self.fwmark}" + (" IPv6" if self.family == 6 else "")
        host = f"[{self.address}]" if self.family == 6 else self.address
        return f"{self.protocol} {host}:{self.port}"


@dataclass(frozen=True, order=True)
class DestKey:
    """Identity of a real server inside one service."""

    address: str
    port: int

    def __post_init__(self) -> None:
        addr, _ = _addr(self.address, "dest address")
        object.__setattr__(self, "address", addr)
        _port(self.port, "dest port")

    def __str__(self) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{host}:{self.port}"


@dataclass(frozen=True)
class Service:
    """A virtual service's own settings (its real servers are separate).

    ``persistence_netmask`` is a dotted IPv4 mask or, for IPv6, a prefix
    length as text; ``None`` means the kernel default (/32, /128).
    """

    key: ServiceKey
    scheduler: str = "wlc"
    persistence_timeout: int | None = None      # seconds; None: not persistent
    persistence_netmask: str | None = None
    one_packet: bool = False
    sched_flags: tuple[str, ...] = ()           # flag-1 / flag-2 / flag-3 (aliases accepted)
    pe_name: str = ""                           # persistence engine, e.g. "sip"

    def __post_init__(self) -> None:
        if not isinstance(self.key, ServiceKey):
            raise ModelError(f"key: expected a ServiceKey, got {self.key!r}")
        if not self.scheduler or not str(self.scheduler).isascii() or len(self.scheduler) > 15:
            raise ModelError(f"scheduler: {self.scheduler!r} is not a scheduler name")
        if self.persistence_timeout is not None:
            _u32(self.persistence_timeout, "persistence_timeout")
            if self.persistence_timeout == 0:
                raise ModelError("persistence_timeout: must be at least 1 second")
        flags = []
        for f in self.sched_flags:
            name = SCHED_FLAG_ALIASES.get(f, f)
            if name not in SCHED_FLAGS:
                raise ModelError(f"sched_flags: unknown flag {f!r}")
            flags.append(name)
        object.__setattr__(self, "sched_flags", tuple(sorted(set(flags))))
        object.__setattr__(self, "persistence_netmask", self._netmask())
        if len(self.pe_name) > 15:
            raise ModelError(f"pe_name: {self.pe_name!r} is too long")

    def _netmask(self) -> str | None:
        m = self.persistence_netmask
        if m is None:
            return None
        if self.key.family == 6:
            try:
                n = int(str(m).lstrip("/"))
            except ValueError:
                raise ModelError(f"persistence_netmask: {m!r} is not an IPv6 prefix length") from None
            if not 1 <= n <= 128:
                raise ModelError(f"persistence_netmask: {m!r} is not an IPv6 prefix length (1-128)")
            return None if n == 128 else str(n)
        try:
            net = ipaddress.IPv4Network(f"0.0.0.0/{str(m).lstrip('/')}")
        except ValueError:
            raise ModelError(f"persistence_netmask: {m!r} is not an IPv4 netmask") from None
        mask = str(net.netmask)
        return None if mask == "255.255.255.255" else mask

    @property
    def persistent(self) -> bool:
        return self.persistence_timeout is not None


@dataclass(frozen=True)
class Dest:
    """A real server's settings.  ``forward`` is masq / route / tunnel (or local)."""

    address: str
    port: int
    weight: int = 1
    forward: str = "route"
    u_threshold: int = 0
    l_threshold: int = 0
    tunnel_type: str = "ipip"
    tunnel_port: int = 0
    tunnel_flags: int = 0

    def __post_init__(self) -> None:
        addr, _ = _addr(self.address, "dest address")
        object.__setattr__(self, "address", addr)
        _port(self.port, "dest port")
        if not isinstance(self.weight, int) or isinstance(self.weight, bool) or not 0 <= self.weight <= 0x7FFFFFFF:
            raise ModelError(f"weight: {self.weight!r} is out of range (0-2147483647)")
        if self.forward not in FORWARD_CODES:
            raise ModelError(f"forward: {self.forward!r} is not one of masq, route, tunnel, local")
        _u32(self.u_threshold, "u_threshold")
        _u32(self.l_threshold, "l_threshold")
        if self.tunnel_type not in TUNNEL_TYPES:
            raise ModelError(f"tunnel_type: {self.tunnel_type!r} is not one of {', '.join(TUNNEL_TYPES)}")
        _port(self.tunnel_port, "tunnel_port")

    @property
    def key(self) -> DestKey:
        return DestKey(self.address, self.port)

    @property
    def family(self) -> int:
        return 6 if ":" in self.address else 4


@dataclass(frozen=True)
class VirtualService:
    """A service with its real servers: one unit of desired state."""

    service: Service
    dests: tuple[Dest, ...] = ()

    def __post_init__(self) -> None:
        dests = tuple(self.dests)
        seen: set[DestKey] = set()
        for d in dests:
            if d.key in seen:
                raise ModelError(f"dests: {d.key} appears twice in {self.service.key}")
            seen.add(d.key)
        object.__setattr__(self, "dests", dests)

    @property
    def key(self) -> ServiceKey:
        return self.service.key


@dataclass(frozen=True)
class Stats:
    """Kernel counters (totals) and rate estimates (per second)."""

    conns: int = 0
    inpkts: int = 0
    outpkts: int = 0
    inbytes: int = 0
    outbytes: int = 0
    cps: int = 0
    inpps: int = 0
    outpps: int = 0
    inbps: int = 0
    outbps: int = 0


@dataclass(frozen=True)
class DestStatus:
    dest: Dest
    active_conns: int = 0
    inactive_conns: int = 0
    persist_conns: int = 0
    stats: Stats = field(default_factory=Stats)

    @property
    def key(self) -> DestKey:
        return self.dest.key


@dataclass(frozen=True)
class ServiceStatus:
    service: Service
    dests: tuple[DestStatus, ...] = ()
    stats: Stats = field(default_factory=Stats)

    @property
    def key(self) -> ServiceKey:
        return self.service.key

    def virtual_service(self) -> VirtualService:
        return VirtualService(self.service, tuple(d.dest for d in self.dests))


@dataclass(frozen=True)
class Snapshot:
    """Everything one dump of the kernel returned (one network namespace)."""

    services: tuple[ServiceStatus, ...] = ()
    version: str = "1.2.1"
    conn_tab_size: int = 4096

    def virtual_services(self) -> tuple[VirtualService, ...]:
        return tuple(s.virtual_service() for s in self.services)

    def find(self, key: ServiceKey) -> ServiceStatus | None:
        for s in self.services:
            if s.key == key:
                return s
        return None


@dataclass(frozen=True)
class SyncDaemon:
    """One kernel connection-sync daemon (``ipvsadm --start-daemon``).

    The kernel runs at most one master and one backup per network namespace.
    ``maxlen``, ``group``, ``port`` and ``ttl`` at 0 / "" mean the kernel's
    default (maxlen from the interface MTU, 224.0.0.81, 8848, 1); what the
    kernel reports back has them filled in.
    """

    state: str                      # master / backup
    interface: str
    syncid: int = 0
    maxlen: int = 0
    group: str = ""
    port: int = 0
    ttl: int = 0

    def __post_init__(self) -> None:
        if self.state not in SYNC_STATES:
            raise ModelError(f"state: {self.state!r} is not master or backup")
        if not self.interface or len(self.interface) > 15 or not self.interface.isprintable():
            raise ModelError(f"interface: {self.interface!r} is not an interface name (1-15 characters)")
        if not isinstance(self.syncid, int) or not 0 <= self.syncid <= 255:
            raise ModelError(f"syncid: {self.syncid!r} is out of range (0-255)")
        if not isinstance(self.maxlen, int) or not 0 <= self.maxlen <= 65535 - 28:
            raise ModelError(f"maxlen: {self.maxlen!r} is out of range (1-65507)")
        _port(self.port, "port")
        if not isinstance(self.ttl, int) or not 0 <= self.ttl <= 255:
            raise ModelError(f"ttl: {self.ttl!r} is out of range (1-255)")
        if self.group:
            addr, _ = _addr(self.group, "group")
            if not ipaddress.ip_address(addr).is_multicast:
                raise ModelError(f"group: {self.group!r} is not a multicast address")
            object.__setattr__(self, "group", addr)


@dataclass(frozen=True)
class Timeouts:
    """IPVS connection timeouts in seconds (``ipvsadm --set``); 0 leaves one unchanged."""

    tcp: int = 0
    tcpfin: int = 0
    udp: int = 0

    def __post_init__(self) -> None:
        for name in ("tcp", "tcpfin", "udp"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= 0x7FFFFFFF:
                raise ModelError(f"{name} timeout: {v!r} is out of range")


def with_weight(dest: Dest, weight: int) -> Dest:
    """The same destination (forwarding method included) with another weight."""
    return replace(dest, weight=weight)


def index(services: Iterable[VirtualService]) -> dict[ServiceKey, VirtualService]:
    """Services by key; a key given twice is a mistake in the caller's mapping."""
    out: dict[ServiceKey, VirtualService] = {}
    for vs in services:
        if vs.key in out:
            raise ModelError(f"service {vs.key} appears twice")
        out[vs.key] = vs
    return out
