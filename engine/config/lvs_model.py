"""The LVS half of the model: virtual servers, real servers, their checkers.

Part of the contract of ``engine.config.model`` (which re-exports every name
here, so consumers import from one place); kept apart only so neither half
is a 600-line file.
"""

from __future__ import annotations

import enum
import ipaddress
from dataclasses import dataclass, field

from vipdeck.engine.config.model import Loc, Notify, hostport, where


# --------------------------------------------------------------------------- checkers


@dataclass(frozen=True, kw_only=True)
class Checker:
    """Options every checker shares, already inherited from rs/vs level."""

    kind: str                               # "HTTP_GET", "TCP_CHECK", ...
    connect_ip: str                         # defaults to the real server's address
    connect_port: int | None                # defaults to the real server's port
    bindto: str | None = None
    bind_port: int | None = None
    bind_if: str | None = None
    fwmark: int | None = None
    connect_timeout: float = 5.0
    retry: int = 1
    delay_before_retry: float = 1.0
    delay_loop: float = 60.0
    warmup: float | None = None             # None = up to delay_loop (keepalived)
    alpha: bool = False
    log_all_failures: bool = False
    loc: Loc = where()


@dataclass(frozen=True, kw_only=True)
class HttpUrl:
    path: str = "/"
    digest: str | None = None
    status_codes: tuple[tuple[int, int], ...] = ((200, 299),)   # inclusive ranges
    virtualhost: str | None = None
    regex: str | None = None
    regex_no_match: bool = False
    loc: Loc = where()

    def status_ok(self, code: int) -> bool:
        return any(lo <= code <= hi for lo, hi in self.status_codes)


@dataclass(frozen=True, kw_only=True)
class HttpCheck(Checker):
    """HTTP_GET and SSL_GET (``kind`` tells which)."""

    urls: tuple[HttpUrl, ...] = ()
    virtualhost: str | None = None          # inherited from rs / vs
    http_protocol: str = "1.0"              # "1.0", "1.0C", "1.1"
    enable_sni: bool = False
    tls_compliant: bool = False
    fast_recovery: bool = False


@dataclass(frozen=True, kw_only=True)
class TcpCheck(Checker):
    pass


@dataclass(frozen=True, kw_only=True)
class MiscCheck(Checker):
    misc_path: str = ""
    misc_timeout: float | None = None       # None = delay_loop
    misc_dynamic: bool = False
    user: str | None = None
    group: str | None = None


@dataclass(frozen=True, kw_only=True)
class SmtpCheck(Checker):
    helo_name: str | None = None


@dataclass(frozen=True, kw_only=True)
class DnsCheck(Checker):
    type: str = "SOA"
    name: str = "."


@dataclass(frozen=True, kw_only=True)
class UdpCheck(Checker):
    payload: bytes | None = None
    require_reply: bool = False
    reply_pattern: str | None = None        # hex with x/X wildcards
    min_reply_length: int = 0
    max_reply_length: int = 255


@dataclass(frozen=True, kw_only=True)
class PingCheck(Checker):
    pass


@dataclass(frozen=True, kw_only=True)
class FileCheck(Checker):
    track_file: str = ""
    weight: int = 1
    reverse: bool = False
    dynamic: bool = False


@dataclass(frozen=True, kw_only=True)
class BfdCheck(Checker):
    name: str = ""
    weight: int = 0
    reverse: bool = False


# --------------------------------------------------------------------------- LVS


class Forward(str, enum.Enum):
    """lvs_method; ipvsadm shows Masq / Route / Tunnel."""

    NAT = "NAT"
    DR = "DR"
    TUN = "TUN"


@dataclass(frozen=True, kw_only=True)
class Tunnel:
    """``lvs_method TUN type ipip|gue port N|gre [nocsum|csum|remcsum]``:
    the encapsulation of a tunnelled real server (Linux 5.2+ for GUE,
    5.3+ for GRE and the checksum options).  The default is plain IPIP."""

    type: str = "ipip"                      # ipip / gue / gre
    port: int = 0                           # GUE's UDP port (required for gue, 0 otherwise)
    csum: str = "nocsum"                    # nocsum / csum / remcsum (ipip: nocsum only)


@dataclass(frozen=True, kw_only=True)
class RealServer:
    address: str
    port: int | None
    weight: int = 1
    forward: Forward = Forward.NAT          # inherited from the virtual server
    tunnel: Tunnel | None = None            # forward TUN only; inherited with it
    inhibit_on_failure: bool = False
    notify_up: Notify | None = None
    notify_down: Notify | None = None
    uthreshold: int | None = None
    lthreshold: int | None = None
    smtp_alert: bool = False
    virtualhost: str | None = None
    alpha: bool = False
    checkers: tuple[Checker, ...] = ()
    loc: Loc = where()

    def __str__(self) -> str:
        return hostport(self.address, self.port)


@dataclass(frozen=True, kw_only=True)
class SorryServer:
    address: str
    port: int | None
    forward: Forward = Forward.NAT
    tunnel: Tunnel | None = None
    inhibit: bool = False
    loc: Loc = where()


@dataclass(frozen=True, kw_only=True)
class GroupEntry:
    """One line of a virtual_server_group: an address range + port, or a fwmark."""

    first: str | None = None                # first address of the range
    last: str | None = None                 # last address (== first for one address)
    port: int | None = None
    fwmark: int | None = None
    family: int | None = None
    loc: Loc = where()

    def addresses(self) -> list[str]:
        if self.first is None:
            return []
        a, b = ipaddress.ip_address(self.first), ipaddress.ip_address(self.last or self.first)
        return [str(ipaddress.ip_address(i)) for i in range(int(a), int(b) + 1)]


@dataclass(frozen=True, kw_only=True)
class VirtualServerGroup:
    name: str
    entries: tuple[GroupEntry, ...] = ()
    loc: Loc = where()


@dataclass(frozen=True, kw_only=True)
class VirtualServer:
    """One ``virtual_server`` block: exactly one of address / fwmark / group is set."""

    address: str | None = None
    port: int | None = None
    fwmark: int | None = None
    group: str | None = None
    protocol: str = "TCP"                   # TCP / UDP / SCTP
    scheduler: str = "wlc"                  # lvs_sched / lb_algo
    sched_flags: tuple[str, ...] = ()       # flag-1, sh-port, mh-fallback, ...
    forward: Forward = Forward.NAT          # lvs_method / lb_kind
    tunnel: Tunnel | None = None            # lvs_method TUN's options (None: plain IPIP)
    persistence_timeout: int | None = None  # seconds; None = not persistent
    persistence_granularity: str | None = None
    persistence_engine: str | None = None
    ops: bool = False
    ip_family: int | None = None
    delay_loop: float = 60.0
    ha_suspend: bool = False
    alpha: bool = False
    omega: bool = False
    quorum: int = 1
    hysteresis: int = 0
    quorum_up: Notify | None = None
    quorum_down: Notify | None = None
    sorry_server: SorryServer | None = None
    inhibit_on_failure: bool = False
    virtualhost: str | None = None
    smtp_alert: bool = False
    real_servers: tuple[RealServer, ...] = ()
    # keywords keepalived knows that vipdeck accepts but does not act on
    other: tuple[tuple[str, tuple[str, ...]], ...] = ()
    loc: Loc = where()

    @property
    def key(self) -> str:
        """How operators name it: 'IP:PORT', 'fwmark N' or 'group NAME'."""
        if self.fwmark is not None:
            return f"fwmark {self.fwmark}"
        if self.group is not None:
            return f"group {self.group}"
        return hostport(self.address or "", self.port)


@dataclass(frozen=True, kw_only=True)
class SslContext:
    password: str | None = field(default=None, repr=False)
    ca: str | None = None
    certificate: str | None = None
    key: str | None = None
    loc: Loc = where()
