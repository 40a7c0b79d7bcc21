"""The VRRP half of keepalived.conf: trackers, instances, sync groups, addresses.

Blocks are read into drafts here; ``finish_vrrp`` then resolves them
against ``global_defs`` (version, multicast group, garp timers, smtp_alert,
strict mode) and runs the checks that need the whole file: undefined track
names, duplicate VRIDs on an interface, sync group members.
"""

from __future__ import annotations

import os

from vipdeck.engine.config import model as m
from vipdeck.engine.config.context import BLOCK, LINE, Draft, State, loc
from vipdeck.engine.config.lexer import show
from vipdeck.engine.config.tree import Stmt
from vipdeck.engine.config.values import (bool_arg, choice, flag_arg, float_arg, int_arg, joined_arg, need,
                                  notify_arg, parse_ip, parse_prefix, secret_arg, str_arg, to_int, to_ip,
                                  weight_reverse)

# --------------------------------------------------------------------------- trackers


def parse_vrrp_script(s: State, st: Stmt) -> None:
    name = s.name_arg(st, "vrrp_script")
    if name is None or not s.define("script", name, loc(st), "vrrp_script"):
        return
    d, dr = s.d, Draft("vrrp_script", name, loc(st))

    def weight(x: Stmt) -> None:
        w, rev = weight_reverse(d, x, 0, -253, 253)
        dr.set(d, "weight", w, x.words[0])
        if w is not None:
            dr.values["weight_reverse"] = rev

    def user(x: Stmt) -> None:
        if need(d, x, 1, 2, "a user name"):
            dr.set(d, "user", x.args[0].text, x.words[0])
            if len(x.args) > 1:
                dr.values["group"] = x.args[1].text

    table = {
        "script": (LINE, lambda x: dr.set(d, "script", joined_arg(d, x), x.words[0])),
        "interval": (LINE, lambda x: dr.set(d, "interval", float_arg(d, x, positive=True), x.words[0])),
        "timeout": (LINE, lambda x: dr.set(d, "timeout", float_arg(d, x, positive=True), x.words[0])),
        "weight": (LINE, weight),
        "rise": (LINE, lambda x: dr.set(d, "rise", int_arg(d, x, 1), x.words[0])),
        "fall": (LINE, lambda x: dr.set(d, "fall", int_arg(d, x, 1), x.words[0])),
        "user": (LINE, user),
        "init_fail": (LINE, lambda x: dr.set(d, "init_fail", flag_arg(d, x), x.words[0])),
    }
    s.walk(st.block or [], table, f"vrrp_script {name}")
    if not dr.has("script"):
        d.error(st.words[0], f"vrrp_script {show(name)} has no 'script' line: there is nothing to run")
        return
    s.scripts.append(m.VrrpScript(name=name, **dr.values, loc=dr.loc))


def parse_track_file(s: State, st: Stmt) -> None:
    if st.keyword == "vrrp_track_file":
        s.d.note(st.words[0], "'vrrp_track_file' is the old name of 'track_file'")
    name = s.name_arg(st, "track_file")
    if name is None or not s.define("file", name, loc(st), "track_file"):
        return
    d, dr = s.d, Draft("track_file", name, loc(st))

    def weight(x: Stmt) -> None:
        w, rev = weight_reverse(d, x, 0, -2147483647, 2147483647)
        dr.set(d, "weight", w, x.words[0])
        if w is not None:
            dr.values["weight_reverse"] = rev

    def init_file(x: Stmt) -> None:
        value, overwrite = 0, False
        for t in x.args:
            if t.text == "overwrite":
                overwrite = True
            else:
                v = to_int(d, t, "init_file", -2147483648, 2147483647)
                value = v if v is not None else value
        dr.set(d, "init_file", value, x.words[0])
        dr.values["init_file_overwrite"] = overwrite

    table = {
        "file": (LINE, lambda x: dr.set(d, "file", str_arg(d, x), x.words[0])),
        "weight": (LINE, weight),
        "init_file": (LINE, init_file),
    }
    s.walk(st.block or [], table, f"track_file {name}")
    if not dr.get("file"):
        d.error(st.words[0], f"track_file {show(name)} has no 'file' line: there is nothing to watch")
        return
    s.track_files.append(m.TrackFile(name=name, **dr.values, loc=dr.loc))


def parse_track_process(s: State, st: Stmt) -> None:
    name = s.name_arg(st, "vrrp_track_process")
    if name is None or not s.define("process", name, loc(st), "vrrp_track_process"):
        return
    d, dr = s.d, Draft("vrrp_track_process", name, loc(st))

    def process(x: Stmt) -> None:
        if need(d, x, 1, None, "a process name"):
            dr.set(d, "process", x.args[0].text, x.words[0])
            dr.values["parameters"] = tuple(t.text for t in x.args[1:])

    def weight(x: Stmt) -> None:
        w, rev = weight_reverse(d, x, 0, -254, 254)
        dr.set(d, "weight", w, x.words[0])
        if w is not None:
            dr.values["weight_reverse"] = rev

    def param_match(x: Stmt) -> None:
        if need(d, x, 1, 1):
            dr.set(d, "param_match", choice(d, x.args[0], "param_match", {"initial", "partial"}), x.words[0])

    table = {
        "process": (LINE, process),
        "param_match": (LINE, param_match),
        "weight": (LINE, weight),
        "quorum": (LINE, lambda x: dr.set(d, "quorum", int_arg(d, x, 0, 65535), x.words[0])),
        "quorum_max": (LINE, lambda x: dr.set(d, "quorum_max", int_arg(d, x, 0, 65535), x.words[0])),
        "fork_delay": (LINE, lambda x: dr.set(d, "fork_delay", float_arg(d, x), x.words[0])),
        "terminate_delay": (LINE, lambda x: dr.set(d, "terminate_delay", float_arg(d, x), x.words[0])),
        "delay": (LINE, lambda x: dr.set(d, "delay", float_arg(d, x), x.words[0])),
        "full_command": (LINE, lambda x: dr.set(d, "full_command", flag_arg(d, x), x.words[0])),
    }
    s.walk(st.block or [], table, f"vrrp_track_process {name}")
    if not dr.get("process"):
        d.error(st.words[0], f"vrrp_track_process {show(name)} has no 'process' line: there is nothing to watch")
        return
    v = dr.values
    if v.get("quorum_max") is not None and v["quorum_max"] < v.get("quorum", 1):
        d.error(dr.where["quorum_max"], f"vrrp_track_process {show(name)}: quorum_max {v['quorum_max']} is "
                f"below quorum {v.get('quorum', 1)}; the process can never be up")
    if "delay" in v:                    # 'delay' sets both, unless given separately
        v.setdefault("fork_delay", v["delay"])
        v.setdefault("terminate_delay", v["delay"])
    s.track_processes.append(m.TrackProcess(name=name, **v, loc=dr.loc))


def parse_refs(s: State, st: Stmt, lo: int, hi: int) -> list[m.TrackRef]:
    """The names in track_interface / track_script / … blocks, each with ``weight N [reverse]``."""
    refs = []
    for x in st.block or []:
        if x.block is not None:
            s.d.error(x.words[0], f"'{show(x.keyword)}' in {st.keyword} does not take a {{ }} block")
        w, rev = weight_reverse(s.d, x, 1, lo, hi)
        refs.append(m.TrackRef(name=x.keyword, weight=w, reverse=rev, loc=loc(x)))
    return refs


# --------------------------------------------------------------------------- addresses and routes

VIP_FLAGS = frozenset({"home", "-nodad", "mngtmpaddr", "noprefixroute", "autojoin", "no_track", "use_vmac"})
VIP_VALUED = frozenset({"brd", "dev", "scope", "label", "peer", "preferred_lft", "track_group"})
SCOPES = frozenset({"site", "link", "host", "nowhere", "global"})


def parse_vip(s: State, x: Stmt, where: str, *, static: bool = False) -> m.VirtualIp | None:
    """``<IPADDR>[/<MASK>] [brd X] [dev X] [scope X] [label X] [no_track] …``."""
    d = s.d
    if x.block is not None:
        d.error(x.words[0], f"an address in {where} does not take a {{ }} block")
    first = x.words[0]
    pp = parse_prefix(first.text)
    if pp is None:
        d.error(first, f"'{show(first.text)}' in {where} is not a valid address (expected ADDRESS[/PREFIX])")
        return None
    addr, plen = pp
    f: dict[str, object] = {}
    words = x.words
    i = 1
    while i < len(words):
        w = words[i]
        if w.text in VIP_FLAGS:
            if w.text == "no_track":
                f["no_track"] = True
            i += 1
            continue
        if w.text not in VIP_VALUED:
            d.warning(w, f"unknown address option '{show(w.text)}' for {addr} in {where}; ignored")
            i += 1
            continue
        if i + 1 >= len(words):
            d.error(w, f"'{w.text}' needs a value (address {addr} in {where})")
            break
        v = words[i + 1]
        if w.text == "brd":
            if v.text not in ("-", "+"):
                b = to_ip(d, v, f"brd of {addr}")
                if b is not None and b.version != addr.version:
                    d.error(v, f"brd {b} is not the same address family as {addr}")
                elif b is not None:
                    f["brd"] = str(b)
            else:
                f["brd"] = v.text
        elif w.text == "dev":
            f["dev"] = v.text
        elif w.text == "scope":
            if v.text in SCOPES or (v.text.isdigit() and int(v.text) <= 255):
                f["scope"] = v.text
            else:
                d.error(v, f"scope '{show(v.text)}' of {addr} is not one of {'|'.join(sorted(SCOPES))} or 0-255")
        elif w.text == "label":
            if len(v.text) > 15:
                d.error(v, f"label '{show(v.text)}' of {addr} is longer than 15 characters (the kernel refuses it)")
            else:
                f["label"] = v.text
        elif w.text == "peer":
            to_ip(d, v, f"peer of {addr}")
        elif w.text == "preferred_lft":
            if v.text != "forever":
                to_int(d, v, "preferred_lft", 0)
        elif w.text == "track_group" and not static:
            d.warning(w, f"track_group only applies to static addresses; ignored for {addr}")
        i += 2
    return m.VirtualIp(address=str(addr), prefixlen=plen, loc=loc(x), **f)  # type: ignore[arg-type]


def parse_vips(s: State, st: Stmt, where: str, *, static: bool = False) -> list[m.VirtualIp]:
    out: list[m.VirtualIp] = []
    for x in st.block or []:
        vip = parse_vip(s, x, where, static=static)
        if vip is None:
            continue
        if any(v.address == vip.address and v.prefixlen == vip.prefixlen and v.dev == vip.dev for v in out):
            s.d.warning(x.words[0], f"{vip} is listed twice in {where}")
        out.append(vip)
    return out


ROUTE_TYPES = frozenset({"unicast", "local", "broadcast", "multicast", "throw", "unreachable",
                         "prohibit", "blackhole", "nat", "anycast"})
RULE_PREF = frozenset({"preference", "pref", "priority", "prio"})


def _check_addr(s: State, tok, where: str, kw: str, *, prefix: bool, words_ok=()) -> bool:  # type: ignore[no-untyped-def]
    if tok.text in words_ok:
        return True
    ok = parse_prefix(tok.text) is not None if prefix else parse_ip(tok.text) is not None
    if not ok:
        s.d.error(tok, f"{kw} '{show(tok.text)}' in {where} is not a valid "
                  f"{'address/prefix' if prefix else 'address'}")
    return ok


def parse_route(s: State, x: Stmt, where: str) -> m.RouteSpec | None:
    """``[type] [src IP] [to] DEST via|gw IP [or IP] dev X …`` (ip route syntax, checked lightly)."""
    d, w = s.d, x.words
    if x.block is not None:
        d.error(w[0], f"a route in {where} does not take a {{ }} block")
    ok = True
    i = 0
    while i < len(w) and (w[i].text in ROUTE_TYPES or w[i].text in ("inet", "inet6")):
        i += 1
    if i < len(w) and w[i].text == "src":
        if i + 1 >= len(w):
            d.error(w[i], f"'src' needs an address in {where}")
            return None
        ok &= _check_addr(s, w[i + 1], where, "src", prefix=False)
        i += 2
    if i < len(w) and w[i].text == "to":
        i += 1
    if i >= len(w):
        d.error(w[0], f"route in {where} has no destination")
        return None
    ok &= _check_addr(s, w[i], where, "destination", prefix=True, words_ok=("default",))
    j = i + 1
    while j < len(w):
        kw = w[j].text
        if kw in ("via", "gw", "or", "src"):
            if kw in ("gw", "or"):
                d.note(w[j], f"'{kw}' in routes is deprecated; use '{'via' if kw == 'gw' else 'nexthop via'}'")
            k = j + 1
            if k < len(w) and w[k].text in ("inet", "inet6"):
                k += 1
            if k >= len(w):
                d.error(w[j], f"'{kw}' needs an address in {where}")
                ok = False
                break
            ok &= _check_addr(s, w[k], where, kw, prefix=False)
            j = k + 1
            continue
        j += 1
    return m.RouteSpec(words=tuple(t.text for t in w), loc=loc(x)) if ok else None


def parse_rule(s: State, x: Stmt, where: str) -> m.RouteSpec | None:
    """``from X to Y table N …`` (ip rule syntax, addresses checked)."""
    d, w = s.d, x.words
    if x.block is not None:
        d.error(w[0], f"a rule in {where} does not take a {{ }} block")
    ok = True
    j = 0
    while j < len(w):
        kw = w[j].text
        if kw in ("from", "to"):
            if j + 1 >= len(w):
                d.error(w[j], f"'{kw}' needs an address in {where}")
                return None
            ok &= _check_addr(s, w[j + 1], where, kw, prefix=True, words_ok=("all", "default"))
            j += 2
            continue
        j += 1
    if ok and not any(t.text in RULE_PREF for t in w):
        d.note(w[0], f"rule in {where} has no preference; keepalived assigns one, probably not the one you want")
    return m.RouteSpec(words=tuple(t.text for t in w), loc=loc(x)) if ok else None


def parse_routes(s: State, st: Stmt, where: str, rules: bool) -> list[m.RouteSpec]:
    out = []
    for x in st.block or []:
        spec = parse_rule(s, x, where) if rules else parse_route(s, x, where)
        if spec is not None:
            out.append(spec)
    return out


# --------------------------------------------------------------------------- vrrp_instance

INSTANCE_KNOWN = frozenset({
    "vrf", "use_vmac_addr", "vmac_xmit_base", "use_ipvlan", "track_src_ip", "check_unicast_src",
    "unicast_fault_no_peer", "old_unicast_checksum", "v3_checksum_as_v2", "garp_extra_if",
    "down_timer_adverts", "timer_expired_backup", "lower_prio_no_advert", "higher_prio_send_advert",
    "no_virtual_ipaddress", "promote_secondaries", "skip_check_adv_addr", "notify_deleted",
    "notify_priority_changes", "kernel_rx_buf_size",
})
INSTANCE_DEPRECATED = {
    "linkbeat_use_polling": "'linkbeat_use_polling' in a vrrp_instance is deprecated; use a linkbeat_interfaces block",
    "lvs_sync_daemon_interface": "specifying lvs_sync_daemon_interface against a vrrp_instance is deprecated; "
                                 "use global lvs_sync_daemon",
}
NOTIFY_KEYS = ("notify_master", "notify_backup", "notify_fault", "notify_stop", "notify")


def parse_vrrp_instance(s: State, st: Stmt) -> None:
    name = s.name_arg(st, "vrrp_instance")
    if name is None:
        return
    d, dr = s.d, Draft("vrrp_instance", name, loc(st))
    where = f"vrrp_instance {show(name)}"

    def put(key: str, conv):  # type: ignore[no-untyped-def]
        return (LINE, lambda x: dr.set(d, key, conv(x), x.words[0]))

    def state(x: Stmt) -> None:
        if need(d, x, 1, 1):
            dr.set(d, "state", choice(d, x.args[0], "state", {"MASTER": "MASTER", "BACKUP": "BACKUP"}), x.words[0])

    def ip(kw: str):  # type: ignore[no-untyped-def]
        def conv(x: Stmt) -> str | None:
            if not need(d, x, 1, 1):
                return None
            a = to_ip(d, x.args[0], kw)
            return None if a is None else str(a)
        return conv

    def mcast(x: Stmt) -> None:
        a = ip("mcast_dst_ip")(x)
        if a is not None and not parse_ip(a).is_multicast:  # type: ignore[union-attr]
            d.error(x.args[0], f"mcast_dst_ip {a} is not a multicast address")
            return
        dr.set(d, "mcast_group", a, x.words[0])

    def peers(x: Stmt) -> None:
        for p in x.block or []:
            a = to_ip(d, p.words[0], "unicast_peer")
            rest = p.words[1:]
            k = 0
            while k < len(rest):
                if rest[k].text in ("min_ttl", "max_ttl") and k + 1 < len(rest):
                    to_int(d, rest[k + 1], rest[k].text, 0, 255)
                    k += 2
                else:
                    d.warning(rest[k], f"unexpected word '{show(rest[k].text)}' after unicast peer; ignored")
                    k += 1
            if a is not None:
                dr.add("unicast_peers", (str(a), p.words[0]))

    def auth(x: Stmt) -> None:
        dr.set(d, "authentication", parse_authentication(s, x, where), x.words[0])

    def hmac(x: Stmt) -> None:
        dr.set(d, "auth_hmac", parse_auth_hmac(s, x, where), x.words[0])

    def refs(key: str, lo: int, hi: int):  # type: ignore[no-untyped-def]
        return (BLOCK, lambda x: dr.add(key, *parse_refs(s, x, lo, hi)))

    def use_vmac(x: Stmt) -> None:
        vname = ""
        k = 0
        a = x.args
        while k < len(a):
            t = a[k].text
            if t in ("name", "group") and k + 1 < len(a):
                if t == "name":
                    vname = a[k + 1].text
                k += 2
            elif t == "netlink_notify_msg" or (t.count(":") in (4, 5) and all(
                    len(p) <= 2 for p in t.split(":"))):
                k += 1                  # a MAC address
            else:
                vname = t
                k += 1
        if len(vname) > 15:
            d.error(x.args[0], f"use_vmac interface name '{show(vname)}' is longer than 15 characters")
            return
        dr.set(d, "use_vmac", vname, x.words[0])

    def bfd(x: Stmt) -> None:
        for r in parse_refs(s, x, -253, 253):
            dr.add("track_bfd", r)
        dr.other.append(("track_bfd", tuple(r.keyword for r in x.block or [])))

    table = {
        "state": (LINE, state),
        "interface": put("interface", lambda x: str_arg(d, x)),
        "virtual_router_id": put("vrid", lambda x: int_arg(d, x, 1, 255)),
        "priority": put("priority", lambda x: int_arg(d, x, 1, 255)),
        "advert_int": put("advert_int", lambda x: float_arg(d, x, positive=True)),
        "version": put("version", lambda x: int_arg(d, x, 2, 3)),
        "nopreempt": put("nopreempt", lambda x: flag_arg(d, x)),
        "preempt": put("nopreempt", lambda x: not flag_arg(d, x)),
        "preempt_delay": put("preempt_delay", lambda x: float_arg(d, x, 0, 1000)),
        "authentication": (BLOCK, auth),
        "auth_hmac": (BLOCK, hmac),
        "mcast_src_ip": put("mcast_src_ip", ip("mcast_src_ip")),
        "unicast_src_ip": put("unicast_src_ip", ip("unicast_src_ip")),
        "unicast_peer": (BLOCK, peers),
        "unicast_ttl": put("unicast_ttl", lambda x: int_arg(d, x, 0, 255)),
        "mcast_dst_ip": (LINE, mcast),
        "dont_track_primary": put("dont_track_primary", lambda x: flag_arg(d, x)),
        "track_interface": refs("track_interfaces", -253, 253),
        "track_script": refs("track_scripts", -253, 253),
        "track_file": refs("track_files", -254, 254),
        "track_process": refs("track_processes", -254, 254),
        "track_bfd": (BLOCK, bfd),
        "virtual_ipaddress": (BLOCK, lambda x: dr.add("virtual_ipaddresses",
                                                      *parse_vips(s, x, f"{where} virtual_ipaddress"))),
        "virtual_ipaddress_excluded": (BLOCK, lambda x: dr.add(
            "virtual_ipaddresses_excluded", *parse_vips(s, x, f"{where} virtual_ipaddress_excluded"))),
        "virtual_routes": (BLOCK, lambda x: dr.add("virtual_routes",
                                                   *parse_routes(s, x, f"{where} virtual_routes", False))),
        "virtual_rules": (BLOCK, lambda x: dr.add("virtual_rules",
                                                  *parse_routes(s, x, f"{where} virtual_rules", True))),
        "garp_master_delay": put("garp_master_delay", lambda x: float_arg(d, x)),
        "garp_master_repeat": put("garp_master_repeat", lambda x: int_arg(d, x, 0, 255)),
        "garp_lower_prio_delay": put("garp_lower_prio_delay", lambda x: float_arg(d, x)),
        "garp_lower_prio_repeat": put("garp_lower_prio_repeat", lambda x: int_arg(d, x, 0, 255)),
        "garp_master_refresh": put("garp_master_refresh", lambda x: float_arg(d, x)),
        "garp_master_refresh_repeat": put("garp_master_refresh_repeat", lambda x: int_arg(d, x, 0, 255)),
        "notify_master_rx_lower_pri": put("notify_master_rx_lower_pri", lambda x: notify_arg(d, x)),
        "smtp_alert": put("smtp_alert", lambda x: bool_arg(d, x)),
        "accept": put("accept", lambda x: flag_arg(d, x)),
        "no_accept": put("accept", lambda x: not flag_arg(d, x)),
        "strict_mode": put("strict_mode", lambda x: bool_arg(d, x)),
        "use_vmac": (LINE, use_vmac),
        "native_ipv6": put("native_ipv6", lambda x: flag_arg(d, x)),
        "debug": put("debug", lambda x: int_arg(d, x, 0, 4)),
    }
    for key in NOTIFY_KEYS:
        table[key] = put(key, lambda x: notify_arg(d, x))
    s.walk(st.block or [], table, where, known=INSTANCE_KNOWN, aliases={"no_preempt": "nopreempt"},
           deprecated={**INSTANCE_DEPRECATED,
                       "native_ipv6": "'native_ipv6' is deprecated: the addresses decide the family"},
           other=dr.other)
    if any(k == "no_virtual_ipaddress" for k, _ in dr.other):
        dr.values["_no_vips_ok"] = True
    s.instances.append(dr)


def parse_authentication(s: State, st: Stmt, where: str) -> m.Authentication | None:
    d = s.d
    a = Draft("authentication", where, loc(st))
    table = {
        "auth_type": (LINE, lambda x: a.set(d, "auth_type", choice(
            d, x.args[0], "auth_type", {"PASS": "PASS", "AH": "AH"}) if need(d, x, 1, 1) else None, x.words[0])),
        "auth_pass": (LINE, lambda x: a.set(d, "auth_pass", secret_arg(d, x), x.words[0])),
    }
    s.walk(st.block or [], table, f"{where} authentication")
    kind, pw = a.get("auth_type"), a.get("auth_pass")
    if kind is None:
        if a.has("auth_pass") or a.where.get("auth_type") is None:
            d.warning(st.words[0], f"authentication in {where} has no valid auth_type (PASS|AH); "
                      "authentication is off")
        return None
    if kind == "PASS" and not pw:
        d.error(st.words[0], f"auth_type PASS in {where} needs an auth_pass")
        return None
    if pw and len(pw.encode()) > 8:
        d.warning(a.where["auth_pass"], f"auth_pass in {where} is longer than 8 characters; "
                  "only the first 8 are used")
    return m.Authentication(auth_type=m.AuthType(kind), auth_pass=pw or "", loc=loc(st))


def parse_auth_hmac(s: State, st: Stmt, where: str) -> Draft:
    """Read ``auth_hmac { key …; active_key; anti_replay; time_window; mode }``.

    Key values are secrets: messages name the key id, never its value.
    """
    d = s.d
    h = Draft("auth_hmac", where, loc(st))

    def key(x: Stmt) -> None:
        if len(x.args) < 2:
            d.error(x.words[0], f"'key' in {where} auth_hmac needs an id and a value (key ID VALUE)")
            return
        if len(x.args) > 2:
            d.warning(x.args[2], f"'key' in {where} auth_hmac takes an id and one value; extra words ignored")
        kid = to_int(d, x.args[0], "auth_hmac key id", 1, 255)
        if kid is None:
            return
        secret, source = _hmac_secret(s, x, kid, x.args[1].text, where)
        if secret is None:
            return
        if any(k.id == kid for k in h.items("keys")):
            d.error(x.args[0], f"auth_hmac key {kid} in {where} is defined twice")
            return
        h.add("keys", m.HmacKey(id=kid, secret=secret, source=source, loc=loc(x)))

    table = {
        "key": (LINE, key),
        "active_key": (LINE, lambda x: h.set(d, "active_key", int_arg(d, x, 1, 255), x.words[0])),
        "anti_replay": (LINE, lambda x: h.set(d, "anti_replay", choice(
            d, x.args[0], "anti_replay", {"time", "monotonic"}) if need(d, x, 1, 1) else None, x.words[0])),
        "time_window": (LINE, lambda x: h.set(d, "time_window", float_arg(d, x, 1, 300), x.words[0])),
        "mode": (LINE, lambda x: h.set(d, "mode", choice(
            d, x.args[0], "mode", {"enforce", "permissive"}) if need(d, x, 1, 1) else None, x.words[0])),
    }
    s.walk(st.block or [], table, f"{where} auth_hmac")
    return h


def _hmac_secret(s: State, x: Stmt, kid: int, value: str, where: str) -> tuple[bytes | None, str]:
    d = s.d
    source = "inline"
    if value.startswith("file:"):
        path = value[5:]
        if not os.path.isabs(path):
            path = os.path.join(os.path.dirname(x.file), path)
        source = f"file:{path}"
        try:
            with open(path, "rb") as fh:
                raw = fh.read(4096)
            value = raw.decode("utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not readable text"
            d.error(x.args[1], f"auth_hmac key {kid} in {where}: cannot read {path}: {why}")
            return None, source
    if value.startswith("hex:"):
        try:
            secret = bytes.fromhex(value[4:])
        except ValueError:
            d.error(x.args[1], f"auth_hmac key {kid} in {where}: the hex: value is not valid hexadecimal")
            return None, source
        source = "hex" if source == "inline" else source
    else:
        secret = value.encode()
    if not 32 <= len(secret) <= 64:
        d.error(x.args[1], f"auth_hmac key {kid} in {where} is {len(secret)} bytes; keys must be 32 to 64 bytes")
        return None, source
    return secret, source


# --------------------------------------------------------------------------- vrrp_sync_group


def parse_sync_group(s: State, st: Stmt) -> None:
    name = s.name_arg(st, "vrrp_sync_group")
    if name is None:
        return
    d, dr = s.d, Draft("vrrp_sync_group", name, loc(st))
    where = f"vrrp_sync_group {show(name)}"

    def group(x: Stmt) -> None:
        dr.values["_has_group"] = True
        for member in x.block or []:
            if member.block is not None:
                d.error(member.words[0], f"instance name '{show(member.keyword)}' in {where} group "
                        "does not take a { } block")
            for t in member.words:
                dr.add("group", t)

    def put(key: str, conv):  # type: ignore[no-untyped-def]
        return (LINE, lambda x: dr.set(d, key, conv(x), x.words[0]))

    def refs(key: str, lo: int, hi: int):  # type: ignore[no-untyped-def]
        return (BLOCK, lambda x: dr.add(key, *parse_refs(s, x, lo, hi)))

    table = {
        "group": (BLOCK, group),
        "smtp_alert": put("smtp_alert", lambda x: bool_arg(d, x)),
        "track_interface": refs("track_interfaces", -253, 253),
        "track_script": refs("track_scripts", -253, 253),
        "track_file": refs("track_files", -254, 254),
        "track_process": refs("track_processes", -254, 254),
        "global_tracking": put("global_tracking", lambda x: flag_arg(d, x)),
        "sync_group_tracking_weight": put("sync_group_tracking_weight", lambda x: flag_arg(d, x)),
    }
    for key in NOTIFY_KEYS:
        table[key] = put(key, lambda x: notify_arg(d, x))
    known = {"notify_priority_changes", "notify_deleted", "track_bfd"}
    block = []
    for x in st.block or []:
        if x.keyword not in table and x.keyword not in known and not x.args and x.block is None:
            dr.add("_loose", x)         # maybe an instance name outside group { } (old syntax)
        else:
            block.append(x)
    s.walk(block, table, where,
           known=known,
           deprecated={"global_tracking": "'global_tracking' is deprecated; use track_* blocks on the sync group"},
           other=dr.other)
    s.sync_groups.append(dr)


# --------------------------------------------------------------------------- resolution


def finish_vrrp(s: State, g: m.GlobalDefs) -> tuple[list[m.VrrpInstance], list[m.SyncGroup]]:
    instances: list[m.VrrpInstance] = []
    seen: dict[str, m.Loc] = {}
    broken: set[str] = set()
    for dr in s.instances:
        if dr.name in seen:
            s.d.error(dr.loc, f"vrrp_instance {show(dr.name)} is defined twice (first at {seen[dr.name]}); "
                      "this one is ignored")
            continue
        seen[dr.name] = dr.loc
        inst = _finish_instance(s, g, dr)
        if inst is None:
            broken.add(dr.name)
        else:
            instances.append(inst)
    _check_vrids(s, instances)
    groups = _finish_sync_groups(s, g, instances, broken)
    return instances, groups


def _smtp_default(g: m.GlobalDefs, specific: bool | None) -> bool:
    if specific is not None:
        return specific
    return bool(g.smtp_alert) if g.smtp_alert is not None else False


def _check_refs(s: State, owner: str, refs: dict[str, list[m.TrackRef]]) -> None:
    kinds = {"track_scripts": ("script", "track_script", "vrrp_script"),
             "track_files": ("file", "track_file", "track_file"),
             "track_processes": ("process", "track_process", "vrrp_track_process")}
    for key, (kind, kw, block) in kinds.items():
        for r in refs.get(key, []):
            if r.name not in s.defined[kind]:
                s.d.error(r.loc, f"{kw} '{show(r.name)}' in {owner}: no {block} with that name is defined")


def _finish_instance(s: State, g: m.GlobalDefs, dr: Draft) -> m.VrrpInstance | None:
    d, v, name = s.d, dr.values, dr.name
    where = f"vrrp_instance {show(name)}"
    peers = [p for p, _ in dr.items("unicast_peers")]
    refs = {k: dr.items(k) for k in ("track_scripts", "track_files", "track_processes")}
    _check_refs(s, where, refs)
    if "vrid" not in v:
        if "vrid" not in dr.tried:     # not even an invalid one was written
            d.error(dr.loc, f"{where} has no virtual_router_id (1-255)")
        return None
    interface = v.get("interface")
    if interface is None:
        if not peers:
            d.error(dr.loc, f"{where} has no interface (only unicast instances may omit it)")
        interface = ""
    vips: list[m.VirtualIp] = dr.items("virtual_ipaddresses")
    fams = {x.family for x in vips}
    if len(fams) > 1:
        first = vips[0].family
        odd = next(x for x in vips if x.family != first)
        d.error(odd.loc, f"{where}: virtual_ipaddress mixes IPv4 and IPv6 ({odd} vs {vips[0]}); "
                "put the other family in virtual_ipaddress_excluded")
    family = 6 if fams == {6} or v.get("native_ipv6") else 4

    version = v.get("version", g.vrrp_version)
    if family == 6 and version == 2:
        if "version" in v:
            d.warning(dr.where["version"], f"{where} has IPv6 addresses, which need VRRP version 3; using 3")
        version = 3

    advert = v.get("advert_int", 1.0)
    tok = dr.where.get("advert_int")
    if version == 2:
        if not (advert.is_integer() and 1 <= advert <= 255):
            d.error(tok or dr.loc, f"advert_int {advert:g} is not valid for VRRP version 2 (whole seconds 1-255; "
                    "use version 3 for sub-second adverts)")
    else:
        cs = round(advert * 100)
        if not 1 <= cs <= 4095:
            d.error(tok or dr.loc, f"advert_int {advert:g} is outside 0.01-40.95 seconds (VRRP version 3)")
        elif abs(cs - advert * 100) > 1e-6:
            d.note(tok or dr.loc, f"advert_int {advert:g} is rounded to {cs / 100:g} "
                   "(VRRP version 3 counts centiseconds)")
            advert = cs / 100

    priority = v.get("priority", 100)
    state = v.get("state", "BACKUP")
    if priority == 255:
        d.note(dr.where.get("priority", dr.loc), f"{where}: priority 255 makes this router the address owner: "
               "it takes over at once and tracking cannot lower its priority")

    mcast = v.get("mcast_group")
    if mcast is not None:
        if parse_ip(mcast).version != family:  # type: ignore[union-attr]
            d.error(dr.where["mcast_group"], f"{where}: mcast_dst_ip {mcast} is not an IPv{family} address "
                    "like the instance's virtual addresses")
    else:
        mcast = g.vrrp_mcast_group6 if family == 6 else g.vrrp_mcast_group4

    for p, t in dr.items("unicast_peers"):
        if parse_ip(p).version != family:  # type: ignore[union-attr]
            d.error(t, f"{where}: unicast_peer {p} is not an IPv{family} address like the instance's addresses")
    if len(set(peers)) != len(peers):
        d.warning(dr.loc, f"{where}: a unicast_peer is listed twice")
    for key in ("unicast_src_ip", "mcast_src_ip"):
        a = v.get(key)
        if a is not None and parse_ip(a).version != family:  # type: ignore[union-attr]
            d.error(dr.where[key], f"{where}: {key} {a} is not an IPv{family} address")

    strict = v.get("strict_mode", g.vrrp_strict)
    auth: m.Authentication | None = v.get("authentication")
    if auth is not None and version == 3:
        d.warning(dr.where["authentication"], f"{where}: authentication is not part of VRRP version 3; ignored")
        auth = None
    if auth is not None and strict:
        d.warning(dr.where["authentication"], f"{where}: strict mode does not support authentication; ignored")
        auth = None
    if auth is not None and auth.auth_type is m.AuthType.AH and state == "MASTER":
        d.warning(dr.where["authentication"], f"{where}: initial state MASTER does not work with AH "
                  "authentication (keepalived starts it as BACKUP)")
    hmac = _finish_hmac(s, dr, where, advert)
    if hmac is not None and auth is not None:
        d.error(dr.where["auth_hmac"], f"{where}: auth_hmac and authentication cannot be used together")

    accept = v.get("accept")
    if strict:
        if not vips:
            d.warning(dr.loc, f"{where}: strict mode requires at least one virtual_ipaddress")
        if peers:
            d.warning(dr.loc, f"{where}: strict mode does not allow unicast peers")
        if state == "MASTER" and priority != 255:
            d.warning(dr.where.get("state", dr.loc), f"{where}: in strict mode state MASTER needs priority 255 "
                      "(address owner)")
        if v.get("preempt_delay"):
            d.warning(dr.where["preempt_delay"], f"{where}: strict mode does not support preempt_delay")
        if accept and version == 2:
            d.warning(dr.where["accept"], f"{where}: accept mode with VRRP version 2 does not comply with "
                      "RFC 3768 in strict mode")
        if accept is None:
            accept = priority == 255
    if not vips and not v.get("_no_vips_ok") and not strict:
        d.warning(dr.loc, f"{where} has no virtual_ipaddress")
    if v.get("nopreempt") and state == "MASTER":
        d.warning(dr.where["nopreempt"], f"{where}: nopreempt does not work with initial state MASTER")

    use_vmac = v.get("use_vmac")
    if use_vmac == "":
        use_vmac = f"vrrp.{v['vrid']}"

    garp_delay = v.get("garp_master_delay", g.vrrp_garp_master_delay)
    garp_repeat = v.get("garp_master_repeat", g.vrrp_garp_master_repeat)
    lower_delay = v.get("garp_lower_prio_delay", g.vrrp_garp_lower_prio_delay)
    lower_repeat = v.get("garp_lower_prio_repeat", g.vrrp_garp_lower_prio_repeat)
    return m.VrrpInstance(
        name=name, interface=interface, vrid=v["vrid"], state=state, priority=priority,
        advert_int=advert, version=version, nopreempt=v.get("nopreempt", False),
        preempt_delay=v.get("preempt_delay", 0.0), authentication=auth, mcast_group=mcast,
        mcast_src_ip=v.get("mcast_src_ip"), unicast_src_ip=v.get("unicast_src_ip"),
        unicast_peers=tuple(dict.fromkeys(peers)), unicast_ttl=v.get("unicast_ttl"),
        dont_track_primary=v.get("dont_track_primary", False),
        track_interfaces=tuple(dr.items("track_interfaces")), track_scripts=tuple(refs["track_scripts"]),
        track_files=tuple(refs["track_files"]), track_processes=tuple(refs["track_processes"]),
        virtual_ipaddresses=tuple(vips),
        virtual_ipaddresses_excluded=tuple(dr.items("virtual_ipaddresses_excluded")),
        virtual_routes=tuple(dr.items("virtual_routes")), virtual_rules=tuple(dr.items("virtual_rules")),
        garp_master_delay=garp_delay, garp_master_repeat=garp_repeat,
        garp_master_refresh=v.get("garp_master_refresh", g.vrrp_garp_master_refresh),
        garp_master_refresh_repeat=v.get("garp_master_refresh_repeat", g.vrrp_garp_master_refresh_repeat),
        garp_interval=g.vrrp_garp_interval, gna_interval=g.vrrp_gna_interval,
        garp_lower_prio_delay=garp_delay if lower_delay is None else lower_delay,
        garp_lower_prio_repeat=garp_repeat if lower_repeat is None else lower_repeat,
        notify_master=v.get("notify_master"), notify_backup=v.get("notify_backup"),
        notify_fault=v.get("notify_fault"), notify_stop=v.get("notify_stop"),
        notify_master_rx_lower_pri=v.get("notify_master_rx_lower_pri"), notify=v.get("notify"),
        smtp_alert=_smtp_default(g, v.get("smtp_alert", g.smtp_alert_vrrp)),
        accept=accept, strict_mode=bool(strict), use_vmac=use_vmac,
        native_ipv6=v.get("native_ipv6", False), debug=v.get("debug", 0),
        auth_hmac=hmac, other=tuple(dr.other), loc=dr.loc,
    )


def _finish_hmac(s: State, dr: Draft, where: str, advert: float) -> m.AuthHmac | None:
    h: Draft | None = dr.get("auth_hmac")
    if h is None:
        return None
    keys = h.items("keys")
    if not keys:
        s.d.error(h.loc, f"{where}: auth_hmac has no valid key")
        return None
    active = h.get("active_key")
    if active is None:
        if len(keys) > 1:
            s.d.error(h.loc, f"{where}: auth_hmac has {len(keys)} keys but no active_key")
            return None
        active = keys[0].id
    elif not any(k.id == active for k in keys):
        s.d.error(h.where["active_key"], f"{where}: auth_hmac active_key {active} is not one of the defined keys "
                  f"({', '.join(str(k.id) for k in keys)})")
        return None
    anti = h.get("anti_replay", "time")
    window = h.get("time_window", max(3 * advert, 5.0))
    if anti == "monotonic" and h.has("time_window"):
        s.d.note(h.where["time_window"], f"{where}: time_window only applies to anti_replay time")
    return m.AuthHmac(keys=tuple(keys), active_key=active, anti_replay=anti, time_window=window,
                      mode=h.get("mode", "enforce"), loc=h.loc)


def _check_vrids(s: State, instances: list[m.VrrpInstance]) -> None:
    """Two instances may not share a VRID on one interface and family (keepalived),
    unless they use different multicast groups or disjoint unicast peers."""
    seen: dict[tuple[str, int, int], list[m.VrrpInstance]] = {}
    for inst in instances:
        key = (inst.interface, inst.family, inst.vrid)
        for other in seen.get(key, []):
            if bool(inst.unicast_peers) != bool(other.unicast_peers):
                continue
            if inst.unicast_peers and not set(inst.unicast_peers) & set(other.unicast_peers):
                continue
            if not inst.unicast_peers and inst.mcast_group != other.mcast_group:
                continue
            on = f" on interface {inst.interface}" if inst.interface else ""
            s.d.error(inst.loc, f"virtual_router_id {inst.vrid} of vrrp_instance {show(inst.name)} is already used "
                      f"by vrrp_instance {show(other.name)} ({other.loc}){on} (IPv{inst.family})")
            break
        seen.setdefault(key, []).append(inst)


def _finish_sync_groups(s: State, g: m.GlobalDefs, instances: list[m.VrrpInstance],
                        broken: set[str]) -> list[m.SyncGroup]:
    d = s.d
    by_name = {i.name: i for i in instances}
    member_of: dict[str, str] = {}
    out: list[m.SyncGroup] = []
    names: dict[str, m.Loc] = {}
    for dr in s.sync_groups:
        where = f"vrrp_sync_group {show(dr.name)}"
        if dr.name in names:
            d.error(dr.loc, f"{where} is defined twice (first at {names[dr.name]}); this one is ignored")
            continue
        names[dr.name] = dr.loc
        members: list[str] = []
        for t in dr.items("group"):
            n = t.text
            if n not in by_name:
                if n not in broken:
                    d.error(t, f"{where}: no vrrp_instance named '{show(n)}'")
                continue
            if n in member_of:
                d.error(t, f"{where}: vrrp_instance {show(n)} is already in vrrp_sync_group {show(member_of[n])}")
                continue
            if n in members:
                d.warning(t, f"{where}: vrrp_instance {show(n)} is listed twice")
                continue
            member_of[n] = dr.name
            members.append(n)
        for x in dr.items("_loose"):
            hint = (" (instance names belong inside 'group { }')" if x.keyword in by_name or x.keyword in broken
                    else "")
            d.warning(x.words[0], f"unknown keyword '{show(x.keyword)}' in {where}{hint}; ignored")
        if not dr.get("_has_group"):
            d.warning(dr.loc, f"{where} has no 'group {{ }}' block listing its instances; it does nothing")
        elif len(members) == 1:
            d.warning(dr.loc, f"{where} has only one instance; a sync group needs at least two to be useful")
        if not dr.get("sync_group_tracking_weight"):
            for n in members:
                inst = by_name[n]
                weighted = [r for r in inst.track_scripts + inst.track_files + inst.track_processes
                            if r.weight]
                for r in weighted:
                    d.warning(r.loc, f"vrrp_instance {show(n)} is in {where}: the weight of tracked "
                              f"'{show(r.name)}' is ignored (set sync_group_tracking_weight to use it)")
        refs = {k: dr.items(k) for k in ("track_scripts", "track_files", "track_processes")}
        _check_refs(s, where, refs)
        v = dr.values
        out.append(m.SyncGroup(
            name=dr.name, group=tuple(members),
            notify_master=v.get("notify_master"), notify_backup=v.get("notify_backup"),
            notify_fault=v.get("notify_fault"), notify_stop=v.get("notify_stop"), notify=v.get("notify"),
            smtp_alert=_smtp_default(g, v.get("smtp_alert", g.smtp_alert_vrrp)),
            track_interfaces=tuple(dr.items("track_interfaces")), track_scripts=tuple(refs["track_scripts"]),
            track_files=tuple(refs["track_files"]), track_processes=tuple(refs["track_processes"]),
            global_tracking=v.get("global_tracking", False),
            sync_group_tracking_weight=v.get("sync_group_tracking_weight", False), loc=dr.loc))
    return out
