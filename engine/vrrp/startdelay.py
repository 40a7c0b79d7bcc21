"""How long VRRP waits at start: ``vrrp_startup_delay`` and ``vrrp_delay_after_boot``.

Why: at boot, links and bonds may come up (and adverts start arriving)
after the daemon does; an instance that elects itself before it can hear
the master makes a second master.  keepalived (vrrp_daemon.c) then holds
VRRP back: during the delay no advert is sent and received adverts are
dropped, and the instances' timers start when it ends.  vipdeck keeps the
instances in INIT until then (they send and hear nothing; trackers and
checkers already run).

``vrrp_delay_after_boot T`` waits until the system has been up T seconds:
the delay is T minus the uptime (``/proc/uptime``), nothing once the host
has been up longer, so a restart of the daemon later is not delayed.  With
both keywords the longer delay wins.  keepalived computes it when it reads
the configuration; vipdeck when the engine starts, moments later.  A reload
does not restart the delay.

:func:`start_delay` is pure (the uptime is passed in, so a test can fake an
early boot); :func:`read_uptime` is the one place that reads the clock file.
"""

from __future__ import annotations

from dataclasses import dataclass

UPTIME = "/proc/uptime"


def read_uptime(path: str = UPTIME) -> float | None:
    """Seconds since boot, or None when the file cannot be read."""
    try:
        with open(path) as f:
            return float(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


@dataclass(frozen=True)
class StartDelay:
    seconds: float          # 0: start at once
    why: str                # for the log: which keyword, and the uptime it was counted from
    problem: str | None = None


def start_delay(startup_delay: float, after_boot: float, uptime: float | None) -> StartDelay:
    """The delay before VRRP starts, from the two keywords and the uptime."""
    delay, why, problem = max(0.0, startup_delay), f"vrrp_startup_delay {startup_delay:g}", None
    if after_boot > 0:
        if uptime is None:
            problem = "cannot read the system uptime for vrrp_delay_after_boot; it is ignored (as keepalived)"
        else:
            left = after_boot - uptime
            if left > delay:
                delay, why = left, f"vrrp_delay_after_boot {after_boot:g}, system up {uptime:.2f} s"
    return StartDelay(delay if delay > 0 else 0.0, why, problem)
