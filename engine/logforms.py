"""keepalived's log lines, so rsyslog filters and alert rules written for
keepalived match vipdeck's log too.

Each function returns keepalived 2.2.7's text for an event (vrrp.c,
vrrp_scheduler.c, check_tcp.c, check_http.c, ipwrapper.c ...) followed by
vipdeck's reason in parentheses, which keepalived does not give::

    (VI_1) Entering MASTER STATE (master_down_timer: no advert from 198.18.0.2 for 3.610 s)
    VRRP_Script(chk_nginx) failed (exited with status 1)
    TCP_CHECK on service [198.18.0.203]:tcp:80 failed. (connection refused)

Pure functions: the callers decide when keepalived would log (a state
change, not every run) and log the result.
"""

from __future__ import annotations


def _why(reason: str | None) -> str:
    return f" ({reason})" if reason else ""


def transition(name: str, old: str, new: str, reason: str, detail: str) -> str:
    """vrrp.c's "(VI_1) Entering MASTER STATE"; at start keepalived says "(init)"."""
    init = " (init)" if reason == "startup" and new in ("BACKUP", "FAULT") else ""
    why = f"{reason}: {detail}" if detail else reason
    return f"({name}) Entering {new} STATE{init}{_why(why)}"


def lower_priority_advert(name: str, source: str | None, priority: int, ours: int) -> str:
    """vrrp.c, a master hearing a lower-priority master (it re-asserts with an advert)."""
    return f"({name}) Received advert from {source} with lower priority {priority}, ours {ours}, forcing new election"


def sync_group(name: str, state: str, reason: str | None = None) -> str:
    """vrrp_sync.c, when the group as a whole moves to a new state."""
    return f"VRRP_Group({name}) Syncing instances to {state} state{_why(reason)}"


def script_result(name: str, up: bool, *, exit_status: int | None = None, signal: int | None = None,
                  timed_out: bool = False, error: str | None = None) -> str:
    """vrrp_scheduler.c: logged when a vrrp_script's state changes."""
    if up:
        return f"VRRP_Script({name}) succeeded"
    if timed_out:
        return f"VRRP_Script({name}) timed_out"
    if signal is not None:
        return f"VRRP_Script({name}) failed (due to signal {signal})"
    if exit_status is not None:
        return f"VRRP_Script({name}) failed (exited with status {exit_status})"
    return f"VRRP_Script({name}) failed{_why(error)}"


# checker kind -> (failure prefix, success sentence with {} for the service)
_CHECKER_FORMS = {
    "TCP_CHECK": ("TCP_CHECK", "TCP connection to {} success."),
    "HTTP_GET": ("HTTP_CHECK", "Remote Web server {} succeed on service."),
    "SSL_GET": ("HTTP_CHECK", "Remote Web server {} succeed on service."),
    "UDP_CHECK": ("UDP_CHECK", "UDP connection to {} success."),
    "PING_CHECK": ("ICMP CHECK", "ICMP connection to {} success."),
    "SMTP_CHECK": ("SMTP_CHECK", "Remote SMTP server {} succeed on service."),
    "DNS_CHECK": ("DNS_CHECK", "DNS_CHECK ({}) succeed on service."),
}


def service(address: str, protocol: str | None, port: int | None) -> str:
    """keepalived's FMT_CHK / FMT_RS: ``[198.18.0.203]:tcp:80``."""
    proto = (protocol or "none").lower() if protocol not in (None, "FWM") else "none"
    return f"[{address}]:{proto}:{port or 0}"


def virtual_service(vs_address: str | None, protocol: str | None, port: int | None, *,
                    fwmark: int | None = None, group: str | None = None) -> str:
    """keepalived's FMT_VS."""
    if group is not None:
        return f"[{group}]:{port or 0}"
    if fwmark is not None:
        return f"FWM {fwmark}"
    return service(vs_address or "", protocol, port)


def checker_result(kind: str, svc: str, up: bool, *, retries: int = 0, reason: str | None = None,
                   misc_script: str | None = None, vs: str = "") -> str:
    """A checker going UP or DOWN, as its keepalived checker logs it.

    ``retries`` is the number of retries spent before the failure counted
    (keepalived: "failed after N retries."); 0 gives "failed.".
    """
    if kind == "MISC_CHECK":
        what = "succeeded" if up else "failed"
        if not up and retries:
            what += f" after {retries} {'retry' if retries == 1 else 'retries'}"
        return f"Misc check for [{svc} VS {vs}] by [{misc_script or ''}] {what}.{_why(reason)}"
    if kind == "FILE_CHECK":
        return f"FILE_CHECK on service {svc} {'succeeded' if up else 'failed'}.{_why(reason)}"
    prefix, ok = _CHECKER_FORMS.get(kind, (kind, f"{kind} on service {{}} succeeded."))
    if up:
        return ok.format(svc)
    tail = f"failed after {retries} retries." if retries else "failed."
    return f"{prefix} on service {svc} {tail}{_why(reason)}"


def checker_attempt(kind: str, svc: str, reason: str | None = None) -> str:
    """One failed run of an UP checker with log_all_failures (check_tcp.c)."""
    word = {"TCP_CHECK": "TCP", "UDP_CHECK": "UDP", "PING_CHECK": "ICMP"}.get(kind)
    if word is not None:
        return f"{word} connection to {svc} failed.{_why(reason)}"
    return f"{kind} to {svc} failed.{_why(reason)}"


def real_server_change(rs: str, vs: str, alive: bool, *, inhibit: bool = False, reason: str | None = None) -> str:
    """ipwrapper.c: "Removing service [..]:tcp:80 from VS [..]:tcp:80"."""
    if alive:
        verb, prep = ("Enabling", "of") if inhibit else ("Adding", "to")
    else:
        verb, prep = ("Disabling", "of") if inhibit else ("Removing", "from")
    return f"{verb} service {rs} {prep} VS {vs}{_why(reason)}"


def weight_change(old: int, new: int, alive: bool, rs: str, vs: str) -> str:
    """ipwrapper.c, a dynamic checker moving a real server's weight."""
    return f"Changing weight from {old} to {new} for {'' if alive else 'in'}active service {rs} of VS {vs}"


def quorum_change(vs: str, up: bool, weight_sum: int, quorum: int, hysteresis: int, *, init: bool = False) -> str:
    """ipwrapper.c's quorum lines (the threshold is quorum -/+ hysteresis)."""
    if up:
        return f"Gained quorum {quorum}+{hysteresis}={quorum + hysteresis} <= {weight_sum} for VS {vs}"
    what = "Starting with quorum down" if init else "Lost quorum"
    return f"{what} {quorum}-{hysteresis}={quorum - hysteresis} > {weight_sum} for VS {vs}"
