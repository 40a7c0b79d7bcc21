"""Health checkers: ``HTTP_GET``, ``SSL_GET`` and their ``url`` blocks, ``TCP_CHECK``,
``SMTP_CHECK`` (and its old ``host`` blocks), ``DNS_CHECK``, ``MISC_CHECK``,
``UDP_CHECK``, ``PING_CHECK``, ``FILE_CHECK``, ``BFD_CHECK``.

keepalived.conf(5) "Virtual server(s)", checker part.  Each kind has its own
keepalived defaults (retry 3 for DNS_CHECK, 0 for MISC_CHECK;
delay_before_retry 3 s for HTTP/SSL, delay_loop for DNS), resolved here in
``finish_checker`` after the options inherited from the real and virtual
server.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from vipdeck.engine.config import model as m
from vipdeck.engine.config.context import BLOCK, LINE, Draft, ParseContext, loc
from vipdeck.engine.config.lexer import Token, show
from vipdeck.engine.config.tree import Stmt
from vipdeck.engine.config.values import (bool_arg, choice, flag_arg, float_arg, int_arg, joined_arg, lvs_address,
                                          need, str_arg, to_port, weight_reverse)

CHECKERS = ("HTTP_GET", "SSL_GET", "TCP_CHECK", "SMTP_CHECK", "DNS_CHECK", "MISC_CHECK", "BFD_CHECK",
            "UDP_CHECK", "PING_CHECK", "FILE_CHECK")
NEEDS_PORT = frozenset({"HTTP_GET", "SSL_GET", "TCP_CHECK", "SMTP_CHECK", "DNS_CHECK", "UDP_CHECK"})
DNS_TYPES = frozenset({"A", "NS", "CNAME", "SOA", "MX", "TXT", "AAAA", "RRSIG", "DNSKEY"})
# options a virtual server passes to its real servers, and a real server to its checkers
INHERITED = ("connect_timeout", "retry", "delay_before_retry", "warmup", "delay_loop", "alpha",
             "inhibit_on_failure", "virtualhost")
OLD_NAMES = {"lb_algo": "lvs_sched", "lb_kind": "lvs_method", "nb_get_retry": "retry", "nb_sock_retry": "retry"}
MAX_MARK = 2 ** 32 - 1
CONNECTION_KEYS = ("connect_ip", "connect_port", "bindto", "bind_if", "bind_port", "fwmark")


def _hex(words: list[Token], wildcards: bool) -> str | None:
    """keepalived's free-form HEX_STR: pairs of digits, an odd last digit is a low nibble."""
    digits = "0-9a-f" + ("x" if wildcards else "")
    out = []
    for w in words:
        t = w.text.lower()
        if not re.fullmatch(f"[{digits}]+", t):
            return None
        if len(t) % 2:
            t = t[:-1] + "0" + t[-1]
        out.append(t)
    return "".join(out)


def _status_codes(s: ParseContext, st: Stmt) -> tuple[tuple[int, int], ...] | None:
    if not need(s.d, st, 1, None, "one or more codes or ranges (e.g. 200-299 503)"):
        return None
    out = []
    for t in st.args:
        m_ = re.fullmatch(r"(\d{3})(?:-(\d{3}))?", t.text)
        lo, hi = (int(m_.group(1)), int(m_.group(2) or m_.group(1))) if m_ else (0, 0)
        if not m_ or not (100 <= lo <= hi <= 599):
            s.d.error(t, f"status_code '{show(t.text)}' is not an HTTP status code or range (100-599)")
            return None
        out.append((lo, hi))
    return tuple(out)


def parse_url(s: ParseContext, st: Stmt, where: str) -> m.HttpUrl | None:
    d = s.d
    u = Draft("url", where, loc(st))

    def digest(x: Stmt) -> None:
        if need(d, x, 1, 1):
            if not re.fullmatch(r"[0-9a-fA-F]{32}", x.args[0].text):
                d.error(x.args[0], f"digest '{show(x.args[0].text)}' is not an MD5 digest (32 hex digits)")
                return
            u.set(d, "digest", x.args[0].text.lower(), x.words[0])

    table = {
        "path": (LINE, lambda x: u.set(d, "path", str_arg(d, x), x.words[0])),
        "digest": (LINE, digest),
        "status_code": (LINE, lambda x: u.set(d, "status_codes", _status_codes(s, x), x.words[0])),
        "virtualhost": (LINE, lambda x: u.set(d, "virtualhost", str_arg(d, x), x.words[0])),
        "regex": (LINE, lambda x: u.set(d, "regex", joined_arg(d, x), x.words[0])),
        "regex_no_match": (LINE, lambda x: u.set(d, "regex_no_match", flag_arg(d, x), x.words[0])),
        "tls_compliant": (LINE, lambda x: flag_arg(d, x)),      # what a clean close does anyway
    }
    s.walk(st.block or [], table, f"url of {where}", kind="url")
    if not u.get("path"):
        if "path" not in u.tried:
            d.error(st.words[0], f"url in {where} has no path")
        return None
    return m.HttpUrl(**u.values, loc=loc(st))


def parse_checker(s: ParseContext, st: Stmt, rs_where: str) -> Draft | None:
    d = s.d
    kind = st.keyword
    c = Draft(kind, rs_where, loc(st))
    where = f"{kind} of {rs_where}"

    def put(key: str, conv):  # type: ignore[no-untyped-def]
        return (LINE, lambda x: c.set(d, key, conv(x), x.words[0]))

    def ip(x: Stmt) -> str | None:
        return lvs_address(s.d, x.args[0], x.keyword) if need(d, x, 1, 1) else None

    def port(x: Stmt) -> int | None:
        return to_port(d, x.args[0], x.keyword) if need(d, x, 1, 1) else None

    def user(x: Stmt) -> None:
        if need(d, x, 1, 2, "a user name"):
            c.set(d, "user", x.args[0].text, x.words[0])
            if len(x.args) > 1:
                c.values["group"] = x.args[1].text

    def url(x: Stmt) -> None:
        u = parse_url(s, x, where)
        if u is not None:
            c.add("urls", u)

    def host(x: Stmt) -> None:
        h = Draft("host", where, loc(x))
        sub = {k: v for k, v in common.items() if k in CONNECTION_KEYS}
        sub = {k: (kind_, (lambda f: lambda y: _into(h, c, f, y))(fn)) for k, (kind_, fn) in sub.items()}
        s.walk(x.block or [], sub, f"host of {where}", kind="host")
        c.add("hosts", h)

    def fwmark_arg(x: Stmt) -> int | None:
        return int_arg(d, x, 0, MAX_MARK)

    def weight(x: Stmt) -> None:
        w, rev = weight_reverse(d, x, 0, -2147483647, 2147483647)
        c.set(d, "weight", w, x.words[0])
        if w is not None:
            c.values["reverse"] = rev

    def payload(x: Stmt) -> None:
        if need(d, x, 1, None, "hex digits"):
            h = _hex(x.args, False)
            if h is None:
                d.error(x.args[0], f"payload in {where} is not hexadecimal")
                return
            c.set(d, "payload", bytes.fromhex(h), x.words[0])

    def require_reply(x: Stmt) -> None:
        c.set(d, "require_reply", True, x.words[0])
        if x.args:
            h = _hex(x.args, True)
            if h is None:
                d.error(x.args[0], f"require_reply pattern in {where} is not hexadecimal (x/X = any digit)")
                return
            c.values["reply_pattern"] = h

    def dns_type(x: Stmt) -> None:
        if need(d, x, 1, 1):
            t = x.args[0].text.upper()
            if t not in DNS_TYPES:
                d.error(x.args[0], f"DNS_CHECK type '{show(x.args[0].text)}' is not one of "
                        f"{'|'.join(sorted(DNS_TYPES))}")
                return
            c.set(d, "type", t, x.words[0])

    common: dict[str, Any] = {
        "connect_ip": put("connect_ip", ip),
        "connect_port": put("connect_port", port),
        "bindto": put("bindto", ip),
        "bind_if": put("bind_if", lambda x: str_arg(d, x)),
        "bind_port": put("bind_port", port),
        "fwmark": put("fwmark", fwmark_arg),
        "alpha": put("alpha", lambda x: bool_arg(d, x)),
        "connect_timeout": put("connect_timeout", lambda x: float_arg(d, x, positive=True)),
        "retry": put("retry", lambda x: int_arg(d, x, 0, 2 ** 31 - 1)),
        "delay_before_retry": put("delay_before_retry", lambda x: float_arg(d, x)),
        "warmup": put("warmup", lambda x: float_arg(d, x)),
        "delay_loop": put("delay_loop", lambda x: float_arg(d, x, positive=True)),
        "log_all_failures": put("log_all_failures", lambda x: bool_arg(d, x)),
    }
    if kind == "MISC_CHECK":
        common = {k: v for k, v in common.items() if k not in CONNECTION_KEYS}
    elif kind in ("BFD_CHECK", "FILE_CHECK"):
        common = {}
    specific: dict[str, Any] = {}
    known: set[str] = set()
    if kind in ("HTTP_GET", "SSL_GET"):
        specific = {
            "url": (BLOCK, url),
            "http_protocol": put("http_protocol", lambda x: choice(
                d, x.args[0], "http_protocol", {"1.0": "1.0", "1.0C": "1.0C", "1.1": "1.1"})
                if need(d, x, 1, 1) else None),
            "fast_recovery": put("fast_recovery", lambda x: bool_arg(d, x)),
            "enable_sni": put("enable_sni", lambda x: flag_arg(d, x)),
            "tls_compliant": put("tls_compliant", lambda x: flag_arg(d, x)),
            "virtualhost": put("virtualhost", lambda x: str_arg(d, x)),
        }
    elif kind == "SMTP_CHECK":
        specific = {"helo_name": put("helo_name", lambda x: str_arg(d, x)), "host": (BLOCK, host)}
    elif kind == "DNS_CHECK":
        specific = {"type": (LINE, dns_type), "name": put("name", lambda x: str_arg(d, x))}
    elif kind == "MISC_CHECK":
        specific = {
            "misc_path": put("misc_path", lambda x: joined_arg(d, x)),
            "misc_timeout": put("misc_timeout", lambda x: float_arg(d, x, positive=True)),
            "misc_dynamic": put("misc_dynamic", lambda x: flag_arg(d, x)),
            "user": (LINE, user),
        }
    elif kind == "UDP_CHECK":
        specific = {
            "payload": (LINE, payload),
            "require_reply": (LINE, require_reply),
            "min_reply_length": put("min_reply_length", lambda x: int_arg(d, x, 0, 65535)),
            "max_reply_length": put("max_reply_length", lambda x: int_arg(d, x, 0, 65535)),
        }
    elif kind == "FILE_CHECK":
        specific = {
            "track_file": put("track_file", lambda x: str_arg(d, x)),
            "dynamic": put("dynamic", lambda x: flag_arg(d, x)),
            "weight": (LINE, weight),
        }
    elif kind == "BFD_CHECK":
        specific = {"name": put("name", lambda x: str_arg(d, x))}
    aliases: dict[str, str | tuple[str, str]] = dict(OLD_NAMES)
    if kind not in ("HTTP_GET", "SSL_GET"):
        aliases["nb_get_retry"] = ("retry", f" (keepalived 2.2.7 ignores it in {kind}, keeping retry's default)")
    s.walk(st.block or [], {**common, **specific}, where, kind=kind, aliases=aliases)

    if kind in ("HTTP_GET", "SSL_GET") and not c.items("urls"):
        d.error(st.words[0], f"{where} has no url {{ path … }} to check")
        return None
    if kind == "MISC_CHECK" and not c.get("misc_path"):
        if "misc_path" not in c.tried:
            d.error(st.words[0], f"{where} has no misc_path: there is nothing to run")
        return None
    if kind == "FILE_CHECK" and not c.get("track_file"):
        if "track_file" not in c.tried:
            d.error(st.words[0], f"{where} has no track_file")
        return None
    if kind == "BFD_CHECK" and not c.get("name"):
        if "name" not in c.tried:
            d.error(st.words[0], f"{where} has no bfd_instance name")
        return None
    if kind == "UDP_CHECK":
        lo, hi = c.get("min_reply_length", 0), c.get("max_reply_length", 255)
        if lo > hi:
            d.error(c.where.get("min_reply_length", st.words[0]),
                    f"{where}: min_reply_length {lo} is above max_reply_length {hi}")
    if c.items("hosts"):
        d.note(st.words[0], f"'host' blocks in {where} are deprecated; each one becomes its own SMTP_CHECK")
    return c


def _into(h: Draft, parent: Draft, fn, st: Stmt) -> None:  # type: ignore[no-untyped-def]
    """Run a parent checker's option handler, but store the value in a host draft."""
    saved_values, saved_where, saved_tried = parent.values, parent.where, parent.tried
    parent.values, parent.where, parent.tried = h.values, h.where, h.tried
    try:
        fn(st)
    finally:
        parent.values, parent.where, parent.tried = saved_values, saved_where, saved_tried


def finish_checker(s: ParseContext, c: Draft, host: Draft | None, inherit: dict[str, Any], address: str,
                    port: int | None, where: str, log_all_failures: bool,
                    check_ports: bool = True) -> m.Checker | None:
    d, kind = s.d, c.kw
    v = dict(c.values)
    if host is not None:
        v.update(host.values)
    eff = {**inherit, **{k: v[k] for k in INHERITED if k in v}}
    delay_loop = eff.get("delay_loop", 60.0)
    default_retry = {"DNS_CHECK": 3, "MISC_CHECK": 0}.get(kind, 1)
    default_dbr = {"HTTP_GET": 3.0, "SSL_GET": 3.0, "DNS_CHECK": delay_loop}.get(kind, 1.0)
    connect_port = v.get("connect_port", port)
    at = host.loc if host is not None else c.loc
    if kind in NEEDS_PORT and connect_port is None:
        if check_ports:
            d.error(at, f"{kind} of {where} has no port to connect to "
                    "(give the real server a port or set connect_port)")
        return None
    if kind == "FILE_CHECK" and v["track_file"] not in s.defined["file"]:
        d.error(c.where["track_file"], f"FILE_CHECK of {where}: no track_file named '{show(v['track_file'])}'")
    if kind == "BFD_CHECK" and v["name"] not in s.defined["bfd"]:
        d.error(c.where["name"], f"BFD_CHECK of {where}: no bfd_instance named '{show(v['name'])}'")
    base: dict[str, Any] = dict(
        kind=kind, connect_ip=v.get("connect_ip", address), connect_port=connect_port,
        bindto=v.get("bindto"), bind_port=v.get("bind_port"), bind_if=v.get("bind_if"), fwmark=v.get("fwmark"),
        connect_timeout=eff.get("connect_timeout", 5.0), retry=eff.get("retry", default_retry),
        delay_before_retry=eff.get("delay_before_retry", default_dbr), delay_loop=delay_loop,
        warmup=eff.get("warmup"), alpha=bool(eff.get("alpha", False)),
        log_all_failures=bool(v.get("log_all_failures", log_all_failures)), loc=at)
    if kind in ("HTTP_GET", "SSL_GET"):
        vhost = eff.get("virtualhost")
        urls = tuple(u if u.virtualhost is not None else dataclasses.replace(u, virtualhost=vhost)
                     for u in c.items("urls"))
        return m.HttpCheck(**base, urls=urls, virtualhost=vhost, http_protocol=v.get("http_protocol", "1.0"),
                           enable_sni=v.get("enable_sni", False), tls_compliant=v.get("tls_compliant", False),
                           fast_recovery=bool(v.get("fast_recovery", False)))
    if kind == "TCP_CHECK":
        return m.TcpCheck(**base)
    if kind == "PING_CHECK":
        return m.PingCheck(**base)
    if kind == "SMTP_CHECK":
        return m.SmtpCheck(**base, helo_name=v.get("helo_name"))
    if kind == "DNS_CHECK":
        return m.DnsCheck(**base, type=v.get("type", "SOA"), name=v.get("name", "."))
    if kind == "MISC_CHECK":
        return m.MiscCheck(**base, misc_path=v["misc_path"], misc_timeout=v.get("misc_timeout"),
                           misc_dynamic=v.get("misc_dynamic", False), user=v.get("user"), group=v.get("group"))
    if kind == "UDP_CHECK":
        return m.UdpCheck(**base, payload=v.get("payload"), require_reply=v.get("require_reply", False),
                          reply_pattern=v.get("reply_pattern"), min_reply_length=v.get("min_reply_length", 0),
                          max_reply_length=v.get("max_reply_length", 255))
    if kind == "FILE_CHECK":
        return m.FileCheck(**base, track_file=v["track_file"], weight=v.get("weight", 1),
                           reverse=v.get("reverse", False), dynamic=v.get("dynamic", False))
    return m.BfdCheck(**base, name=v["name"])
