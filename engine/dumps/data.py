"""SIGUSR1's data dumps in keepalived 2.2.7's text layout.

``render_vrrp`` is ``keepalived.data`` (global definitions, VRRP topology,
socket pool, sync groups, scripts, track files and processes, interfaces),
``render_check`` is ``keepalived_check.data`` (global definitions, SSL,
LVS topology, health checkers, checker track files) and ``render_parent``
is ``keepalived_parent.data`` (global definitions).  Line shapes follow
keepalived's dump functions (vrrp_data.c, check_data.c, check_api.c,
global_data.c, vrrp_if.c) so the parsers written against them (the
exporter reads ``VRRP Topology`` and ``VRRP Scripts``) keep working.

What is printed is what vipdeck knows.  Lines about keepalived internals we
do not have (netlink buffer positions, interface debounce timers, the
libnftnl version, ARP settings we never change) are left out rather than
made up; keepalived itself says this format may change between versions.
Secrets keepalived prints in clear (``Password = `` of a VRRP instance,
the SSL key ``Password :``) are ``********`` here.
"""

from __future__ import annotations

import shlex
import time

from vipdeck.engine.config.model import (MASK, NFTABLES_TABLE, AuthType, Checker, Config, DnsCheck, FileCheck,
                                         HttpCheck, MiscCheck, Notify, RealServer, SmtpCheck, TrackRef, UdpCheck,
                                         VirtualIp, VirtualServer, VrrpInstance)
from vipdeck.engine.dumps.facts import Facts, InstanceFacts
from vipdeck.engine.dumps.paths import other_args

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
STATE_CODES = {"INIT": 0, "BACKUP": 1, "MASTER": 2, "FAULT": 3, "STOP": 98}


# --------------------------------------------------------------------------- small formats


def tstamp(t: float) -> str:
    """``%ld.%6.6ld``: seconds and microseconds."""
    sec = int(t)
    usec = int(round((t - sec) * 1e6))
    if usec >= 1000000:
        sec, usec = sec + 1, usec - 1000000
    return f"{sec}.{usec:06d}"


def ctime_us(t: float) -> str:
    """keepalived's ctime_us_r: ``Tue Dec  1 20:56:17.709752 2026`` (local time, C locale)."""
    sec, usec = tstamp(t).split(".")
    tm = time.localtime(int(sec))
    return (f"{_DAYS[tm.tm_wday]} {_MONTHS[tm.tm_mon - 1]} {tm.tm_mday:2d} "
            f"{tm.tm_hour:02d}:{tm.tm_min:02d}:{tm.tm_sec:02d}.{usec} {tm.tm_year}")


def when(t: float) -> str:
    return f"{tstamp(t)} ({ctime_us(t)})"


def cmd_str(command: str) -> str:
    """keepalived's cmd_str: every word in single quotes."""
    try:
        words = shlex.split(command)
    except ValueError:
        words = command.split()
    return " ".join(w if i == 0 and w[:1] in "<>" else f"'{w}'" for i, w in enumerate(words))


def onoff(b: bool, yes: str = "true", no: str = "false") -> str:
    return yes if b else no


def trio(address: str, protocol: str | None, port: int | None) -> str:
    """inet_sockaddrtotrio: ``[198.18.0.203]:tcp:80``."""
    proto = (protocol or "none").lower() if protocol not in ("FWM", None) else "none"
    return f"[{address}]:{proto}:{port or 0}"


def pair(address: str, port: int | None) -> str:
    """inet_sockaddrtopair: ``[198.18.0.203]:80``."""
    return f"[{address}]:{port or 0}"


def fmt_vs(vs: VirtualServer) -> str:
    """keepalived's FMT_VS."""
    if vs.group is not None:
        return f"[{vs.group}]:{vs.port or 0}"
    if vs.fwmark is not None:
        return f"FWM {vs.fwmark}"
    return trio(vs.address or "", vs.protocol, vs.port)


def fmt_ipaddress(v: VirtualIp, default_dev: str, is_set: bool) -> str:
    """format_ipaddress: ``198.18.77.199 dev eth0 scope global set``."""
    full = 32 if v.family == 4 else 128
    s = v.address if v.prefixlen == full else f"{v.address}/{v.prefixlen}"
    if v.family == 4 and v.brd:
        s += f" brd {v.brd}"
    s += f" dev {v.dev or default_dev} scope {v.scope or 'global'}"
    if v.label:
        s += f" label {v.label}"
    if v.no_track:
        s += " no_track"
    if v.family == 6:
        s += " preferred_lft forever"
    if is_set:
        s += " set"
    return s


def _inst_flag(inst: VrrpInstance, keyword: str) -> bool:
    for kw, args in inst.other:
        if kw == keyword:
            return not args or args[0].lower() in ("true", "yes", "on", "1")
    return False


def _global(config: Config, keyword: str, default: str) -> str:
    args = other_args(config, keyword)
    if args is None:
        return default
    return args[0] if args else "true"


def _gflag(config: Config, keyword: str) -> bool:
    args = other_args(config, keyword)
    return args is not None and (not args or args[0].lower() in ("true", "yes", "on", "1"))


def lower_prio_no_advert(config: Config, inst: VrrpInstance) -> bool:
    return inst.lower_prio_no_advert          # resolved by the parser (global default, strict mode)


def higher_prio_send_advert(config: Config, inst: VrrpInstance) -> bool:
    return inst.higher_prio_send_advert


def _nft_lines(config: Config) -> list[str]:
    """keepalived prints its table when it has one: configured, or wanted by no_accept / use_vmac."""
    gd = config.global_defs
    wanted = gd.nftables is not None or any(i.no_accept or i.vmacs for i in config.vrrp_instances)
    if not wanted:
        return []
    return [f" nftables table name = {gd.nftables or NFTABLES_TABLE}",
            f" nftables base chain priority = {gd.nftables_priority}",
            " nftables force use ifindex for link local IPv6"]


def accept(config: Config, inst: VrrpInstance) -> bool:
    """keepalived: accept unless strict mode, where it must be asked for."""
    if inst.accept is not None:
        return inst.accept
    return not (inst.strict_mode or config.global_defs.vrrp_strict)


def garp_lower(inst: VrrpInstance) -> tuple[float, int]:
    delay = inst.garp_lower_prio_delay if inst.garp_lower_prio_delay is not None else inst.garp_master_delay
    rep = inst.garp_lower_prio_repeat if inst.garp_lower_prio_repeat is not None else inst.garp_master_repeat
    return delay, rep


def _smtp_default(v: bool | None) -> str:
    return "unset" if v is None else onoff(v, "on", "off")


# --------------------------------------------------------------------------- global definitions


def global_lines(config: Config, facts: Facts, *, vrrp: bool) -> list[str]:
    gd = config.global_defs
    g = lambda kw, d: _global(config, kw, d)  # noqa: E731
    out = ["------< Global definitions >------"]
    ns = other_args(config, "net_namespace")
    out.append(f" Network namespace = {ns[0] if ns else '(default)'}")
    ns_ipvs = other_args(config, "net_namespace_ipvs")
    out.append(f" Network namespace ipvs = {(ns_ipvs[0] if ns_ipvs and ns_ipvs[0] else '(default)') if ns_ipvs is not None else '(main namespace)'}")
    inst = other_args(config, "instance")
    if inst:
        out.append(f" Instance name = {inst[0]}")
    out.append(f" Router ID = {gd.router_id or facts.hostname}")
    if gd.smtp_server:
        out.append(f" Smtp server = {gd.smtp_server}")
        out.append(f" Smtp server port = {gd.smtp_port}")
        if gd.smtp_helo_name:
            out.append(f" Smtp HELO name = {gd.smtp_helo_name}")
        out.append(f" Smtp server connection timeout = {int(gd.smtp_connect_timeout)}")
    if gd.notification_email_from:
        out.append(f" Email notification from = {gd.notification_email_from}")
        out.append(" Email notification to:")
        out += [f"   {e}" for e in gd.notification_email]
    out += [
        f" Default smtp_alert = {_smtp_default(gd.smtp_alert)}",
        f" Default smtp_alert_vrrp = {_smtp_default(gd.smtp_alert_vrrp)}",
        f" Default smtp_alert_checker = {_smtp_default(gd.smtp_alert_checker)}",
        f" Checkers log all failures = {onoff(_gflag(config, 'checker_log_all_failures'))}",
        " No test config before reload",
    ]
    if _gflag(config, "data_use_instance"):
        out.append(" Use instance name in data dumps")
    for kw, label, sep in (("startup_script", "Startup script", ","), ("shutdown_script", "Shutdown script", "")):
        args = other_args(config, kw)
        if args:
            t = other_args(config, kw + "_timeout")
            uid, gid = facts.script_uid_gid
            out.append(f" {label} = {cmd_str(args[0])}, uid:gid {uid}:{gid}{sep} timeout {t[0] if t else 10}")
    out.append(f" Dynamic interfaces = {onoff(gd.dynamic_interfaces)}")
    if _gflag(config, "no_email_faults"):
        out.append(" Send emails for fault transitions = off")
    to = gd.lvs_timeouts
    if to is not None:
        # keepalived 2.2.7 labels the UDP timeout "LVS TCP timeout" too; kept for its readers
        out += [f" {label} = {v}" for label, v in (("LVS TCP timeout", to.tcp), ("LVS TCP FIN timeout", to.tcpfin),
                                                  ("LVS TCP timeout", to.udp)) if v]
    if vrrp:
        out.append(f" Default interface = {g('default_interface', 'eth0')}")
    out.append(f" Disable local IGMP = {onoff(_gflag(config, 'disable_local_igmp'), 'yes', 'no')}")
    sd = gd.lvs_sync_daemon
    if sd is not None:
        if sd.instance:
            out.append(f" LVS syncd vrrp instance = {sd.instance}")
        out += [f" LVS syncd interface = {sd.interface}", f" LVS syncd syncid = {sd.syncid}"]
        if sd.maxlen:
            out.append(f" LVS syncd maxlen = {sd.maxlen}")
        if sd.group:
            out.append(f" LVS mcast group {sd.group}")
        if sd.port:
            out.append(f" LVS syncd mcast port = {sd.port}")
        if sd.ttl:
            out.append(f" LVS syncd mcast ttl = {sd.ttl}")
    out += [
        f" LVS flush = {onoff(gd.lvs_flush)}",
        f" LVS flush on stop = {gd.lvs_flush_on_stop or 'disabled'}",
        f" FIFO write vrrp states on reload = {onoff(_gflag(config, 'fifo_write_vrrp_states_on_reload'))}",
        f" VRRP notify priority changes = {onoff(_gflag(config, 'vrrp_notify_priority_changes'))}",
        f" VRRP IPv4 mcast group = {gd.vrrp_mcast_group4}",
        f" VRRP IPv6 mcast group = {gd.vrrp_mcast_group6}",
        f" Gratuitous ARP delay = {int(gd.vrrp_garp_master_delay)}",
        f" Gratuitous ARP repeat = {gd.vrrp_garp_master_repeat}",
        f" Gratuitous ARP refresh timer = {int(gd.vrrp_garp_master_refresh)}",
        f" Gratuitous ARP refresh repeat = {gd.vrrp_garp_master_refresh_repeat}",
        " Gratuitous ARP lower priority delay = "
        f"{int(gd.vrrp_garp_lower_prio_delay if gd.vrrp_garp_lower_prio_delay is not None else gd.vrrp_garp_master_delay)}",
        " Gratuitous ARP lower priority repeat = "
        f"{gd.vrrp_garp_lower_prio_repeat if gd.vrrp_garp_lower_prio_repeat is not None else gd.vrrp_garp_master_repeat}",
        f" Num adverts before down = {g('vrrp_down_timer_adverts', '3')}",
        f" Gratuitous ARP for each secondary VMAC = {g('vrrp_garp_extra_if', '0')}s",
        f" Send advert after receive lower priority advert = {onoff(not gd.vrrp_lower_prio_no_advert)}",
        f" Send advert after receive higher priority advert = {onoff(gd.vrrp_higher_prio_send_advert)}",
        f" Gratuitous ARP interval = {gd.vrrp_garp_interval:f}",
        f" Gratuitous NA interval = {gd.vrrp_gna_interval:f}",
        f" VRRP default protocol version = {gd.vrrp_version}",
        *_nft_lines(config),
        f" nftables with{'' if gd.nftables_counters else 'out'} counters",
        f" VRRP check unicast_src = {onoff(gd.vrrp_check_unicast_src)}",
        f" VRRP skip check advert addresses = {onoff(gd.vrrp_skip_check_adv_addr)}",
        f" VRRP strict mode = {onoff(gd.vrrp_strict)}",
        f" Max auto priority = {g('max_auto_priority', '0')}",
        f" Min auto priority delay = {g('min_auto_priority_delay', '1000000')} usecs",
    ]
    for half, kw in (("VRRP", "vrrp"), ("Checker", "checker"), ("BFD", "bfd")):
        out += [
            f" {half} process priority = {g(kw + '_priority', '0')}",
            f" {half} don't swap = {onoff(_gflag(config, kw + '_no_swap'))}",
            f" {half} realtime priority = {g(kw + '_rt_priority', '0')}",
            f" {half} realtime limit = {g(kw + '_rlimit_rttime', '10000')}",
        ]
    out += [
        " SNMP vrrp disabled", " SNMP checker disabled", " SNMP RFCv2 disabled", " SNMP RFCv3 disabled",
        " SNMP traps disabled", f" SNMP socket = {g('snmp_socket', 'default (unix:/var/agentx/master)')}",
        " DBus disabled", f" DBus service name = {g('dbus_service_name', '')}",
        f" Script security {onoff(gd.enable_script_security, 'enabled', 'disabled')}",
        f" Default script uid:gid {facts.script_uid_gid[0]}:{facts.script_uid_gid[1]}",
    ]
    for kw in ("vrrp_netlink_cmd_rcv_bufs", "vrrp_netlink_monitor_rcv_bufs", "process_monitor_rcv_bufs",
               "lvs_netlink_cmd_rcv_bufs", "lvs_netlink_monitor_rcv_bufs"):
        out.append(f" {kw} = {g(kw, '0')}")
        out.append(f" {kw}_force = {1 if _gflag(config, kw + '_force') else 0}")
    # keepalived prints the process_monitor pair after the vrrp ones and the lvs pairs last: same order
    out += [
        f" rs_init_notifies = {1 if _gflag(config, 'rs_init_notifies') else 0}",
        f" no_checker_emails = {1 if _gflag(config, 'no_checker_emails') else 0}",
        f" rx_bufs_multiples = {g('vrrp_rx_bufs_multiplier', '3')}",
        f" umask = 0{facts.umask:o}",
    ]
    delay = other_args(config, "vrrp_startup_delay")
    if delay:
        out.append(f" vrrp_startup_delay = {float(delay[0]):g}")
    return out


# --------------------------------------------------------------------------- VRRP


def _track_lines(config: Config, refs: tuple[TrackRef, ...], kind: str) -> list[str]:
    out = []
    for r in refs:
        if kind == "script":
            s = config.script(r.name)
            w = r.weight if r.weight is not None else (s.weight if s else 0)
            rev = r.reverse or bool(s and s.weight_reverse and r.weight is None)
            out.append(f"     {r.name} weight {w}{' reverse' if rev else ''}")
        elif kind == "interface":
            out.append(f"     {r.name} weight {r.weight or 0}{' reverse' if r.reverse else ''}")
        elif kind == "file":
            f = config.track_file(r.name)
            w = r.weight if r.weight is not None else (f.weight if f else 1)
            out.append(f"     {r.name}, weight {w}{' reverse' if r.reverse else ''}")
        else:
            p = config.track_process(r.name)
            w = r.weight if r.weight is not None else (p.weight if p else 0)
            out.append(f"     {r.name}, weight {w}{' reverse' if r.reverse else ''}")
    return out


def _notify_lines(n: Notify | None, label: str, uid_gid: tuple[int, int]) -> list[str]:
    if n is None:
        return []
    return [f"   {label} state transition script = {cmd_str(n.command)}, uid:gid {uid_gid[0]}:{uid_gid[1]}"]


def instance_lines(config: Config, inst: VrrpInstance, f: InstanceFacts, facts: Facts) -> list[str]:
    gd = config.global_defs
    grp = config.sync_group_of(inst.name)
    out = [f" VRRP Instance = {inst.name}", f"   VRRP Version = {inst.version}"]
    if grp is not None:
        out.append(f"   Sync group = {grp.name}")
    if inst.family == 6:
        out.append("   Using Native IPv6")
    out.append(f"   State = {f.state if f.state in STATE_CODES and f.state != 'STOP' else 'unknown'}")
    if f.state == "BACKUP":
        out.append(f"   Master router = {f.master_address or '0.0.0.0'}")
        out.append(f"   Master priority = {f.master_priority}")
        if inst.version == 3:
            out.append(f"   Master advert int = {f.master_adver_int:.2f} sec")
    if inst.unicast_peers:
        out += ["   Flags:", "     Using unicast"]
    else:
        out.append("   Flags: none")
    if inst.unicast_fault_no_peer:
        out.append("     If unicast go to fault state if no peers")
    out += [
        f"   Wantstate = {f.wantstate}",
        f"   Number of config faults = {int(inst.unicast_no_peer)}",
        f"   Number of interface and track script faults = {f.script_if_faults}",
        f"   Number of track scripts init = {f.scripts_init}",
        f"   Last transition = {when(f.last_transition)}",
        "   Read timeout = DISABLED" if f.read_timeout is None else f"   Read timeout = {when(f.read_timeout)}",
        f"   Master down timer = {int(round(f.master_down_timer * 1e6))} usecs",
        f"   Interface = {inst.vmac.name if inst.vmac else inst.interface}",
    ]
    if inst.vmac is not None:
        # keepalived's data dump: the VMAC, then where it is configured
        out.append(f"   Use VMAC, i/f name {inst.vmac.name}, is_up = {onoff(f.vmac_up, 'true', 'false')}, "
                   f"xmit_base = {onoff(inst.vmac_xmit_base, 'true', 'false')}")
        out.append(f"   Configured interface = {inst.interface}")
    if inst.use_vmac_addr:
        out.append("   Use VMAC for VIPs on other interfaces")
    if inst.dont_track_primary:
        out.append("   VRRP interface tracking disabled")
    if gd.vrrp_skip_check_adv_addr:
        out.append("   Skip checking advert IP addresses")
    if inst.strict_mode or gd.vrrp_strict:
        out.append("   Enforcing strict VRRP compliance")
    configured = inst.unicast_src_ip or inst.mcast_src_ip
    out.append(f"   Using src_ip = {f.src_ip or '(none)'}{' (from configuration)' if configured else ''}")
    if not inst.unicast_peers:
        if inst.family == 4:
            out.append(f"   Multicast address {inst.mcast_group}")
        else:
            out.append(f"   Multicast address {inst.mcast_group}, ifindex {f.ifindex or 0}")
    lo_delay, lo_rep = garp_lower(inst)
    out += [
        f"   Gratuitous ARP delay = {int(inst.garp_master_delay)}",
        f"   Gratuitous ARP repeat = {inst.garp_master_repeat}",
        f"   Gratuitous ARP refresh = {int(inst.garp_master_refresh)}",
        f"   Gratuitous ARP refresh repeat = {inst.garp_master_refresh_repeat}",
        f"   Gratuitous ARP lower priority delay = {int(lo_delay)}",
        f"   Gratuitous ARP lower priority repeat = {lo_rep}",
        f"   Down timer adverts = {_global(config, 'vrrp_down_timer_adverts', '3')}",
        f"   Send advert after receive lower priority advert = {onoff(not lower_prio_no_advert(config, inst))}",
        f"   Send advert after receive higher priority advert = {onoff(higher_prio_send_advert(config, inst))}",
        f"   Virtual Router ID = {inst.vrid}",
        f"   Priority = {inst.priority}",
        f"   Effective priority = {f.effective_priority}",
        f"   Total priority = {f.total_priority}",
    ]
    if inst.version == 2:
        out.append(f"   Advert interval = {int(inst.advert_int)} sec")
    else:
        out.append(f"   Advert interval = {int(round(inst.advert_int * 1000))} milli-sec")
    if f.state == "BACKUP" and inst.version == 3:
        out.append(f"   Master advert interval = {int(round(f.master_adver_int * 1000))} milli-sec")
    out.append(f"   Accept = {onoff(accept(config, inst), 'enabled', 'disabled')}")
    out.append(f"   Preempt = {onoff(inst.nopreempt, 'disabled', 'enabled')}")
    if inst.preempt_delay:
        out.append(f"   Preempt delay = {inst.preempt_delay:g} secs")
    out.append(f"   Promote_secondaries = {onoff(_inst_flag(inst, 'promote_secondaries'), 'enabled', 'disabled')}")
    auth = inst.authentication
    if auth is not None and auth.auth_type != AuthType.NONE:
        out.append(f"   Authentication type = {'IPSEC_AH' if auth.auth_type == AuthType.AH else 'SIMPLE_PASSWORD'}")
        if auth.auth_type == AuthType.PASS:
            out.append(f"   Password = {MASK}")
    elif inst.version == 2:
        out.append("   Authentication type = none")
    if inst.debug:
        out.append(f"   Debug level = {inst.debug}")
    if inst.virtual_ipaddresses:
        out.append(f"   Virtual IP ({len(inst.virtual_ipaddresses)}):")
        out += [f"     {fmt_ipaddress(v, inst.interface, f.vips_set.get(str(v), False))}"
                for v in inst.virtual_ipaddresses]
    if inst.virtual_ipaddresses_excluded:
        out.append("   Virtual IP Excluded :")
        out += [f"     {fmt_ipaddress(v, inst.interface, f.vips_set.get(str(v), False))}"
                for v in inst.virtual_ipaddresses_excluded]
    if inst.unicast_peers:
        if inst.unicast_ttl is not None:
            out.append(f"   Unicast TTL = {inst.unicast_ttl}")
        out.append(f"   Check unicast src : {onoff(inst.check_unicast_src, 'yes', 'no')}")
        out.append("   Unicast Peer :")
        ttl = {p: (lo, hi) for p, lo, hi in inst.unicast_peer_ttl}
        out += [f"     {p} min_ttl {ttl.get(p, (0, 255))[0]} max_ttl {ttl.get(p, (0, 255))[1]}"
                for p in inst.unicast_peers]
    out.append("   No sockets allocated" if f.fd is None else f"   fd_in {f.fd}, fd_out {f.fd}")
    if inst.virtual_routes:
        out.append("   Virtual Routes :")
        out += [f"     {' '.join(r.words)}" for r in inst.virtual_routes]
    if inst.virtual_rules:
        out.append("   Virtual Rules :")
        out += [f"     {' '.join(r.words)}" for r in inst.virtual_rules]
    for refs, kind, label in ((inst.track_interfaces, "interface", "Tracked interfaces"),
                              (inst.track_scripts, "script", "Tracked scripts"),
                              (inst.track_files, "file", "Tracked files"),
                              (inst.track_processes, "process", "Tracked processes")):
        if refs:
            out.append(f"   {label} :")
            out += _track_lines(config, refs, kind)
    out.append(f"   Using smtp notification = {onoff(inst.smtp_alert, 'yes', 'no')}")
    out.append(f"   Notify deleted = {'Deleted' if _inst_flag(inst, 'notify_deleted') else 'Fault'}")
    ug = facts.script_uid_gid
    out += _notify_lines(inst.notify_backup, "Backup", ug)
    out += _notify_lines(inst.notify_master, "Master", ug)
    out += _notify_lines(inst.notify_fault, "Fault", ug)
    out += _notify_lines(inst.notify_stop, "Stop", ug)
    out += _notify_lines(inst.notify, "Generic", ug)
    out += _notify_lines(inst.notify_master_rx_lower_pri, "Master rx lower pri", ug)
    notify_prio = _inst_flag(inst, "notify_priority_changes") or _gflag(config, "vrrp_notify_priority_changes")
    out.append(f"   Notify priority changes = {onoff(notify_prio)}")
    return out


def _instance_facts(facts: Facts, inst: VrrpInstance) -> InstanceFacts:
    f = facts.instances.get(inst.name)
    return f if f is not None else InstanceFacts(name=inst.name, last_transition=facts.now)


def _trackers_of(config: Config, kind: str, name: str) -> list[str]:
    """``     VI_1, weight -20`` for each instance tracking this object."""
    out = []
    for inst in config.vrrp_instances:
        refs = {"script": inst.track_scripts, "file": inst.track_files,
                "process": inst.track_processes, "interface": inst.track_interfaces}[kind]
        grp = config.sync_group_of(inst.name)
        if grp is not None:
            refs = refs + {"script": grp.track_scripts, "file": grp.track_files,
                           "process": grp.track_processes, "interface": grp.track_interfaces}[kind]
        for r in refs:
            if r.name != name:
                continue
            if kind == "script":
                obj = config.script(name)
            elif kind == "file":
                obj = config.track_file(name)
            elif kind == "process":
                obj = config.track_process(name)
            else:
                obj = None
            w = r.weight if r.weight is not None else getattr(obj, "weight", 0)
            rev = r.reverse or (r.weight is None and getattr(obj, "weight_reverse", False))
            out.append(f"     {inst.name}, weight {w}{' reverse' if rev else ''}")
    if kind == "interface":   # an instance's own interface is tracked too (unless dont_track_primary)
        for inst in config.vrrp_instances:
            if inst.interface == name and not inst.dont_track_primary and not any(
                    r.name == name for r in inst.track_interfaces):
                out.append(f"     {inst.name}, weight 0")
    return out


def _script_lines(config: Config, facts: Facts) -> list[str]:
    out = []
    for s in config.vrrp_scripts:
        sf = facts.scripts.get(s.name)
        if sf is None:
            continue     # keepalived drops scripts nothing tracks
        rise = max(1, s.rise)
        uid, gid = facts.script_uid_gid
        out += [
            f" VRRP Script = {s.name}",
            f"   Command = {cmd_str(s.script)}",
            f"   Interval = {int(s.interval)} sec",
            f"   Timeout = {int(s.timeout if s.timeout else s.interval)} sec",
            f"   Weight = {s.weight}{' reverse' if s.weight_reverse else ''}",
            f"   Rise = {rise}",
            f"   Fall = {max(1, s.fall)}",
            f"   Result = {sf.result}",
            "   Insecure = no",
            f"   Init state = {sf.init_state}",
            f"   Status = {'GOOD' if sf.result >= rise else 'BAD'}",
            f"   Script uid:gid = {uid}:{gid}",
            "   VRRP instances :",
        ]
        trackers = _trackers_of(config, "script", s.name)
        if trackers:
            out.append("   Tracking instances :")
            out += trackers
        out.append(f"   State = {'running' if sf.running else 'idle'}")
    return out


def _track_file_lines(config: Config, facts: Facts) -> list[str]:
    out = []
    for t in config.track_files:
        tf = facts.track_files.get(t.name)
        out += [f" Track file = {t.name}", f"   File = {t.file}", f"   Status = {tf.status if tf else 0}",
                f"   Weight = {t.weight}{' reverse' if t.weight_reverse else ''}"]
        trackers = _trackers_of(config, "file", t.name)
        if trackers:
            out.append("   Tracking instances :")
            out += trackers
    return out


def _process_lines(config: Config, facts: Facts) -> list[str]:
    out = []
    for p in config.track_processes:
        pf = facts.processes.get(p.name)
        if pf is None:
            continue
        out += [f" VRRP Track process = {p.name}", f"   Process = {p.process}"]
        if p.parameters:
            out.append(f"   Parameters = {' '.join(p.parameters)}")
        if p.param_match is not None or p.parameters:
            out.append("   Param match" + ("" if p.param_match is None else f" = {p.param_match}"))
        out.append(f"   Min processes = {p.quorum}")
        if p.quorum_max is not None:
            out.append(f"   Max processes = {p.quorum_max}")
        term = p.terminate_delay if p.terminate_delay is not None else p.delay
        fork = p.fork_delay if p.fork_delay is not None else p.delay
        out += [
            f"   Current processes = {pf.current}",
            f"   Have quorum = {onoff(pf.have_quorum)}",
            f"   Weight = {p.weight}{' reverse' if p.weight_reverse else ''}",
            f"   Terminate delay = {term:f}s",
            f"   Fork delay = {fork:f}s",
            "   Fork delay timer not running",
            "   Terminate delay timer not running",
            f"   Full command = {onoff(p.full_command)}",
        ]
        trackers = _trackers_of(config, "process", p.name)
        if trackers:
            out.append("   Tracking instances :")
            out += trackers
    return out


def _sync_group_lines(config: Config, facts: Facts) -> list[str]:
    out = []
    ug = facts.script_uid_gid
    for grp in config.sync_groups:
        states = [_instance_facts(facts, config.instance(n)).state for n in grp.group if config.instance(n)]
        state = facts.sync_groups.get(grp.name) or (states[0] if states and len(set(states)) == 1 else "INIT")
        out += [f" VRRP Sync Group = {grp.name}, {state if state in STATE_CODES and state != 'STOP' else 'unknown'}",
                f"   Num member fault {states.count('FAULT')}, num member init {states.count('INIT')}"]
        if grp.group:
            out.append("   VRRP member instances :")
            out += [f"     {n}" for n in grp.group]
        if grp.sync_group_tracking_weight:
            out.append("   sync group tracking weight set")
        out.append(f"   Using smtp notification = {onoff(grp.smtp_alert, 'yes', 'no')}")
        for refs, kind, label in ((grp.track_interfaces, "interface", "Tracked interfaces"),
                                  (grp.track_scripts, "script", "Tracked scripts"),
                                  (grp.track_files, "file", "Tracked files"),
                                  (grp.track_processes, "process", "Tracked process")):
            if refs:
                out.append(f"   {label} :")
                out += _track_lines(config, refs, kind)
        out += _notify_lines(grp.notify_backup, "Backup", ug)
        out += _notify_lines(grp.notify_master, "Master", ug)
        out += _notify_lines(grp.notify_fault, "Fault", ug)
        out += _notify_lines(grp.notify_stop, "Stop", ug)
        out += _notify_lines(grp.notify, "Generic", ug)
    return out


def _sockpool_lines(facts: Facts) -> list[str]:
    out = []
    for s in facts.sockets:
        fd = "-1" if s.fd is None else str(s.fd)
        out += [f" fd_in {fd} fd_out = {fd}", f"   Interface = {s.interface}",
                f"   Family = IPv{s.family}", "   Protocol = VRRP",
                f"   Type = {'Unicast' if s.unicast else 'Multicast'}", "   Rx buf size = 0",
                "   VRRP instances"]
        out += [f"     {name} vrid {vrid}" for name, vrid in s.instances]
    return out


_IFF_BROADCAST, _IFF_LOOPBACK, _IFF_POINTOPOINT, _IFF_NOARP, _IFF_MULTICAST = 0x2, 0x8, 0x10, 0x80, 0x1000
_HW_TYPES = {1: "ETHERNET", 772: "LOOPBACK", 768: "IPIP", 776: "SIT", 778: "GRE", 65534: "NONE"}


def _interface_lines(config: Config, facts: Facts) -> list[str]:
    out = []
    for i in facts.interfaces:
        out += [f" Name = {i.name}", f"   index = {i.index}",
                f"   IPv4 address = {i.ipv4[0] if i.ipv4 else '(none)'}"]
        if len(i.ipv4) > 1:
            out.append("   Additional IPv4 addresses :")
            out += [f"     {a}" for a in i.ipv4[1:]]
        out.append(f"   IPv6 address = {i.ipv6[0] if i.ipv6 else '(none)'}")
        if len(i.ipv6) > 1:
            out.append("   Additional IPv6 addresses :")
            out += [f"     {a}" for a in i.ipv6[1:]]
        if i.mac:
            out.append(f"   MAC = {i.mac}")
            out.append(f"   MAC broadcast = {i.broadcast or 'ff:ff:ff:ff:ff:ff'}")
        flags = i.flags
        extra = ""
        if flags is not None:
            extra = (("" if flags & _IFF_BROADCAST else ", no broadcast") + (", loopback" if flags & _IFF_LOOPBACK else "")
                     + (", point to point" if flags & _IFF_POINTOPOINT else "") + (", no arp" if flags & _IFF_NOARP else "")
                     + ("" if flags & _IFF_MULTICAST else ", no multicast"))
        out.append(f"   State = {'' if i.admin_up else 'not '}UP, {'' if i.running else 'not '}RUNNING{extra}")
        if i.mtu is not None:
            out.append(f"   MTU = {i.mtu}")
        if i.hw_type is not None:
            out.append(f"   HW Type = {_HW_TYPES.get(i.hw_type, 'UNKNOWN (%d)' % i.hw_type)}")
        trackers = _trackers_of(config, "interface", i.name)
        if trackers:
            out.append("   Tracking VRRP instances :")
            out += trackers
    return out


def render_vrrp(config: Config, facts: Facts) -> str:
    """``keepalived.data``: what keepalived's VRRP process writes on SIGUSR1."""
    out = global_lines(config, facts, vrrp=True)
    if config.static_ipaddresses:
        out.append("------< Static Addresses >------")
        out += [f" {fmt_ipaddress(v, v.dev or '(null)', True)}" for v in config.static_ipaddresses]
    if config.static_routes:
        out.append("------< Static Routes >------")
        out += [f" {' '.join(r.words)}" for r in config.static_routes]
    if config.static_rules:
        out.append("------< Static Rules >------")
        out += [f" {' '.join(r.words)}" for r in config.static_rules]
    if config.vrrp_instances:
        out.append("------< VRRP Topology >------")
        for inst in config.vrrp_instances:
            out += instance_lines(config, inst, _instance_facts(facts, inst), facts)
    if facts.sockets:
        out.append("------< VRRP Sockpool >------")
        out += _sockpool_lines(facts)
    if config.sync_groups:
        out.append("------< VRRP Sync groups >------")
        out += _sync_group_lines(config, facts)
    scripts = _script_lines(config, facts)
    if scripts:
        out.append("------< VRRP Scripts >------")
        out += scripts
    files = _track_file_lines(config, facts)
    if files:
        out.append("------< VRRP Track files >------")
        out += files
    procs = _process_lines(config, facts)
    if procs:
        out.append("------< VRRP Track processes >------")
        out += procs
    if facts.interfaces:
        out.append("------< Interfaces >------")
        out += _interface_lines(config, facts)
    return "".join(line + "\n" for line in out)


def render_parent(config: Config, facts: Facts) -> str:
    """``keepalived_parent.data``: the global definitions."""
    return "".join(line + "\n" for line in global_lines(config, facts, vrrp=False))


# --------------------------------------------------------------------------- checkers


def _decimal(seconds: float) -> str:
    """format_decimal(x, TIMER_HZ_DIGITS): six decimals."""
    return f"{seconds:.6f}"


def _forwarding(prefix: str, fwd: str, indent: str = "   ") -> str:
    return f"{indent}{prefix}forwarding method = {fwd}"


def _checker_kind_lines(c: Checker, config: Config) -> list[str]:
    if isinstance(c, HttpCheck):
        out = [f"   Keepalive method = {c.kind}, http protocol {c.http_protocol}"]
        if c.virtualhost:
            out.append(f"   Virtualhost = {c.virtualhost}")
        out.append(f"   Enable SNI {'' if c.enable_sni else 'un'}set")
        out.append(f"   Fast recovery {'' if c.fast_recovery else 'un'}set")
        for u in c.urls:
            out.append(f"   Checked url = {u.path}")
            if u.digest:
                out.append(f"     digest = {u.digest}")
            out.append("     HTTP Status Code(s)")
            out += [f"       {lo}" if lo == hi else f"       {lo}-{hi}" for lo, hi in u.status_codes]
            if u.virtualhost:
                out.append(f"     Virtual host = {u.virtualhost}")
            if u.regex:
                out.append(f'     Regex = "{u.regex}"')
                if u.regex_no_match:
                    out.append("     Regex no match")
        return out
    if isinstance(c, MiscCheck):
        timeout = c.misc_timeout if c.misc_timeout is not None else c.delay_loop
        return ["   Keepalive method = MISC_CHECK", f"   script = {cmd_str(c.misc_path)}",
                f"   timeout = {int(timeout)}", f"   dynamic = {onoff(c.misc_dynamic, 'YES', 'NO')}"]
    if isinstance(c, SmtpCheck):
        return ["   Keepalive method = SMTP_CHECK", f"   helo = {c.helo_name or config.global_defs.smtp_helo_name or ''}"]
    if isinstance(c, DnsCheck):
        return ["   Keepalive method = DNS_CHECK", f"   Type = {c.type}", f"   Name = {c.name}"]
    if isinstance(c, UdpCheck):
        out = ["   Keepalive method = UDP_CHECK"]
        out.append(f"   Payload len = {len(c.payload)}" if c.payload else "   Payload specified = no")
        out.append(f"   Require reply = {onoff(c.require_reply, 'yes', 'no')}")
        if c.require_reply:
            out += [f"     Min reply length = {c.min_reply_length}", f"     Max reply length = {c.max_reply_length}"]
        return out
    if isinstance(c, FileCheck):
        return ["   Keepalive method = FILE_CHECK", f"     Tracked file = {c.track_file}", "     Reloaded = No"]
    if c.kind == "PING_CHECK":
        return ["   Keepalive method = PING_CHECK"]
    return [f"   Keepalive method = {c.kind}"]


def _rs_port(rs: RealServer, vs: VirtualServer) -> int | None:
    return rs.port if rs.port is not None else vs.port


def _checker_lines(config: Config, facts: Facts) -> list[str]:
    out = []
    for k, vs in enumerate(config.virtual_servers):
        vf = facts.virtual_servers[k] if k < len(facts.virtual_servers) else None
        for j, rs in enumerate(vs.real_servers):
            rf = vf.reals[j] if vf is not None and j < len(vf.reals) else None
            for n, c in enumerate(rs.checkers):
                cf = rf.checkers[n] if rf is not None and n < len(rf.checkers) else None
                up = cf.up if cf is not None else not c.alpha
                out += [f" {fmt_vs(vs)} -> {trio(c.connect_ip, vs.protocol, c.connect_port)}",
                        f"   Enabled = {onoff(cf.enabled if cf else True, 'yes', 'no')}",
                        f"   Up = {onoff(up, 'yes', 'no')}",
                        f"   Has run = {onoff(cf.has_run if cf else False, 'yes', 'no')}",
                        f"   Current weight = {cf.weight if cf else 0}"]
                if not isinstance(c, FileCheck):
                    warm = c.warmup if c.warmup is not None else c.delay_loop
                    out += [f"   Alpha = {onoff(c.alpha, 'yes', 'no')}",
                            f"   Delay loop = {int(round(c.delay_loop * 1e6))} us",
                            f"   Warmup = {int(round(warm * 1e6))} us",
                            f"   Retries = {c.retry}"]
                    if c.retry:
                        out += [f"   Delay before retry = {int(round(c.delay_before_retry * 1e6))} us",
                                f"   Retries iterations = {min(cf.failures, c.retry) if cf else 0}"]
                    out.append(f"   Default delay before retry = {int(round(c.delay_before_retry * 1e6))} us")
                log_all = c.log_all_failures or _gflag(config, "checker_log_all_failures")
                out.append(f"   Log all failures = {onoff(log_all, 'yes', 'no')}")
                if not isinstance(c, (MiscCheck, FileCheck)):
                    out += ["   Connection", f"     Dest = {pair(c.connect_ip, c.connect_port)}"]
                    if c.bindto:
                        out.append(f"     Bind to = {pair(c.bindto, c.bind_port)}")
                    if c.bind_if:
                        out.append(f"     Bind i/f = {c.bind_if}")
                    if c.fwmark:
                        out.append(f"     Mark = {c.fwmark}")
                    out.append(f"     Timeout = {c.connect_timeout:f}")
                out += _checker_kind_lines(c, config)
    return out


def _vs_lines(config: Config, vs: VirtualServer, vf, facts: Facts) -> list[str]:
    ug = facts.script_uid_gid
    out = [" ------< Virtual server >------"]
    if vs.group is not None:
        out.append(f" VS GROUP = {fmt_vs(vs)}")
    elif vs.fwmark is not None:
        out.append(f" VS FWMARK = {vs.fwmark}")
    else:
        out.append(f" VS VIP = {vs.address}, VPORT = {vs.port or 0}")
    if vs.virtualhost:
        out.append(f"   VirtualHost = {vs.virtualhost}")
    fam = vs.ip_family or (6 if vs.address and ":" in vs.address else 4 if vs.address else None)
    out.append(f"   Address family = {'inet' if fam == 4 else 'inet6' if fam == 6 else 'unknown'}")
    timeout = vs.real_servers[0].checkers[0].connect_timeout if vs.real_servers and vs.real_servers[0].checkers else 5.0
    out += [f"   connection timeout = {_decimal(timeout)}", f"   delay_loop = {_decimal(vs.delay_loop)}",
            f"   lvs_sched = {vs.scheduler}", "   Hashed = disabled"]
    flags = set(vs.sched_flags)
    if vs.scheduler in ("sh", "mh"):
        out += [f"   {vs.scheduler}-port = {'en' if vs.scheduler + '-port' in flags else 'dis'}abled",
                f"   {vs.scheduler}-fallback = {'en' if vs.scheduler + '-fallback' in flags else 'dis'}abled"]
    else:
        out += [f"   flag-{n} = {'en' if f'flag-{n}' in flags else 'dis'}abled" for n in (1, 2, 3)]
    out.append(f"   One packet scheduling = {'en' if vs.ops else 'dis'}abled"
               f"{' (inactive due to not UDP)' if vs.ops and vs.protocol != 'UDP' else ''}")
    if vs.persistence_timeout:
        out.append(f"   persistence timeout = {vs.persistence_timeout}")
    if vs.persistence_granularity:
        out.append(f"   persistence granularity = {vs.persistence_granularity}")
    out += [f"   protocol = {vs.protocol if vs.fwmark is None else 'none'}",
            f"   alpha is {onoff(vs.alpha, 'ON', 'OFF')}", f"   omega is {onoff(vs.omega, 'ON', 'OFF')}",
            f"   Inhibit on failure is {onoff(vs.inhibit_on_failure, 'ON', 'OFF')}",
            f"   quorum = {vs.quorum}, hysteresis = {vs.hysteresis}"]
    if vs.quorum_up:
        out.append(f"   Quorum up notify script = {cmd_str(vs.quorum_up.command)}, uid:gid {ug[0]}:{ug[1]}")
    if vs.quorum_down:
        out.append(f"   Quorum down notify script = {cmd_str(vs.quorum_down.command)}, uid:gid {ug[0]}:{ug[1]}")
    if vs.ha_suspend:
        out.append("   Using HA suspend")
    out.append(f"   Using smtp notification = {onoff(vs.smtp_alert, 'yes', 'no')}")
    out.append(_forwarding("default ", vs.forward.value))
    if vs.sorry_server is not None:
        s = vs.sorry_server
        out += [f"   sorry server = {trio(s.address, vs.protocol, s.port if s.port is not None else vs.port)}",
                _forwarding("", s.forward.value, indent="     "),
                f"     Inhibit on failure is {onoff(s.inhibit, 'ON', 'OFF')}"]
    quorum_up = vf.quorum_up if vf is not None else True
    alive = any(r.alive for r in vf.reals) if vf is not None else True
    out += [f"   alive = {int(alive)}", f"   quorum_state_up = {int(quorum_up)}", "   reloaded = 0"]
    for j, rs in enumerate(vs.real_servers):
        rf = vf.reals[j] if vf is not None and j < len(vf.reals) else None
        eff = rf.weight if rf is not None else rs.weight
        live = rf.alive if rf is not None else True
        first = rs.checkers[0] if rs.checkers else None
        out += ["   ------< Real server >------",
                f"   RIP = {rs.address}, RPORT = {_rs_port(rs, vs) or 0}, WEIGHT = {eff} EFF WEIGHT = {eff}",
                _forwarding("", rs.forward.value),
                f"   Alpha is {onoff(rs.alpha, 'ON', 'OFF')}",
                f"   connection timeout = {_decimal(first.connect_timeout if first else 5.0)}",
                f"   connection limit range = {rs.lthreshold or 0} -> {rs.uthreshold or 0}",
                f"   Delay loop = {_decimal(first.delay_loop if first else vs.delay_loop)}"]
        if first is not None:
            out += [f"   Retry count = {first.retry}", f"   Retry delay = {_decimal(first.delay_before_retry)}"]
            if first.warmup is not None:
                out.append(f"   Warmup = {_decimal(first.warmup)}")
        out.append(f"   Inhibit on failure is {onoff(rs.inhibit_on_failure, 'ON', 'OFF')}")
        if rs.notify_up:
            out.append(f"     RS up notify script = {cmd_str(rs.notify_up.command)}, uid:gid {ug[0]}:{ug[1]}")
        if rs.notify_down:
            out.append(f"     RS down notify script = {cmd_str(rs.notify_down.command)}, uid:gid {ug[0]}:{ug[1]}")
        if rs.virtualhost:
            out.append(f"    VirtualHost = '{rs.virtualhost}'")
        out += [f"   Using smtp notification = {onoff(rs.smtp_alert, 'yes', 'no')}",
                f"   initial weight = {rs.weight}", f"   effective weight = {eff}",
                f"   previous effective_weight = {eff}", f"   alive = {int(live)}",
                f"   num failed checkers = {rf.failed_checkers if rf else 0}",
                f"   RS set = {int(rf.set if rf else live)}", "   reloaded = 0"]
    return out


def render_check(config: Config, facts: Facts) -> str:
    """``keepalived_check.data``: what keepalived's checker process writes on SIGUSR1."""
    out = global_lines(config, facts, vrrp=False)
    ssl = config.ssl
    if ssl is not None:
        out.append("------< SSL definitions >------")
        if not (ssl.password or ssl.ca or ssl.certificate or ssl.key):
            out.append(" Using autogen SSL context")
        if ssl.password:
            out.append(f" Password : {MASK}")
        if ssl.ca:
            out.append(f" CA-file : {ssl.ca}")
        if ssl.certificate:
            out.append(f" Certificate file : {ssl.certificate}")
        if ssl.key:
            out.append(f" Key file : {ssl.key}")
    if config.virtual_servers:
        out.append("------< LVS Topology >------")
        out.append(f" System is compiled with LVS v{facts.ipvs_version or '1.2.1'}")
        for grp in config.virtual_server_groups:
            v4 = any(e.family == 4 or (e.first and ":" not in e.first) for e in grp.entries)
            v6 = any(e.family == 6 or (e.first and ":" in e.first) for e in grp.entries)
            out += [" ------< Virtual server group >------",
                    f" Virtual Server Group = {grp.name}, IPv4 = {onoff(v4, 'yes', 'no')}, IPv6 = {onoff(v6, 'yes', 'no')}"]
            for e in grp.entries:
                if e.fwmark is not None:
                    fam = " IPv4" if e.family == 4 else " IPv6" if e.family == 6 else ""
                    out += [f"   FWMARK = {e.fwmark}{fam}", "     Alive: 0 IPv4, 0 IPv6"]
                else:
                    if e.last and e.last != e.first:
                        out.append(f"   VIP Range = {e.first}-{e.last}, VPORT = {e.port or 0}")
                    else:
                        out.append(f"   VIP = {e.first}, VPORT = {e.port or 0}")
                    out.append("     Alive: 0 tcp, 0 udp, 0 sctp")
                out.append("     reloaded = False")
        for k, vs in enumerate(config.virtual_servers):
            vf = facts.virtual_servers[k] if k < len(facts.virtual_servers) else None
            out += _vs_lines(config, vs, vf, facts)
    checkers = _checker_lines(config, facts)
    if checkers:
        out.append("------< Health checkers >------")
        out += checkers
    return "".join(line + "\n" for line in out)


def state_code(state: str) -> int:
    return STATE_CODES.get(state, 0)


def vip_strings(inst: VrrpInstance, f: InstanceFacts, excluded: bool = False) -> list[str]:
    vips = inst.virtual_ipaddresses_excluded if excluded else inst.virtual_ipaddresses
    return [fmt_ipaddress(v, inst.interface, f.vips_set.get(str(v), False)) for v in vips]
