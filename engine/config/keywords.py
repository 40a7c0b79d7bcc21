"""Every keyword keepalived 2.2.7 and keepalived.conf(5) know, and what vipdeck does with it.

An operator who moves a working keepalived.conf here must be able to trust
that what ``vipdeck check`` calls OK is what will run.  So this table is the
one place that says, per keyword: *implemented* (the runtime acts on it),
*not implemented* (accepted, and a warning with file:line says what
keepalived would have done instead), or *refused* (an error: silently doing
something else would be dangerous, e.g. a split brain with a keepalived
peer).  The parser consults it for every keyword it reads
(``context.ParseContext.walk``), ``vipdeck check --strict`` fails on any
not-implemented keyword used, and the README's compatibility section is
generated from it (``python -m vipdeck.engine.config.compat --markdown``).

A keyword is implemented only when the runtime reads what the parser made of
it; a value parsed into the model that nothing acts on is not implemented.
Flipping a row when a feature lands is a one-line change: ``no(...)`` becomes
``yes(...)`` (``implemented(block, "a b c")`` names several at once).

``origin`` says who knows the keyword: ``both`` (keepalived 2.2.7's parser
and the reference man page), ``2.2.7`` (the parser only; mostly deprecated
spellings), ``man`` (the man page only; newer than 2.2.7), ``vipdeck`` (an
old keepalived 1.x name vipdeck accepts: the extensions).  The unit tests
hold the origins against the keyword lists of both sources.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Status(str, enum.Enum):
    IMPLEMENTED = "implemented"
    NOT_IMPLEMENTED = "not implemented"     # accepted; a warning says so
    REFUSED = "refused"                     # an error: what vipdeck would do instead is dangerous


@dataclass(frozen=True)
class Keyword:
    block: str                  # where it is written: a block name, or an option list (compat.BLOCKS)
    name: str                   # the keyword; "NAME VALUE" for a row about one value (auth_type AH)
    status: Status
    why: str = ""               # not implemented / refused: what vipdeck does instead (one line)
    keepalived: str = ""        # ... and what keepalived would have done ("keepalived would ...")
    note: str = ""              # implemented: how, where it differs in detail
    origin: str = "both"        # "both" | "2.2.7" | "man" | "vipdeck"
    inside: str = ""            # part of a block that is itself not implemented (warned about once)

    @property
    def implemented(self) -> bool:
        return self.status is Status.IMPLEMENTED

    def message(self) -> str:
        """The diagnostic for a use of this keyword (not for implemented ones)."""
        what = "is refused by vipdeck" if self.status is Status.REFUSED else "is not implemented by vipdeck"
        return f"'{self.name}' {what}: {self.why} (keepalived would {self.keepalived})"


def yes(block: str, name: str, note: str = "", origin: str = "both") -> Keyword:
    return Keyword(block, name, Status.IMPLEMENTED, note=note, origin=origin)


def implemented(block: str, names: str) -> tuple[Keyword, ...]:
    """Several implemented keywords of one block, named in one string."""
    return tuple(yes(block, name) for name in names.split())


GARP_LOWER_NOTE = "at most once a second; keepalived announces on every lower-priority advert"


def no(block: str, name: str, why: str, keepalived: str, origin: str = "both") -> Keyword:
    return Keyword(block, name, Status.NOT_IMPLEMENTED, why, keepalived, origin=origin)


def refuse(block: str, name: str, why: str, keepalived: str, origin: str = "both") -> Keyword:
    return Keyword(block, name, Status.REFUSED, why, keepalived, origin=origin)


def part(block: str, name: str, origin: str = "both") -> Keyword:
    """A keyword inside a block vipdeck does not implement: the block's own row speaks for it."""
    return Keyword(block, name, Status.NOT_IMPLEMENTED, f"part of {block}", f"use it within {block}",
                   origin=origin, inside=block)


_NO_SCHED = "vipdeck runs with the scheduling, priority and memory it was started with"
_SCHED = "set that process's scheduling, priority, CPU affinity or memory locking"
_SNMP = "vipdeck has no SNMP agent (vipdeck status --json and the control socket carry the state)"
_DBUS = "vipdeck has no D-Bus service (the control socket carries the state)"
_NLBUF = "kernel socket buffers keep their default sizes"
_NLSET, _NLFORCE = "size that netlink receive buffer", "size it even beyond net.core.rmem_max"
_PROCS = "vipdeck is one process; its name is vipdeck"
_RELOAD = "vipdeck reloads on SIGHUP only"

_ROWS: tuple[Keyword | tuple[Keyword, ...], ...] = (
    # ------------------------------------------------------------------ directives (lexer)
    yes("directives", "include", "a pattern that matches nothing is a warning"),
    yes("directives", "includer", "a missing file is an error"),
    yes("directives", "includem", "a pattern that matches nothing is an error"),
    yes("directives", "includew", "a pattern that matches nothing is an error"),
    yes("directives", "includeb", "a pattern that matches nothing is an error"),
    yes("directives", "includea", "a pattern that matches nothing is an error"),
    yes("directives", "@ID / @^ID", "conditional lines; the config id is -i, or the host name's first part"),
    yes("directives", "$NAME=VALUE", "parameter definitions and $NAME / ${NAME} substitution"),
    yes("directives", "~SEQ / ~SEQx / ~LST", "sequence and list blocks"),

    # ------------------------------------------------------------------ top level
    yes("top", "global_defs"),
    no("top", "net_namespace", "vipdeck runs in the namespace it is started in (use ip netns exec)",
       "move into that network namespace, with a private /run/keepalived"),
    no("top", "net_namespace_ipvs", "IPVS is programmed in vipdeck's own namespace",
       "program IPVS in that namespace"),
    no("top", "namespace_with_ipsets", "vipdeck uses no ipsets", "allow ipsets in a namespace on old kernels"),
    yes("top", "instance", "in the default pid file and dump file names, as keepalived"),
    yes("top", "use_pid_dir", "the default pid files go in /run/keepalived, as keepalived"),
    no("top", "linkbeat_use_polling", "links are watched through netlink only",
       "poll link state with ETHTOOL/MII ioctls"),
    no("top", "child_wait_time", "vipdeck is one process", "wait that long for its child processes at exit"),
    implemented("top", "vrrp_script track_file"),
    yes("top", "vrrp_track_file", "the old name of track_file", origin="2.2.7"),
    implemented("top", "vrrp_track_process vrrp_instance vrrp_sync_group static_ipaddress static_routes "
                       "static_rules virtual_server_group virtual_server SSL"),
    no("top", "bfd_instance", "vipdeck has no BFD; the block is checked so names resolve",
       "run a BFD session to the neighbour for track_bfd and BFD_CHECK"),
    no("top", "linkbeat_interfaces", "links are watched through netlink only",
       "poll these interfaces' link state with ETHTOOL/MII ioctls"),
    no("top", "interface_up_down_delays", "a link change takes effect at once",
       "wait the given time before acting on an interface going down or up"),
    no("top", "track_group", "static addresses and routes are not tracked",
       "put the group's instances in FAULT when one of its static addresses or routes goes away"),
    no("top", "garp_group", "gratuitous ARPs/NAs are spaced per instance (vrrp_garp_interval) only",
       "space them per group of interfaces"),
    part("linkbeat_interfaces", "(interface names)"),
    part("track_group", "group"),
    part("interface_up_down_delays", "(interface delays)"),
    part("garp_group", "garp_interval"),
    part("garp_group", "gna_interval"),
    part("garp_group", "interface"),
    part("garp_group", "interfaces"),

    # ------------------------------------------------------------------ global_defs
    no("global_defs", "tmp_config_directory", "vipdeck reads the configuration once, in one process",
       "copy the configuration there for its child processes"),
    no("global_defs", "config_save_dir", "reloads are not recorded", "save the configuration around each reload"),
    no("global_defs", "process_names", _PROCS, "name its processes"),
    no("global_defs", "process_name", _PROCS, "name its parent process"),
    no("global_defs", "vrrp_process_name", _PROCS, "name its VRRP process"),
    no("global_defs", "checker_process_name", _PROCS, "name its checker process"),
    no("global_defs", "lvs_process_name", _PROCS, "name its checker process (old name)", origin="2.2.7"),
    no("global_defs", "bfd_process_name", _PROCS, "name its BFD process"),
    yes("global_defs", "use_symlink_paths", "scripts always run by the path written", origin="man"),
    yes("global_defs", "startup_script", "run once before anything else starts; a failure is logged, start goes on"),
    yes("global_defs", "startup_script_timeout", "then the script's process group is killed (default 10 s)"),
    yes("global_defs", "shutdown_script", "run once after the clean shutdown, before the pid file goes"),
    yes("global_defs", "shutdown_script_timeout", "then the script's process group is killed (default 10 s)"),
    implemented("global_defs", "notification_email notification_email_from smtp_server smtp_helo_name "
                               "smtp_connect_timeout"),
    yes("global_defs", "smtp_alert", "the default for VRRP and checker mails"),
    yes("global_defs", "smtp_alert_vrrp"),
    yes("global_defs", "smtp_alert_checker", "the default for real- and virtual-server mails"),
    implemented("global_defs", "checker_log_all_failures no_email_faults router_id"),
    yes("global_defs", "lvs_id", "keepalived 1.x's name of router_id", origin="vipdeck"),
    implemented("global_defs", "vrrp_mcast_group4 vrrp_mcast_group6"),
    yes("global_defs", "default_interface", "the interface of static addresses without dev"),
    yes("global_defs", "lvs_sync_daemon", "the kernel's connection sync: master daemon while the instance is "
        "MASTER, backup otherwise (both without an instance); switched on transitions, stopped at exit"),
    yes("global_defs", "lvs_timeouts", "set at start and reload; the kernel's own values are put back at exit "
        "or when a reload drops them"),
    yes("global_defs", "lvs_flush", "the whole IPVS table is flushed at start (not on reload)"),
    yes("global_defs", "lvs_flush_on_stop", "the whole IPVS table is flushed at exit; 'VS' (and the default) "
        "deletes only vipdeck's services, their real servers with them"),
    yes("global_defs", "lvs_flush_onstop", "the old name of lvs_flush_on_stop", origin="2.2.7"),
    implemented("global_defs", "vrrp_garp_master_delay vrrp_garp_master_repeat"),
    yes("global_defs", "vrrp_garp_lower_prio_delay", GARP_LOWER_NOTE),
    yes("global_defs", "vrrp_garp_lower_prio_repeat", GARP_LOWER_NOTE),
    implemented("global_defs", "vrrp_garp_master_refresh vrrp_garp_master_refresh_repeat vrrp_garp_interval "
                               "vrrp_gna_interval"),
    no("global_defs", "vrrp_min_garp", "the garp_master_* settings apply", "send one gratuitous ARP/NA and no repeat"),
    no("global_defs", "vrrp_garp_extra_if", "gratuitous ARPs go out only after a transition and on refresh",
       "send them periodically on the other interfaces of VIPs"),
    no("global_defs", "vrrp_vmac_garp_intvl", "gratuitous ARPs go out only after a transition and on refresh",
       "send them periodically on the other interfaces of VIPs (old name)", origin="2.2.7"),
    no("global_defs", "vrrp_down_timer_adverts", "Master_Down_Interval is always 3 adverts (RFC 5798)",
       "use that many adverts"),
    yes("global_defs", "vrrp_lower_prio_no_advert", "a master hearing a lower priority re-announces its VIPs "
        "but sends no advert at once (forced on by strict mode)"),
    yes("global_defs", "vrrp_higher_prio_send_advert", "a master hearing a higher priority sends one advert before "
        "it goes backup, so the other master re-announces its VIPs (a split brain healing)"),
    yes("global_defs", "vrrp_version"),
    no("global_defs", "v3_checksum_as_v2", "VRRPv3 IPv4 checksums include the pseudo-header (RFC 5798)",
       "leave the pseudo-header out, for old peers", origin="man"),
    yes("global_defs", "nftables", "the tables ip/ip6/arp NAME (default vipdeck, not keepalived's keepalived): "
        "no_accept drops and VMAC IGMP/MLD moves, made when needed, removed at exit and after a crash at start"),
    yes("global_defs", "nftables_priority", "the base chains' priority (default -1, as keepalived)"),
    yes("global_defs", "nftables_counters"),
    yes("global_defs", "nftables_ifindex", "link-local VIPs are always matched by interface index"),
    no("global_defs", "nftables_ipvs", "no firewall marks are set for virtual_server_group addresses",
       "mark the groups' traffic with nftables for IPVS"),
    no("global_defs", "nftables_ipvs_priority", "no firewall marks are set", "set that chain's priority"),
    no("global_defs", "nftables_ipvs_start_fwmark", "no firewall marks are set", "number its marks from there"),
    yes("global_defs", "vrrp_iptables", "nftables is used instead, with a warning (as Debian's keepalived, "
        "built without iptables)"),
    yes("global_defs", "vrrp_ipsets", "no effect: nftables sets are used (as Debian's keepalived)"),
    no("global_defs", "disable_local_igmp", "the kernel's IGMP reports are left on",
       "stop IGMP reports on VRRP interfaces"),
    yes("global_defs", "vrrp_check_unicast_src", "adverts from outside unicast_peer are dropped (reject "
        "reason unicast_src) and counted"),
    yes("global_defs", "vrrp_skip_check_adv_addr", "vipdeck never checks the address list of adverts"),
    yes("global_defs", "vrrp_strict", "keepalived's refusals and resets, and no_accept by nftables for "
        "non-owners"),
    no("global_defs", "vrrp_notify_priority_changes", "the notify FIFOs get state changes only",
       "write MASTER_PRIORITY / BACKUP_PRIORITY lines to them when the priority changes"),
    no("global_defs", "max_auto_priority", _NO_SCHED, "raise its real-time priority when it runs late"),
    no("global_defs", "min_auto_priority_delay", _NO_SCHED, "raise its priority after that delay"),
    no("global_defs", "vrrp_priority", _NO_SCHED, _SCHED),
    no("global_defs", "checker_priority", _NO_SCHED, _SCHED),
    no("global_defs", "bfd_priority", _NO_SCHED, _SCHED),
    no("global_defs", "vrrp_no_swap", _NO_SCHED, _SCHED),
    no("global_defs", "checker_no_swap", _NO_SCHED, _SCHED),
    no("global_defs", "bfd_no_swap", _NO_SCHED, _SCHED),
    no("global_defs", "vrrp_cpu_affinity", _NO_SCHED, _SCHED),
    no("global_defs", "checker_cpu_affinity", _NO_SCHED, _SCHED),
    no("global_defs", "bfd_cpu_affinity", _NO_SCHED, _SCHED),
    no("global_defs", "vrrp_rt_priority", _NO_SCHED, _SCHED),
    no("global_defs", "checker_rt_priority", _NO_SCHED, _SCHED),
    no("global_defs", "bfd_rt_priority", _NO_SCHED, _SCHED),
    no("global_defs", "vrrp_rlimit_rttime", _NO_SCHED, _SCHED),
    no("global_defs", "checker_rlimit_rttime", _NO_SCHED, _SCHED),
    no("global_defs", "bfd_rlimit_rttime", _NO_SCHED, _SCHED),
    no("global_defs", "vrrp_rlimit_rtime", _NO_SCHED, _SCHED + " (old name)", origin="2.2.7"),
    no("global_defs", "checker_rlimit_rtime", _NO_SCHED, _SCHED + " (old name)", origin="2.2.7"),
    no("global_defs", "bfd_rlimit_rtime", _NO_SCHED, _SCHED + " (old name)", origin="2.2.7"),
    no("global_defs", "snmp_socket", _SNMP, "connect to the SNMP master agent there"),
    no("global_defs", "enable_snmp_vrrp", _SNMP, "serve the KEEPALIVED-MIB VRRP part"),
    no("global_defs", "enable_snmp_keepalived", _SNMP, "serve the KEEPALIVED-MIB VRRP part (old name)",
       origin="2.2.7"),
    no("global_defs", "enable_snmp_checker", _SNMP, "serve the KEEPALIVED-MIB checker part"),
    no("global_defs", "enable_snmp_rfc", _SNMP, "serve the VRRP MIBs of RFC 2787 and RFC 6527"),
    no("global_defs", "enable_snmp_rfcv2", _SNMP, "serve the VRRP MIB of RFC 2787"),
    no("global_defs", "enable_snmp_rfcv3", _SNMP, "serve the VRRP MIB of RFC 6527"),
    no("global_defs", "enable_traps", _SNMP, "send SNMP traps"),
    no("global_defs", "snmp_vs_stats_update_interval", _SNMP, "refresh virtual server statistics that often",
       origin="man"),
    no("global_defs", "snmp_rs_stats_update_interval", _SNMP, "refresh real server statistics that often",
       origin="man"),
    no("global_defs", "enable_dbus", _DBUS, "offer org.keepalived.Vrrp1 on D-Bus"),
    no("global_defs", "dbus_service_name", _DBUS, "use that D-Bus service name"),
    no("global_defs", "dbus_no_interface_name", _DBUS, "leave the interface name out of D-Bus paths",
       origin="man"),
    implemented("global_defs", "script_user enable_script_security"),
    yes("global_defs", "notify_fifo", "keepalived's lines; a reader that is slow or gone never blocks the daemon"),
    yes("global_defs", "notify_fifo_script", "started with the FIFO path; ended at exit"),
    yes("global_defs", "vrrp_notify_fifo", "INSTANCE and GROUP lines"),
    yes("global_defs", "vrrp_notify_fifo_script", "started with the FIFO path; ended at exit"),
    yes("global_defs", "lvs_notify_fifo", "VS and RS lines"),
    yes("global_defs", "lvs_notify_fifo_script", "started with the FIFO path; ended at exit"),
    yes("global_defs", "fifo_write_vrrp_states_on_reload", "for the instances and groups a reload left as they were"),
    no("global_defs", "dynamic_interfaces", "an instance's interface must exist when vipdeck starts",
       "keep instances whose interface appears later in FAULT until it does"),
    no("global_defs", "vrrp_netlink_cmd_rcv_bufs", _NLBUF, _NLSET),
    no("global_defs", "vrrp_netlink_monitor_rcv_bufs", _NLBUF, _NLSET),
    no("global_defs", "lvs_netlink_cmd_rcv_bufs", _NLBUF, _NLSET),
    no("global_defs", "lvs_netlink_monitor_rcv_bufs", _NLBUF, _NLSET),
    no("global_defs", "vrrp_netlink_cmd_rcv_bufs_force", _NLBUF, _NLFORCE),
    no("global_defs", "vrrp_netlink_monitor_rcv_bufs_force", _NLBUF, _NLFORCE),
    no("global_defs", "lvs_netlink_cmd_rcv_bufs_force", _NLBUF, _NLFORCE),
    no("global_defs", "lvs_netlink_monitor_rcv_bufs_force", _NLBUF, _NLFORCE),
    no("global_defs", "process_monitor_rcv_bufs", _NLBUF, "size the process connector's buffer"),
    no("global_defs", "process_monitor_rcv_bufs_force", _NLBUF, "size it beyond rmem_max"),
    no("global_defs", "vrrp_rx_bufs_policy", _NLBUF, "size VRRP receive buffers by that policy"),
    no("global_defs", "vrrp_rx_bufs_multiplier", _NLBUF, "multiply VRRP receive buffers"),
    no("global_defs", "rs_init_notifies", "notify_up/notify_down run on changes only",
       "run them for every real server's first state too"),
    yes("global_defs", "no_checker_emails", "a checker mails only when its real server goes up or down"),
    no("global_defs", "umask", "files are made with the umask vipdeck was started with", "set its umask"),
    yes("global_defs", "vrrp_startup_delay", "instances stay in INIT, sending and hearing nothing, until then"),
    yes("global_defs", "vrrp_delay_after_boot", "counted from boot (/proc/uptime) at start; the longer delay wins",
        origin="man"),
    no("global_defs", "log_unknown_vrids", "adverts for other VRIDs are shown in the advert view, not logged",
       "log each of them"),
    yes("global_defs", "vmac_prefix", "at most 10 characters"),
    yes("global_defs", "vmac_addr_prefix", "at most 10 characters"),
    no("global_defs", "random_seed", "timers are randomised afresh on each run", "seed its random numbers"),
    yes("global_defs", "reload_check_config", "a reload is always checked first; a bad one keeps the running one"),
    no("global_defs", "include_check", "each include keyword checks as its name says",
       "apply those checks to plain include too"),
    no("global_defs", "reload_time_file", _RELOAD, "reload at the time written in that file"),
    no("global_defs", "reload_repeat", _RELOAD, "repeat the timed reload"),
    no("global_defs", "reload_file", _RELOAD, "load that file at the timed reload"),
    yes("global_defs", "data_use_instance", "the instance name in the .data dump file names (as 2.2.7's code)"),
    yes("global_defs", "state_file_location", "where SIGUSR1 writes the data dump", origin="man"),
    yes("global_defs", "stats_file_location", "where SIGUSR2 writes the stats", origin="man"),
    yes("global_defs", "json_file_location", "where SIGJSON writes the JSON dump", origin="man"),
    no("global_defs", "json_version", "only keepalived 2.2.7's JSON dump (version 1) is written",
       "write that version of the JSON dump", origin="man"),
    no("global_defs", "iproute_usr_dir", "ip(8) reads its own table and protocol names",
       "read rt_tables and the other iproute2 names from there", origin="man"),
    no("global_defs", "iproute_etc_dir", "ip(8) reads its own table and protocol names",
       "read rt_tables and the other iproute2 names from there", origin="man"),

    # ------------------------------------------------------------------ trackers
    implemented("vrrp_script", "script interval timeout weight rise fall user init_fail"),
    implemented("track_file", "file weight init_file"),
    implemented("vrrp_track_process", "process param_match weight quorum quorum_max fork_delay terminate_delay "
                                      "delay full_command"),
    part("bfd_instance", "neighbor_ip"),
    part("bfd_instance", "neighbour_ip", origin="2.2.7"),
    part("bfd_instance", "source_ip"),
    part("bfd_instance", "min_rx"),
    part("bfd_instance", "min_tx"),
    part("bfd_instance", "idle_tx"),
    part("bfd_instance", "multiplier"),
    part("bfd_instance", "passive"),
    part("bfd_instance", "ttl"),
    part("bfd_instance", "hoplimit"),
    part("bfd_instance", "max_hops"),
    part("bfd_instance", "multihop", origin="man"),
    part("bfd_instance", "weight"),
    part("bfd_instance", "vrrp"),
    part("bfd_instance", "checker"),

    # ------------------------------------------------------------------ addresses, routes, rules
    implemented("address", "dev brd scope"),
    yes("address", "label", "IPv4 only, as the kernel"),
    yes("address", "-nodad", "IPv6 VIPs are always added without duplicate address detection"),
    no("address", "peer", "the address is added without a peer", "add it as a point-to-point address"),
    no("address", "preferred_lft", "IPv6 VIPs keep the kernel's default lifetime",
       "set it (0 deprecates the address, the default for a /128)"),
    no("address", "home", "the address has no home flag", "add it with IFA_F_HOMEADDRESS (Mobile IPv6)"),
    no("address", "mngtmpaddr", "no temporary addresses are made from it", "add it with IFA_F_MANAGETEMPADDR"),
    no("address", "noprefixroute", "the kernel adds the prefix route", "add it without a prefix route"),
    no("address", "autojoin", "a multicast address is not joined", "join it (IFA_F_MCAUTOJOIN)"),
    no("address", "no_track", "a VIP removed while master is put back at once",
       "leave it removed and the instance MASTER until the next transition"),
    yes("address", "use_vmac", "the address goes on a VMAC of its own dev"),
    no("address", "track_group", "track_group is not implemented", "put that group in FAULT if it goes away"),
    yes("route", "no_track", "vipdeck never watches its routes and rules: all behave as no_track"),
    no("route", "track_group", "track_group is not implemented", "put that group in FAULT if it goes away"),

    # ------------------------------------------------------------------ vrrp_sync_group
    implemented("vrrp_sync_group", "group track_interface track_script track_file track_process"),
    no("vrrp_sync_group", "track_bfd", "vipdeck has no BFD", "fault the group when the BFD session goes down"),
    implemented("vrrp_sync_group", "notify_master notify_backup notify_fault notify_stop notify"),
    no("vrrp_sync_group", "notify_deleted", "a group removed by a reload gets STOP", "tell its scripts DELETED",
       origin="man"),
    no("vrrp_sync_group", "notify_priority_changes", "the notify FIFOs get state changes only",
       "write MASTER_PRIORITY / BACKUP_PRIORITY lines to them when the priority changes"),
    yes("vrrp_sync_group", "smtp_alert"),
    yes("vrrp_sync_group", "global_tracking", "the old name of sync_group_tracking_weight"),
    yes("vrrp_sync_group", "sync_group_tracking_weight"),

    # ------------------------------------------------------------------ vrrp_instance
    implemented("vrrp_instance", "state interface"),
    no("vrrp_instance", "vrf", "the VRRP socket is not bound to a VRF", "bind to that VRF"),
    yes("vrrp_instance", "use_vmac", "a private-mode macvlan with the virtual MAC and keepalived's sysctls "
        "(plus arp_announce 2 on its base), made at start, again when deleted or its base is re-created, "
        "removed at exit; its IGMP/MLD reports moved to the base by nftables; 'group' is not implemented"),
    yes("vrrp_instance", "use_vmac_addr"),
    yes("vrrp_instance", "vmac_xmit_base"),
    no("vrrp_instance", "use_ipvlan", "VIPs move with the interface's own MAC", "put them on an ipvlan interface"),
    yes("vrrp_instance", "native_ipv6", "makes an instance without addresses IPv6"),
    no("vrrp_instance", "dont_track_primary", "the instance goes FAULT when its interface goes down",
       "ignore its interface's link state"),
    implemented("vrrp_instance", "track_interface track_script track_file track_process"),
    no("vrrp_instance", "track_bfd", "vipdeck has no BFD", "lower the priority or fault when the session goes down"),
    implemented("vrrp_instance", "mcast_src_ip unicast_src_ip mcast_dst_ip"),
    no("vrrp_instance", "track_src_ip", "the source address is not watched",
       "go FAULT when the source address goes away"),
    yes("vrrp_instance", "version"),
    yes("vrrp_instance", "check_unicast_src", "adverts from outside unicast_peer are dropped (reject reason "
        "unicast_src) and counted"),
    yes("vrrp_instance", "unicast_peer"),
    yes("vrrp_instance", "unicast_fault_no_peer", "the instance stays in FAULT (reason config)"),
    yes("vrrp_instance", "unicast_ttl"),
    no("vrrp_instance", "old_unicast_checksum", "unicast VRRPv3 checksums follow RFC 5798",
       "compute them as keepalived before 1.3.6 did"),
    no("vrrp_instance", "v3_checksum_as_v2", "VRRPv3 IPv4 checksums include the pseudo-header (RFC 5798)",
       "leave the pseudo-header out, for old peers", origin="man"),
    implemented("vrrp_instance", "garp_master_delay garp_master_repeat"),
    yes("vrrp_instance", "garp_lower_prio_delay", GARP_LOWER_NOTE),
    yes("vrrp_instance", "garp_lower_prio_repeat", GARP_LOWER_NOTE),
    implemented("vrrp_instance", "garp_master_refresh garp_master_refresh_repeat"),
    no("vrrp_instance", "garp_extra_if", "gratuitous ARPs go out only after a transition and on refresh",
       "send them periodically on the other interfaces of VIPs"),
    no("vrrp_instance", "vmac_garp_intvl", "gratuitous ARPs go out only after a transition and on refresh",
       "send them periodically on the other interfaces of VIPs (old name)", origin="2.2.7"),
    no("vrrp_instance", "down_timer_adverts", "Master_Down_Interval is always 3 adverts (RFC 5798)",
       "use that many adverts"),
    no("vrrp_instance", "timer_expired_backup", "a late nopreempt master stays master",
       "revert to backup when another may have taken over", origin="man"),
    yes("vrrp_instance", "lower_prio_no_advert"),
    yes("vrrp_instance", "higher_prio_send_advert"),
    implemented("vrrp_instance", "virtual_router_id priority advert_int authentication"),
    refuse("vrrp_instance", "auth_hmac", "adverts would go out unsigned and unchecked: a peer enforcing auth_hmac "
           "drops them and both become master", "sign and check every advert with HMAC-SHA256", origin="man"),
    implemented("vrrp_instance", "virtual_ipaddress virtual_ipaddress_excluded"),
    yes("vrrp_instance", "no_virtual_ipaddress", "no warning for an instance without addresses", origin="man"),
    no("vrrp_instance", "promote_secondaries", "the interface's promote_secondaries setting is left as it is",
       "set it, so removing a VIP does not remove the addresses of its subnet"),
    no("vrrp_instance", "linkbeat_use_polling", "links are watched through netlink only",
       "poll this interface's link with ETHTOOL/MII ioctls"),
    implemented("vrrp_instance", "virtual_routes virtual_rules"),
    yes("vrrp_instance", "accept"),
    yes("vrrp_instance", "no_accept", "while master, traffic to and from the VIPs is dropped by nftables "
        "(neighbour discovery excepted) unless the priority is 255, as keepalived"),
    yes("vrrp_instance", "skip_check_adv_addr", "vipdeck never checks the address list of adverts"),
    yes("vrrp_instance", "strict_mode", "as vrrp_strict, for this instance"),
    implemented("vrrp_instance", "preempt nopreempt"),
    yes("vrrp_instance", "no_preempt", "a common misspelling of nopreempt", origin="vipdeck"),
    yes("vrrp_instance", "preempt_delay"),
    no("vrrp_instance", "debug", "vipdeck's log detail is the daemon's -D", "log this instance in more detail"),
    implemented("vrrp_instance", "notify_master notify_backup notify_fault notify_stop notify"),
    no("vrrp_instance", "notify_deleted", "an instance removed by a reload gets STOP", "tell its scripts DELETED",
       origin="2.2.7"),
    yes("vrrp_instance", "notify_master_rx_lower_pri"),
    no("vrrp_instance", "notify_priority_changes", "the notify FIFOs get state changes only",
       "write MASTER_PRIORITY / BACKUP_PRIORITY lines to them when the priority changes"),
    yes("vrrp_instance", "smtp_alert"),
    yes("vrrp_instance", "lvs_sync_daemon_interface", "the old form of lvs_sync_daemon IF INSTANCE (sync id: the "
        "VRID); a global lvs_sync_daemon wins", origin="2.2.7"),
    no("vrrp_instance", "kernel_rx_buf_size", _NLBUF, "size the instance's receive buffer"),
    yes("unicast_peer", "min_ttl", "turns on check_unicast_src, as keepalived"),
    yes("unicast_peer", "max_ttl", "turns on check_unicast_src, as keepalived"),
    yes("authentication", "auth_type"),
    refuse("authentication", "auth_type AH", "adverts would go out unauthenticated: a keepalived AH peer drops "
           "them and both become master", "protect them with IPsec AH"),
    yes("authentication", "auth_pass"),
    part("auth_hmac", "key", origin="man"),
    part("auth_hmac", "active_key", origin="man"),
    part("auth_hmac", "anti_replay", origin="man"),
    part("auth_hmac", "time_window", origin="man"),
    part("auth_hmac", "mode", origin="man"),

    # ------------------------------------------------------------------ LVS
    yes("virtual_server_group", "(address, range or prefix) [port]"),
    yes("virtual_server_group", "fwmark"),
    yes("virtual_server", "lvs_sched"),
    yes("virtual_server", "lb_algo", "the old name of lvs_sched", origin="2.2.7"),
    no("virtual_server", "hashed", "the flag is not set (the kernel ignores it)", "set IP_VS_SVC_F_HASHED",
       origin="2.2.7"),
    implemented("virtual_server", "ops flag-1 flag-2 flag-3 sh-port sh-fallback mh-port mh-fallback lvs_method"),
    yes("virtual_server", "lb_kind", "the old name of lvs_method", origin="2.2.7"),
    implemented("virtual_server", "persistence_engine persistence_timeout persistence_granularity"),
    yes("virtual_server", "protocol", "an address service without it is UDP, as in keepalived, with a warning"),
    no("virtual_server", "ha_suspend", "checkers run whatever the VRRP state",
       "suspend the checkers while the virtual server's address is not on this node"),
    yes("virtual_server", "smtp_alert", "'Virtualserver ... UP/DOWN' mails when the quorum changes"),
    yes("virtual_server", "virtualhost"),
    no("virtual_server", "snmp_name", _SNMP, "name the virtual server in SNMP"),
    implemented("virtual_server", "alpha omega quorum hysteresis quorum_up quorum_down"),
    yes("virtual_server", "weight", "the weight of real servers that set none", origin="2.2.7"),
    implemented("virtual_server", "ip_family sorry_server sorry_server_inhibit sorry_server_lvs_method "
                                  "connect_timeout retry delay_before_retry warmup delay_loop inhibit_on_failure "
                                  "real_server"),
    yes("lvs_method", "type", "TUN ipip|gue|gre (the kernel's tunnel type; Linux 5.2+ for gue, 5.3+ for gre)"),
    yes("lvs_method", "port", "the GUE UDP port (gue only, and required)"),
    implemented("lvs_method", "nocsum csum remcsum"),
    implemented("real_server", "weight lvs_method"),
    implemented("real_server", "uthreshold lthreshold"),
    implemented("real_server", "inhibit_on_failure notify_up notify_down alpha retry delay_before_retry warmup "
                               "connect_timeout delay_loop"),
    yes("real_server", "smtp_alert", "'Realserver ... UP/DOWN' mails when a checker changes (on by default)"),
    yes("real_server", "virtualhost"),
    no("real_server", "snmp_name", _SNMP, "name the real server in SNMP"),
    implemented("real_server", "HTTP_GET SSL_GET TCP_CHECK SMTP_CHECK DNS_CHECK MISC_CHECK UDP_CHECK PING_CHECK "
                               "FILE_CHECK"),
    no("real_server", "BFD_CHECK", "vipdeck has no BFD; the checker takes no part in up/down",
       "take the real server down when the BFD session goes down"),
    implemented("checker", "connect_ip connect_port bindto bind_port bind_if connect_timeout fwmark retry"),
    yes("checker", "nb_sock_retry", "keepalived 1.x's name of retry", origin="vipdeck"),
    implemented("checker", "delay_before_retry warmup delay_loop alpha log_all_failures"),
    yes("HTTP_GET", "url"),
    yes("HTTP_GET", "nb_get_retry", "the old name of retry", origin="2.2.7"),
    yes("HTTP_GET", "virtualhost", origin="2.2.7"),
    implemented("HTTP_GET", "http_protocol enable_sni"),
    yes("HTTP_GET", "fast_recovery", "every url is checked on every run: recovery is always fast"),
    yes("HTTP_GET", "tls_compliant", "a clean close always sends close_notify", origin="man"),
    implemented("url", "path digest status_code virtualhost"),
    yes("url", "regex", "Python's re syntax, which is PCRE's for common patterns"),
    yes("url", "regex_no_match"),
    no("url", "regex_options", "the regex is matched with Python's re and no options",
       "compile the regex with those PCRE2 options"),
    no("url", "regex_stack", "Python's re has no JIT stack to size", "size PCRE2's JIT stack"),
    no("url", "regex_min_offset", "the whole body is searched", "search from that offset"),
    no("url", "regex_max_offset", "the whole body is searched", "start matches no later than that offset"),
    yes("url", "tls_compliant", "a clean close always sends close_notify", origin="man"),
    yes("SMTP_CHECK", "helo_name"),
    yes("SMTP_CHECK", "host", "each host block becomes its own SMTP_CHECK", origin="2.2.7"),
    implemented("DNS_CHECK", "type name"),
    implemented("MISC_CHECK", "misc_path misc_timeout misc_dynamic user"),
    implemented("UDP_CHECK", "payload require_reply min_reply_length max_reply_length"),
    implemented("FILE_CHECK", "track_file weight"),
    yes("FILE_CHECK", "dynamic", origin="man"),
    part("BFD_CHECK", "name"),
    part("BFD_CHECK", "alpha", origin="2.2.7"),
    implemented("SSL", "password ca certificate key"),
)

KEYWORDS: tuple[Keyword, ...] = tuple(k for r in _ROWS for k in (r if isinstance(r, tuple) else (r,)))
_BY_KEY: dict[tuple[str, str], Keyword] = {}
for _row in KEYWORDS:
    assert (_row.block, _row.name) not in _BY_KEY, f"keyword table: {_row.block} {_row.name} twice"
    _BY_KEY[(_row.block, _row.name)] = _row

# a checker kind's own block, then the options every checker shares
_CHECKER_BLOCKS = {"HTTP_GET": "HTTP_GET", "SSL_GET": "HTTP_GET", "TCP_CHECK": "TCP_CHECK",
                   "SMTP_CHECK": "SMTP_CHECK", "DNS_CHECK": "DNS_CHECK", "MISC_CHECK": "MISC_CHECK",
                   "UDP_CHECK": "UDP_CHECK", "PING_CHECK": "PING_CHECK", "FILE_CHECK": "FILE_CHECK",
                   "BFD_CHECK": "BFD_CHECK", "host": "host"}
_SHARES_CHECKER = frozenset({"HTTP_GET", "SSL_GET", "TCP_CHECK", "SMTP_CHECK", "DNS_CHECK", "MISC_CHECK",
                             "UDP_CHECK", "PING_CHECK", "host"})


def lookup(block: str, name: str, value: str | None = None) -> Keyword | None:
    """The row for ``name`` written in ``block`` (a row for ``name value`` first)."""
    blk = _CHECKER_BLOCKS.get(block, block)
    for b in (blk, "checker") if block in _SHARES_CHECKER else (blk,):
        if value is not None:
            row = _BY_KEY.get((b, f"{name} {value}")) or _BY_KEY.get((b, f"{name} {value.upper()}"))
            if row is not None:
                return row
        row = _BY_KEY.get((b, name))
        if row is not None:
            return row
    return None


def names(block: str) -> frozenset[str]:
    """The keywords keepalived knows in ``block`` (rows about one value left out)."""
    blk = _CHECKER_BLOCKS.get(block, block)
    blocks = (blk, "checker") if block in _SHARES_CHECKER else (blk,)
    return frozenset(r.name for r in KEYWORDS if r.block in blocks and " " not in r.name)
