"""The checker benchmarks' lab: a config of N real servers, a backend process
that serves them all, and CPU / RSS read from /proc.

Shape (inside network namespaces, natively or inside the UML guest)::

    lb  198.18.0.1   the checker under test (vipdeck or keepalived)
    rs  198.18.0.2   _backend.py listening on ports 10000 .. 10000+N-1

Shared by benchmarks/checkers.py (and usable from a guest run of it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time


HERE = os.path.dirname(os.path.abspath(__file__))
LB, RS = "198.18.0.1", "198.18.0.2"
PORT_BASE = 10000
PER_VS = 100                 # real servers per virtual server


def checker_conf(n: int, kind: str = "TCP_CHECK", delay_loop: float = 1, vs_base: str = "198.18.1.") -> str:
    """``n`` real servers of RS under ``kind`` in virtual servers of PER_VS each."""
    out = ["global_defs {", "    router_id bench", "}", ""]
    for v in range((n + PER_VS - 1) // PER_VS):
        out += [f"virtual_server {vs_base}{v + 1} 80 {{", f"    delay_loop {delay_loop:g}",
                "    lb_algo rr", "    lb_kind NAT", "    protocol TCP"]
        for i in range(v * PER_VS, min(n, (v + 1) * PER_VS)):
            port = PORT_BASE + i
            if kind == "HTTP_GET":
                check = ["HTTP_GET {", "            url {", "                path /", "                status_code 200",
                         "            }", "            connect_timeout 2", "            retry 1",
                         "            delay_before_retry 1", "        }"]
            else:
                check = ["TCP_CHECK {", "            connect_timeout 2", "            retry 1",
                         "            delay_before_retry 1", "        }"]
            out += [f"    real_server {RS} {port} {{", "        weight 1", "        " + check[0],
                    *("    " + c for c in check[1:]), "    }"]
        out += ["}", ""]
    return "\n".join(out)


def start_backend(node, n: int, mode: str, window: float) -> subprocess.Popen:
    """The real servers; ``go(p)`` starts their measuring window."""
    p = node.popen(sys.executable, os.path.join(HERE, "_backend.py"), RS, str(PORT_BASE), str(n), mode,
                   "--window", str(window), stdin=subprocess.PIPE,
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    if line.strip() != "ready":
        raise RuntimeError(f"backend did not start: {line} {p.stderr.read()}")
    return p


def go(p: subprocess.Popen) -> None:
    p.stdin.write("go\n")
    p.stdin.flush()


def backend_result(p: subprocess.Popen, timeout: float) -> dict:
    out, err = p.communicate(timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError(f"backend failed: {err}")
    return json.loads(out.strip().splitlines()[-1])


def on_time(result: dict, n: int, delay_loop: float, slack: float = 0.25) -> dict:
    """From the backend's gaps: how many real servers were checked on time.

    A real server is on time when every gap between its checks in the
    window is at most delay_loop + slack (a check every delay_loop, give or
    take the connect itself) and it was checked at all.
    """
    gaps = result["gaps"]
    window = result["window"][1] - result["window"][0]
    late = 0
    all_gaps: list[float] = []
    for i in range(n):
        g = gaps.get(str(PORT_BASE + i), [])
        all_gaps += g
        if not g or max(g) > delay_loop + slack:
            late += 1
    late_gaps = sum(1 for x in all_gaps if x > delay_loop + slack)
    all_gaps.sort()
    checks = len(all_gaps)
    return {
        "on_time": n - late, "n": n, "checks_per_s": checks / window if window else 0.0,
        "late_pct": 100 * late_gaps / checks if checks else 0.0,
        "gap_p50": all_gaps[len(all_gaps) // 2] if all_gaps else None,
        "gap_max": all_gaps[-1] if all_gaps else None,
    }


def keepalived_checker_pid(pidfile: str, deadline: float = 15.0) -> int:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            with open(pidfile) as f:
                return int(f.read().strip())
        except (FileNotFoundError, ValueError):
            time.sleep(0.05)
    raise RuntimeError(f"keepalived wrote no checker pid file {pidfile}")
