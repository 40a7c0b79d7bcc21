"""``global_defs`` and the global daemon facilities of the top level.

keepalived.conf(5) "Global definitions".  The values here are defaults for
the instances, virtual servers and checkers that follow (or precede: they
are resolved once the whole file is read), and the mail settings of the
alerts.
"""

from __future__ import annotations

import re

from vipdeck.engine.config import model as m
from vipdeck.engine.config.context import BLOCK, LINE, State, loc
from vipdeck.engine.config.lexer import show
from vipdeck.engine.config.tree import Stmt
from vipdeck.engine.config.values import (bool_arg, flag_arg, float_arg, int_arg, need, parse_ip, str_arg, to_ip,
                                          to_port)

_HOSTNAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*\.?\Z")


# --------------------------------------------------------------------------- global_defs


def parse_global_defs(s: State, st: Stmt) -> None:
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

    def log_all(x: Stmt) -> None:
        g.set(d, "_log_all_failures", bool_arg(d, x), x.words[0])
        g.other.append((x.keyword, tuple(t.text for t in x.args)))

    def keep(check):  # type: ignore[no-untyped-def]
        """Implemented keywords whose users read them from ``other`` (no_email_faults ...)."""
        def fn(x: Stmt) -> None:
            check(x)
            g.other.append((x.keyword, tuple(t.text for t in x.args)))
        return (LINE, fn)

    table = {
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


def finish_globals(s: State) -> tuple[m.GlobalDefs, bool]:
    g = s.globals
    values = {k: v for k, v in g.values.items() if not k.startswith("_")}
    if "lvs_id" in values and "router_id" not in values:
        values["router_id"] = values["lvs_id"]
    emails = g.items("notification_email")
    gd = m.GlobalDefs(**values, notification_email=tuple(emails), other=tuple(g.other), loc=g.loc)
    return gd, bool(g.get("_log_all_failures", False))
