"""Turning words into checked values, with messages that name the keyword.

Every converter reports a problem itself (error at the word's file:line)
and returns ``None``, so block parsers can simply skip a bad setting and
carry on with the rest of the block: one bad value never hides the others.
"""

from __future__ import annotations

import ipaddress
import math
import re

from vipdeck.engine.config.diagnostics import Diags
from vipdeck.engine.config.lexer import Token, show
from vipdeck.engine.config.model import Loc, Notify
from vipdeck.engine.config.tree import Stmt

_INT = re.compile(r"[+-]?\d+\Z")
_FLOAT = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\Z")
TRUE_WORDS = frozenset({"on", "true", "yes"})
FALSE_WORDS = frozenset({"off", "false", "no"})

IpAddr = ipaddress.IPv4Address | ipaddress.IPv6Address


def _range_text(lo: float | None, hi: float | None, unit: str = "") -> str:
    def fmt(v: float) -> str:
        return str(int(v)) if float(v).is_integer() else f"{v:g}"
    if lo is not None and hi is not None:
        return f"outside {fmt(lo)}-{fmt(hi)}{unit}"
    if lo is not None:
        return f"below the minimum {fmt(lo)}{unit}"
    return f"above the maximum {fmt(hi)}{unit}"  # type: ignore[arg-type]


def need(d: Diags, st: Stmt, lo: int = 1, hi: int | None = None, what: str = "a value") -> bool:
    """Check the number of words after the keyword; extra words are a warning."""
    n = len(st.args)
    if n < lo:
        d.error(st.words[0], f"'{st.keyword}' needs {what}" if lo == 1 else
                f"'{st.keyword}' needs {what} ({lo} word(s), got {n})")
        return False
    if hi is not None and n > hi:
        extra = " ".join(show(t.text, 30) for t in st.args[hi:])
        d.warning(st.args[hi], f"'{st.keyword}' takes {hi} value(s); extra words ignored: {extra}")
    return True


def to_int(d: Diags, tok: Token, kw: str, lo: int | None = None, hi: int | None = None) -> int | None:
    s = tok.text
    if not _INT.match(s):
        d.error(tok, f"{kw} '{show(s)}' is not a whole number")
        return None
    v = int(s)
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        d.error(tok, f"{kw} {v} is {_range_text(lo, hi)}")
        return None
    return v


def to_float(d: Diags, tok: Token, kw: str, lo: float | None = 0.0, hi: float | None = None,
             unit: str = " seconds", *, positive: bool = False) -> float | None:
    """A TIMER / DECIMAL value (seconds, fractions allowed)."""
    s = tok.text
    if not _FLOAT.match(s):
        d.error(tok, f"{kw} '{show(s)}' is not a valid number{' of seconds' if unit == ' seconds' else ''}")
        return None
    v = float(s)
    if not math.isfinite(v) or (lo is not None and v < lo) or (hi is not None and v > hi):
        d.error(tok, f"{kw} {show(s)} is {_range_text(lo, hi, unit)}")
        return None
    if positive and v <= 0:
        d.error(tok, f"{kw} {show(s)} must be greater than 0")
        return None
    return v


def int_arg(d: Diags, st: Stmt, lo: int | None = None, hi: int | None = None) -> int | None:
    if not need(d, st, 1, 1):
        return None
    return to_int(d, st.args[0], st.keyword, lo, hi)


def float_arg(d: Diags, st: Stmt, lo: float | None = 0.0, hi: float | None = None, *,
              positive: bool = False) -> float | None:
    if not need(d, st, 1, 1):
        return None
    return to_float(d, st.args[0], st.keyword, lo, hi, positive=positive)


def secret_arg(d: Diags, st: Stmt) -> str | None:
    """Like str_arg, but never echoes the value (or its extra words) in a message."""
    if not st.args:
        d.error(st.words[0], f"'{st.keyword}' needs a value")
        return None
    if len(st.args) > 1:
        d.warning(st.args[1], f"'{st.keyword}' takes one word; {len(st.args) - 1} extra word(s) ignored "
                  "(quote the value if it contains spaces)")
    return st.args[0].text


def bool_arg(d: Diags, st: Stmt) -> bool | None:
    """<BOOL>; a bare keyword means on (keepalived)."""
    if not st.args:
        return True
    need(d, st, 1, 1)
    word = st.args[0].text.lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    d.error(st.args[0], f"'{st.keyword}' expects on|off|true|false|yes|no, not '{show(st.args[0].text)}'")
    return None


def str_arg(d: Diags, st: Stmt) -> str | None:
    if not need(d, st, 1, 1):
        return None
    return st.args[0].text


def joined_arg(d: Diags, st: Stmt) -> str | None:
    """All words after the keyword as one string (script command lines)."""
    if not need(d, st, 1):
        return None
    return " ".join(t.text for t in st.args)


def flag_arg(d: Diags, st: Stmt) -> bool:
    """A keyword that takes no value."""
    if st.args:
        extra = " ".join(show(t.text, 30) for t in st.args)
        d.warning(st.args[0], f"'{st.keyword}' takes no value; ignored: {extra}")
    return True


def choice(d: Diags, tok: Token, kw: str, allowed: dict[str, str] | frozenset[str] | set[str]) -> str | None:
    """One of a fixed set of words.

    A dict maps upper-cased spellings to the canonical value (keepalived is
    lenient about ``master`` / ``MASTER``); a set must match exactly.
    """
    if isinstance(allowed, dict):
        value = allowed.get(tok.text.upper())
        opts = "|".join(dict.fromkeys(allowed.values()))
    else:
        value = tok.text if tok.text in allowed else None
        opts = "|".join(sorted(allowed))
    if value is None:
        d.error(tok, f"{kw} '{show(tok.text)}' is not one of {opts}")
    return value


# --------------------------------------------------------------------------- addresses


def parse_ip(text: str) -> IpAddr | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def to_ip(d: Diags, tok: Token, what: str) -> IpAddr | None:
    addr = parse_ip(tok.text)
    if addr is None:
        d.error(tok, f"{what}: '{show(tok.text)}' is not a valid IP address")
    return addr


def lvs_address(d: Diags, tok: Token, what: str) -> str | None:
    """An address as LVS blocks write it: IPv6 may be in brackets (``[2001:db8::1]``)."""
    text = tok.text[1:-1] if tok.text.startswith("[") and tok.text.endswith("]") else tok.text
    a = parse_ip(text)
    if a is None:
        d.error(tok, f"{what}: '{show(tok.text)}' is not a valid IP address")
        return None
    return str(a)


def parse_prefix(text: str) -> tuple[IpAddr, int] | None:
    """``ADDR[/LEN]`` → (address, prefixlen); a missing length is a host route."""
    addr_text, slash, plen = text.partition("/")
    addr = parse_ip(addr_text)
    if addr is None:
        return None
    maxlen = 32 if addr.version == 4 else 128
    if not slash:
        return addr, maxlen
    if not plen.isdigit() or int(plen) > maxlen:
        return None
    return addr, int(plen)


def is_multicast(addr: IpAddr) -> bool:
    return addr.is_multicast


def to_port(d: Diags, tok: Token, what: str, *, allow_zero: bool = False) -> int | None:
    lo = 0 if allow_zero else 1
    s = tok.text
    if not _INT.match(s) or not lo <= int(s) <= 65535:
        d.error(tok, f"{what} '{show(s)}' is not a valid port ({lo}-65535)")
        return None
    return int(s)


def weight_reverse(d: Diags, st: Stmt, start: int, lo: int, hi: int) -> tuple[int | None, bool]:
    """``weight N [reverse|noreverse]`` as used by track_* references and trackers.

    ``start`` is the index in ``st.words`` where ``weight`` is expected.
    Returns (weight or None when not given / invalid, reverse).
    """
    words = st.words[start:]
    if not words:
        return None, False
    weight: int | None = None
    reverse = False
    i = 0
    while i < len(words):
        w = words[i]
        if w.text == "weight":
            if i + 1 >= len(words):
                d.error(w, f"'{st.words[0].text}': 'weight' needs a number")
                return None, reverse
            weight = to_int(d, words[i + 1], "weight", lo, hi)
            i += 2
        elif w.text == "reverse":
            reverse = True
            i += 1
        elif w.text == "noreverse":
            reverse = False
            i += 1
        else:
            d.warning(w, f"'{st.words[0].text}': unexpected word '{show(w.text)}' ignored "
                      "(expected weight N [reverse|noreverse])")
            i += 1
    return weight, reverse


def notify_arg(d: Diags, st: Stmt) -> "Notify | None":
    """``notify_x SCRIPT [username [groupname]]``; SCRIPT is the command line as written."""
    if not need(d, st, 1, 3, "a script"):
        return None
    cmd = st.args[0].text
    if not cmd.strip():
        d.error(st.args[0], f"'{st.keyword}' has an empty script")
        return None
    user = st.args[1].text if len(st.args) > 1 else None
    group = st.args[2].text if len(st.args) > 2 else None
    return Notify(command=cmd, user=user, group=group, loc=Loc(st.file, st.line))
