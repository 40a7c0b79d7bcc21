"""Takeover time of a VRRP backup, vipdeck against keepalived, against the RFC bound.

A keepalived master (priority 200) and a backup (priority 100) of the kind
under test run N instances on a namespace lab; a bystander node timestamps
every advert in the kernel (SO_TIMESTAMPNS).  The master then goes away, by
a crash (SIGKILL, VRRP child first: no priority-0 advert) or a clean stop
(SIGTERM: priority 0), and each VRID's takeover is the time from the
master's last advert to the backup's first.  The RFC bound is
Master_Down_Interval (3 x interval + Skew_Time) for a crash, Skew_Time for a
clean stop.  Cases: VRRPv2 at 1 s and VRRPv3 at 0.1 s, and (not with
--quick) a crash with 255 VRIDs taking over at once.

Repetitions: ``--reps`` samples per case (default 20), taken as rounds of
several instances at once (every VRID of a round is one sample; the master is
restarted between rounds), so a full run fits in about three minutes.

Run as root: python benchmarks/failover.py [--quick] [--reps N]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import vrrplab  # noqa: E402
from benchlib import machine_line, median, ratio, table  # noqa: E402

CASES = [(2, 1.0), (3, 0.1)]
BACKUP_PRIO = 100
AT_ONCE = 255


def wait_master_back(lab, wire, b, n: int, interval: float, mark: int) -> None:
    m_ip, b_ip = lab["master"].ip, lab["backup"].ip
    vrrplab.wait_until(lambda: vrrplab.masters_heard(wire, m_ip, n, mark), 20 + 6 * interval, interval=0.05,
                       what="the master advertising every VRID")
    if b.kind == "vipdeck":
        vrrplab.wait_until(lambda: vrrplab.settled(b, "backup", n), 20, interval=0.1, what="vipdeck back to backup")
    vrrplab.wait_until(lambda: vrrplab.quiet_since(wire, b_ip, mark, 3 * interval + 0.05), 20 + 6 * interval,
                       interval=0.05, what="the backup quiet")


def run_case(backup_kind: str, version: int, interval: float, how: str, rounds: int, per_round: int) -> list[float]:
    """Takeover seconds, one per VRID per round."""
    out: list[float] = []
    with vrrplab.pair_lab(sniffer=True) as lab:
        wire = vrrplab.WireClock(lab["sniff"])
        m_ip, b_ip = lab["master"].ip, lab["backup"].ip
        try:
            m, b = vrrplab.settle_pair(lab, "keepalived", backup_kind, per_round, interval, version, wire=wire)
            wait_master_back(lab, wire, b, per_round, interval, 0)
            for r in range(rounds):
                mark = wire.mark()
                if how == "crash":
                    m.crash()
                else:
                    m.stop()
                for vrid in range(1, per_round + 1):
                    first = wire.wait_for(lambda e, v=vrid: e[1] == b_ip and e[2] == v and e[3] > 0,
                                          10 + 5 * interval, start=mark, what=f"backup's advert for vrid {vrid}")
                    last = vrrplab.last_from(wire.since(mark - 400 if mark > 400 else 0), m_ip, vrid, first[0])
                    if last is not None:
                        out.append(first[0] - last[0])
                if r + 1 < rounds:
                    mark = wire.mark()
                    m = vrrplab.start("keepalived", lab["master"], vrrplab.conf("master", per_round, interval, version))
                    wait_master_back(lab, wire, b, per_round, interval, mark)
        finally:
            wire.close()
    return out


def row(case: str, how: str, bound: float, res: dict[str, list[float]]) -> list[str]:
    v, k = res["vipdeck"], res["keepalived"]
    return [case, how, f"{bound * 1e3:.1f}",
            f"{median(v) * 1e3:.1f}", f"{max(v, default=float('nan')) * 1e3:.1f}",
            f"{(median(v) - bound) * 1e3:+.1f}",
            f"{median(k) * 1e3:.1f}", f"{max(k, default=float('nan')) * 1e3:.1f}",
            f"{(median(k) - bound) * 1e3:+.1f}",
            ratio(median(v), median(k)), f"{len(v)}/{len(k)}"]


def main() -> int:
    p = vrrplab.parser(__doc__)
    p.add_argument("--quick", action="store_true", help="tiny sizes and durations (the smoke test's run)")
    p.add_argument("--reps", type=int, default=None, help="samples per case (default 20, quick 2)")
    args = p.parse_args()
    vrrplab.exit_unless_ready()
    reps = args.reps or (2 if args.quick else 20)
    cases = [(3, 0.1)] if args.quick else CASES
    per_round = min(reps, 5)
    rounds = -(-reps // per_round)
    rows = []
    for version, interval in cases:
        for how in ("crash", "clean"):
            bound = (vrrplab.master_down_interval(BACKUP_PRIO, interval) if how == "crash"
                     else vrrplab.skew_time(BACKUP_PRIO, interval))
            res = {}
            for kind in vrrplab.KINDS:
                res[kind] = run_case(kind, version, interval, how, rounds, per_round)
                print(f"# {kind} v{version} {interval:g} s {how}: {len(res[kind])} samples", file=sys.stderr, flush=True)
            rows.append(row(f"v{version} {interval:g} s", how, bound, res))
    if not args.quick:
        # a whole node's takeover in one burst: every VRID of a 255-instance pair at once
        # (the cases above take over at most five at a time)
        bound = vrrplab.master_down_interval(BACKUP_PRIO, 0.1)
        res = {}
        for kind in vrrplab.KINDS:
            res[kind] = run_case(kind, 3, 0.1, "crash", 1, AT_ONCE)
            print(f"# {kind} v3 0.1 s crash, {AT_ONCE} at once: {len(res[kind])} samples", file=sys.stderr, flush=True)
        rows.append(row(f"v3 0.1 s, {AT_ONCE} VRIDs at once", "crash", bound, res))
    print(f"Takeover time (ms, master's last advert to the backup's first, on the wire); keepalived master, "
          f"backup priority {BACKUP_PRIO}. {machine_line()}\n")
    print(table(["case", "master goes", "RFC bound", "vipdeck median", "vipdeck max", "vipdeck - bound",
                         "keepalived median", "keepalived max", "keepalived - bound", "ratio (medians)",
                         "samples"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
