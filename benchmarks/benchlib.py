"""What every benchmark script measures and prints, in one place.

Each script compares vipdeck with keepalived in the same run, so both must
be measured the same way: the CPU and memory of a process (or of its whole
tree: keepalived forks a VRRP and a checker child) read from /proc, and the
same medians, percentiles, ratios and markdown tables.  The lab-specific
parts stay with their labs (``vrrplab.py``: VRRP pairs and the wire clock;
``_checklab.py``: checker configs and the backend).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import time

PAGE = os.sysconf("SC_PAGE_SIZE")
TICK = os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------------- processes

def tree_pids(pid: int) -> list[int]:
    """``pid`` and its descendants (from /proc: children of each task)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for tid in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{tid}/children") as f:
                    todo += [int(c) for c in f.read().split()]
        except (FileNotFoundError, ProcessLookupError):
            pass
    return out


def cpu_seconds(pid: int) -> float:
    """CPU time of every thread of ``pid`` (schedstat: nanoseconds on a CPU,
    finer than the 10 ms ticks of /proc/PID/stat)."""
    total = 0
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return total / 1e9


def tree_cpu_seconds(pid: int) -> float:
    """CPU time of ``pid`` and its descendants."""
    return sum(cpu_seconds(p) for p in tree_pids(pid))


def cpu_split(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of one process, in clock ticks as the
    kernel counts them (what `ps` and keepalived's own figures use)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) / TICK, int(fields[12]) / TICK


def rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * PAGE
    except (FileNotFoundError, ProcessLookupError):
        return 0


def rss_mb(pid: int) -> float:
    return rss_bytes(pid) / 2**20


def sample_cpu(pid: int, seconds: float, step: float = 1.0) -> dict:
    """CPU of ``pid`` over ``seconds``: the total split into user and system,
    and the median and maximum of the per-``step`` percentages."""
    u0, s0 = cpu_split(pid)
    t0 = time.monotonic()
    per: list[float] = []
    last_c, last_t = u0 + s0, t0
    rss_max = rss_mb(pid)
    while time.monotonic() - t0 < seconds:
        time.sleep(min(step, max(0.01, seconds - (time.monotonic() - t0))))
        u, s = cpu_split(pid)
        now = time.monotonic()
        per.append(100 * (u + s - last_c) / (now - last_t))
        last_c, last_t = u + s, now
        rss_max = max(rss_max, rss_mb(pid))
    u1, s1 = cpu_split(pid)
    wall = time.monotonic() - t0
    per.sort()
    return {"user": u1 - u0, "sys": s1 - s0, "wall": wall, "pct": 100 * (u1 - u0 + s1 - s0) / wall,
            "pct_p50": per[len(per) // 2] if per else 0.0, "pct_max": per[-1] if per else 0.0,
            "ticks": round((u1 - u0 + s1 - s0) * TICK), "rss_mb": rss_max}


# ---------------------------------------------------------------------- statistics and tables

def pct(xs: list[float], q: float) -> float:
    """The ``q``-th percentile (0..100) by nearest rank; NaN when empty."""
    if not xs:
        return float("nan")
    s = sorted(xs)
    k = min(len(s) - 1, max(0, int(round(q / 100 * (len(s) - 1)))))
    return s[k]


def median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def ratio(a: float | None, b: float | None) -> str:
    """``a / b`` as printed in the tables: ``n/a`` when either is unknown."""
    if a is None or b is None or b != b or a != a:
        return "n/a"
    if b == 0:
        return "inf" if a > 0 else "1.00"
    return f"{a / b:.2f}"


def ratio_spread(pairs: list[tuple[float | None, float | None]]) -> str:
    """The min-max of the per-round ratios ``a / b``, so a reader sees how far
    one round's ratio moves from the next (a single round shows just its ratio)."""
    rs = [a / b for a, b in pairs if a is not None and b is not None and a == a and b == b and b > 0]
    if not rs:
        return "n/a"
    lo, hi = min(rs), max(rs)
    return f"{lo:.2f}" if len(rs) == 1 else f"{lo:.2f}-{hi:.2f}"


def table(header: list[str], rows: list[list]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def machine_line() -> str:
    """When, on what CPU and against which keepalived a table was measured."""
    try:
        model = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (StopIteration, OSError):
        model = "?"
    ka = subprocess.run(["keepalived", "--version"], capture_output=True, text=True)
    kav = (ka.stderr or ka.stdout).splitlines()[0] if (ka.stderr or ka.stdout) else "keepalived ?"
    return f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores ({model}), {kav}"
