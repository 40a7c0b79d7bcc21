"""VRRP instances: the ``vrrp_instance`` block and its resolution.

keepalived.conf(5) "VRRP instance(s)".  Instances are read into drafts and
resolved at the end against ``global_defs`` (version, multicast group, garp
timers, smtp_alert, strict mode), which keepalived lets come after them;
the checks that need every instance (duplicate VRIDs on an interface) run
then too.
"""

from __future__ import annotations

from vipdeck.engine.config import model as m
from vipdeck.engine.config.addresses import parse_routes, parse_vips
from vipdeck.engine.config.auth import finish_hmac, parse_auth_hmac, parse_authentication
from vipdeck.engine.config.context import BLOCK, LINE, Draft, State, loc
from vipdeck.engine.config.lexer import show
from vipdeck.engine.config.trackers import check_refs, parse_refs
from vipdeck.engine.config.tree import Stmt
from vipdeck.engine.config.values import (bool_arg, choice, flag_arg, float_arg, int_arg, need, notify_arg, parse_ip,
                                          str_arg, to_int, to_ip)


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

    def sync_ifname(x: Stmt) -> str | None:
        name = str_arg(d, x)
        if name is not None and len(name) > 15:
            d.error(x.args[0], f"lvs_sync_daemon_interface '{show(name)}' is longer than 15 characters")
            return None
        return name

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
                    s.option("unicast_peer", rest[k])
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
        "no_virtual_ipaddress": put("_no_vips_ok", lambda x: flag_arg(d, x)),
        "skip_check_adv_addr": (LINE, lambda x: bool_arg(d, x)),   # vipdeck never checks advert addresses
        # the old form of global lvs_sync_daemon: resolved in global_defs.finish_sync_daemon
        "lvs_sync_daemon_interface": put("lvs_sync_daemon_interface", lambda x: sync_ifname(x)),
    }
    for key in NOTIFY_KEYS:
        table[key] = put(key, lambda x: notify_arg(d, x))
    s.walk(st.block or [], table, where, kind="vrrp_instance", aliases={"no_preempt": "nopreempt"},
           deprecated={**INSTANCE_DEPRECATED,
                       "native_ipv6": "'native_ipv6' is deprecated: the addresses decide the family"},
           other=dr.other)
    s.instances.append(dr)


# --------------------------------------------------------------------------- resolution


def finish_instances(s: State, g: m.GlobalDefs) -> tuple[list[m.VrrpInstance], set[str]]:
    """The instances, and the names of those too broken to build (their users are not told twice)."""
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
    return instances, broken


def smtp_default(g: m.GlobalDefs, specific: bool | None) -> bool:
    if specific is not None:
        return specific
    return bool(g.smtp_alert) if g.smtp_alert is not None else False


def check_refs(s: State, owner: str, refs: dict[str, list[m.TrackRef]]) -> None:
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
    check_refs(s, where, refs)
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
    hmac = finish_hmac(s, dr, where, advert)
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
    # keepalived 2.2.7 (vrrp.c, checked with its data dump): an instance's garp_lower_prio_*
    # default to the global ones, which default to the *global* garp_master_* values (not
    # the instance's); strict mode sends none
    lower_delay = v.get("garp_lower_prio_delay")
    lower_repeat = v.get("garp_lower_prio_repeat")
    if strict:
        for key, value in (("garp_lower_prio_repeat", lower_repeat), ("garp_lower_prio_delay", lower_delay)):
            if value:
                d.warning(dr.where.get(key, dr.loc), f"{where}: strict mode requires no {key}; resetting to 0")
        lower_delay, lower_repeat = 0.0, 0
    if lower_delay is None:
        lower_delay = (g.vrrp_garp_master_delay if g.vrrp_garp_lower_prio_delay is None
                       else g.vrrp_garp_lower_prio_delay)
    if lower_repeat is None:
        lower_repeat = (g.vrrp_garp_master_repeat if g.vrrp_garp_lower_prio_repeat is None
                        else g.vrrp_garp_lower_prio_repeat)
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
        garp_lower_prio_delay=lower_delay, garp_lower_prio_repeat=lower_repeat,
        notify_master=v.get("notify_master"), notify_backup=v.get("notify_backup"),
        notify_fault=v.get("notify_fault"), notify_stop=v.get("notify_stop"),
        notify_master_rx_lower_pri=v.get("notify_master_rx_lower_pri"), notify=v.get("notify"),
        smtp_alert=smtp_default(g, v.get("smtp_alert", g.smtp_alert_vrrp)),
        accept=accept, strict_mode=bool(strict), use_vmac=use_vmac,
        native_ipv6=v.get("native_ipv6", False), debug=v.get("debug", 0),
        auth_hmac=hmac, other=tuple(dr.other), loc=dr.loc,
    )


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
