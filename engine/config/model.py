"""The typed, immutable picture of a keepalived.conf.

This module is the contract between the parser and everything that consumes
a configuration (VRRP driver, trackers, notifiers, IPVS mapping, checkers,
status output).  Values are *resolved*: keepalived's defaults are filled in,
old keyword names are mapped to new ones, and checker options inherit from
their real and virtual server the way keepalived does, so consumers never
re-implement those rules.  Every object remembers where it came from
(``loc``) so runtime errors can point at a file and line too.

Collections are tuples so a loaded config can be shared between the engine
and the console without anyone mutating it.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field
from typing import Any

SECRET_FIELDS = frozenset({"auth_pass", "password", "smtp_password", "secret"})
MASK = "********"


@dataclass(frozen=True)
class Loc:
    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


NOWHERE = Loc("<default>", 0)



def where():
    """The ``loc`` field: where a block stands is not part of what it means,
    so a reload after lines moved or comments were added keeps running
    instances (and real servers' checker state) as they are."""
    return field(default=NOWHERE, compare=False)


# --------------------------------------------------------------------------- global


@dataclass(frozen=True, kw_only=True)
class LvsSyncDaemon:
    """``lvs_sync_daemon`` (or an instance's old ``lvs_sync_daemon_interface``):
    the kernel's IPVS connection sync.  With ``instance`` the daemon follows
    that instance (master daemon while it is MASTER, backup otherwise);
    without, both run while vipdeck runs.  ``syncid`` is resolved: the
    instance's VRID unless given, 0 without an instance.  ``None`` fields
    are the kernel's defaults (maxlen from the MTU, port 8848, ttl 1, group
    224.0.0.81)."""

    interface: str
    instance: str | None = None
    syncid: int = 0
    maxlen: int | None = None
    port: int | None = None
    ttl: int | None = None
    group: str | None = None
    loc: Loc = where()


@dataclass(frozen=True, kw_only=True)
class LvsTimeouts:
    """``lvs_timeouts``: IPVS connection timeouts in seconds; ``None`` leaves
    that one as the kernel had it when vipdeck started."""

    tcp: int | None = None
    tcpfin: int | None = None
    udp: int | None = None
    loc: Loc = where()


NFTABLES_TABLE = "vipdeck"       # our tables' default name (keepalived's is "keepalived": never theirs)


@dataclass(frozen=True, kw_only=True)
class GlobalDefs:
    router_id: str | None = None
    notification_email: tuple[str, ...] = ()
    notification_email_from: str | None = None
    smtp_server: str | None = None          # host or address
    smtp_port: int = 25
    smtp_helo_name: str | None = None
    smtp_connect_timeout: float = 30.0
    smtp_alert: bool | None = None          # global default for vrrp and checkers
    smtp_alert_vrrp: bool | None = None
    smtp_alert_checker: bool | None = None
    vrrp_mcast_group4: str = "224.0.0.18"
    vrrp_mcast_group6: str = "ff02::12"
    vrrp_version: int = 2
    vrrp_strict: bool = False
    vrrp_garp_master_delay: float = 5.0
    vrrp_garp_master_repeat: int = 5
    vrrp_garp_master_refresh: float = 0.0   # 0 = no periodic refresh
    vrrp_garp_master_refresh_repeat: int = 1
    vrrp_garp_interval: float = 0.0
    vrrp_gna_interval: float = 0.0
    vrrp_garp_lower_prio_delay: float | None = None
    vrrp_garp_lower_prio_repeat: int | None = None
    vrrp_skip_check_adv_addr: bool = False
    vrrp_check_unicast_src: bool = False
    vrrp_higher_prio_send_advert: bool = False
    vrrp_lower_prio_no_advert: bool = False
    vmac_prefix: str | None = None          # generated VMAC names: PREFIX.VRID (default "vrrp")
    vmac_addr_prefix: str | None = None     # ... for VIPs elsewhere (default vmac_prefix)
    # our nftables tables (no_accept / strict mode drops, VMAC MLD moves): keepalived's
    # `nftables [NAME]`; None or "" = NFTABLES_TABLE, made only when something needs a rule
    nftables: str | None = None
    nftables_priority: int = -1
    nftables_counters: bool = False
    script_user: str | None = None
    script_group: str | None = None
    enable_script_security: bool = False
    dynamic_interfaces: bool = False
    default_interface: str | None = None     # for static addresses without dev
    lvs_id: str | None = None
    # the daemon's own scripts, the notify FIFOs and the VRRP start delay
    # (engine/daemon.py, engine/notify/fifo.py, engine/vrrp/startdelay.py)
    startup_script: Notify | None = None
    startup_script_timeout: float = 10.0    # keepalived: 10 s, 1-1000
    shutdown_script: Notify | None = None
    shutdown_script_timeout: float = 10.0
    notify_fifo: NotifyFifo | None = None   # every line
    vrrp_notify_fifo: NotifyFifo | None = None   # INSTANCE / GROUP lines
    lvs_notify_fifo: NotifyFifo | None = None    # VS / RS lines
    fifo_write_vrrp_states_on_reload: bool = False
    vrrp_startup_delay: float = 0.0         # seconds after start before VRRP runs
    vrrp_delay_after_boot: float = 0.0      # ... or until this long after boot (the longer wins)
    lvs_sync_daemon: LvsSyncDaemon | None = None
    lvs_timeouts: LvsTimeouts | None = None
    lvs_flush: bool = False                  # flush the whole IPVS table at start
    lvs_flush_on_stop: str | None = None     # "full": flush at exit; "VS": delete our services only
    # keywords keepalived knows that vipdeck accepts but does not act on
    other: tuple[tuple[str, tuple[str, ...]], ...] = ()
    loc: Loc = where()


# --------------------------------------------------------------------------- tracking


@dataclass(frozen=True, kw_only=True)
class VrrpScript:
    """A ``vrrp_script`` block.  ``script`` is the command line as written."""

    name: str
    script: str
    interval: float = 1.0
    timeout: float | None = None            # None = interval (keepalived)
    weight: int = 0
    weight_reverse: bool = False
    rise: int = 1
    fall: int = 1
    init_fail: bool = False
    user: str | None = None
    group: str | None = None
    loc: Loc = where()


@dataclass(frozen=True, kw_only=True)
class TrackFile:
    """A ``vrrp_track_file`` / ``track_file`` block."""

    name: str
    file: str
    weight: int = 1
    weight_reverse: bool = False
    init_file: int | None = None            # value to create the file with
    init_file_overwrite: bool = False
    loc: Loc = where()


@dataclass(frozen=True, kw_only=True)
class TrackProcess:
    """A ``vrrp_track_process`` block (matched by psutil)."""

    name: str
    process: str
    param_match: str | None = None          # None | "initial" | "partial"
    parameters: tuple[str, ...] = ()
    full_command: bool = False
    weight: int = 0
    weight_reverse: bool = False
    quorum: int = 1
    quorum_max: int | None = None
    delay: float = 0.0
    terminate_delay: float | None = None
    fork_delay: float | None = None
    loc: Loc = where()


@dataclass(frozen=True, kw_only=True)
class TrackRef:
    """A reference in track_script / track_interface / track_file / track_process.

    ``weight`` None means "use the tracked object's own weight" (or, for an
    interface, fault the instance when it goes down).
    """

    name: str
    weight: int | None = None
    reverse: bool = False
    loc: Loc = where()


# --------------------------------------------------------------------------- VRRP


@dataclass(frozen=True, kw_only=True)
class VirtualIp:
    address: str                            # without prefix
    prefixlen: int                          # /32 or /128 when not given
    dev: str | None = None                  # None = the instance's interface
    label: str | None = None
    brd: str | None = None
    scope: str | None = None
    no_track: bool = False
    use_vmac: bool = False                  # the per-address form: on a VMAC of its own dev
    loc: Loc = where()

    @property
    def family(self) -> int:
        return 6 if ":" in self.address else 4

    def __str__(self) -> str:
        return f"{self.address}/{self.prefixlen}"


@dataclass(frozen=True, kw_only=True)
class RouteSpec:
    """virtual_routes / static_routes / *_rules entries, kept as tokens."""

    words: tuple[str, ...]
    loc: Loc = where()


class AuthType(str, enum.Enum):
    NONE = "NONE"
    PASS = "PASS"
    AH = "AH"


@dataclass(frozen=True, kw_only=True)
class Authentication:
    auth_type: AuthType = AuthType.NONE
    auth_pass: str = field(default="", repr=False)   # secret: never printed
    loc: Loc = where()

    @property
    def wire_pass(self) -> bytes:
        """What goes on the wire: the first 8 bytes, NUL padded (keepalived)."""
        return self.auth_pass.encode()[:8].ljust(8, b"\0")


@dataclass(frozen=True, kw_only=True)
class HmacKey:
    """One ``key ID VALUE`` of an ``auth_hmac`` block (the bytes are secret)."""

    id: int
    secret: bytes = field(default=b"", repr=False)  # secret: never printed
    source: str = "inline"                  # "inline", "hex" or "file:<path>"
    loc: Loc = where()


@dataclass(frozen=True, kw_only=True)
class AuthHmac:
    """``auth_hmac`` (keepalived.conf(5) extension): HMAC-SHA256 trailer on adverts."""

    keys: tuple[HmacKey, ...] = ()
    active_key: int = 0                     # resolved: the only key when one is defined
    anti_replay: str = "time"               # "time" | "monotonic"
    time_window: float = 5.0                # resolved: max(3 x advert_int, 5) when not given
    mode: str = "enforce"                   # "enforce" | "permissive"
    loc: Loc = where()

    def key(self, key_id: int) -> HmacKey | None:
        return next((k for k in self.keys if k.id == key_id), None)


@dataclass(frozen=True, kw_only=True)
class Notify:
    """A notify script as written: command line plus optional user/group."""

    command: str
    user: str | None = None
    group: str | None = None
    loc: Loc = where()


@dataclass(frozen=True, kw_only=True)
class NotifyFifo:
    """``notify_fifo PATH [username [groupname]]`` (or vrrp_/lvs_) and its
    ``*_notify_fifo_script``, which is started with PATH appended.  The
    user/group own the FIFO when vipdeck creates it (default: script_user)."""

    path: str
    user: str | None = None
    group: str | None = None
    script: Notify | None = None
    loc: Loc = where()


@dataclass(frozen=True, kw_only=True)
class Vmac:
    """A macvlan an instance's VIPs live on, with the VRRP virtual MAC (use_vmac).

    ``name`` is the interface (``vrrp.51``), ``base`` the one it is made on,
    ``family`` that of the addresses it carries (its sysctls follow it);
    ``adverts`` marks the instance's own VMAC, which sends the adverts unless
    vmac_xmit_base (a use_vmac_addr / per-address VMAC only carries VIPs)."""

    name: str
    base: str
    mac: str
    family: int = 4
    adverts: bool = False


@dataclass(frozen=True, kw_only=True)
class VrrpInstance:
    name: str
    interface: str
    vrid: int
    state: str = "BACKUP"                   # configured initial state
    priority: int = 100
    advert_int: float = 1.0
    version: int = 2                        # resolved from global vrrp_version
    nopreempt: bool = False
    preempt_delay: float = 0.0
    authentication: Authentication | None = None
    mcast_group: str = "224.0.0.18"         # resolved from global_defs
    mcast_src_ip: str | None = None
    unicast_src_ip: str | None = None
    unicast_peers: tuple[str, ...] = ()
    unicast_ttl: int | None = None
    # unicast safety: check_unicast_src (instance, global, or implied by min_ttl/max_ttl):
    # adverts only from unicast_peer addresses, each within its TTL range
    check_unicast_src: bool = False
    unicast_peer_ttl: tuple[tuple[str, int, int], ...] = ()    # (peer, min_ttl, max_ttl) per peer
    unicast_fault_no_peer: bool = False     # unicast configured, no peer: FAULT instead of multicast
    dont_track_primary: bool = False
    track_interfaces: tuple[TrackRef, ...] = ()
    track_scripts: tuple[TrackRef, ...] = ()
    track_files: tuple[TrackRef, ...] = ()
    track_processes: tuple[TrackRef, ...] = ()
    virtual_ipaddresses: tuple[VirtualIp, ...] = ()
    virtual_ipaddresses_excluded: tuple[VirtualIp, ...] = ()
    virtual_routes: tuple[RouteSpec, ...] = ()
    virtual_rules: tuple[RouteSpec, ...] = ()
    garp_master_delay: float = 5.0          # resolved from global_defs
    garp_master_repeat: int = 5
    garp_master_refresh: float = 0.0
    garp_master_refresh_repeat: int = 1
    garp_interval: float = 0.0
    gna_interval: float = 0.0
    garp_lower_prio_delay: float | None = None
    garp_lower_prio_repeat: int | None = None
    notify_master: Notify | None = None
    notify_backup: Notify | None = None
    notify_fault: Notify | None = None
    notify_stop: Notify | None = None
    notify_master_rx_lower_pri: Notify | None = None
    notify: Notify | None = None            # generic: + INSTANCE name state prio
    smtp_alert: bool = False                # resolved
    accept: bool | None = None
    strict_mode: bool = False
    higher_prio_send_advert: bool = False   # resolved from vrrp_higher_prio_send_advert / strict
    lower_prio_no_advert: bool = False      # resolved from vrrp_lower_prio_no_advert / strict
    use_vmac: str | None = None             # the instance's own VMAC's name (resolved)
    vmac_xmit_base: bool = False            # adverts from the base interface, VIPs on the VMAC
    use_vmac_addr: bool = False
    vmacs: tuple[Vmac, ...] = ()            # every VMAC it needs, its own first
    native_ipv6: bool = False
    debug: int = 0
    auth_hmac: AuthHmac | None = None
    # keywords keepalived knows that vipdeck accepts but does not act on
    other: tuple[tuple[str, tuple[str, ...]], ...] = ()
    loc: Loc = where()

    @property
    def family(self) -> int:
        """VRRP address family: from the VIPs (keepalived forbids mixing)."""
        fams = {v.family for v in self.virtual_ipaddresses}
        return 6 if fams == {6} or self.native_ipv6 else 4

    @property
    def no_accept(self) -> bool:
        """Traffic to the VIPs is dropped while master (RFC 5798 Accept_Mode
        false; keepalived's no_accept and strict mode), except for the owner."""
        return self.accept is False and self.priority != 255

    @property
    def unicast_no_peer(self) -> bool:
        """unicast_fault_no_peer and no peer: the instance stays in FAULT."""
        return self.unicast_fault_no_peer and not self.unicast_peers

    @property
    def vmac(self) -> Vmac | None:
        """The instance's own VMAC (None without use_vmac)."""
        return next((v for v in self.vmacs if v.adverts), None)

    @property
    def held_vips(self) -> tuple[VirtualIp, ...]:
        """What a master holds: the advertised VIPs and the excluded ones
        (keepalived adds both; only the first are in the adverts)."""
        return self.virtual_ipaddresses + self.virtual_ipaddresses_excluded

    @property
    def all_track_refs(self) -> tuple[TrackRef, ...]:
        return self.track_interfaces + self.track_scripts + self.track_files + self.track_processes


@dataclass(frozen=True, kw_only=True)
class SyncGroup:
    name: str
    group: tuple[str, ...]                  # instance names
    notify_master: Notify | None = None
    notify_backup: Notify | None = None
    notify_fault: Notify | None = None
    notify_stop: Notify | None = None
    notify: Notify | None = None
    smtp_alert: bool = False
    track_interfaces: tuple[TrackRef, ...] = ()
    track_scripts: tuple[TrackRef, ...] = ()
    track_files: tuple[TrackRef, ...] = ()
    track_processes: tuple[TrackRef, ...] = ()
    global_tracking: bool = False
    sync_group_tracking_weight: bool = False
    loc: Loc = where()


# --------------------------------------------------------------------------- whole file


@dataclass(frozen=True, kw_only=True)
class Config:
    global_defs: GlobalDefs = GlobalDefs()
    vrrp_scripts: tuple[VrrpScript, ...] = ()
    track_files: tuple[TrackFile, ...] = ()
    track_processes: tuple[TrackProcess, ...] = ()
    vrrp_instances: tuple[VrrpInstance, ...] = ()
    sync_groups: tuple[SyncGroup, ...] = ()
    static_ipaddresses: tuple[VirtualIp, ...] = ()
    static_routes: tuple[RouteSpec, ...] = ()
    static_rules: tuple[RouteSpec, ...] = ()
    virtual_server_groups: tuple[VirtualServerGroup, ...] = ()
    virtual_servers: tuple[VirtualServer, ...] = ()
    ssl: SslContext | None = None
    files: tuple[str, ...] = ()             # every file read, includes too
    # top-level keywords / blocks keepalived knows that vipdeck does not act on
    # (net_namespace, bfd_instance, linkbeat_interfaces, garp_group, ...)
    other: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def instance(self, name: str) -> VrrpInstance | None:
        return next((i for i in self.vrrp_instances if i.name == name), None)

    def script(self, name: str) -> VrrpScript | None:
        return next((s for s in self.vrrp_scripts if s.name == name), None)

    def track_file(self, name: str) -> TrackFile | None:
        return next((s for s in self.track_files if s.name == name), None)

    def track_process(self, name: str) -> TrackProcess | None:
        return next((s for s in self.track_processes if s.name == name), None)

    def server_group(self, name: str) -> VirtualServerGroup | None:
        return next((g for g in self.virtual_server_groups if g.name == name), None)

    def sync_group_of(self, instance: str) -> SyncGroup | None:
        return next((g for g in self.sync_groups if instance in g.group), None)

    def summary(self) -> str:
        rs = sum(len(v.real_servers) for v in self.virtual_servers)
        return (f"{len(self.vrrp_instances)} VRRP instance(s), {len(self.vrrp_scripts)} script(s), "
                f"{len(self.sync_groups)} sync group(s), {len(self.virtual_servers)} virtual server(s), "
                f"{rs} real server(s)")


def hostport(address: str, port: int | None) -> str:
    host = f"[{address}]" if ":" in address else address
    return host if port is None else f"{host}:{port}"


def to_jsonable(obj: Any, *, mask_secrets: bool = True) -> Any:
    """Plain JSON-ready data; secrets are replaced by a mask unless told not to.

    Masking happens here, once, so every output path (``check --json``,
    status, the console) gets it for free.
    """
    if isinstance(obj, Loc):
        return str(obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out: dict[str, Any] = {}
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            if mask_secrets and f.name in SECRET_FIELDS and value:
                out[f.name] = MASK
            else:
                out[f.name] = to_jsonable(value, mask_secrets=mask_secrets)
        return out
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, bytes):
        return obj.hex()
    if isinstance(obj, (tuple, list)):
        return [to_jsonable(v, mask_secrets=mask_secrets) for v in obj]
    return obj


# The LVS half lives in lvs_model; it is part of this contract, so it is
# re-exported here (imported last: it builds on Loc, Notify and where above).
from vipdeck.engine.config.lvs_model import (BfdCheck, Checker, DnsCheck, FileCheck, Forward,  # noqa: E402
                                             GroupEntry, HttpCheck, HttpUrl, MiscCheck, PingCheck, RealServer,
                                             SmtpCheck, SorryServer, SslContext, TcpCheck, Tunnel, UdpCheck,
                                             VirtualServer, VirtualServerGroup)

__all__ = [
    "MASK", "NOWHERE", "SECRET_FIELDS", "Authentication", "AuthHmac", "AuthType", "BfdCheck", "Checker", "Config",
    "DnsCheck", "FileCheck", "Forward", "GlobalDefs", "GroupEntry", "HmacKey", "hostport", "HttpCheck", "HttpUrl",
    "Loc", "LvsSyncDaemon", "LvsTimeouts", "MiscCheck", "Notify", "NotifyFifo", "PingCheck", "RealServer",
    "RouteSpec", "SmtpCheck", "SorryServer", "SslContext", "SyncGroup", "TcpCheck", "to_jsonable", "TrackFile",
    "TrackProcess", "TrackRef", "Tunnel", "UdpCheck", "VirtualIp", "VirtualServer", "VirtualServerGroup",
    "VrrpInstance", "VrrpScript", "where",
]
