"""VRRP authentication: the ``authentication`` block (PASS, AH) and ``auth_hmac``.

Secrets (``auth_pass``, HMAC keys) are never echoed in a message: messages
name the key id or the keyword, never the value.
"""

from __future__ import annotations

import os

from vipdeck.engine.config import model as m
from vipdeck.engine.config.context import LINE, Draft, ParseContext, loc
from vipdeck.engine.config.tree import Stmt
from vipdeck.engine.config.values import choice, float_arg, int_arg, need, secret_arg, to_int


def parse_authentication(s: ParseContext, st: Stmt, where: str) -> m.Authentication | None:
    d = s.d
    a = Draft("authentication", where, loc(st))
    table = {
        "auth_type": (LINE, lambda x: a.set(d, "auth_type", choice(
            d, x.args[0], "auth_type", {"PASS": "PASS", "AH": "AH"}) if need(d, x, 1, 1) else None, x.words[0])),
        "auth_pass": (LINE, lambda x: a.set(d, "auth_pass", secret_arg(d, x), x.words[0])),
    }
    s.walk(st.block or [], table, f"{where} authentication", kind="authentication")
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


def parse_auth_hmac(s: ParseContext, st: Stmt, where: str) -> Draft:
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
    s.walk(st.block or [], table, f"{where} auth_hmac", kind="auth_hmac")
    return h


def _hmac_secret(s: ParseContext, x: Stmt, kid: int, value: str, where: str) -> tuple[bytes | None, str]:
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


def finish_hmac(s: ParseContext, dr: Draft, where: str, advert: float) -> m.AuthHmac | None:
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
