"""Shared lab and measurement code for the VRRP benchmarks (cost_by_role,
advert_timing, failover).

Every benchmark puts vipdeck and keepalived 2.2.7 in the same role on the
same kind of lab (a namespace per node on one bridge, engine/lab), one after
the other in the same run, so the ratios compare like with like on a machine
whose load we do not control.  keepalived always runs with -G (no syslog: see
shared/notes/lab-facts.md) and --vrrp.

Numbers only: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import select
import socket
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:          # `python benchmarks/NAME.py` from a checkout
    sys.path.insert(0, str(ROOT))

from vipdeck.engine.lab import peers                     # noqa: E402
from vipdeck.engine.lab.netns import Lab                 # noqa: E402
from vipdeck.engine.lab.wait import wait_until           # noqa: E402

# the scripts call these through vrrplab: measured and printed as every benchmark does
from benchlib import cpu_seconds, rss_bytes, tree_pids  # noqa: E402

KINDS = ("vipdeck", "keepalived")
MASTER_IP, BACKUP_IP, SNIFF_IP = "198.18.0.1/24", "198.18.0.2/24", "198.18.0.9/24"


def prerequisites() -> str | None:
    """Why the VRRP benchmarks cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root (network namespaces)"
    for tool in ("ip", "keepalived"):
        if subprocess.run(["which", tool], capture_output=True).returncode != 0:
            return f"needs {tool}"
    return None


def parser(doc: str) -> argparse.ArgumentParser:
    """The script's parser (each script adds its own quick switch: benchmarks/run.py
    takes a module that mentions it for a benchmark, and this one is not)."""
    return argparse.ArgumentParser(description=doc.strip().splitlines()[0])


def exit_unless_ready() -> None:
    """Exit (0, or 1 under CI) when the lab cannot run; else make the vipdeck
    daemons run this checkout's code: ``python -m vipdeck`` puts the working
    directory first on the path, so a benchmark started from another checkout
    would measure that one.  VRRPLAB_CODE=DIR measures DIR's daemon instead
    (a before/after comparison)."""
    code = os.environ.get("VRRPLAB_CODE") or str(ROOT)
    os.chdir(code)
    os.environ["PYTHONPATH"] = code + (os.pathsep + os.environ["PYTHONPATH"] if os.environ.get("PYTHONPATH") else "")
    why = prerequisites()
    if why:
        print(f"skipped: {why}")
        sys.exit(0 if os.environ.get("CI", "").lower() not in ("1", "true", "yes") else 1)


# ---------------------------------------------------------------------- configs

def instances(n: int, *, priority: int, state: str, advert_int: float, version: int = 3) -> list[dict]:
    """``n`` VRRP instances, VRID 1..n, one VIP each (198.18.1.VRID or 198.18.2.x)."""
    out = []
    for k in range(1, n + 1):
        vip = f"198.18.{1 + (k - 1) // 250}.{1 + (k - 1) % 250}/32"
        out.append({"name": f"VI_{k}", "vrid": k, "priority": priority, "state": state,
                    "advert_int": advert_int, "version": version, "vips": [vip]})
    return out


def conf(role: str, n: int, advert_int: float, version: int = 3, *, priority: int | None = None) -> str:
    prio = priority if priority is not None else (200 if role == "master" else 100)
    return peers.vrrp_conf(router_id=role, version=version,
                           instances=instances(n, priority=prio, state=role.upper(), advert_int=advert_int,
                                               version=version))


def start(kind: str, node, text: str) -> peers.Router:
    if kind == "keepalived":
        return peers.start_keepalived(node, text)
    # no -D: a benchmark measures the daemon, not its debug log
    return peers.start_vipdeck(node, text, extra_args=())


# ---------------------------------------------------------------------- labs

@contextlib.contextmanager
def pair_lab(sniffer: bool = False):
    """A lab with nodes ``master``, ``backup`` (and ``sniff``, a bystander that
    timestamps the wire)."""
    lab = Lab()
    try:
        lab.add_node("master", MASTER_IP)
        lab.add_node("backup", BACKUP_IP)
        if sniffer:
            lab.add_node("sniff", SNIFF_IP)
        yield lab
    finally:
        lab.close()


# ---------------------------------------------------------------------- process cost

def router_root(r: peers.Router) -> int:
    assert r.proc is not None
    return r.proc.pid        # `ip netns exec` execs: the daemon (keepalived's parent) itself


@dataclass
class Cost:
    cpu_pct: float           # % of one core, the whole process tree
    rss_mb: float            # summed over the tree


def measure_cost(routers: list[peers.Router], seconds: float) -> list[Cost]:
    """CPU of each router's process tree over the same ``seconds`` (the trees
    are read at the start), and its RSS at the end."""
    trees = [tree_pids(router_root(r)) for r in routers]
    t0 = time.monotonic()
    c0 = [sum(cpu_seconds(p) for p in t) for t in trees]
    time.sleep(seconds)
    c1 = [sum(cpu_seconds(p) for p in t) for t in trees]
    dt = time.monotonic() - t0
    return [Cost(100.0 * (b - a) / dt, sum(rss_bytes(p) for p in tree_pids(router_root(r))) / 2**20)
            for r, a, b in zip(routers, c0, c1)]


def vipdeck_states(r: peers.Router) -> dict[str, tuple[str, str | None]]:
    return {i["name"]: (i["state"], i["master"]["address"]) for i in peers.status(r)["instances"]}


def settled(r: peers.Router, role: str, n: int) -> bool:
    """Every instance of a vipdeck router in its role, a backup having heard
    its master (keepalived: trusted, see settle_pair)."""
    if r.kind != "vipdeck":
        return True
    try:
        st = vipdeck_states(r)
    except Exception:
        return False
    return len(st) == n and all(s == role.upper() and (role == "master" or m is not None) for s, m in st.values())


# ---------------------------------------------------------------------- the wire

class WireClock:
    """Timestamps of the VRRP adverts a bystander node hears, per (source, VRID):
    kernel receive times (SO_TIMESTAMPNS), so our own scheduling does not blur them."""

    SO_TIMESTAMPNS = 35

    def __init__(self, node):
        self.sock = node.socket(socket.AF_INET, socket.SOCK_RAW, 112)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"eth0")
        self.sock.setsockopt(socket.SOL_SOCKET, self.SO_TIMESTAMPNS, 1)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
        mreq = struct.pack("4s4si", socket.inet_aton("224.0.0.18"), bytes(4), node.ifindex)
        self.sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
        self.events: list[tuple[float, str, int, int]] = []     # (time, source, vrid, priority)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._t = threading.Thread(target=self._run, daemon=True, name="wireclock")
        self._t.start()

    def _run(self) -> None:
        anc = socket.CMSG_SPACE(16)
        while not self._stop.is_set():
            r, _, _ = select.select([self.sock], [], [], 0.05)
            if not r:
                continue
            try:
                data, cmsgs, _flags, _addr = self.sock.recvmsg(2048, anc)
            except OSError:
                continue
            ts = time.time()
            for level, ctype, cdata in cmsgs:
                if level == socket.SOL_SOCKET and ctype == self.SO_TIMESTAMPNS:
                    sec, ns = struct.unpack("qq", cdata[:16])
                    ts = sec + ns / 1e9
            ihl = (data[0] & 0x0F) * 4
            if len(data) < ihl + 4:
                continue
            src = socket.inet_ntoa(data[12:16])
            with self._lock:
                self.events.append((ts, src, data[ihl + 1], data[ihl + 2]))

    def mark(self) -> int:
        with self._lock:
            return len(self.events)

    def since(self, mark: int) -> list[tuple[float, str, int, int]]:
        with self._lock:
            return self.events[mark:]

    def wait_for(self, pred, timeout: float, start: int = 0, what: str = "an advert"):
        """The first event from ``start`` on that matches ``pred``."""
        deadline = time.monotonic() + timeout
        pos = start
        while True:
            with self._lock:
                evs = self.events[pos:]
            for k, e in enumerate(evs):
                if pred(e):
                    return e
            pos += len(evs)
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {what} within {timeout} s")
            time.sleep(0.005)

    def close(self) -> None:
        self._stop.set()
        self._t.join(timeout=2)
        self.sock.close()


def masters_heard(wire: WireClock, src: str, n: int, since: int) -> bool:
    """Every VRID 1..n heard from ``src`` with a non-zero priority since ``since``."""
    seen = {v for _t, s, v, p in wire.since(since) if s == src and p > 0}
    return len(seen) >= n


# ---------------------------------------------------------------------- busy cores

@contextlib.contextmanager
def busy(n: int, own_sessions: bool = True):
    """``n`` processes spinning on the CPU (the "busy cores" load).

    ``own_sessions``: each in a session of its own, as three separate
    programs would be.  With the kernel's autogroups (CONFIG_SCHED_AUTOGROUP,
    kernel.sched_autogroup_enabled=1: Debian's default) the scheduler first
    shares the CPU between sessions, so spinners that are this script's
    children, in its session, weigh together like one process against each
    router (the lab starts every router in its own session); False is that
    load (one busy job of three processes, as ``make -j3`` from one shell)."""
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=own_sessions)
             for _ in range(n)]
    try:
        yield
    finally:
        for p in procs:
            p.kill()
            p.wait()


def settle_pair(lab, master_kind: str, backup_kind: str, n: int, advert_int: float, version: int = 3,
                wire: WireClock | None = None, timeout: float = 30.0):
    """Start a master then a backup of the given kinds; return (master, backup)
    once every instance is in its role."""
    m = start(master_kind, lab["master"], conf("master", n, advert_int, version))
    if master_kind == "vipdeck":
        wait_until(lambda: settled(m, "master", n), timeout, interval=0.2, what="vipdeck master settled")
    elif wire is not None:
        mark = wire.mark()
        wait_until(lambda: masters_heard(wire, lab["master"].ip, n, mark), timeout, interval=0.1,
                   what="keepalived master advertising every VRID")
    else:
        wait_until(lambda: _ka_all_master(m, n), timeout, interval=0.2, what="keepalived master settled")
    b = start(backup_kind, lab["backup"], conf("backup", n, advert_int, version))
    if backup_kind == "vipdeck":
        wait_until(lambda: settled(b, "backup", n), timeout, interval=0.2, what="vipdeck backup settled")
    else:
        wait_until(lambda: _ka_entered(b, "BACKUP", n), timeout, interval=0.2, what="keepalived backup settled")
        time.sleep(master_down_interval(100, advert_int) + 2 * advert_int)   # it has heard its master since
    return m, b


def _ka_entered(r: peers.Router, state: str, n: int) -> bool:
    text = r.log()
    return text.count(f"Entering {state} STATE") >= n


def _ka_all_master(r: peers.Router, n: int) -> bool:
    return _ka_entered(r, "MASTER", n)


def last_from(events, src: str, vrid: int, before: float | None = None):
    """The last wire event from ``src`` for ``vrid`` (before ``before``)."""
    out = None
    for e in events:
        if e[1] == src and e[2] == vrid and (before is None or e[0] < before):
            out = e
    return out


def skew_time(priority: int, interval: float) -> float:
    return (256 - priority) * interval / 256


def master_down_interval(priority: int, interval: float) -> float:
    return 3 * interval + skew_time(priority, interval)


def quiet_since(wire: WireClock, src: str, since_mark: int, seconds: float) -> bool:
    """Nothing from ``src`` heard since the event at ``since_mark`` for ``seconds``."""
    evs = wire.since(since_mark)
    last = max((e[0] for e in evs if e[1] == src), default=None)
    ref = last if last is not None else (evs[0][0] if evs else None)
    return ref is not None and time.time() - ref >= seconds
