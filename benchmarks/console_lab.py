"""The console on a real daemon with 255 VRIDs advertising 10 times a second.

Builds a two-node namespace lab (198.18.0.0/15 only, removed at the end):
node1 runs the vipdeck daemon, node2 a real keepalived, each with 255
VRRPv3 instances at advert_int 0.1 s, each master of half of them, so
2550 adverts a second cross the bridge and node1's advert view follows
every one.  The console attaches to node1's control socket (snapshots and
event stream over the Unix socket, as an operator's would) and the same
figures as ``console_responsiveness.py`` are printed, plus the CPU the
vipdeck daemon and keepalived spent meanwhile (and their ratio).

Needs root, iproute2 and keepalived.  Run: sudo python benchmarks/console_lab.py
"""

from __future__ import annotations

import asyncio
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from benchlib import tree_cpu_seconds as cpu_seconds  # noqa: E402
from console_responsiveness import measure  # noqa: E402

from vipdeck.engine.control.client import SocketClient  # noqa: E402
from vipdeck.engine.lab.netns import Lab  # noqa: E402
from vipdeck.engine.lab.peers import start_keepalived, start_vipdeck, status, vrrp_conf  # noqa: E402
from vipdeck.engine.lab.wait import wait_until  # noqa: E402

VRIDS = 255
INTERVAL = 0.1


def instances(first_master: bool) -> list[dict]:
    out = []
    for k in range(VRIDS):
        vrid = k + 1
        mine = (vrid % 2 == 1) == first_master
        out.append({"name": f"VI_{vrid}", "vrid": vrid, "priority": 150 if mine else 100,
                    "advert_int": INTERVAL, "version": 3,
                    "vips": [f"198.18.{2 + k // 200}.{k % 200 + 10}/32"]})
    return out


def main() -> int:
    with Lab() as lab:
        n1 = lab.add_node("n1", "198.18.0.1/16")
        n2 = lab.add_node("n2", "198.18.0.2/16")
        r1 = start_vipdeck(n1, vrrp_conf(router_id="node1", instances=instances(True)))
        r2 = start_keepalived(n2, vrrp_conf(router_id="node2", instances=instances(False)))

        def settled() -> bool:
            snap = status(r1)
            states = [i["state"] for i in snap["instances"]]
            heard = sum(1 for a in snap["adverts"] for s in a["sources"] if (s.get("rate") or 0) > 5)
            return states.count("MASTER") == (VRIDS + 1) // 2 and states.count("BACKUP") == VRIDS // 2 \
                and heard >= VRIDS // 2
        print("waiting for 255 VRIDs to settle (node1 master of the odd ones)...", file=sys.stderr)
        wait_until(settled, 90, interval=0.5, what="255 VRIDs settled")
        d0, k0, t0 = cpu_seconds(r1.proc.pid), cpu_seconds(r2.proc.pid), time.monotonic()
        asyncio.run(measure(SocketClient(r1.socket_path, who="benchmark"),
                            f"real lab: vipdeck daemon + keepalived, {VRIDS} VRIDs each advertising every "
                            f"{INTERVAL:g} s ({int(VRIDS / INTERVAL)} adverts/s on the wire), console on the socket"))
        wall = time.monotonic() - t0
        d = cpu_seconds(r1.proc.pid) - d0
        k = cpu_seconds(r2.proc.pid) - k0
        print(f"  vipdeck daemon CPU meanwhile: {100 * d / wall:.0f}% of one core "
              f"(sends {VRIDS // 2 + 1} x 10 adverts/s, hears {VRIDS // 2} x 10, serves the console)")
        print(f"  keepalived CPU meanwhile: {100 * k / wall:.0f}% of one core "
              f"(sends {VRIDS // 2} x 10 adverts/s); ratio vipdeck/keepalived {d / k if k else float('inf'):.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
