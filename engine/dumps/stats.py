"""keepalived's per-instance VRRP counters and the ``keepalived.stats`` text.

The driver counts adverts and rejects by our reject reasons; keepalived
counts by its own names (``vrrp_stats`` in vrrp.h).  ``vrrp_stats`` maps
one onto the other, adding the counters only the engine can see
(:class:`TransitionCounters`: became/released master, priority-0 adverts).
A SIGSTATS_CLEAR ("and clearing") is a baseline taken at that moment and
subtracted, so the console's own counters never go backwards.

Reject reasons keepalived has no counter for (checksum, version, IP header,
address family, unknown VRID) are not in the stats, as in keepalived.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from vipdeck.engine.config.model import Config

# our reject reason -> keepalived's counter
REJECT_COUNTERS = {
    "truncated": "packet_len_err",
    "length": "packet_len_err",
    "ttl": "ip_ttl_err",
    "type": "invalid_type_rcvd",
    "interval": "advert_interval_err",
    "interval_mismatch": "advert_interval_err",
    "addresses": "addr_list_err",
    "auth_unsupported": "invalid_authtype",
    "auth_type": "authtype_mismatch",
    "auth_mismatch": "auth_failure",
}


@dataclass(frozen=True)
class VrrpStats:
    """keepalived's ``vrrp_stats``, in the order its JSON dump writes them."""

    advert_rcvd: int = 0
    advert_sent: int = 0
    become_master: int = 0
    release_master: int = 0
    packet_len_err: int = 0
    advert_interval_err: int = 0
    ip_ttl_err: int = 0
    invalid_type_rcvd: int = 0
    addr_list_err: int = 0
    invalid_authtype: int = 0
    authtype_mismatch: int = 0
    auth_failure: int = 0
    pri_zero_rcvd: int = 0
    pri_zero_sent: int = 0

    def minus(self, base: "VrrpStats | None") -> "VrrpStats":
        if base is None:
            return self
        return VrrpStats(**{f.name: max(0, getattr(self, f.name) - getattr(base, f.name))
                            for f in dataclasses.fields(self)})


def sends_priority_zero(old: str, new: str, reason: str) -> bool:
    """Whether the VRRP machine sent a priority-0 advert with this transition.

    The machine (engine.vrrp.machine) does so when a master stops, resigns
    (operator: drain, failover, a sync group following a member) or goes to
    FAULT for a tracker while its link is up; not when its link went down
    or a higher priority took over.  A unit test runs the machine and holds
    this to what it really sends.
    """
    if old != "MASTER" or new == "MASTER":
        return False
    if new == "STOP":
        return True
    if new == "FAULT":
        return reason != "interface"
    return new == "BACKUP" and reason == "operator"


@dataclass
class TransitionCounters:
    """What the engine counts for keepalived's stats besides the driver's counters."""

    become_master: int = 0
    release_master: int = 0
    pri_zero_sent: int = 0
    pri_zero_rcvd: int = 0
    baseline: VrrpStats | None = field(default=None, repr=False)   # set by a stats clear

    def transition(self, old: str, new: str, reason: str) -> None:
        if old == new:
            return
        if new == "MASTER":
            self.become_master += 1
        elif old == "MASTER":
            self.release_master += 1
        if sends_priority_zero(old, new, reason):
            self.pri_zero_sent += 1


def vrrp_stats(counters, extra: TransitionCounters | None = None) -> VrrpStats:
    """keepalived's counters from a driver's ``Counters`` (and the engine's extras),
    less the baseline of the last clear."""
    out: dict[str, int] = {"advert_rcvd": counters.adverts_received, "advert_sent": counters.adverts_sent}
    for reason, n in dict(counters.rejects).items():
        name = REJECT_COUNTERS.get(reason)
        if name:
            out[name] = out.get(name, 0) + n
    if extra is not None:
        out.update(become_master=extra.become_master, release_master=extra.release_master,
                   pri_zero_sent=extra.pri_zero_sent, pri_zero_rcvd=extra.pri_zero_rcvd)
    return VrrpStats(**out).minus(extra.baseline if extra is not None else None)


def render(config: Config, facts) -> str:
    """``keepalived.stats`` (vrrp_print.c), one block per configured instance."""
    lines: list[str] = []
    for inst in config.vrrp_instances:
        f = facts.instances.get(inst.name)
        s = f.stats if f is not None else VrrpStats()
        lines += [
            f"VRRP Instance: {inst.name}",
            "  Advertisements:",
            f"    Received: {s.advert_rcvd}",
            f"    Sent: {s.advert_sent}",
            f"  Became master: {s.become_master}",
            f"  Released master: {s.release_master}",
            "  Packet Errors:",
            f"    Length: {s.packet_len_err}",
            f"    TTL: {s.ip_ttl_err}",
            f"    Invalid Type: {s.invalid_type_rcvd}",
            f"    Advertisement Interval: {s.advert_interval_err}",
            f"    Address List: {s.addr_list_err}",
            "  Authentication Errors:",
            f"    Invalid Type: {s.invalid_authtype}",
            f"    Type Mismatch: {s.authtype_mismatch}",
            f"    Failure: {s.auth_failure}",
            "  Priority Zero:",
            f"    Received: {s.pri_zero_rcvd}",
            f"    Sent: {s.pri_zero_sent}",
        ]
    return "".join(line + "\n" for line in lines)
