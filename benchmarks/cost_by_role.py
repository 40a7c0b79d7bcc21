"""CPU and memory of vipdeck against keepalived in the same VRRP role.

For each instance count (1, 50, 255) and advert interval (1 s, 0.1 s), two
pairs run one after the other on a fresh namespace lab: vipdeck master with a
keepalived backup, then keepalived master with a vipdeck backup.  Each pair
gives one master and one backup figure, so every role is measured for both
kinds beside the same kind of peer in the same run.  CPU is % of one core of
the router's whole process tree (keepalived: its parent and VRRP child) over
the measuring window, from /proc; RSS is summed over the tree at the end.

Run as root: python benchmarks/cost_by_role.py [--quick] [--seconds S]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import vrrplab  # noqa: E402
from benchlib import machine_line, ratio, table  # noqa: E402

FULL = [(1, 1.0), (50, 1.0), (255, 1.0), (1, 0.1), (50, 0.1), (255, 0.1)]
QUICK = [(5, 0.1)]


def run_pair(master_kind: str, backup_kind: str, n: int, interval: float, seconds: float):
    with vrrplab.pair_lab(sniffer=True) as lab:
        wire = vrrplab.WireClock(lab["sniff"])
        try:
            m, b = vrrplab.settle_pair(lab, master_kind, backup_kind, n, interval, wire=wire)
            cm, cb = vrrplab.measure_cost([m, b], seconds)
            states_ok = vrrplab.settled(b, "backup", n) and vrrplab.settled(m, "master", n)
        finally:
            wire.close()
    return cm, cb, states_ok


def main() -> int:
    p = vrrplab.parser(__doc__)
    p.add_argument("--quick", action="store_true", help="tiny sizes and durations (the smoke test's run)")
    p.add_argument("--seconds", type=float, default=None, help="measuring window per router (default 4, quick 1.5)")
    args = p.parse_args()
    vrrplab.exit_unless_ready()
    seconds = args.seconds or (1.5 if args.quick else 4.0)
    sizes = QUICK if args.quick else FULL
    rows = []
    for n, interval in sizes:
        vm, kb, ok1 = run_pair("vipdeck", "keepalived", n, interval, seconds)
        km, vb, ok2 = run_pair("keepalived", "vipdeck", n, interval, seconds)
        note = "" if ok1 and ok2 else " (roles moved during the run)"
        for role, v, k in (("master", vm, km), ("backup", vb, kb)):
            rows.append([role, n, f"{interval:g}", f"{v.cpu_pct:.2f}", f"{k.cpu_pct:.2f}",
                         ratio(v.cpu_pct, k.cpu_pct), f"{v.rss_mb:.1f}", f"{k.rss_mb:.1f}" + note])
        print(f"# done {n} x {interval:g} s", file=sys.stderr, flush=True)
    print(f"CPU % of one core (whole process tree over {seconds:g} s) and RSS; the peer in the other role "
          f"is the other kind. {machine_line()}\n")
    print(table(["role", "instances", "advert_int s", "vipdeck CPU %", "keepalived CPU %",
                         "ratio", "vipdeck RSS MB", "keepalived RSS MB"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
