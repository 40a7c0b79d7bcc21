"""Text formatting shared by every screen.

Kept free of Textual so the same wording can be unit-tested and reused, and
free of clocks: every age is computed by the caller from the snapshot's own
``node.now`` so pictures of the console are reproducible.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from rich.text import Text

STATE_STYLE = {
    "MASTER": "bold green",
    "BACKUP": "cyan",
    "FAULT": "bold red",
    "INIT": "yellow",
    "STOP": "dim",
}
RS_STATE_STYLE = {
    "UP": "green",
    "DOWN": "bold red",
    "DRAINING": "bold yellow",
    "DRAINED": "blue",
    "NOT APPLIED": "bold yellow",
}
SEVERITY_STYLE = {"info": "", "warning": "yellow", "error": "bold red"}

FLAG_LABEL = {
    "split_brain": "SPLIT-BRAIN",
    "auth_mismatch": "AUTH",
    "interval_mismatch": "INTERVAL",
    "vip_mismatch": "VIPS",
    "ttl": "TTL",
    "bad_checksum": "CHECKSUM",
    "version_mismatch": "VERSION",
    "master_silent": "SILENT",
}


def age(seconds: float | None) -> str:
    """Coarse on purpose: a 10 adverts/s source must not make a cell change
    on every refresh."""
    if seconds is None:
        return "-"
    s = max(0.0, float(seconds))
    if s < 1:
        return "<1s"
    if s < 60:
        return f"{int(s)}s"
    if s < 3600:
        return f"{int(s // 60)}m{int(s % 60):02d}s"
    if s < 86400:
        return f"{int(s // 3600)}h{int(s % 3600 // 60):02d}m"
    return f"{int(s // 86400)}d{int(s % 86400 // 3600):02d}h"


def ago(now: float | None, when: float | None) -> str:
    if when is None or now is None:
        return "-"
    return age(now - when) + " ago"


def size(n: float | None) -> str:
    if n is None:
        return "-"
    units = ["B", "KiB", "MiB", "GiB", "TiB"]
    v = float(n)
    for u in units:
        if v < 1024 or u == units[-1]:
            return f"{v:.0f} {u}" if u == "B" else f"{v:.1f} {u}"
        v /= 1024
    return f"{v:.1f} TiB"  # pragma: no cover


def rate(v: float | None, unit: str = "/s") -> str:
    if v is None:
        return "-"
    return f"{v:.0f}{unit}" if v >= 10 else f"{v:.1f}{unit}"


def number(v: Any) -> str:
    return "-" if v is None else str(v)


def latency(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    ms = seconds * 1000
    return f"{ms:.0f} ms" if ms >= 100 else f"{ms:.1f} ms"


def interval(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds:g}s"


def signed(n: int | None) -> str:
    if n is None:
        return "-"
    return f"+{n}" if n > 0 else ("−" + str(-n) if n < 0 else "+0")


AUTH_LABEL = {0: "none", 1: "PASS", 2: "AH"}    # VRRPv2's authentication types (RFC 2338)


def auth(value: Any) -> str:
    """An advert's authentication type as keepalived.conf names it (the engine
    sends the wire's number; older snapshots a name)."""
    if value is None or value == "":
        return "-"
    if isinstance(value, int) and not isinstance(value, bool):
        return AUTH_LABEL.get(value, f"type {value}")
    return "none" if str(value).lower() == "none" else str(value).upper()


def state_text(state: str | None) -> Text:
    return Text(state or "?", style=STATE_STYLE.get(state or "", ""))


def rs_state_text(state: str | None) -> Text:
    return Text(state or "?", style=RS_STATE_STYLE.get(state or "", ""))


def weight_text(rs: dict) -> Text:
    """``3 (cfg 1)`` when the operator overrides the configured weight."""
    eff, cfg = rs.get("weight_effective"), rs.get("weight_config")
    if rs.get("override") is not None or (eff is not None and eff != cfg):
        t = Text()
        t.append(str(eff), style="bold yellow")
        t.append(f" (cfg {cfg})", style="yellow")
    else:
        t = Text(number(eff))
    kern = rs.get("weight_kernel")
    if kern is not None and eff is not None and kern != eff:
        t.append(f" kernel {kern}", style="bold red")
    return t


def clock(t: float | None, localtime: Callable[[float], time.struct_time] = time.localtime) -> str:
    if t is None:
        return "--:--:--"
    return time.strftime("%H:%M:%S", localtime(t))

