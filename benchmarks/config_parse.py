"""Config checking and start-up on a big generated config, against keepalived.

The config: N VRRP instances (10,000; 100 with --quick), 250 per interface
over N/250 veth interfaces (198.19.K.1/24) in one lab namespace, each BACKUP at
priority 100 with advert_int 60 (so nothing becomes master, and nothing
floods, while start-up is measured) and one VIP from 198.18.0.0/15.

* check: wall time of ``vipdeck check -f FILE`` and ``keepalived -t -f FILE``
  in that namespace (5 runs each; median and maximum);
* start-up: from exec until every instance is BACKUP: for vipdeck as its
  control socket reports them, for keepalived as its log (-l -G) says
  "Entering BACKUP STATE" for each (once; a daemon start costs seconds).

Run as root: python benchmarks/config_parse.py [--quick]
Prints a markdown table; numbers only, no thresholds.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from benchlib import ratio  # noqa: E402  (the script's folder is on sys.path)

PER_IF = 250


def big_conf(n: int) -> str:
    out = ["global_defs {", "    router_id bench", "}"]
    for i in range(n):
        out += [f"vrrp_instance VI_{i} {{", "    state BACKUP", f"    interface v{i // PER_IF}",
                f"    virtual_router_id {i % PER_IF + 1}", "    priority 100", "    advert_int 60",
                "    virtual_ipaddress {", f"        198.{18 + (i >> 16)}.{(i >> 8) & 255}.{i & 255}/32", "    }",
                "}"]
    return "\n".join(out) + "\n"


def timed(node, argv: list[str], runs: int) -> tuple[list[float], int]:
    times, code = [], 0
    for _ in range(runs):
        t0 = time.perf_counter()
        p = node.run(*argv, check=False, timeout=300)
        times.append(time.perf_counter() - t0)
        code = p.returncode
    return times, code


def startup_vipdeck(node, conf: str, n: int, budget: float) -> tuple[float | None, float | None]:
    """(seconds to the control socket, seconds to every instance BACKUP)."""
    from vipdeck.engine.control.client import SocketClient

    wd = tempfile.mkdtemp(prefix=f"{node.netns}-vdcfg-")
    node.lab.on_close(lambda: subprocess.run(["rm", "-rf", wd]))
    path = os.path.join(wd, "keepalived.conf")
    with open(path, "w") as f:
        f.write(conf)
    sock = os.path.join(wd, "control.sock")
    env = dict(os.environ, TMPDIR=wd)
    t0 = time.perf_counter()
    with open(os.path.join(wd, "vipdeck.log"), "w") as log:
        p = node.popen(sys.executable, "-m", "vipdeck", "daemon", "-l", "-f", path, "--socket", sock,
                       "--state-dir", os.path.join(wd, "state"), "--pid-file", os.path.join(wd, "vipdeck.pid"),
                       stdout=log, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + budget
    t_sock = None
    try:
        while time.monotonic() < deadline and p.poll() is None:
            if t_sock is None and os.path.exists(sock):
                t_sock = time.perf_counter() - t0
            if t_sock is not None:
                try:
                    snap = asyncio.run(SocketClient(sock).snapshot())
                    insts = snap.get("instances", [])
                    if len(insts) == n and all(i.get("state") == "BACKUP" for i in insts):
                        return t_sock, time.perf_counter() - t0
                except Exception:
                    pass
            time.sleep(0.05)
        return t_sock, None
    finally:
        p.kill()
        p.wait(timeout=10)


def startup_keepalived(node, conf: str, n: int, budget: float) -> float | None:
    wd = tempfile.mkdtemp(prefix=f"{node.netns}-kacfg-")
    node.lab.on_close(lambda: subprocess.run(["rm", "-rf", wd]))
    path = os.path.join(wd, "keepalived.conf")
    with open(path, "w") as f:
        f.write(conf)
    log = os.path.join(wd, "ka.log")
    pids = [os.path.join(wd, f"{k}.pid") for k in ("main", "vrrp", "check")]
    t0 = time.perf_counter()
    with open(log, "w") as lf:
        p = node.popen("stdbuf", "-oL", "keepalived", "-n", "-l", "-G", "-f", path, "-p", pids[0], "-r", pids[1], "-c", pids[2],
                       "--vrrp", stdout=lf, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + budget
    try:
        while time.monotonic() < deadline:
            with open(log, errors="replace") as f:
                if f.read().count("Entering BACKUP STATE") >= n:
                    return time.perf_counter() - t0
            if p.poll() is not None:
                return None
            time.sleep(0.05)
        return None
    finally:
        for pidfile in pids[1:]:
            try:
                os.kill(int(open(pidfile).read().strip()), 9)
            except (OSError, ValueError):
                pass
        p.kill()
        p.wait(timeout=10)


def fmt(times: list[float] | None) -> str:
    if not times:
        return "—"
    return f"{statistics.median(times):.2f} / {max(times):.2f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes (under 30 s)")
    ap.add_argument("-n", type=int, default=None, help="instances (default 10000, 100 with --quick)")
    a = ap.parse_args()
    if os.geteuid() != 0:
        print("config_parse.py needs root (network namespaces)", file=sys.stderr)
        return 2
    from vipdeck.engine.lab import Lab

    n = a.n or (100 if a.quick else 10000)
    runs = 2 if a.quick else 5
    budget = 30 if a.quick else 180
    conf = big_conf(n)
    with Lab() as lab:
        node = lab.add_node("cfg", "198.18.0.1/24")
        for k in range((n + PER_IF - 1) // PER_IF):
            node.run("ip", "link", "add", f"v{k}", "type", "veth", "peer", "name", f"v{k}p")
            node.run("ip", "addr", "add", f"198.19.{k}.1/24", "dev", f"v{k}")
            node.run("ip", "link", "set", f"v{k}", "up")
            node.run("ip", "link", "set", f"v{k}p", "up")
        fd, path = tempfile.mkstemp(prefix="vipdeck-bench-", suffix=".conf")
        with os.fdopen(fd, "w") as f:
            f.write(conf)
        lab.on_close(lambda: os.unlink(path))
        vd_check, vd_code = timed(node, [sys.executable, "-m", "vipdeck", "check", "-f", path], runs)
        ka_check, ka_code = timed(node, ["keepalived", "-t", "-f", path], runs)
        vd_sock, vd_start = startup_vipdeck(node, conf, n, budget)
        ka_start = startup_keepalived(node, conf, n, budget)

    print(f"### Config check and start-up ({n} VRRP instances, {len(conf) // 1024} KiB)\n")
    print("| what | vipdeck s median / max | keepalived s median / max | ratio |")
    print("|---|---|---|---|")
    print(f"| check (`vipdeck check` / `keepalived -t`, {runs} runs; exit {vd_code} / {ka_code}) | {fmt(vd_check)} | "
          f"{fmt(ka_check)} | {ratio(statistics.median(vd_check), statistics.median(ka_check))} |")
    print(f"| start-up until every instance is BACKUP (1 run) | {fmt([vd_start] if vd_start else None)} | "
          f"{fmt([ka_start] if ka_start else None)} | {ratio(vd_start, ka_start)} |")
    print(f"| start-up until vipdeck's control socket is there (1 run) | {fmt([vd_sock] if vd_sock else None)} | "
          f"| |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
