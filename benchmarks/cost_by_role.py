"""CPU and memory of vipdeck against keepalived in the same VRRP role.

For each instance count (1, 50, 255) and advert interval (1 s, 0.1 s), two
pairs run one after the other on a fresh namespace lab: vipdeck master with a
keepalived backup, then keepalived master with a vipdeck backup.  Each pair
gives one master and one backup figure, so every role is measured for both
kinds beside the same kind of peer in the same run.  CPU is % of one core of
the router's whole process tree (keepalived: its parent and VRRP child) over
the measuring window, from /proc; RSS is summed over the tree at the end.

A 0.1 s case runs several rounds (default 3; a 1 s case 1, its figures are
small but steady and a round of the three sizes is most of the run): the
table gives the median of each figure over the rounds, the ratio of those
medians, and the min-max of the per-round ratios, because one sample's ratio
moves about 20 % from run to run.  Rounds alternate which pair goes first
(vipdeck master first, then keepalived master first) so a drift of the
machine during a case falls on both kinds.

Run as root: python benchmarks/cost_by_role.py [--quick] [--seconds S] [--rounds N]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import vrrplab  # noqa: E402
from benchlib import machine_line, median, ratio, ratio_spread, table  # noqa: E402

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
    p.add_argument("--rounds", type=int, default=None,
                   help="rounds per case (default 3 at 0.1 s, 1 at 1 s; quick 2)")
    args = p.parse_args()
    vrrplab.exit_unless_ready()
    seconds = args.seconds or (1.5 if args.quick else 4.0)
    sizes = QUICK if args.quick else FULL
    rows = []
    for n, interval in sizes:
        rounds = args.rounds or (2 if args.quick else 3 if interval < 1 else 1)
        got = {"vm": [], "kb": [], "km": [], "vb": []}
        ok = True
        for i in range(rounds):
            order = ("vipdeck", "keepalived") if i % 2 == 0 else ("keepalived", "vipdeck")
            for master in order:
                backup = "keepalived" if master == "vipdeck" else "vipdeck"
                cm, cb, states_ok = run_pair(master, backup, n, interval, seconds)
                ok = ok and states_ok
                got["vm" if master == "vipdeck" else "km"].append(cm)
                got["kb" if master == "vipdeck" else "vb"].append(cb)
        note = "" if ok else " (roles moved during the run)"
        for role, vs, ks in (("master", got["vm"], got["km"]), ("backup", got["vb"], got["kb"])):
            v_cpu, k_cpu = median([c.cpu_pct for c in vs]), median([c.cpu_pct for c in ks])
            rows.append([role, n, f"{interval:g}", rounds, f"{v_cpu:.2f}", f"{k_cpu:.2f}", ratio(v_cpu, k_cpu),
                         ratio_spread([(v.cpu_pct, k.cpu_pct) for v, k in zip(vs, ks)]),
                         f"{median([c.rss_mb for c in vs]):.1f}", f"{median([c.rss_mb for c in ks]):.1f}" + note])
        print(f"# done {n} x {interval:g} s ({rounds} rounds)", file=sys.stderr, flush=True)
    print(f"CPU % of one core (whole process tree over {seconds:g} s) and RSS, medians over the rounds; ratio is "
          f"of the medians, ratio min-max of the rounds' own ratios; the peer in the other role is the other "
          f"kind. {machine_line()}\n")
    print(table(["role", "instances", "advert_int s", "rounds", "vipdeck CPU %", "keepalived CPU %",
                 "ratio", "ratio min-max", "vipdeck RSS MB", "keepalived RSS MB"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
