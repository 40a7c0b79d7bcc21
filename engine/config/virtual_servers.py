"""Virtual servers: ``virtual_server_group``, ``virtual_server``, ``real_server``
and the ``SSL`` block.

keepalived.conf(5) "LVS CONFIGURATION".  Checker options inherit virtual
server → real server → checker; that resolution happens here once (the
checkers' own defaults in ``checkers``), so the checker runner never
re-implements it.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from typing import Any

from vipdeck.engine.config import model as m
from vipdeck.engine.config.checkers import (CHECKERS, INHERITED, MAX_MARK, OLD_NAMES, finish_checker,
                                            parse_checker)
from vipdeck.engine.config.context import ANY, BLOCK, LINE, Draft, ParseContext, loc
from vipdeck.engine.config.lexer import show
from vipdeck.engine.config.tree import Stmt
from vipdeck.engine.config.values import (bool_arg, choice, flag_arg, float_arg, int_arg, lvs_address, need,
                                          notify_arg, parse_ip, secret_arg, str_arg, to_int, to_port)

SCHEDULERS = frozenset({"rr", "wrr", "lc", "wlc", "lblc", "sh", "mh", "dh", "fo", "ovf", "lblcr", "sed", "nq",
                        "twos"})
SCHED_FLAGS = ("flag-1", "flag-2", "flag-3", "sh-port", "sh-fallback", "mh-port", "mh-fallback")


def _host_port(s: ParseContext, st: Stmt, what: str) -> tuple[str, int | None] | None:
    """``KEYWORD IP [PORT]`` as used by real_server and sorry_server."""
    if not need(s.d, st, 1, 2, "an address and optionally a port"):
        return None
    addr = lvs_address(s.d, st.args[0], what)
    port = to_port(s.d, st.args[1], f"{what} port", allow_zero=True) if len(st.args) > 1 else None
    if addr is None or (len(st.args) > 1 and port is None):
        return None
    return addr, port


def _method(s: ParseContext, st: Stmt) -> tuple[m.Forward, m.Tunnel | None] | None:
    """``lvs_method NAT|DR|TUN [type ipip|gue port N|gre] [nocsum|csum|remcsum]``.

    keepalived's rules: GUE needs a port and only GUE takes one; IPIP takes
    no checksum option; GRE no remote checksum.  A TUN without options is
    plain IPIP (tunnel ``None``)."""
    if not need(s.d, st, 1):
        return None
    word = st.args[0].text.upper()
    if word in ("NAT", "DR"):
        need(s.d, st, 1, 1)
        return m.Forward(word), None
    if word != "TUN":
        s.d.error(st.args[0], f"{st.keyword} '{show(st.args[0].text)}' is not one of NAT|DR|TUN")
        return None
    rest = st.args[1:]
    if not rest:
        return m.Forward.TUN, None
    kind, port, csum = "ipip", 0, "nocsum"
    port_tok = csum_tok = None
    k = 0
    while k < len(rest):
        tok = rest[k]
        t = tok.text
        if t in ("type", "port", "nocsum", "csum", "remcsum"):
            s.option("lvs_method", tok)
        if t in ("type", "port") and k + 1 >= len(rest):
            s.d.error(tok, f"{st.keyword} TUN: '{t}' needs a value")
            k += 1
        elif t == "type":
            kind = rest[k + 1].text
            if kind not in ("ipip", "gue", "gre"):
                s.d.error(rest[k + 1], f"tunnel type '{show(kind)}' is not one of ipip|gue|gre")
                kind = "ipip"
            k += 2
        elif t == "port":
            port = to_port(s.d, rest[k + 1], "gue tunnel port") or 0
            port_tok = tok
            k += 2
        elif t in ("nocsum", "csum", "remcsum"):
            csum, csum_tok = t, tok
            k += 1
        else:
            s.d.error(tok, f"'{show(t)}' is not a tunnel option of {st.keyword} TUN "
                      "(type ipip|gue|gre, port N, nocsum|csum|remcsum)")
            k += 1
    if kind == "gue" and not port:
        s.d.error(st.words[0], f"{st.keyword} TUN type gue needs 'port N' (the GUE UDP port)")
    elif kind != "gue" and port_tok is not None:
        s.d.error(port_tok, f"{st.keyword} TUN: only gue tunnels take a port")
        port = 0
    if kind == "ipip" and csum != "nocsum":
        s.d.error(csum_tok, f"{st.keyword} TUN: ipip tunnels take no checksum option ('{csum}')")
        csum = "nocsum"
    if kind == "gre" and csum == "remcsum":
        s.d.error(csum_tok, f"{st.keyword} TUN: gre tunnels do not support remcsum")
        csum = "nocsum"
    return m.Forward.TUN, m.Tunnel(type=kind, port=port, csum=csum)


def _set_method(s: ParseContext, dr: Draft, x: Stmt, forward_key: str, tunnel_key: str) -> None:
    """Store one lvs_method line: the forwarding method and its tunnel options (the last line wins)."""
    got = _method(s, x)
    dr.set(s.d, forward_key, None if got is None else got[0], x.words[0])
    if got is not None:
        dr.values[tunnel_key] = got[1]


def _inherited_table(s: ParseContext, dr: Draft) -> dict[str, tuple[str, Any]]:
    d = s.d
    return {
        "connect_timeout": (LINE, lambda x: dr.set(d, "connect_timeout", float_arg(d, x, positive=True), x.words[0])),
        "retry": (LINE, lambda x: dr.set(d, "retry", int_arg(d, x, 0, 2 ** 31 - 1), x.words[0])),
        "delay_before_retry": (LINE, lambda x: dr.set(d, "delay_before_retry", float_arg(d, x), x.words[0])),
        "warmup": (LINE, lambda x: dr.set(d, "warmup", float_arg(d, x), x.words[0])),
        "delay_loop": (LINE, lambda x: dr.set(d, "delay_loop", float_arg(d, x, positive=True), x.words[0])),
        "alpha": (LINE, lambda x: dr.set(d, "alpha", bool_arg(d, x), x.words[0])),
        "inhibit_on_failure": (LINE, lambda x: dr.set(d, "inhibit_on_failure", bool_arg(d, x), x.words[0])),
        "virtualhost": (LINE, lambda x: dr.set(d, "virtualhost", str_arg(d, x), x.words[0])),
    }


# --------------------------------------------------------------------------- virtual_server_group


def _range(text: str) -> tuple[m.GroupEntry | None, str]:
    """An address, ``a.b.c.d-e``, ``a.b.c.d-e.f.g.h`` or CIDR → (entry, error)."""
    try:
        if "/" in text:
            net = ipaddress.ip_network(text, strict=False)
            return m.GroupEntry(first=str(net.network_address), last=str(net.broadcast_address),
                                family=net.version), ""
        if "-" in text:
            a, b = text.split("-", 1)
            first = ipaddress.ip_address(a)
            last_ip = parse_ip(b)
            if last_ip is None:
                if first.version == 4:
                    if not b.isdigit() or int(b) > 255:
                        return None, "the range end must be 0-255 or a full address"
                    last = ipaddress.ip_address(int(first) & ~0xFF | int(b))
                else:
                    if not re.fullmatch(r"[0-9a-fA-F]{1,4}", b):
                        return None, "the range end must be a hex group 0-ffff or a full address"
                    last = ipaddress.ip_address(int(first) & ~0xFFFF | int(b, 16))
            else:
                last = last_ip
            if last.version != first.version:
                return None, "the range mixes IPv4 and IPv6"
            if int(last) < int(first):
                return None, f"the range ends ({last}) before it starts ({first})"
            return m.GroupEntry(first=str(first), last=str(last), family=first.version), ""
        addr = ipaddress.ip_address(text)
        return m.GroupEntry(first=str(addr), last=str(addr), family=addr.version), ""
    except ValueError:
        return None, "not an address, range or prefix"


def parse_vs_group(s: ParseContext, st: Stmt) -> None:
    name = s.name_arg(st, "virtual_server_group")
    if name is None or not s.define("vsg", name, loc(st), "virtual_server_group"):
        return
    d = s.d
    entries: list[m.GroupEntry] = []
    for x in st.block or []:
        if x.block is not None:
            d.error(x.words[0], f"'{show(x.keyword)}' in virtual_server_group {show(name)} does not take a {{ }} block")
        if x.keyword == "fwmark":
            if not need(d, x, 1, 2, "a mark number"):
                continue
            mark = to_int(d, x.args[0], "fwmark", 1, MAX_MARK)
            fam = None
            if len(x.args) > 1:
                fam = {"inet": 4, "inet6": 6}.get(x.args[1].text)
                if fam is None:
                    d.error(x.args[1], f"fwmark family '{show(x.args[1].text)}' is not inet or inet6")
            if mark is not None:
                entries.append(m.GroupEntry(fwmark=mark, family=fam, loc=loc(x)))
            continue
        entry, why = _range(x.keyword)
        if entry is None:
            d.error(x.words[0], f"'{show(x.keyword)}' in virtual_server_group {show(name)} is not valid: {why}")
            continue
        port = None
        if len(x.args) > 1:
            d.warning(x.args[1], f"extra words after {show(x.keyword)} {show(x.args[0].text)} ignored")
        if x.args:
            port = to_port(d, x.args[0], f"port of {show(x.keyword)}", allow_zero=True)
            if port is None:
                continue
        size = int(ipaddress.ip_address(entry.last)) - int(ipaddress.ip_address(entry.first)) + 1  # type: ignore[arg-type]
        if size > 65536:
            d.warning(x.words[0], f"'{show(x.keyword)}' expands to {size} addresses")
        entries.append(dataclasses.replace(entry, port=port, loc=loc(x)))
    if not entries:
        d.warning(st.words[0], f"virtual_server_group {show(name)} is empty")
    s.vs_groups.append(m.VirtualServerGroup(name=name, entries=tuple(entries), loc=loc(st)))


# --------------------------------------------------------------------------- virtual_server


def parse_virtual_server(s: ParseContext, st: Stmt) -> None:
    d = s.d
    args = st.args
    if not args:
        d.error(st.words[0], "virtual_server needs an address [port], 'fwmark N' or 'group NAME'; block ignored")
        return
    dr = Draft("virtual_server", "", loc(st))
    head = args[0].text
    if head in ("fwmark", "group"):
        if not need(d, st, 2, 2, f"a {'mark number' if head == 'fwmark' else 'group name'} after '{head}'"):
            return
        if head == "fwmark":
            mark = to_int(d, args[1], "virtual_server fwmark", 1, MAX_MARK)
            if mark is None:
                return
            dr.values["fwmark"] = mark
            dr.name = f"fwmark {mark}"
        else:
            dr.values["group"] = args[1].text
            dr.values["_group_tok"] = args[1]
            dr.name = f"group {args[1].text}"
    else:
        if not need(d, st, 1, 2, "an address and a port"):
            return
        addr = lvs_address(s.d, args[0], "virtual_server")
        if addr is None:
            return
        port = to_port(d, args[1], "virtual_server port", allow_zero=True) if len(args) > 1 else None
        if len(args) > 1 and port is None:
            return
        dr.values["address"], dr.values["port"] = addr, port
        dr.name = m.hostport(addr, port)
    where = f"virtual_server {show(dr.name)}"

    def put(key: str, conv):  # type: ignore[no-untyped-def]
        return (LINE, lambda x: dr.set(d, key, conv(x), x.words[0]))

    def sched(x: Stmt) -> None:
        if need(d, x, 1, 1):
            name = x.args[0].text.lower()
            if name not in SCHEDULERS:
                d.error(x.args[0], f"{x.keyword} '{show(x.args[0].text)}' is not one of {'|'.join(sorted(SCHEDULERS))}")
                return
            dr.set(d, "scheduler", name, x.words[0])

    def persistence(x: Stmt) -> None:
        if not x.args:
            dr.set(d, "persistence_timeout", 360, x.words[0])
        else:
            dr.set(d, "persistence_timeout", int_arg(d, x, 1, 2 ** 31 - 1), x.words[0])

    def granularity(x: Stmt) -> None:
        if not need(d, x, 1, 1):
            return
        t = x.args[0].text
        ok = False
        if t.isdigit():
            ok = 1 <= int(t) <= 128
        else:
            try:
                ipaddress.IPv4Network(f"0.0.0.0/{t}")
                ok = True
            except ValueError:
                ok = False
        if not ok:
            d.error(x.args[0], f"persistence_granularity '{show(t)}' is not a netmask (e.g. 255.255.255.0) "
                    "or an IPv6 prefix length")
            return
        dr.set(d, "persistence_granularity", t, x.words[0])

    def protocol(x: Stmt) -> None:
        if need(d, x, 1, 1):
            dr.set(d, "protocol", choice(d, x.args[0], "protocol", {"TCP": "TCP", "UDP": "UDP", "SCTP": "SCTP"}),
                   x.words[0])

    def family(x: Stmt) -> None:
        if need(d, x, 1, 1):
            fam = {"inet": 4, "inet6": 6}.get(x.args[0].text)
            if fam is None:
                d.error(x.args[0], f"ip_family '{show(x.args[0].text)}' is not inet or inet6")
            dr.set(d, "ip_family", fam, x.words[0])

    def sorry(x: Stmt) -> None:
        hp = _host_port(s, x, "sorry_server")
        if hp is not None:
            dr.set(d, "sorry_server", hp, x.words[0])

    def real_server(x: Stmt) -> None:
        rs = parse_real_server(s, x, where)
        if rs is not None:
            dr.add("real_servers", rs)

    table: dict[str, Any] = {
        **_inherited_table(s, dr),
        "lvs_sched": (LINE, sched),
        "ops": put("ops", lambda x: flag_arg(d, x)),
        "lvs_method": (LINE, lambda x: _set_method(s, dr, x, "forward", "tunnel")),
        "persistence_engine": put("persistence_engine", lambda x: str_arg(d, x)),
        "persistence_timeout": (LINE, persistence),
        "persistence_granularity": (LINE, granularity),
        "protocol": (LINE, protocol),
        "ha_suspend": put("ha_suspend", lambda x: flag_arg(d, x)),
        "smtp_alert": put("smtp_alert", lambda x: bool_arg(d, x)),
        "omega": put("omega", lambda x: bool_arg(d, x)),
        "quorum": put("quorum", lambda x: int_arg(d, x, 1, 2 ** 31 - 1)),
        "hysteresis": put("hysteresis", lambda x: int_arg(d, x, 0, 2 ** 31 - 1)),
        "quorum_up": put("quorum_up", lambda x: notify_arg(d, x)),
        "quorum_down": put("quorum_down", lambda x: notify_arg(d, x)),
        "ip_family": (LINE, family),
        "weight": put("weight", lambda x: int_arg(d, x, 1, 65535)),
        "sorry_server": (LINE, sorry),
        "sorry_server_inhibit": put("sorry_server_inhibit", lambda x: bool_arg(d, x)),
        "sorry_server_lvs_method": (LINE, lambda x: _set_method(s, dr, x, "sorry_forward", "sorry_tunnel")),
        "real_server": (ANY, real_server),
    }
    for flag in SCHED_FLAGS:
        table[flag] = (LINE, lambda x: (flag_arg(d, x), dr.add("sched_flags", x.keyword)))
    s.walk(st.block or [], table, where, kind="virtual_server", aliases=OLD_NAMES, other=dr.other)
    s.virtual_servers.append(dr)


def parse_real_server(s: ParseContext, st: Stmt, vs_where: str) -> Draft | None:
    d = s.d
    hp = _host_port(s, st, "real_server")
    if hp is None:
        return None
    rs = Draft("real_server", m.hostport(*hp), loc(st))
    rs.values["address"], rs.values["port"] = hp
    where = f"real_server {show(rs.name)} in {vs_where}"

    def put(key: str, conv):  # type: ignore[no-untyped-def]
        return (LINE, lambda x: rs.set(d, key, conv(x), x.words[0]))

    def checker(x: Stmt) -> None:
        c = parse_checker(s, x, where)
        if c is not None:
            rs.add("checkers", c)

    table: dict[str, Any] = {
        **_inherited_table(s, rs),
        "weight": put("weight", lambda x: int_arg(d, x, 0, 65535)),
        "lvs_method": (LINE, lambda x: _set_method(s, rs, x, "forward", "tunnel")),
        "notify_up": put("notify_up", lambda x: notify_arg(d, x)),
        "notify_down": put("notify_down", lambda x: notify_arg(d, x)),
        "uthreshold": put("uthreshold", lambda x: int_arg(d, x, 0, 2 ** 32 - 1)),
        "lthreshold": put("lthreshold", lambda x: int_arg(d, x, 0, 2 ** 32 - 1)),
        "smtp_alert": put("smtp_alert", lambda x: bool_arg(d, x)),
    }
    for kind in CHECKERS:
        table[kind] = (BLOCK, checker)
    s.walk(st.block or [], table, where, kind="real_server", aliases=OLD_NAMES, other=rs.other)
    u, lo = rs.get("uthreshold"), rs.get("lthreshold")
    if u is not None and lo is not None and lo > u:
        d.warning(rs.where["lthreshold"], f"{where}: lthreshold {lo} is above uthreshold {u}")
    return rs


# --------------------------------------------------------------------------- SSL


def parse_ssl(s: ParseContext, st: Stmt) -> None:
    d = s.d
    if s.ssl is not None:
        d.warning(st.words[0], f"a second SSL block (first at {s.ssl.loc}); it replaces the first")
    dr = Draft("SSL", "", loc(st))
    table = {
        "password": (LINE, lambda x: dr.set(d, "password", secret_arg(d, x), x.words[0])),
        "ca": (LINE, lambda x: dr.set(d, "ca", str_arg(d, x), x.words[0])),
        "certificate": (LINE, lambda x: dr.set(d, "certificate", str_arg(d, x), x.words[0])),
        "key": (LINE, lambda x: dr.set(d, "key", str_arg(d, x), x.words[0])),
    }
    s.walk(st.block or [], table, "SSL", kind="SSL")
    s.ssl = m.SslContext(**dr.values, loc=dr.loc)


# --------------------------------------------------------------------------- resolution


def _family(address: str) -> int:
    return 6 if ":" in address else 4


def finish_lvs(s: ParseContext, g: m.GlobalDefs, log_all_failures: bool) -> list[m.VirtualServer]:
    d = s.d
    out: list[m.VirtualServer] = []
    seen: dict[tuple[str, str], m.Loc] = {}
    groups = {grp.name: grp for grp in s.vs_groups}
    for dr in s.virtual_servers:
        v = dr.values
        where = f"virtual_server {show(dr.name)}"
        protocol = v.get("protocol", "TCP")
        by_address = "address" in v or ("group" in v and any(
            e.first is not None for e in getattr(groups.get(v["group"]), "entries", ())))
        if "protocol" not in dr.tried and by_address:
            # the kernel takes protocol 0 as UDP; keepalived says so and sets it explicitly
            d.warning(dr.loc, f"{where} has no protocol; it is UDP, as in keepalived (add 'protocol TCP' "
                      "for a TCP service)")
            protocol = "UDP"
        key = (dr.name, protocol)
        if key in seen:
            d.error(dr.loc, f"{where} ({protocol}) is defined twice (first at {seen[key]})")
            continue
        seen[key] = dr.loc
        if "group" in v and v["group"] not in groups:
            d.error(v["_group_tok"], f"{where}: no virtual_server_group named '{show(v['group'])}'")
        if "fwmark" in v and "protocol" in v:
            d.warning(dr.where["protocol"], f"{where}: protocol is ignored for a fwmark service")
        persistent = v.get("persistence_timeout") is not None
        if "address" in v and v.get("port") is None and not persistent:
            d.error(dr.loc, f"{where} has no port; a port is required unless persistence_timeout is set")
        forward: m.Forward = v.get("forward", m.Forward.NAT)
        vs_family = _family(v["address"]) if "address" in v else v.get("ip_family")

        inherit = {k: v[k] for k in INHERITED if k in v}
        reals: list[m.RealServer] = []
        total_weight = 0
        for rs in dr.items("real_servers"):
            no_port = v.get("port") is not None and rs.values["port"] is None and "address" in v
            if no_port:
                d.error(rs.loc, f"real_server {rs.values['address']} in {where} has no port; give one "
                        f"(e.g. 'real_server {rs.values['address']} {v['port']}')")
            real = _finish_real_server(s, g, rs, inherit, forward, where, log_all_failures, not no_port,
                                       v.get("weight", 1), v.get("tunnel"))
            if any(r.address == real.address and r.port == real.port for r in reals):
                d.warning(rs.loc, f"real_server {real} is listed twice in {where}; the second is ignored")
                continue
            if vs_family is not None and _family(real.address) != vs_family and real.forward is not m.Forward.TUN:
                d.error(rs.loc, f"real_server {real} is IPv{_family(real.address)} but {where} is IPv{vs_family} "
                        "(only tunnelled real servers may differ)")
            if (real.forward is m.Forward.DR and v.get("port") and real.port
                    and real.port != v["port"]):
                d.warning(rs.loc, f"real_server {real} uses port {real.port} but {where} listens on {v['port']}: "
                          "direct routing cannot translate ports")
            total_weight += real.weight
            reals.append(real)
        quorum = v.get("quorum", 1)
        if reals and quorum > total_weight:
            d.warning(dr.where.get("quorum", dr.loc), f"{where}: quorum {quorum} exceeds the total weight "
                      f"{total_weight} of its real servers; it can never be reached")

        sorry = None
        if "sorry_server" in v:
            addr, port = v["sorry_server"]
            # the sorry server's own lvs_method with its tunnel options, or the virtual server's
            s_forward, s_tunnel = ((v["sorry_forward"], v.get("sorry_tunnel")) if "sorry_forward" in v
                                   else (forward, v.get("tunnel")))
            sorry = m.SorryServer(address=addr, port=port, forward=s_forward,
                                  tunnel=s_tunnel if s_forward is m.Forward.TUN else None,
                                  inhibit=bool(v.get("sorry_server_inhibit", False)),
                                  loc=m.Loc(dr.where["sorry_server"].file, dr.where["sorry_server"].line))
        smtp = v.get("smtp_alert")
        if smtp is None:
            smtp = g.smtp_alert_checker if g.smtp_alert_checker is not None else bool(g.smtp_alert)
        out.append(m.VirtualServer(
            address=v.get("address"), port=v.get("port"), fwmark=v.get("fwmark"), group=v.get("group"),
            protocol=protocol, scheduler=v.get("scheduler", "wlc"), sched_flags=tuple(dr.items("sched_flags")),
            forward=forward, tunnel=v.get("tunnel") if forward is m.Forward.TUN else None,
            persistence_timeout=v.get("persistence_timeout"),
            persistence_granularity=v.get("persistence_granularity"),
            persistence_engine=v.get("persistence_engine"), ops=v.get("ops", False),
            ip_family=v.get("ip_family"), delay_loop=v.get("delay_loop", 60.0),
            ha_suspend=v.get("ha_suspend", False), alpha=bool(v.get("alpha", False)),
            omega=bool(v.get("omega", False)), quorum=quorum, hysteresis=v.get("hysteresis", 0),
            quorum_up=v.get("quorum_up"), quorum_down=v.get("quorum_down"), sorry_server=sorry,
            inhibit_on_failure=bool(v.get("inhibit_on_failure", False)), virtualhost=v.get("virtualhost"),
            smtp_alert=bool(smtp), real_servers=tuple(reals), other=tuple(dr.other), loc=dr.loc))
    return out


def _finish_real_server(s: ParseContext, g: m.GlobalDefs, rs: Draft, vs_inherit: dict[str, Any],
                        vs_forward: m.Forward, vs_where: str, log_all_failures: bool,
                        check_ports: bool, vs_weight: int = 1, vs_tunnel: m.Tunnel | None = None) -> m.RealServer:
    v = rs.values
    inherit = {**vs_inherit, **{k: v[k] for k in INHERITED if k in v}}
    address, port = v["address"], v["port"]
    where = f"real_server {show(rs.name)} in {vs_where}"
    checkers: list[m.Checker] = []
    for c in rs.items("checkers"):
        hosts = c.items("hosts")
        for h in hosts or [None]:
            chk = finish_checker(s, c, h, inherit, address, port, where, log_all_failures, check_ports)
            if chk is not None:
                checkers.append(chk)
    smtp = v.get("smtp_alert")
    if smtp is None:
        smtp = g.smtp_alert_checker if g.smtp_alert_checker is not None else (
            g.smtp_alert if g.smtp_alert is not None else True)
    # lvs_method is inherited whole: a real server's own line brings its own tunnel options
    forward, tunnel = (v["forward"], v.get("tunnel")) if "forward" in v else (vs_forward, vs_tunnel)
    return m.RealServer(
        address=address, port=port, weight=v.get("weight", vs_weight), forward=forward,
        tunnel=tunnel if forward is m.Forward.TUN else None,
        inhibit_on_failure=bool(inherit.get("inhibit_on_failure", False)), notify_up=v.get("notify_up"),
        notify_down=v.get("notify_down"), uthreshold=v.get("uthreshold"), lthreshold=v.get("lthreshold"),
        smtp_alert=bool(smtp), virtualhost=inherit.get("virtualhost"), alpha=bool(inherit.get("alpha", False)),
        checkers=tuple(checkers), loc=rs.loc)
