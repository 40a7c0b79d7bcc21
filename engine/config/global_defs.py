"""``global_defs`` and the global daemon facilities of the top level.

keepalived.conf(5) "Global definitions".  The values here are defaults for
the instances, virtual servers and checkers that follow (or precede: they
are resolved once the whole file is read), and the mail settings of the
alerts.
"""

from __future__ import annotations

import dataclasses
import re

from vipdeck.engine.config import model as m
from vipdeck.engine.config.context import BLOCK, LINE, ParseContext, loc
from vipdeck.engine.config.lexer import show
from vipdeck.engine.config.tree import Stmt
from vipdeck.engine.config.values import (bool_arg, flag_arg, float_arg, int_arg, need, notify_arg, parse_ip, str_arg,
                                          to_int, to_ip, to_port)

IFNAME_MAX = 15                 # IP_VS_IFNAME_MAXLEN - 1: the kernel's sync daemon interface name
LVS_MAX_TIMEOUT = 86400 * 31    # keepalived's limit for lvs_timeouts
_HOSTNAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*\.?\Z")


# --------------------------------------------------------------------------- global_defs


def parse_global_defs(s: ParseContext, st: Stmt) -> None:
    d, g = s.d, s.globals
    if s.global_seen:
        d.note(st.words[0], "a second global_defs block; its settings are merged with the first")
    else:
        g.loc = loc(st)
    s.global_seen = True

    def put(key: str, conv):  # type: ignore[no-untyped-def]
        return (LINE, lambda x: g.set(d, key, conv(x), x.words[0]))

    def emails(x: Stmt) -> None:
        for line in x.block or []:
            if line.block is not None:
                d.error(line.words[0], "an address in notification_email does not take a { } block")
            g.add("notification_email", *(t.text for t in line.words))

    def smtp_server(x: Stmt) -> None:
        if not need(d, x, 1, 2, "a server address or name"):
            return
        host = x.args[0].text
        if parse_ip(host) is None and not _HOSTNAME.match(host):
            d.error(x.args[0], f"smtp_server '{show(host)}' is not an IP address or host name")
            return
        g.set(d, "smtp_server", host, x.words[0])
        if len(x.args) > 1:
            g.set(d, "smtp_port", to_port(d, x.args[1], "smtp_server port"), x.words[0])

    def mcast(version: int):  # type: ignore[no-untyped-def]
        def conv(x: Stmt) -> str | None:
            if not need(d, x, 1, 1):
                return None
            a = to_ip(d, x.args[0], x.keyword)
            if a is None:
                return None
            if a.version != version or not a.is_multicast:
                d.error(x.args[0], f"{x.keyword} {a} is not an IPv{version} multicast address")
                return None
            return str(a)
        return conv

    def script_user(x: Stmt) -> None:
        if need(d, x, 1, 2, "a user name"):
            g.set(d, "script_user", x.args[0].text, x.words[0])
            if len(x.args) > 1:
                g.values["script_group"] = x.args[1].text

    def dynamic(x: Stmt) -> None:
        if x.args and x.args[0].text != "allow_if_changes":
            d.warning(x.args[0], f"dynamic_interfaces takes only 'allow_if_changes', not '{show(x.args[0].text)}'")
        g.set(d, "dynamic_interfaces", True, x.words[0])

    def spacing(x: Stmt) -> float | None:
        """vrrp_garp_interval / vrrp_gna_interval: keepalived takes 0.000001-4294.967295 and
        reports 0 as invalid, keeping its default (no spacing); so does vipdeck."""
        v = float_arg(d, x, 0, 4294.967295)
        if v == 0:
            d.warning(x.args[0], f"{x.keyword} 0 is outside 0.000001-4294.967295 (keepalived reports it as invalid "
                      "and ignores it); gratuitous ARPs/NAs are not spaced, the default")
            return None
        return v

    def lvs_id(x: Stmt) -> None:
        d.note(x.words[0], "'lvs_id' is the old name of 'router_id'")
        g.set(d, "lvs_id", str_arg(d, x), x.words[0])

    def flush_on_stop(x: Stmt) -> None:
        if x.keyword == "lvs_flush_onstop":
            d.note(x.words[0], "'lvs_flush_onstop' is the old name of 'lvs_flush_on_stop'")
        if not x.args:
            g.set(d, "lvs_flush_on_stop", "full", x.words[0])
        elif need(d, x, 1, 1) and x.args[0].text == "VS":
            g.set(d, "lvs_flush_on_stop", "VS", x.words[0])
        else:
            d.error(x.args[0], f"{x.keyword} '{show(x.args[0].text)}' is not 'VS' (or nothing, for a full flush)")

    def log_all(x: Stmt) -> None:
        g.set(d, "_log_all_failures", bool_arg(d, x), x.words[0])
        g.other.append((x.keyword, tuple(t.text for t in x.args)))

    def keep(check):  # type: ignore[no-untyped-def]
        """Implemented keywords whose users read them from ``other`` (no_email_faults ...)."""
        def fn(x: Stmt) -> None:
            check(x)
            g.other.append((x.keyword, tuple(t.text for t in x.args)))
        return (LINE, fn)

    def recorded(x: Stmt) -> None:
        g.other.append((x.keyword, tuple(t.text for t in x.args)))      # the data dump reads these

    def once(key: str, conv):  # type: ignore[no-untyped-def]
        """keepalived keeps the first startup_script / notify_fifo ... and reports the next."""
        def fn(x: Stmt) -> None:
            if key in g.where:
                first = g.where[key]
                d.warning(x.words[0], f"'{x.keyword}' is given again (first at {first.file}:{first.line}); "
                          "the first is used, as keepalived does")
                return
            g.set(d, key, conv(x), x.words[0])
            recorded(x)
        return (LINE, fn)

    def fifo(x: Stmt) -> tuple | None:
        if not need(d, x, 1, 3, "a FIFO path"):
            return None
        if not x.args[0].text.strip():
            d.error(x.args[0], f"'{x.keyword}' has an empty path")
            return None
        return (x.args[0].text, *(t.text for t in x.args[1:]), None, None)[:3] + (loc(x),)

    def script_timeout(x: Stmt) -> float | None:
        v = int_arg(d, x, 1, 1000)             # keepalived: whole seconds in [1, 1000]
        return None if v is None else float(v)

    def start_delay(x: Stmt) -> float | None:
        v = float_arg(d, x, 0, 4294.967295)    # keepalived's timer range
        if v is not None and v >= 60:
            d.note(x.args[0], f"{x.keyword} {v:g} is very large (keepalived says so too)")
        return v

    def vmac_prefix(x: Stmt) -> str | None:
        v = str_arg(d, x)
        if v is not None and (len(v) > 10 or not v or any(c in v for c in "/: ")):
            # room for ".255" and a digit in a 15-character interface name
            d.error(x.args[0], f"{x.keyword} '{show(v)}' must be 1-10 characters without '/', ':' or spaces")
            return None
        return v

    def nftables(x: Stmt) -> str | None:
        if not need(d, x, 0, 1):
            return None
        name = x.args[0].text if x.args else ""
        if len(name) >= 256:
            d.error(x.args[0], "nftables table name is too long (255 characters at most)")
            return None
        return name

    def iptables(x: Stmt) -> str:
        # Debian's keepalived 2.2.7 is built with nftables only and does the same
        d.warning(x.words[0], f"'{x.keyword}': iptables is not supported, nftables is used instead "
                  "(as keepalived built without iptables does); use 'nftables'")
        return ""

    table = {
        "startup_script": once("startup_script", lambda x: notify_arg(d, x)),
        "shutdown_script": once("shutdown_script", lambda x: notify_arg(d, x)),
        "startup_script_timeout": (LINE, lambda x: (g.set(d, "startup_script_timeout", script_timeout(x),
                                                          x.words[0]), recorded(x))),
        "shutdown_script_timeout": (LINE, lambda x: (g.set(d, "shutdown_script_timeout", script_timeout(x),
                                                           x.words[0]), recorded(x))),
        "notify_fifo": once("_notify_fifo", fifo),
        "vrrp_notify_fifo": once("_vrrp_notify_fifo", fifo),
        "lvs_notify_fifo": once("_lvs_notify_fifo", fifo),
        "notify_fifo_script": once("_notify_fifo_script", lambda x: notify_arg(d, x)),
        "vrrp_notify_fifo_script": once("_vrrp_notify_fifo_script", lambda x: notify_arg(d, x)),
        "lvs_notify_fifo_script": once("_lvs_notify_fifo_script", lambda x: notify_arg(d, x)),
        "fifo_write_vrrp_states_on_reload": (LINE, lambda x: (g.set(d, "fifo_write_vrrp_states_on_reload",
                                                                    flag_arg(d, x), x.words[0]), recorded(x))),
        "vrrp_startup_delay": (LINE, lambda x: (g.set(d, "vrrp_startup_delay", start_delay(x), x.words[0]),
                                                recorded(x))),
        # no maximum: the delay is counted from boot, and a host may have been up longer than 4294 s
        "vrrp_delay_after_boot": put("vrrp_delay_after_boot", lambda x: float_arg(d, x, 0)),
        "lvs_sync_daemon": (LINE, lambda x: parse_lvs_sync_daemon(s, x)),
        "lvs_timeouts": (LINE, lambda x: parse_lvs_timeouts(s, x)),
        "lvs_flush": put("lvs_flush", lambda x: flag_arg(d, x)),
        "lvs_flush_on_stop": (LINE, lambda x: flush_on_stop(x)),
        "lvs_flush_onstop": (LINE, lambda x: flush_on_stop(x)),
        "router_id": put("router_id", lambda x: str_arg(d, x)),
        "lvs_id": (LINE, lvs_id),
        "notification_email": (BLOCK, emails),
        "notification_email_from": put("notification_email_from", lambda x: str_arg(d, x)),
        "smtp_server": (LINE, smtp_server),
        "smtp_helo_name": put("smtp_helo_name", lambda x: str_arg(d, x)),
        "smtp_connect_timeout": put("smtp_connect_timeout", lambda x: float_arg(d, x, positive=True)),
        "smtp_alert": put("smtp_alert", lambda x: bool_arg(d, x)),
        "smtp_alert_vrrp": put("smtp_alert_vrrp", lambda x: bool_arg(d, x)),
        "smtp_alert_checker": put("smtp_alert_checker", lambda x: bool_arg(d, x)),
        "vrrp_mcast_group4": put("vrrp_mcast_group4", mcast(4)),
        "vrrp_mcast_group6": put("vrrp_mcast_group6", mcast(6)),
        "vrrp_version": put("vrrp_version", lambda x: int_arg(d, x, 2, 3)),
        "vrrp_strict": put("vrrp_strict", lambda x: flag_arg(d, x)),
        "vrrp_garp_master_delay": put("vrrp_garp_master_delay", lambda x: float_arg(d, x)),
        "vrrp_garp_master_repeat": put("vrrp_garp_master_repeat", lambda x: int_arg(d, x, 0, 255)),
        "vrrp_garp_master_refresh": put("vrrp_garp_master_refresh", lambda x: float_arg(d, x)),
        "vrrp_garp_master_refresh_repeat": put("vrrp_garp_master_refresh_repeat", lambda x: int_arg(d, x, 0, 255)),
        "vrrp_garp_interval": put("vrrp_garp_interval", spacing),
        "vrrp_gna_interval": put("vrrp_gna_interval", spacing),
        "vrrp_garp_lower_prio_delay": put("vrrp_garp_lower_prio_delay", lambda x: float_arg(d, x)),
        "vrrp_garp_lower_prio_repeat": put("vrrp_garp_lower_prio_repeat", lambda x: int_arg(d, x, 0, 255)),
        "vrrp_skip_check_adv_addr": put("vrrp_skip_check_adv_addr", lambda x: bool_arg(d, x)),
        "vrrp_check_unicast_src": put("vrrp_check_unicast_src", lambda x: flag_arg(d, x)),
        "vrrp_higher_prio_send_advert": put("vrrp_higher_prio_send_advert", lambda x: bool_arg(d, x)),
        "vrrp_lower_prio_no_advert": put("vrrp_lower_prio_no_advert", lambda x: bool_arg(d, x)),
        "vmac_prefix": put("vmac_prefix", vmac_prefix),
        "vmac_addr_prefix": put("vmac_addr_prefix", vmac_prefix),
        "nftables": put("nftables", nftables),
        "nftables_priority": put("nftables_priority", lambda x: int_arg(d, x, -2**31, 2**31 - 1)),
        "nftables_counters": put("nftables_counters", lambda x: flag_arg(d, x)),
        # link-local VIPs are always matched by interface index, keepalived's default
        "nftables_ifindex": (LINE, lambda x: flag_arg(d, x)),
        "vrrp_iptables": (LINE, lambda x: None if "nftables" in g.values else g.set(d, "nftables", iptables(x),
                                                                                     x.words[0])),
        "vrrp_ipsets": (LINE, lambda x: d.note(x.words[0], "'vrrp_ipsets' has no effect: nftables sets are used")),
        "script_user": (LINE, script_user),
        "enable_script_security": put("enable_script_security", lambda x: flag_arg(d, x)),
        "dynamic_interfaces": (LINE, dynamic),
        "checker_log_all_failures": (LINE, log_all),
        "default_interface": put("default_interface", lambda x: str_arg(d, x)),
        "no_email_faults": keep(lambda x: flag_arg(d, x)),
        "no_checker_emails": keep(lambda x: flag_arg(d, x)),
        "use_symlink_paths": keep(lambda x: bool_arg(d, x)),
        "reload_check_config": keep(lambda x: need(d, x, 0, 1)),
        # the dump files' names and places (engine/dumps/paths.py)
        "data_use_instance": keep(lambda x: need(d, x, 0, 1)),
        "state_file_location": keep(lambda x: need(d, x, 1, 1)),
        "stats_file_location": keep(lambda x: need(d, x, 1, 1)),
        "json_file_location": keep(lambda x: need(d, x, 1, 1)),
    }
    s.walk(st.block or [], table, "global_defs", kind="global_defs", other=g.other)


# --------------------------------------------------------------------------- LVS globals


def parse_lvs_sync_daemon(s: ParseContext, x: Stmt) -> None:
    """``lvs_sync_daemon IF [[inst] INSTANCE] [id N] [maxlen N] [port N] [ttl N] [group ADDR]``.

    Also keepalived's older positional form ``lvs_sync_daemon IF INSTANCE [SYNCID]``.
    The instance is resolved (and the sync id defaulted to its VRID) once
    every instance is read: :func:`finish_sync_daemon`.
    """
    d, g = s.d, s.globals
    if "_lvs_syncd" in g.values:
        first = g.where["_lvs_syncd"]
        d.warning(x.words[0], f"lvs_sync_daemon is already set (at {first.file}:{first.line}); "
                  "this one is ignored, as keepalived does")
        return
    if not need(d, x, 1, None, "an interface"):
        return
    ifname = x.args[0].text
    if len(ifname) > IFNAME_MAX:
        d.error(x.args[0], f"lvs_sync_daemon interface name '{show(ifname)}' is longer than {IFNAME_MAX} characters")
        return
    cfg: dict = {"interface": ifname}
    toks: dict = {}
    limits = {"id": (0, 255), "maxlen": (1, 65535 - 20 - 8), "port": (1, 65535), "ttl": (1, 255)}
    args = x.args
    i = 1
    while i < len(args):
        tok = args[i]
        word = tok.text
        if word in ("inst", "id", "maxlen", "port", "ttl", "group"):
            if i + 1 >= len(args):
                d.error(tok, f"lvs_sync_daemon '{word}' needs a value")
                break
            val = args[i + 1]
            if word == "inst":
                if "instance" in cfg:
                    d.warning(tok, f"lvs_sync_daemon instance is already {show(cfg['instance'])}; ignored")
                else:
                    cfg["instance"], toks["instance"] = val.text, val
            elif word == "group":
                a = to_ip(d, val, "lvs_sync_daemon group")
                if a is not None and not a.is_multicast:
                    d.error(val, f"lvs_sync_daemon group {a} is not a multicast address")
                elif a is not None:
                    cfg["group"] = str(a)
            else:
                lo, hi = limits[word]
                n = to_int(d, val, f"lvs_sync_daemon {word}", lo, hi)
                if n is not None:
                    cfg["syncid" if word == "id" else word] = n
            i += 2
            continue
        if i == 1 and "instance" not in cfg:          # the old positional form: IF INSTANCE [SYNCID]
            cfg["instance"], toks["instance"] = word, tok
        elif i == 2 and "syncid" not in cfg and word.isdigit():
            d.note(tok, "lvs_sync_daemon: write the sync id as 'id N' (the positional form is deprecated)")
            n = to_int(d, tok, "lvs_sync_daemon id", 0, 255)
            if n is not None:
                cfg["syncid"] = n
        else:
            d.error(tok, f"'{show(word)}' is not an lvs_sync_daemon option "
                    "(inst NAME, id N, maxlen N, port N, ttl N, group ADDR)")
        i += 1
    g.set(d, "_lvs_syncd", (cfg, toks, loc(x)), x.words[0])


def parse_lvs_timeouts(s: ParseContext, x: Stmt) -> None:
    """``lvs_timeouts [tcp SECS] [tcpfin SECS] [udp SECS]`` (at least one)."""
    d, g = s.d, s.globals
    if not need(d, x, 2, None, "at least one of tcp SECS, tcpfin SECS, udp SECS"):
        return
    values: dict = {}
    args = x.args
    i = 0
    while i < len(args):
        tok = args[i]
        if tok.text not in ("tcp", "tcpfin", "udp"):
            d.error(tok, f"'{show(tok.text)}' is not an lvs_timeouts option (tcp, tcpfin, udp)")
            i += 2 if i + 1 < len(args) and args[i + 1].text.isdigit() else 1    # and its value
            continue
        if i + 1 >= len(args):
            d.error(tok, f"lvs_timeouts '{tok.text}' needs a number of seconds")
            break
        n = to_int(d, args[i + 1], f"lvs_timeouts {tok.text}", 0, LVS_MAX_TIMEOUT)
        if n:                   # 0, as in keepalived: leave that one as the kernel has it
            values[tok.text] = n
        i += 2
    if values:
        g.set(d, "lvs_timeouts", m.LvsTimeouts(**values, loc=loc(x)), x.words[0])


def finish_sync_daemon(s: ParseContext, g: m.GlobalDefs, instances: list) -> m.GlobalDefs:
    """Resolve lvs_sync_daemon against the instances: global form first, then
    the first instance's old ``lvs_sync_daemon_interface``; the sync id is
    the instance's VRID unless given (keepalived)."""
    d = s.d
    by_name = {i.name: i for i in instances}
    found = s.globals.get("_lvs_syncd")
    cfg: dict | None = None
    if found is not None:
        cfg, toks, where_ = found
        name = cfg.get("instance")
        if name is not None and name not in by_name:
            d.error(toks["instance"], f"lvs_sync_daemon: no vrrp_instance named '{show(name)}'")
            return g
    for dr in s.instances:
        tok = dr.where.get("lvs_sync_daemon_interface")
        if tok is None or dr.name not in by_name:
            continue
        if cfg is not None:
            d.warning(tok, f"lvs_sync_daemon_interface in vrrp_instance {show(dr.name)} is ignored: the sync "
                      f"daemon is already set ({cfg['interface']}{' for ' + cfg['instance'] if cfg.get('instance') else ''})")
            continue
        cfg, where_ = {"interface": dr.values["lvs_sync_daemon_interface"], "instance": dr.name}, loc(tok)
    if cfg is None:
        return g
    inst = by_name.get(cfg.get("instance"))
    syncid = cfg.get("syncid", inst.vrid if inst is not None else 0)
    daemon = m.LvsSyncDaemon(interface=cfg["interface"], instance=cfg.get("instance"), syncid=syncid,
                             maxlen=cfg.get("maxlen"), port=cfg.get("port"), ttl=cfg.get("ttl"),
                             group=cfg.get("group"), loc=where_)
    return dataclasses.replace(g, lvs_sync_daemon=daemon)


def finish_globals(s: ParseContext) -> tuple[m.GlobalDefs, bool]:
    g = s.globals
    values = {k: v for k, v in g.values.items() if not k.startswith("_")}
    if "lvs_id" in values and "router_id" not in values:
        values["router_id"] = values["lvs_id"]
    values.update(_fifos(s))
    emails = g.items("notification_email")
    gd = m.GlobalDefs(**values, notification_email=tuple(emails), other=tuple(g.other), loc=g.loc)
    return gd, bool(g.get("_log_all_failures", False))


def _fifos(s: ParseContext) -> dict[str, m.NotifyFifo | None]:
    """notify_fifo / vrrp_notify_fifo / lvs_notify_fifo with their scripts, and
    keepalived's rules for FIFOs named twice (global_data.c): the global FIFO
    gets every line, so a vrrp_ or lvs_ FIFO of the same path is dropped (its
    lines would be written twice); VRRP and LVS sharing one FIFO keep the VRRP
    script only."""
    g, d = s.globals, s.d
    out: dict[str, m.NotifyFifo | None] = {}
    for key in ("notify_fifo", "vrrp_notify_fifo", "lvs_notify_fifo"):
        spec, script = g.get(f"_{key}"), g.get(f"_{key}_script")
        if spec is None:
            if script is not None:
                d.warning(g.where[f"_{key}_script"], f"'{key}_script' without '{key}': there is no FIFO to "
                          "read, so it is not run (as keepalived)")
            continue
        path, user, group, where = spec
        out[key] = m.NotifyFifo(path=path, user=user, group=group, script=script, loc=where)
    glob = out.get("notify_fifo")
    for key in ("vrrp_notify_fifo", "lvs_notify_fifo"):
        f = out.get(key)
        if glob is not None and f is not None and f.path == glob.path:
            d.warning(g.where[f"_{key}"], f"{key} {show(f.path)} is also the notify_fifo, which gets every line: "
                      f"the {key} (and its script) is ignored, as keepalived does")
            out[key] = None
    v, lv = out.get("vrrp_notify_fifo"), out.get("lvs_notify_fifo")
    if v is not None and lv is not None and v.path == lv.path and v.script and lv.script:
        d.warning(g.where["_lvs_notify_fifo_script"], "vrrp_notify_fifo and lvs_notify_fifo are the same FIFO and "
                  "both have a script: the lvs_notify_fifo_script is ignored, as keepalived does")
        out["lvs_notify_fifo"] = m.NotifyFifo(path=lv.path, user=lv.user, group=lv.group, loc=lv.loc)
    return out
