"""The running engine's state, as plain data for the dump renderers.

keepalived prints its own structures; we print what the engine knows,
gathered here once per signal so the renderers stay pure functions of
``(config, facts)`` and the unit tests can build facts by hand
(``Facts.for_config``).  ``collect(engine)`` is the only code in
``engine.dumps`` that looks inside the engine; it reads, never changes.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass, field
from typing import Any, Mapping

from vipdeck.engine.config.model import Config
from vipdeck.engine.dumps.stats import VrrpStats, vrrp_stats
from vipdeck.engine.track.script import ScriptTracker


@dataclass(frozen=True)
class InstanceFacts:
    name: str
    state: str = "INIT"                 # INIT BACKUP MASTER FAULT STOP
    wantstate: str = "BACKUP"
    effective_priority: int = 100
    total_priority: int = 100           # base + tracker weights before clamping
    master_priority: int = 0            # what a backup heard; 0 otherwise (keepalived)
    master_address: str | None = None
    master_adver_int: float = 1.0
    last_transition: float = 0.0        # unix time
    read_timeout: float | None = None   # unix time of the next timer; None = disabled
    master_down_timer: float = 0.0      # seconds
    src_ip: str | None = None
    vips_set: Mapping[str, bool] = field(default_factory=dict)   # str(VirtualIp) -> on the interface
    script_if_faults: int = 0           # trackers (and the link) holding it in FAULT
    scripts_init: int = 0               # unweighted trackers without a first result
    fd: int | None = None               # its VRRP socket (one fd for in and out)
    ifindex: int | None = None
    stats: VrrpStats = field(default_factory=VrrpStats)
    vmac_up: bool = False               # use_vmac: its VMAC is there


@dataclass(frozen=True)
class ScriptFacts:
    name: str
    result: int = 0                     # keepalived's rise/fall counter
    good: bool = False                  # result >= rise
    init_state: str = "INIT"            # "INIT", "INIT/FAILED", or "unknown" once a result came
    running: bool = False


@dataclass(frozen=True)
class TrackFileFacts:
    name: str
    status: int = 0


@dataclass(frozen=True)
class ProcessFacts:
    name: str
    current: int = 0
    have_quorum: bool = False


@dataclass(frozen=True)
class InterfaceFacts:
    name: str
    index: int = 0
    ipv4: tuple[str, ...] = ()
    ipv6: tuple[str, ...] = ()
    mac: str | None = None
    broadcast: str | None = None
    admin_up: bool = False
    running: bool = False
    flags: int | None = None            # IFF_* from /sys, when readable
    mtu: int | None = None
    hw_type: int | None = None          # ARPHRD_*


@dataclass(frozen=True)
class SocketFacts:
    fd: int | None
    interface: str
    family: int                         # 4 or 6
    unicast: bool
    instances: tuple[tuple[str, int], ...]  # (name, vrid)


@dataclass(frozen=True)
class CheckerFacts:
    kind: str
    up: bool = True
    has_run: bool = False
    enabled: bool = True                # False for kinds vipdeck cannot run
    failures: int = 0                   # consecutive failures (keepalived's retry_it)
    weight: int = 0                     # what a dynamic checker adds


@dataclass(frozen=True)
class RealServerFacts:
    alive: bool = True
    weight: int = 1                     # effective weight
    set: bool = True                    # in the desired IPVS table
    failed_checkers: int = 0
    checkers: tuple[CheckerFacts, ...] = ()


@dataclass(frozen=True)
class VirtualServerFacts:
    quorum_up: bool = True
    sorry_active: bool = False
    reals: tuple[RealServerFacts, ...] = ()   # aligned with the config's real_servers


@dataclass(frozen=True)
class Facts:
    now: float = 0.0
    pid: int = 0
    hostname: str = "localhost"
    umask: int = 0o022
    script_uid_gid: tuple[int, int] = (0, 0)
    ipvs_version: str | None = None     # "1.2.1" when the kernel has IPVS
    instances: Mapping[str, InstanceFacts] = field(default_factory=dict)
    sync_groups: Mapping[str, str] = field(default_factory=dict)   # name -> state
    scripts: Mapping[str, ScriptFacts] = field(default_factory=dict)
    track_files: Mapping[str, TrackFileFacts] = field(default_factory=dict)
    processes: Mapping[str, ProcessFacts] = field(default_factory=dict)
    interfaces: tuple[InterfaceFacts, ...] = ()
    sockets: tuple[SocketFacts, ...] = ()
    virtual_servers: tuple[VirtualServerFacts | None, ...] = ()   # aligned with config.virtual_servers
    run_vrrp: bool = True
    run_checkers: bool = True

    @classmethod
    def for_config(cls, config: Config, *, now: float = 1796158577.709752, **over: Any) -> "Facts":
        """Plausible facts for a config that has just started (tests, ``-d``):
        every instance in its configured state, every real server alive."""
        insts = {}
        for inst in config.vrrp_instances:
            state = inst.state if inst.state in ("MASTER", "BACKUP") else "BACKUP"
            insts[inst.name] = InstanceFacts(
                name=inst.name, state=state, wantstate=state, effective_priority=inst.priority,
                total_priority=inst.priority, master_adver_int=inst.advert_int, last_transition=now,
                read_timeout=now + inst.advert_int, master_down_timer=3 * inst.advert_int
                + (256 - inst.priority) * inst.advert_int / 256,
                vips_set={str(v): state == "MASTER" for v in inst.held_vips})
        vss = tuple(VirtualServerFacts(reals=tuple(RealServerFacts(weight=r.weight, checkers=tuple(
            CheckerFacts(kind=c.kind) for c in r.checkers)) for r in vs.real_servers))
            for vs in config.virtual_servers)
        base: dict[str, Any] = dict(now=now, pid=1, instances=insts, virtual_servers=vss)
        base.update(over)
        return cls(**base)


# --------------------------------------------------------------------------- collecting


def _wall(engine, mono: float | None) -> float | None:
    if mono is None or engine.loop is None:
        return None
    return time.time() - (engine.loop.time() - mono)


def _instance(engine, name: str, d) -> InstanceFacts:
    mc = d.machine
    state = str(mc.state)
    t = mc.last_transition
    eff = engine.tracking.effective(d.inst) if engine.tracking else None
    if state == "FAULT":
        want = "BACKUP"
    elif state == "INIT":
        want = d.inst.state if d.inst.state in ("MASTER", "BACKUP") else "BACKUP"
    else:
        want = state
    faults = len(eff.faults) if eff is not None else 0
    if not mc.interface_up:
        faults += 1
    master_prio = mc.master_priority if state == "BACKUP" and mc.master_priority is not None else 0
    sock = getattr(d.sock, "sock", None)
    try:
        fd = sock.fileno() if sock is not None else None
    except OSError:
        fd = None
    return InstanceFacts(
        name=name, state=state, wantstate=want, effective_priority=mc.effective_priority,
        total_priority=mc.base_priority + (eff.delta if eff is not None else 0),
        master_priority=master_prio, master_address=mc.master_address if state == "BACKUP" else None,
        master_adver_int=mc.master_interval,
        last_transition=_wall(engine, t.at) if t is not None else engine.started_at,
        read_timeout=_wall(engine, mc.next_deadline()),
        master_down_timer=mc.master_down_interval(), src_ip=d.source,
        vips_set=dict(d.vips_present), script_if_faults=faults,
        scripts_init=len(eff.pending) if eff is not None else 0,
        fd=fd, ifindex=getattr(d.sock, "ifindex", None),
        stats=vrrp_stats(d.counters, engine.vrrp_stats.get(name)),
        vmac_up=_vmac_up(engine, d.inst))


def _vmac_up(engine, inst) -> bool:
    made = getattr(getattr(engine.host, "vmacs", None), "made", {})
    return inst.vmac is not None and inst.vmac.name in made


def _scripts(engine) -> dict[str, ScriptFacts]:
    out = {}
    if engine.tracking is None:
        return out
    for (kind, name), t in engine.tracking.trackers.items():
        if kind != "script" or not isinstance(t, ScriptTracker):
            continue
        if t.up is None:
            init = "INIT"
        elif t.runs == 0 and t.script.init_fail:
            init = "INIT/FAILED"
        else:
            init = "unknown"    # keepalived prints its SCRIPT_INIT_STATE_DONE so
        out[name] = ScriptFacts(name=name, result=t.result, good=t.result >= t.rise, init_state=init)
    return out


def _track_files(engine) -> dict[str, TrackFileFacts]:
    out = {}
    if engine.tracking is None:
        return out
    for (kind, name), t in engine.tracking.trackers.items():
        if kind == "file":
            out[name] = TrackFileFacts(name=name, status=int(getattr(t, "value", 0) or 0))
    return out


def _processes(engine) -> dict[str, ProcessFacts]:
    out = {}
    if engine.tracking is None:
        return out
    for (kind, name), t in engine.tracking.trackers.items():
        if kind == "process":
            out[name] = ProcessFacts(name=name, current=int(getattr(t, "count", 0) or 0), have_quorum=bool(t.up))
    return out


def _sysfs(ifname: str, what: str) -> str | None:
    try:
        with open(f"/sys/class/net/{ifname}/{what}") as f:
            return f.read().strip()
    except OSError:
        return None


def _int(text: str | None, base: int = 10) -> int | None:
    try:
        return int(text, base) if text is not None else None
    except ValueError:
        return None


def _interfaces(engine) -> tuple[InterfaceFacts, ...]:
    host = engine.host
    links = getattr(getattr(host, "links", None), "links", None)
    if not links:
        return ()
    out = []
    for link in sorted(links.values(), key=lambda x: x.index):
        addrs = host.links.addresses_on(link.ifname)
        v4 = tuple(a.address for a in addrs if a.family == 4 or ":" not in a.address)
        v6 = tuple(a.address for a in addrs if ":" in a.address)
        mac = _sysfs(link.ifname, "address")
        out.append(InterfaceFacts(
            name=link.ifname, index=link.index, ipv4=v4, ipv6=v6,
            mac=mac if mac and mac != "00:00:00:00:00:00" else None,
            broadcast=_sysfs(link.ifname, "broadcast"), admin_up=link.admin_up, running=link.carrier,
            flags=_int(_sysfs(link.ifname, "flags"), 16), mtu=_int(_sysfs(link.ifname, "mtu")),
            hw_type=_int(_sysfs(link.ifname, "type"))))
    return tuple(out)


def _sockets(engine) -> tuple[SocketFacts, ...]:
    out = []
    links = engine.dispatch.links if engine.dispatch is not None else {}
    for (ifname, fam), g in links.items():
        sock = getattr(g.sock, "sock", None)
        try:
            fd = sock.fileno() if sock is not None else None
        except OSError:
            fd = None
        insts = tuple(sorted((d.inst.name, d.inst.vrid) for d in g.drivers.values()))
        unicast = bool(g.drivers) and all(d.inst.unicast_peers for d in g.drivers.values())
        out.append(SocketFacts(fd, ifname, 6 if fam == socket.AF_INET6 else 4, unicast, insts))
    return tuple(out)


def _virtual_servers(engine) -> tuple[VirtualServerFacts | None, ...]:
    lvs = engine.lvs
    runner = getattr(lvs, "runner", None)
    if runner is None:
        return ()
    out: list[VirtualServerFacts | None] = []
    for vs in engine.config.virtual_servers:
        try:
            st = runner.vs(vs)
        except KeyError:
            out.append(None)
            continue
        desired = {(d.address, d.port) for d in st.destinations() if not d.sorry}
        reals = []
        for r in st.reals:
            checkers = tuple(CheckerFacts(kind=c.checker.kind, up=c.up, has_run=c.has_run,
                                          enabled=not c.unsupported, failures=c.failures,
                                          weight=c.delta or 0) for c in r.checkers)
            reals.append(RealServerFacts(alive=r.alive, weight=r.weight,
                                         set=(r.config.address, r.port) in desired,
                                         failed_checkers=sum(1 for c in r.checkers
                                                             if not c.up and not c.unsupported),
                                         checkers=checkers))
        out.append(VirtualServerFacts(quorum_up=st.quorum_up, sorry_active=st.sorry_active, reals=tuple(reals)))
    return tuple(out)


def _uid_gid(config: Config) -> tuple[int, int]:
    import grp
    import pwd

    gd = config.global_defs
    try:
        if gd.script_user:
            pw = pwd.getpwnam(gd.script_user)
            gid = grp.getgrnam(gd.script_group).gr_gid if gd.script_group else pw.pw_gid
            return pw.pw_uid, gid
    except (KeyError, OSError):
        pass
    return 0, 0


def _umask() -> int:
    try:
        with open(f"/proc/{os.getpid()}/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022


def collect(engine) -> Facts:
    """What the running engine knows now (no change to anything)."""
    insts = {name: _instance(engine, name, d) for name, d in engine.drivers.items()}
    groups = {g.name: engine.sync.state(g.name) if engine.sync else None for g in engine.config.sync_groups}
    lvs = engine.lvs
    return Facts(
        now=time.time(), pid=os.getpid(), hostname=socket.gethostname(), umask=_umask(),
        script_uid_gid=_uid_gid(engine.config),
        ipvs_version="1.2.1" if lvs is not None and getattr(lvs, "kernel", None) is not None else None,
        instances=insts, sync_groups=groups, scripts=_scripts(engine), track_files=_track_files(engine),
        processes=_processes(engine), interfaces=_interfaces(engine), sockets=_sockets(engine),
        virtual_servers=_virtual_servers(engine),
        run_vrrp=getattr(engine, "run_vrrp", True), run_checkers=getattr(engine, "run_checkers", True))
