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
from vipdeck.engine.config.context import BLOCK, LINE, Draft, ParseContext, loc
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


def parse_vrrp_instance(s: ParseContext, st: Stmt) -> None:
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
        dr.values["_unicast"] = True
        for p in x.block or []:
            a = to_ip(d, p.words[0], "unicast_peer")
            rest = p.words[1:]
            ttl = {"min_ttl": 0, "max_ttl": 255}
            k = 0
            while k < len(rest):
                if rest[k].text in ("min_ttl", "max_ttl") and k + 1 < len(rest):
                    s.option("unicast_peer", rest[k])
                    v = to_int(d, rest[k + 1], rest[k].text, 0, 255)
                    if v is not None:
                        ttl[rest[k].text] = v
                        dr.values["_ttl_checked"] = True   # keepalived: turns on check_unicast_src
                    k += 2
                else:
                    d.warning(rest[k], f"unexpected word '{show(rest[k].text)}' after unicast peer; ignored")
                    k += 1
            if ttl["min_ttl"] > ttl["max_ttl"]:
                d.warning(p.words[0], f"unicast_peer {show(p.words[0].text)}: min_ttl {ttl['min_ttl']} > max_ttl "
                          f"{ttl['max_ttl']}: every advert from it is discarded")
            if a is not None:
                dr.add("unicast_peers", (str(a), p.words[0]))
                dr.add("unicast_peer_ttl", (str(a), ttl["min_ttl"], ttl["max_ttl"]))

    def auth(x: Stmt) -> None:
        dr.set(d, "authentication", parse_authentication(s, x, where), x.words[0])

    def hmac(x: Stmt) -> None:
        dr.set(d, "auth_hmac", parse_auth_hmac(s, x, where), x.words[0])

    def refs(key: str, lo: int, hi: int):  # type: ignore[no-untyped-def]
        return (BLOCK, lambda x: dr.add(key, *parse_refs(s, x, lo, hi)))

    def use_vmac(x: Stmt) -> None:
        """``use_vmac [[name] NAME] [MAC] [netlink_notify_msg] [group GROUP]``."""
        vname, mac = "", None
        k = 0
        a = x.args
        while k < len(a):
            t = a[k].text
            if t in ("name", "group") and k + 1 < len(a):
                if t == "name":
                    vname = a[k + 1].text
                else:
                    d.warning(a[k], "use_vmac 'group' is not implemented: the VMAC is made in the default "
                              "link group (keepalived: its base interface's)")
                k += 2
            elif t == "netlink_notify_msg":
                k += 1                  # a kernel quirk keepalived works around; nothing to do here
            elif ":" in t:
                mac = vmac_mac(a[k])
                k += 1
            else:
                vname = t
                k += 1
        if vname and (len(vname) > 15 or any(c in vname for c in "/: ") or vname in (".", "..")):
            d.error(x.args[0], f"use_vmac interface name '{show(vname)}' is not a valid interface name "
                    "(at most 15 characters, no '/', ':' or spaces)")
            return
        dr.set(d, "use_vmac", vname, x.words[0])
        if mac is not None:
            dr.set(d, "_vmac_mac", mac, x.words[0])

    def vmac_mac(tok) -> tuple[str, bool] | None:  # type: ignore[no-untyped-def]
        """A MAC for the VMAC: six octets, or five (the VRID is the sixth); never
        multicast nor one of RFC 5798's own (00:00:5e:00:01|02:xx)."""
        parts = tok.text.rstrip(":").split(":")
        ok = len(parts) in (5, 6) and all(1 <= len(p) <= 2 and all(c in "0123456789abcdefABCDEF" for c in p)
                                          for p in parts)
        if not ok:
            d.warning(tok, f"use_vmac MAC address '{show(tok.text)}' is not valid (5 or 6 hex octets); ignored")
            return None
        octets = [int(p, 16) for p in parts]
        if octets[0] & 1:
            d.warning(tok, f"use_vmac MAC address {show(tok.text)} is multicast; ignored")
            return None
        if octets[:4] == [0, 0, 0x5E, 0] and octets[4] in (1, 2):
            d.warning(tok, f"use_vmac MAC address {show(tok.text)} is an RFC 5798 virtual router MAC, which "
                      "is the default; ignored")
            return None
        return ":".join(f"{o:02x}" for o in octets), len(octets) == 5

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
        "check_unicast_src": put("check_unicast_src", lambda x: flag_arg(d, x)),
        "unicast_fault_no_peer": put("unicast_fault_no_peer", lambda x: flag_arg(d, x)),
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
        "use_vmac_addr": put("use_vmac_addr", lambda x: flag_arg(d, x)),
        "vmac_xmit_base": put("vmac_xmit_base", lambda x: flag_arg(d, x)),
        "higher_prio_send_advert": put("higher_prio_send_advert", lambda x: bool_arg(d, x)),
        "lower_prio_no_advert": put("lower_prio_no_advert", lambda x: bool_arg(d, x)),
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


def finish_instances(s: ParseContext, g: m.GlobalDefs) -> tuple[list[m.VrrpInstance], set[str]]:
    """The instances, and the names of those too broken to build (their users are not told twice)."""
    instances: list[m.VrrpInstance] = []
    seen: dict[str, m.Loc] = {}
    broken: set[str] = set()
    built: list[tuple[Draft, m.VrrpInstance]] = []
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
            built.append((dr, inst))
    instances = _assign_vmacs(s, g, built)
    _check_vrids(s, instances)
    return instances, broken


def smtp_default(g: m.GlobalDefs, specific: bool | None) -> bool:
    if specific is not None:
        return specific
    return bool(g.smtp_alert) if g.smtp_alert is not None else False


def check_refs(s: ParseContext, owner: str, refs: dict[str, list[m.TrackRef]]) -> None:
    kinds = {"track_scripts": ("script", "track_script", "vrrp_script"),
             "track_files": ("file", "track_file", "track_file"),
             "track_processes": ("process", "track_process", "vrrp_track_process")}
    for key, (kind, kw, block) in kinds.items():
        for r in refs.get(key, []):
            if r.name not in s.defined[kind]:
                s.d.error(r.loc, f"{kw} '{show(r.name)}' in {owner}: no {block} with that name is defined")


def _finish_instance(s: ParseContext, g: m.GlobalDefs, dr: Draft) -> m.VrrpInstance | None:
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
    preempt_delay = v.get("preempt_delay", 0.0)
    higher = v.get("higher_prio_send_advert", g.vrrp_higher_prio_send_advert)
    lower_no_advert = v.get("lower_prio_no_advert", g.vrrp_lower_prio_no_advert)
    xmit_base = bool(v.get("vmac_xmit_base"))
    vmac_mac = v.get("_vmac_mac")
    if strict:
        # keepalived 2.2.7's vrrp_complete_instance: what strict mode refuses, and what it resets
        if not vips:
            d.error(dr.loc, f"{where}: strict mode requires at least one virtual_ipaddress")
        if peers:
            d.error(dr.loc, f"{where}: strict mode does not allow unicast peers")
        if ("state" in v or priority == 255) and (state == "MASTER") != (priority == 255):
            d.warning(dr.where.get("state", dr.loc), f"{where}: in strict mode state MASTER goes with being the "
                      f"address owner (priority 255); state {'MASTER' if priority == 255 else 'BACKUP'} is used")
            state = "MASTER" if priority == 255 else "BACKUP"
        if preempt_delay:
            d.warning(dr.where["preempt_delay"], f"{where}: strict mode does not support preempt_delay; "
                      "resetting to 0")
            preempt_delay = 0.0
        if accept and version == 2 and priority != 255:
            d.warning(dr.where["accept"], f"{where}: accept mode with VRRP version 2 does not comply with "
                      "RFC 3768; strict mode resets it (no_accept)")
            accept = False
        if accept is None:
            accept = priority == 255
        if "lower_prio_no_advert" in v and not lower_no_advert:
            d.warning(dr.where["lower_prio_no_advert"], f"{where}: strict mode requires lower_prio_no_advert; "
                      "resetting")
        lower_no_advert = True
        if higher:
            d.warning(dr.where.get("higher_prio_send_advert", dr.loc),
                      f"{where}: strict mode requires higher_prio_send_advert to be clear; resetting")
            higher = False
        if xmit_base:
            d.warning(dr.where["vmac_xmit_base"], f"{where}: vmac_xmit_base is incompatible with strict mode; "
                      "resetting")
            xmit_base = False
        if vmac_mac is not None:
            d.warning(dr.where["_vmac_mac"], f"{where}: a use_vmac MAC address cannot be given in strict mode; "
                      "the RFC 5798 virtual router MAC is used")
            vmac_mac = None
        if family == 6 and vips and not parse_ip(vips[0].address).is_link_local:  # type: ignore[union-attr]
            d.warning(vips[0].loc, f"{where}: in strict mode the first IPv6 virtual_ipaddress must be link-local "
                      f"(RFC 5798 5.2.9), not {vips[0]}")
    if not vips and not v.get("_no_vips_ok") and not strict:
        d.warning(dr.loc, f"{where} has no virtual_ipaddress")
    if v.get("nopreempt") and state == "MASTER":
        d.warning(dr.where["nopreempt"], f"{where}: nopreempt does not work with initial state MASTER")

    # unicast: keepalived's VRRP_FLAG_UNICAST_CONFIGURED (a unicast keyword), its peers' TTL ranges
    unicast_kw = [k for k in ("_unicast", "unicast_src_ip", "check_unicast_src", "unicast_fault_no_peer")
                  if k in v]
    fault_no_peer = bool(v.get("unicast_fault_no_peer"))
    if unicast_kw and not peers and not fault_no_peer and "_unicast" not in v:
        d.note(dr.where.get(unicast_kw[0], dr.loc), f"{where}: a unicast keyword without any unicast_peer: "
               "multicast is used (deprecated in keepalived; unicast_fault_no_peer makes it a FAULT)")
    elif unicast_kw and not peers and fault_no_peer:
        d.note(dr.where.get("unicast_fault_no_peer", dr.loc), f"{where}: unicast without any unicast_peer and "
               "unicast_fault_no_peer: the instance stays in FAULT")
    check_src = bool(peers) and bool(v.get("check_unicast_src") or g.vrrp_check_unicast_src or v.get("_ttl_checked"))
    if v.get("unicast_ttl") is not None and not peers:
        d.warning(dr.where["unicast_ttl"], f"{where}: unicast_ttl without unicast peers; ignored")

    use_vmac = v.get("use_vmac")
    if use_vmac is None and xmit_base:
        d.warning(dr.where["vmac_xmit_base"], f"{where}: vmac_xmit_base is only valid with use_vmac; ignored")
        xmit_base = False
    elif use_vmac is not None and peers:
        if not interface:
            d.error(dr.where["use_vmac"], f"{where}: use_vmac with unicast peers needs an interface")
        elif not xmit_base:
            d.warning(dr.where["use_vmac"], f"{where}: unicast with use_vmac requires vmac_xmit_base; setting it")
            xmit_base = True
    use_vmac_addr = bool(v.get("use_vmac_addr"))
    for vip in dr.items("virtual_ipaddresses") + dr.items("virtual_ipaddresses_excluded"):
        if vip.use_vmac and use_vmac is not None and (vip.dev in (None, interface)) and vip.family == family:
            d.warning(vip.loc, f"{where}: use_vmac is given for {vip} and for the instance; it goes on the "
                      "instance's VMAC")
        elif vip.use_vmac and use_vmac_addr and (vip.dev not in (None, interface) or vip.family != family):
            d.warning(vip.loc, f"{where}: use_vmac_addr and use_vmac are both given for {vip}")

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
        preempt_delay=preempt_delay, authentication=auth, mcast_group=mcast,
        mcast_src_ip=v.get("mcast_src_ip"), unicast_src_ip=v.get("unicast_src_ip"),
        unicast_peers=tuple(dict.fromkeys(peers)), unicast_ttl=v.get("unicast_ttl") if peers else None,
        check_unicast_src=check_src, unicast_fault_no_peer=fault_no_peer and bool(unicast_kw),
        unicast_peer_ttl=tuple(dict((p, (p, lo, hi)) for p, lo, hi in dr.items("unicast_peer_ttl")).values()),
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
        higher_prio_send_advert=bool(higher), lower_prio_no_advert=bool(lower_no_advert),
        vmac_xmit_base=xmit_base, use_vmac_addr=use_vmac_addr,
        native_ipv6=v.get("native_ipv6", False), debug=v.get("debug", 0),
        auth_hmac=hmac, other=tuple(dr.other), loc=dr.loc,
    )


VMAC_MAC = "00:00:5e:00:{fam:02x}:{vrid:02x}"     # RFC 5798 7.3: 00-00-5E-00-01-{VRID}, 02 for IPv6


def _vmac_name(prefix: str, vrid: int, family: int, taken: set[str]) -> str:
    """keepalived's create_vmac_name: PREFIX.VRID, then for IPv6 PREFIX6.VRID,
    then PREFIX1.VRID, PREFIX2.VRID ... (6 skipped for IPv6), each cut to 15 characters."""
    def cut(num: str) -> str:
        tail = f"{num}.{vrid}"
        return prefix[:15 - len(tail)] + tail

    name = cut("")
    num = 0
    while name in taken:
        if family == 6:
            num = 6 if num == 0 else (1 if num == 6 else num + 1 + (num + 1 == 6))
        else:
            num += 1
        name = cut(str(num))
    taken.add(name)
    return name


def _assign_vmacs(s: ParseContext, g: m.GlobalDefs, built: list[tuple[Draft, m.VrrpInstance]]) -> list[m.VrrpInstance]:
    """use_vmac, use_vmac_addr and per-address use_vmac (keepalived's vrrp_complete_instance):
    name every VMAC (explicit names first, then generated ones in instance order),
    give it its MAC, and move the VIPs it carries onto it (their ``dev`` becomes the
    VMAC's name, as keepalived's data dump shows them)."""
    import dataclasses

    d = s.d
    taken: set[str] = set()
    for dr, inst in built:
        if inst.use_vmac:
            if inst.use_vmac in taken:
                d.warning(dr.where["use_vmac"], f"vrrp_instance {show(inst.name)}: VMAC name {inst.use_vmac} is "
                          "already used by another instance; a name is generated")
            taken.add(inst.use_vmac)
    prefix = g.vmac_prefix or "vrrp"
    addr_prefix = g.vmac_addr_prefix or prefix
    by_key: dict[tuple[str, str], m.Vmac] = {}           # (base, mac) -> the VMAC carrying addresses there
    out = []
    for dr, inst in built:
        if inst.use_vmac is None and not inst.use_vmac_addr and not any(v.use_vmac for v in inst.held_vips):
            out.append(inst)
            continue
        given = dr.get("_vmac_mac") if not inst.strict_mode else None

        def mac_for(family: int) -> str:
            if given is not None:
                mac, with_vrid = given
                return mac + f":{inst.vrid:02x}" if with_vrid else mac
            return VMAC_MAC.format(fam=1 if family == 4 else 2, vrid=inst.vrid)

        vmacs: list[m.Vmac] = []
        own = None
        if inst.use_vmac is not None:
            name = inst.use_vmac
            if not name or sum(1 for _, i in built if i.use_vmac == name) > 1 and not _first_with(built, inst):
                name = _vmac_name(prefix, inst.vrid, inst.family, taken)
            own = m.Vmac(name=name, base=inst.interface, mac=mac_for(inst.family), family=inst.family, adverts=True)
            vmacs.append(own)

        def moved(v: m.VirtualIp) -> m.VirtualIp:
            on_base = v.dev in (None, inst.interface)
            if own is not None and on_base and v.family == inst.family:
                return dataclasses.replace(v, dev=own.name)
            wants = v.use_vmac or (inst.use_vmac_addr and (not on_base or v.family != inst.family))
            if not wants:
                return v
            base = v.dev or inst.interface
            if not base:
                d.warning(v.loc, f"vrrp_instance {show(inst.name)}: use_vmac for {v} needs a dev; ignored")
                return v
            mac = mac_for(v.family)
            vm = by_key.get((base, mac))
            if vm is None:
                vm = m.Vmac(name=_vmac_name(addr_prefix, inst.vrid, v.family, taken), base=base, mac=mac,
                            family=v.family)
                by_key[(base, mac)] = vm
            if vm not in vmacs:
                vmacs.append(vm)
            return dataclasses.replace(v, dev=vm.name)

        vips = tuple(moved(v) for v in inst.virtual_ipaddresses)
        excluded = tuple(moved(v) for v in inst.virtual_ipaddresses_excluded)
        out.append(dataclasses.replace(inst, use_vmac=own.name if own else None, vmacs=tuple(vmacs),
                                       virtual_ipaddresses=vips, virtual_ipaddresses_excluded=excluded))
    return out


def _first_with(built: list[tuple[Draft, m.VrrpInstance]], inst: m.VrrpInstance) -> bool:
    """Whether ``inst`` is the first instance asking for its VMAC name (it keeps it)."""
    return next(i for _, i in built if i.use_vmac == inst.use_vmac) is inst


def _check_vrids(s: ParseContext, instances: list[m.VrrpInstance]) -> None:
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
