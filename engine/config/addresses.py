"""Addresses, routes and rules: ``virtual_ipaddress`` (and ``_excluded``),
``static_ipaddress``, ``virtual_routes`` / ``static_routes``, ``virtual_rules`` /
``static_rules``.

keepalived.conf(5): "Static routes/addresses/rules" and the address options
of "VRRP instance(s)".  Routes and rules keep ip(8) syntax and are checked
only where a mistake would otherwise surface as a failed ``ip`` command at
the worst moment (a takeover): destinations, gateways, sources.
"""

from __future__ import annotations

import dataclasses

from vipdeck.engine.config import model as m
from vipdeck.engine.config.context import ParseContext, loc
from vipdeck.engine.config.lexer import show
from vipdeck.engine.config.tree import Stmt
from vipdeck.engine.config.values import parse_ip, parse_prefix, to_int, to_ip


VIP_FLAGS = frozenset({"home", "-nodad", "mngtmpaddr", "noprefixroute", "autojoin", "no_track", "use_vmac"})
VIP_VALUED = frozenset({"brd", "dev", "scope", "label", "peer", "preferred_lft", "track_group"})
SCOPES = frozenset({"site", "link", "host", "nowhere", "global"})


def parse_vip(s: ParseContext, x: Stmt, where: str, *, static: bool = False) -> m.VirtualIp | None:
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
            s.option("address", w)
            if w.text == "no_track":
                f["no_track"] = True
            elif w.text == "use_vmac" and not static:
                f["use_vmac"] = True
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
        if w.text != "track_group" or static:
            s.option("address", w)
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


def parse_vips(s: ParseContext, st: Stmt, where: str, *, static: bool = False) -> list[m.VirtualIp]:
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


def _check_addr(s: ParseContext, tok, where: str, kw: str, *, prefix: bool, words_ok=()) -> bool:  # type: ignore[no-untyped-def]
    if tok.text in words_ok:
        return True
    ok = parse_prefix(tok.text) is not None if prefix else parse_ip(tok.text) is not None
    if not ok:
        s.d.error(tok, f"{kw} '{show(tok.text)}' in {where} is not a valid "
                  f"{'address/prefix' if prefix else 'address'}")
    return ok


def parse_route(s: ParseContext, x: Stmt, where: str) -> m.RouteSpec | None:
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


def parse_rule(s: ParseContext, x: Stmt, where: str) -> m.RouteSpec | None:
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


def parse_routes(s: ParseContext, st: Stmt, where: str, rules: bool) -> list[m.RouteSpec]:
    out = []
    for x in st.block or []:
        for w in x.words[1:]:
            if w.text in ("no_track", "track_group"):      # ours, not ip(8)'s
                s.option("route", w)
        spec = parse_rule(s, x, where) if rules else parse_route(s, x, where)
        if spec is not None:
            out.append(spec)
    return out


def finish_static(s: ParseContext, g: m.GlobalDefs) -> list[m.VirtualIp]:
    """static_ipaddress entries without ``dev`` go on ``default_interface``.

    keepalived puts them on eth0 when there is no default_interface; vipdeck
    does not guess an interface for an address that stays up whatever the
    VRRP state: it says so here and leaves the address out at run time.
    """
    out = []
    for v in s.static_ips:
        if v.dev is None:
            if g.default_interface:
                v = dataclasses.replace(v, dev=g.default_interface)
            else:
                s.d.warning(v.loc, f"static_ipaddress {v} has no dev and there is no default_interface: vipdeck "
                            "does not add it (keepalived would put it on eth0)")
        out.append(v)
    return out
