"""What one Prometheus scrape costs the event loop, and the HTTP thread.

At each scrape the event loop takes a snapshot (what `vipdeck status`
pays; not timed here) and copies the exporter's counters; the HTTP thread
builds the metric families and the text.  This times the loop's copy and
the thread's work on a synthetic snapshot of the documented shape, at the
scale of the console benchmark (255 VRRP instances), plus 20 virtual
servers of 4 real servers.

    python benchmarks/metrics_scrape.py
"""

from __future__ import annotations

import statistics
import time

from prometheus_client import CollectorRegistry, generate_latest

from vipdeck.engine.metrics import EngineCounters, families


def snapshot(n_inst: int = 255, n_vs: int = 20, n_rs: int = 4) -> dict:
    insts = []
    for k in range(n_inst):
        insts.append({
            "name": f"VI_{k}", "vrid": k + 1, "interface": "eth0", "state": "MASTER" if k % 2 else "BACKUP",
            "base_priority": 100, "effective_priority": 98,
            "trackers": [{"name": "chk_a", "kind": "script", "state": "ok", "contribution": 0},
                         {"name": "eth1", "kind": "interface", "state": "ok", "contribution": -2}],
            "vips": [{"address": f"198.18.{k // 250}.{k % 250}/32", "dev": "eth0", "present": bool(k % 2),
                      "excluded": False}, {"address": f"198.19.{k // 250}.{k % 250}/24", "dev": "eth0",
                                           "present": bool(k % 2), "excluded": False}],
            "master": {"address": "198.18.0.2", "priority": 100, "last_advert_age": 0.05},
            "counters": {"adverts_sent": 10**6, "adverts_received": 10**6, "transitions": 3, "rejects": {"ttl": 1}},
            "last_transition": {"time": 1.0}, "operator": {"held": False, "takeover": False},
        })
    vss = [{"key": f"198.18.100.{v}:80", "protocol": "TCP", "quorum_ok": True, "sorry_active": False, "in_kernel": True,
            "real_servers": [{"key": f"198.18.101.{r}:80", "state": "UP", "weight_config": 1, "weight_effective": 1,
                              "weight_kernel": 1, "override": None, "active_conn": 10, "inactive_conn": 2,
                              "conns": 10**6, "inpkts": 10**7, "outpkts": 10**7, "inbytes": 10**9, "outbytes": 10**10,
                              "checkers": [{"kind": "HTTP_GET", "label": "HTTP_GET", "ok": True, "latency": 0.002,
                                            "failures": 0, "runs": 1000, "total_failures": 3}]}
                             for r in range(n_rs)]} for v in range(n_vs)]
    adverts = [{"vrid": k + 1, "interface": "eth0", "flags": [],
                "sources": [{"address": "198.18.0.2", "priority": 100, "count": 10**6}]} for k in range(n_inst)]
    return {"node": {"version": "0", "started_at": 0.0}, "instances": insts, "virtual_servers": vss,
            "ipvs": {"available": True}, "adverts": adverts, "operator": {"drained": None}}


def main() -> None:
    snap = snapshot()
    counters = EngineCounters(0.0)
    for k in range(255):
        for t in range(20):
            counters.on_advert(f"VI_{k}", "198.18.0.2", 100, 0.1, t * 0.1001)
    loop_ms, fam_ms, text_ms = [], [], []
    for _ in range(30):
        t0 = time.perf_counter()
        copy = counters.copy()
        loop_ms.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        fams = families(snap, copy)
        fam_ms.append((time.perf_counter() - t0) * 1000)
        reg = CollectorRegistry()

        class C:
            def collect(self, f=fams):
                return f

        reg.register(C())
        t0 = time.perf_counter()
        text = generate_latest(reg)
        text_ms.append((time.perf_counter() - t0) * 1000)
    series = sum(len(f.samples) for f in fams)
    print(f"255 instances, 20 virtual servers x 4 real servers: {series} series, {len(text) // 1024} KiB of text")
    print(f"on the event loop (copy of the counters):  median {statistics.median(loop_ms):.2f} ms, "
          f"max {max(loop_ms):.2f} ms")
    print(f"on the HTTP thread (families):             median {statistics.median(fam_ms):.1f} ms, "
          f"max {max(fam_ms):.1f} ms")
    print(f"on the HTTP thread (text):                 median {statistics.median(text_ms):.1f} ms, "
          f"max {max(text_ms):.1f} ms")


if __name__ == "__main__":
    main()
