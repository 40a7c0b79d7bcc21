"""The control API's data: what a snapshot, an event, a request and a reply are.

Everything that leaves the engine (``vipdeck status --json``, ``vipdeck
events --json``, the control socket, the console, the audit trail) is one of
the plain JSON-able dicts typed here.  The console is written against this
module and the client only, whether it talks to an embedded engine or to a
daemon's Unix socket, so this is the boundary: within one ``SCHEMA_VERSION``
fields are added, never renamed, repurposed or removed (a consumer ignores
fields it does not know).  docs/json.md explains it for people;
docs/schema/vipdeck-control-v1.json is the same definitions as a JSON Schema
(``control.schema_export`` writes it; a unit test keeps it current, and the
contract tests validate real snapshots and events against it).

Wire protocol (Unix stream socket, one JSON object per line, UTF-8)::

    -> {"id": 1, "op": "snapshot"}
    <- {"id": 1, "ok": true, "result": SNAPSHOT}
    -> {"id": 2, "op": "events", "since": 0, "follow": true}
    <- {"id": 2, "ok": true, "result": {"events": [EVENT...], "last": SEQ}}
    <- {"event": EVENT}            (then one line per new event while following)
    -> {"id": 3, "op": "drain", "reason": "kernel upgrade"}
    <- {"id": 3, "ok": false, "error": {"code": "forbidden", "message": "..."}}

This module imports nothing of the engine (the console may import it); the
vocabularies below are the engine's own, and a unit test checks each equals
its source (states and reasons: ``vrrp.machine``; reject reasons:
``vrrp.packet``; flag kinds: ``advert_view``).
"""

from typing import Any, Literal, NotRequired, TypedDict, Union

SCHEMA_VERSION = 1

# ---------------------------------------------------------------------------- vocabularies

VrrpState = Literal["INIT", "BACKUP", "MASTER", "FAULT", "STOP"]
# why a transition happened (vrrp.machine.REASONS)
TransitionReason = Literal["startup", "master_down_timer", "higher_priority_seen", "priority_zero_received",
                           "preempt", "tracker", "interface", "operator", "shutdown", "sync_group", "config"]
# why a packet was dropped (vrrp.packet.RejectReason); counter names too
RejectReason = Literal["ip_header", "ttl", "truncated", "version", "type", "length", "checksum", "interval",
                       "addr_family", "vrid_unknown", "auth_type", "auth_unsupported", "auth_mismatch",
                       "interval_mismatch", "addresses", "unicast_src"]
# what an interface's VRRP sockets dropped before any instance or the advert view saw it
DropKind = Literal["own_source", "malformed", "truncated", "ip_header", "auth_unsupported", "addr_family",
                   "version", "type", "length", "checksum", "interval"]
# an advert view's flags: anomalies an operator must see (a reject reason without a flag of
# its own is shown as itself)
FlagKind = Union[Literal["split_brain", "auth_mismatch", "interval_mismatch", "version_mismatch", "vip_mismatch",
                         "ttl", "bad_checksum", "master_silent"], RejectReason]
Severity = Literal["info", "warning", "error"]
Family = Literal[4, 6]
Forward = Literal["NAT", "DR", "TUN"]
RealServerState = Literal["UP", "DOWN", "DRAINING", "DRAINED"]
TrackerKind = Literal["script", "file", "process", "interface"]
TrackerState = Literal["ok", "failed", "fault", "init", "ignored"]
Mode = Literal["daemon", "embedded"]

READ_OPS = frozenset({"snapshot", "events", "ping"})
CHANGE_OPS = frozenset({
    "drain", "undrain", "failover", "clear_hold", "takeover", "release",
    "weight", "rs_drain", "rs_undrain", "reload",
})
ALL_OPS = READ_OPS | CHANGE_OPS
Op = Literal["snapshot", "events", "ping", "drain", "undrain", "failover", "clear_hold", "takeover", "release",
             "weight", "rs_drain", "rs_undrain", "reload"]

# ``bad_request`` names the field (also input that is not UTF-8 JSON); ``unknown_op``;
# ``forbidden`` (a change by anyone but root); ``not_found`` (instance, server); ``conflict``
# (e.g. failover on a backup); ``unavailable`` (e.g. IPVS, or no daemon); ``storage`` (the change
# could not be saved: the message names the state file and the reason; nothing was changed);
# ``timeout`` (no complete request within the idle timeout; closed); ``busy`` (too many
# connections from this uid; closed); ``internal`` (a bug; audited, the daemon goes on)
ErrorCode = Literal["bad_request", "unknown_op", "forbidden", "not_found", "conflict", "unavailable", "storage",
                    "timeout", "busy", "internal"]
ERROR_CODES = frozenset(ErrorCode.__args__)

# ---------------------------------------------------------------------------- the snapshot: node


class InterfaceVrrp(TypedDict):
    received: int                         # packets its VRRP sockets read
    dropped: dict[str, int]               # DropKind -> count


class Interface(TypedDict):
    name: str
    up: bool
    mac: str | None
    addresses: list[str]                  # "198.18.0.1/24"
    vrrp: InterfaceVrrp


class System(TypedDict):
    """Absent from the engine's snapshot: the console asks psutil itself."""

    load: list[float]                     # 1, 5, 15 minutes
    cpus: int
    mem_total: int                        # bytes
    mem_used: int
    disk_path: str
    disk_total: int
    disk_used: int


class Node(TypedDict):
    hostname: str
    router_id: str
    pid: int
    version: str
    config_file: str
    started_at: float                     # unix time
    now: float                            # unix time
    mode: Mode
    interfaces: list[Interface]
    system: NotRequired[System]


# ---------------------------------------------------------------------------- the snapshot: instances


class Tracker(TypedDict):
    name: str
    kind: TrackerKind
    state: TrackerState
    contribution: int                     # priority delta in effect
    detail: str


class Vip(TypedDict):
    address: str                          # "198.18.0.100/32"
    dev: str
    label: str | None
    present: bool                         # on the interface now
    last_garp: float | None               # unix time
    excluded: bool                        # virtual_ipaddress_excluded: held, not advertised


class MasterSeen(TypedDict):
    """The master as this instance knows it; ``mac`` is ours while MASTER, else
    the MAC the master's adverts come from (learnt when it became master)."""

    address: str | None
    priority: int | None
    interval: float | None
    last_advert_age: float | None         # seconds
    mac: str | None


class InstanceCounters(TypedDict):
    adverts_sent: int
    adverts_received: int
    transitions: int
    rejects: dict[str, int]               # RejectReason -> count


LastTransition = TypedDict("LastTransition", {
    "from": VrrpState, "to": VrrpState, "reason": TransitionReason, "detail": str, "time": float | None})


class WireVmac(TypedDict):
    """use_vmac: the macvlan holding the VIPs (it sends the adverts unless ``xmit_base``)."""

    name: str
    mac: str
    xmit_base: bool


class Wire(TypedDict):
    source: str | None
    mcast_group: str | None               # None when unicast
    unicast_peers: list[str]
    vmac: WireVmac | None


class InstanceOperator(TypedDict):
    drained: bool
    hold_until: float | None              # unix time; None with a hold: until cleared
    held: bool
    takeover: bool
    takeover_pending: bool                # not master yet: no master heard to take over from
    who: str | None
    when: float | None
    why: str | None
    group: str | None                     # the sync group a hold or takeover was given to
    scope: list[str]                      # what takeover/failover/clear-hold/release of it act on


class Instance(TypedDict):
    name: str
    vrid: int
    interface: str
    family: Family
    version: Literal[2, 3]
    advert_int: float
    configured_state: str
    state: VrrpState
    base_priority: int
    effective_priority: int
    trackers: list[Tracker]
    vips: list[Vip]
    master: MasterSeen
    counters: InstanceCounters
    last_transition: LastTransition | None
    wire: Wire
    sync_group: str | None
    preempt: bool
    preempt_delay: float
    operator: InstanceOperator


# ---------------------------------------------------------------------------- the snapshot: LVS


class Service(TypedDict):
    """One kernel service a virtual_server block stands for (a group has several)."""

    protocol: str | None
    address: str | None
    port: int | None
    fwmark: int | None
    family: Family


class Checker(TypedDict):
    kind: str                             # HTTP_GET, TCP_CHECK, ...
    label: str
    ok: bool | None                       # None: not run yet
    latency: float | None
    error: str | None
    failures: int                         # consecutive
    last_check: float | None              # unix time
    runs: int
    total_failures: int


class Override(TypedDict):
    weight: int
    who: str
    when: float
    why: str


class Stamp(TypedDict):
    who: str
    when: float
    why: str


class RealServer(TypedDict):
    key: str                              # "198.18.1.10:80"
    address: str
    port: int
    forward: Forward
    weight_config: int
    weight_effective: int
    weight_kernel: int | None
    override: Override | None
    drain: Stamp | None
    state: RealServerState
    alive: bool
    checkers: list[Checker]
    active_conn: int | None               # the kernel's counters; None without IPVS
    inactive_conn: int | None
    cps: int | None
    inpps: int | None
    outpps: int | None
    inbps: int | None
    outbps: int | None
    conns: int | None
    inpkts: int | None
    outpkts: int | None
    inbytes: int | None
    outbytes: int | None


class VirtualServer(TypedDict):
    key: str                              # "198.18.0.100:80" | "fwmark 5" | "group NAME"
    services: list[Service]
    protocol: str | None                  # "TCP", "UDP", "SCTP"; "FWM" for a fwmark
    address: str | None
    port: int | None
    fwmark: int | None
    group: str | None
    scheduler: str
    forward: Forward
    persistence_timeout: int | None
    quorum: int
    hysteresis: int
    quorum_ok: bool
    sorry_server: str | None              # "ip:port"
    sorry_active: bool
    in_kernel: bool
    real_servers: list[RealServer]


class Ipvs(TypedDict):
    available: bool
    error: str | None


class KernelSyncDaemon(TypedDict):
    """One of the kernel's connection-sync daemons, as it reports it."""

    state: Literal["master", "backup"]
    interface: str
    syncid: int
    maxlen: int
    group: str
    port: int
    ttl: int


class SyncDaemonView(TypedDict):
    """lvs_sync_daemon (None in the snapshot when not configured)."""

    interface: str | None
    instance: str | None                  # the instance whose state it follows
    syncid: int | None
    wanted: list[Literal["master", "backup"]]   # what that state asks for
    kernel: list[KernelSyncDaemon]
    error: str | None


# ---------------------------------------------------------------------------- the snapshot: adverts


class AdvertSource(TypedDict):
    """A source whose adverts pass the receive rules."""

    address: str
    mac: str | None
    priority: int
    interval: float
    version: int
    auth_type: int                        # 0 none, 1 simple password, 2 IPsec AH (RFC 2338)
    vips: list[str]
    rate: float                           # adverts a second, last 10 s
    last_seen_age: float
    ttl: int | None
    count: int


class RejectedSource(TypedDict):
    """A source whose adverts fail the rules: never a master (at most 64 per view)."""

    address: str
    mac: str | None
    reason: RejectReason
    detail: str
    priority: int | None
    count: int
    last_seen_age: float


class SplitBrain(TypedDict):
    sources: list[str]                    # the two masters
    since: float                          # unix time the overlap began


class Flag(TypedDict):
    kind: FlagKind
    detail: str
    source: str | None                    # an address, "a+b" for a pair, None: many (rejects)


class AdvertViewEntry(TypedDict):
    """One (interface, family, VRID) as heard; foreign VRIDs too (FRR's dual-stack
    VRID is two entries)."""

    vrid: int
    family: Family
    interface: str
    master: str | None                    # the highest-priority accepted source advertising now (us too)
    ours: bool
    instance: str | None
    sources: list[AdvertSource]
    rejected_sources: list[RejectedSource]
    split_brain: SplitBrain | None
    flags: list[Flag]
    rejected: dict[str, int]              # RejectReason -> count
    history: list[tuple[float, str, int]]  # (unix time, source, priority), bounded


# ---------------------------------------------------------------------------- the snapshot


class AuditEntry(TypedDict):
    time: float
    uid: int
    who: str
    op: str
    args: dict[str, Any]
    ok: bool
    result: str
    code: NotRequired[ErrorCode]          # refusals
    pid: NotRequired[int]
    suppressed: NotRequired[int]          # refusals of this uid left out before this one
    group: NotRequired[str]               # a sync group action: the group and its members
    instances: NotRequired[list[str]]


class OperatorView(TypedDict):
    drained: Stamp | None
    audit_tail: list[AuditEntry]


class Snapshot(TypedDict):
    schema: int                           # SCHEMA_VERSION
    node: Node
    instances: list[Instance]
    virtual_servers: list[VirtualServer]
    ipvs: Ipvs
    sync_daemon: SyncDaemonView | None
    adverts: list[AdvertViewEntry]
    operator: OperatorView
    read_only: bool


# ---------------------------------------------------------------------------- events
# Every event has the five fields of ``_EVENT``; each kind adds its own.  A kind's fields
# that only some of its events carry are NotRequired.

_EVENT: dict[str, Any] = {"seq": int, "time": float, "severity": Severity, "message": str}


def _event(name: str, kind: str, fields: dict[str, Any]) -> Any:
    return TypedDict(name, {**_EVENT, "kind": Literal[kind], **fields})   # type: ignore[operator]


# an instance's transition, a sync group's (``group``), or a member held BACKUP by its group (``held``).
# An instance's carries what the failover timeline needs: ``priority`` (its effective priority after
# it), ``master`` (the other router: the master it replaced on becoming MASTER, else the one it
# follows; None: none heard), ``last_advert`` (unix time of the last advert from another router
# before it: the old master's last, or its priority-0 advert; None: never) and, on becoming MASTER
# by a timer, ``timer`` (its seconds: Master_Down_Interval, or Skew_Time after a priority 0)
TransitionEvent = _event("TransitionEvent", "transition", {
    "instance": NotRequired[str], "group": NotRequired[str], "vrid": NotRequired[int],
    "from": NotRequired[VrrpState], "to": NotRequired[VrrpState], "reason": TransitionReason, "detail": str,
    "held": NotRequired[bool], "cause": NotRequired[str], "priority": NotRequired[int],
    "master": NotRequired[str | None], "last_advert": NotRequired[float | None], "timer": NotRequired[float]})
# anomalies only, once per view, source and flag; ``split_brain_resolved`` when one ends; vrid None
# and a DropKind flag for what an interface dropped (once per interface and kind)
AdvertEvent = _event("AdvertEvent", "advert", {
    "vrid": int | None, "family": Family, "interface": str, "source": str | None,
    "flag": Union[FlagKind, DropKind, Literal["split_brain_resolved"]]})
# a tracker's problem at start, an instance held in INIT for its trackers' first results
TrackerEvent = _event("TrackerEvent", "tracker", {"instance": NotRequired[str]})
# a notify script ran (``instance`` or ``group``), or a notify FIFO's trouble (``fifo``)
NotifyEvent = _event("NotifyEvent", "notify", {
    "instance": NotRequired[str], "group": NotRequired[str], "script": NotRequired[str],
    "keyword": NotRequired[str], "args": NotRequired[list[str]], "state": NotRequired[str],
    "exit_status": NotRequired[int | None], "duration": NotRequired[float], "timed_out": NotRequired[bool],
    "error": NotRequired[str | None], "fifo": NotRequired[bool]})
SmtpEvent = _event("SmtpEvent", "smtp", {"to": list[str], "subject": str, "ok": bool, "error": str | None})
# one checker result (``ok`` None: the checker kind is not supported)
CheckEvent = _event("CheckEvent", "check", {
    "vs": str, "rs": str, "checker": str, "checker_kind": str, "ok": bool | None, "latency": float | None,
    "error": str | None, "failures": int, "up": bool | None, "weight": NotRequired[int | None]})
# a real server up/down, its weight changing, or (``rs`` None) a quorum change
RsStateEvent = _event("RsStateEvent", "rs_state", {
    "vs": str, "rs": str | None, "state": Literal["UP", "DOWN", "QUORUM_UP", "QUORUM_DOWN"],
    "reason": NotRequired[str], "weight": NotRequired[int], "weight_before": NotRequired[int],
    "error": NotRequired[str | None], "initial": NotRequired[bool], "weight_sum": NotRequired[int],
    "quorum": NotRequired[int], "hysteresis": NotRequired[int], "sorry_active": NotRequired[bool]})
IpvsEvent = _event("IpvsEvent", "ipvs", {"change": NotRequired[str]})
# a change (``ok`` true) or a refusal (``ok`` false, with ``code``); the same as its audit entry
OperatorEvent = _event("OperatorEvent", "operator", {
    "action": str, "who": str, "uid": int, "ok": bool, "args": dict[str, Any], "code": NotRequired[ErrorCode],
    "group": NotRequired[str], "instances": NotRequired[list[str]]})
# a reload accepted or refused (with the errors)
ConfigEvent = _event("ConfigEvent", "config", {"accepted": bool, "diagnostics": NotRequired[list[str]]})
# start, stop, signals, dumps, start delays, sockets re-opened, an audit entry that could not be written
DaemonEvent = _event("DaemonEvent", "daemon", {
    "config": NotRequired[str], "signal": NotRequired[str], "dump": NotRequired[str], "path": NotRequired[str],
    "error": NotRequired[str], "audit": NotRequired[dict[str, Any]], "delay": NotRequired[float],
    "until": NotRequired[float], "instance": NotRequired[str], "interface": NotRequired[str]})
# VIPs, virtual routes and rules, static addresses added or removed (or failing to be); ``garp``:
# the first gratuitous ARP / unsolicited NA burst after becoming MASTER went out (frames sent)
VipEvent = _event("VipEvent", "vip", {
    "instance": NotRequired[str], "added": NotRequired[bool], "vips": NotRequired[list[str]],
    "routes": NotRequired[list[str]], "garp": NotRequired[int]})

EVENT_TYPES = {"transition": TransitionEvent, "advert": AdvertEvent, "tracker": TrackerEvent,
               "notify": NotifyEvent, "smtp": SmtpEvent, "check": CheckEvent, "rs_state": RsStateEvent,
               "ipvs": IpvsEvent, "operator": OperatorEvent, "config": ConfigEvent, "daemon": DaemonEvent,
               "vip": VipEvent}
EVENT_KINDS = frozenset(EVENT_TYPES)
EventKind = Literal["transition", "advert", "tracker", "notify", "smtp", "check", "rs_state", "ipvs", "operator",
                    "config", "daemon", "vip"]
Event = Union[TransitionEvent, AdvertEvent, TrackerEvent, NotifyEvent, SmtpEvent, CheckEvent, RsStateEvent,
              IpvsEvent, OperatorEvent, ConfigEvent, DaemonEvent, VipEvent]

# ---------------------------------------------------------------------------- requests and replies
# Every request may carry ``id`` (echoed in the reply) and ``who`` (a display name; the server
# records the peer's uid from SO_PEERCRED, never from the request).


class _Request(TypedDict):
    op: Op
    id: NotRequired[int | str | None]
    who: NotRequired[str]


class EventsRequest(_Request):
    since: NotRequired[int]               # events after this seq
    limit: NotRequired[int | None]
    follow: NotRequired[bool]             # then one {"event": EVENT} line per new event


class ReasonRequest(_Request):
    """drain, takeover (``instance``), failover (``instance``, ``hold``: seconds or None:
    until cleared), clear_hold and release (``instance``), rs_drain / rs_undrain (``vs``,
    ``rs``), weight (``vs``, ``rs``, ``weight`` or ``clear``)."""

    reason: NotRequired[str]
    instance: NotRequired[str]
    hold: NotRequired[float | None]
    vs: NotRequired[str]
    rs: NotRequired[str]
    weight: NotRequired[int]
    clear: NotRequired[bool]


Request = Union[EventsRequest, ReasonRequest]


class ErrorInfo(TypedDict):
    code: ErrorCode
    message: str


class EventsResult(TypedDict):
    events: list[Event]
    last: int                             # the newest seq (follow from there)


class ChangeResult(TypedDict):
    ok: bool
    message: str


class PingResult(TypedDict):
    pong: bool


class Reply(TypedDict):
    id: int | str | None
    ok: bool
    result: NotRequired[Union[Snapshot, EventsResult, ChangeResult, PingResult]]
    error: NotRequired[ErrorInfo]


class StreamLine(TypedDict):
    """A line of an ``events`` follow stream after its reply."""

    event: Event


class ControlError(Exception):
    """A request refused with a code from ``ErrorCode``; never a crash."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message

    def to_dict(self) -> ErrorInfo:
        return {"code": self.code, "message": self.message}     # type: ignore[typeddict-item]
