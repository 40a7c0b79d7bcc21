"""vipdeck's vrrp_sync_group beside a real keepalived 2.2.7 (issue 9, item 2).

A sync group follows keepalived's rules (engine.vrrp.sync): it stays BACKUP
while any member still hears its master, follows its members without
forging a priority, and sends priority 0 only where keepalived does (a
master the group takes to FAULT).  A sniffer on the bridge is the referee:
every advert vipdeck sends must carry its configured priority (or 0 at the
instant one of its own masters goes to FAULT), and keepalived's healthy
instance must never be deposed.

The old runtime pulled members up through the operator takeover path: its
first advert carried the seen master's priority + 1 (``vrid 52, prio 101``
against keepalived's VI_52 at 100, which stepped down), and pushed members
down through an operator resign (a priority-0 advert, reason "operator").
"""

from __future__ import annotations

import asyncio

import pytest

from vipdeck.engine.lab import wait_until
from vipdeck.engine.lab.peers import instance, start_keepalived, start_vipdeck, vrrp_conf

pytestmark = [pytest.mark.lab, pytest.mark.keepalived]

INT = 0.2                                   # advert_int (VRRPv3): Master_Down_Interval 0.6..0.73 s
VIP = {51: "198.18.0.151", 52: "198.18.0.152"}
GROUP = "vrrp_sync_group G {\n    group {\n        VI_51\n        VI_52\n    }\n}\n"


def conf(router_id: str, prio: int, *, group: bool, fault_file: str | None = None) -> str:
    """VI_51 and VI_52 at ``prio``; VI_51 tracks ``fault_file`` (weight 0: a non-zero value is FAULT)."""
    scripts = f'vrrp_track_file ff {{\n    file "{fault_file}"\n}}\n' if fault_file else ""
    track = ["track_file {", "    ff weight 0", "}"] if fault_file else []
    return vrrp_conf(router_id=router_id, mcast_group="224.1.101.33", version=3, scripts=scripts,
                     extra=GROUP if group else "", instances=[
                         dict(name="VI_51", vrid=51, priority=prio, advert_int=INT, vips=[VIP[51]], more=track),
                         dict(name="VI_52", vrid=52, priority=prio, advert_int=INT, vips=[VIP[52]]),
                     ])


def events(router) -> list[dict]:
    from vipdeck.engine.control.client import SocketClient

    return asyncio.run(SocketClient(router.socket_path).events())


def adverts_since(sn, src: str, vrid: int, t: float) -> list:
    return [p for p in sn.snapshot(vrid=vrid, src=src) if p.time >= t]


def check_vipdeck(sn, vd, ip: str, prio: int) -> None:
    """Every advert vipdeck sent has its configured priority, or 0 at the moment one of
    its own instances went to FAULT; no transition of it says "operator"."""
    faults = [e["time"] for e in events(vd) if e["kind"] == "transition" and e.get("to") == "FAULT"
              and e.get("instance")]
    for p in sn.snapshot(src=ip):
        ok = p.priority == prio or (p.priority == 0 and any(abs(p.time - t) < 0.5 for t in faults))
        assert ok, f"vipdeck advertised {p}"
    moves = [e for e in events(vd) if e["kind"] == "transition" and e.get("instance")]
    assert not [e for e in moves if e.get("reason") == "operator"], moves


def assert_never_deposed(ka, sn, ip: str) -> None:
    """keepalived's VI_52: master once, never back to BACKUP, no gap in its adverts."""
    log = ka.log()
    assert log.count("(VI_52) Entering MASTER STATE") == 1, log
    after = log.split("(VI_52) Entering MASTER STATE")[1]
    assert "(VI_52) Entering BACKUP STATE" not in after and "(VI_52) Master received advert" not in after, after
    ts = [p.time for p in sn.snapshot(vrid=52, src=ip)]
    assert max(b - a for a, b in zip(ts, ts[1:])) < 3 * INT


def held_in_backup(vd, name: str) -> bool:
    return any(e["kind"] == "transition" and e.get("held") and e.get("instance") == name for e in events(vd))


def test_vipdeck_group_beside_ungrouped_keepalived_masters(lab, keepalived_bin, tmp_path):
    """keepalived's VI_51 faults: our VI_51 loses its master while our VI_52 still hears
    keepalived's healthy VI_52, so the group stays BACKUP (as keepalived's own does)."""
    n1 = lab.add_node("n1", "198.18.0.1/24")
    n2 = lab.add_node("n2", "198.18.0.2/24")
    sn = lab.sniffer()
    ff = tmp_path / "ff"
    ff.write_text("0\n")
    ka = start_keepalived(n1, conf("ka", 100, group=False, fault_file=str(ff)), binary=keepalived_bin)
    wait_until(lambda: n1.has_address(VIP[51]) and n1.has_address(VIP[52]), 10, what="keepalived masters both")
    vd = start_vipdeck(n2, conf("vd", 90, group=True))
    wait_until(lambda: all(instance(vd, n)["master"]["address"] == n1.ip for n in ("VI_51", "VI_52")), 10,
               what="vipdeck hears both keepalived masters")

    t0 = sn.last(vrid=52, src=n1.ip).time
    ff.write_text("1\n")
    wait_until(lambda: any(p.priority == 0 for p in adverts_since(sn, n1.ip, 51, t0)), 5,
               what="keepalived's VI_51 resigns (priority 0)")
    # several of our Master_Down_Intervals pass: VI_51 keeps timing out and stays held
    wait_until(lambda: len(adverts_since(sn, n1.ip, 52, t0)) >= 20, 10, what="4 s of keepalived's VI_52")
    assert [str(p) for p in sn.snapshot(src=n2.ip) if p.priority != 90] == []     # no forged priority
    assert_never_deposed(ka, sn, n1.ip)
    assert [str(p) for p in sn.snapshot(src=n2.ip)] == []      # nor any advert: the group stays BACKUP
    assert {instance(vd, n)["state"] for n in ("VI_51", "VI_52")} == {"BACKUP"}
    assert held_in_backup(vd, "VI_51")                           # and it says why
    assert not n2.has_address(VIP[51]) and not n2.has_address(VIP[52])

    t1 = sn.last(vrid=52, src=n1.ip).time
    ff.write_text("0\n")
    wait_until(lambda: any(p.priority == 100 for p in adverts_since(sn, n1.ip, 51, t1)), 5,
               what="keepalived's VI_51 master again")
    wait_until(lambda: instance(vd, "VI_51")["master"]["priority"] == 100, 5)
    wait_until(lambda: len(adverts_since(sn, n1.ip, 52, t1)) >= 10, 5, what="2 s more of keepalived's VI_52")

    assert [str(p) for p in sn.snapshot(src=n2.ip)] == []      # keepalived's group sends none here
    check_vipdeck(sn, vd, n2.ip, 90)
    assert_never_deposed(ka, sn, n1.ip)
    assert {instance(vd, n)["state"] for n in ("VI_51", "VI_52")} == {"BACKUP"}


def test_both_grouped_keepalived_master_vipdeck_backup(lab, keepalived_bin, tmp_path):
    """keepalived's group goes to FAULT (priority 0 for both): ours takes both at its own 90;
    keepalived's group comes back and preempts: ours follows it down without priority 0."""
    n1 = lab.add_node("n1", "198.18.0.1/24")
    n2 = lab.add_node("n2", "198.18.0.2/24")
    sn = lab.sniffer()
    ff = tmp_path / "ff"
    ff.write_text("0\n")
    ka = start_keepalived(n1, conf("ka", 100, group=True, fault_file=str(ff)), binary=keepalived_bin)
    wait_until(lambda: n1.has_address(VIP[51]) and n1.has_address(VIP[52]), 10, what="keepalived masters both")
    vd = start_vipdeck(n2, conf("vd", 90, group=True))
    wait_until(lambda: all(instance(vd, n)["master"]["address"] == n1.ip for n in ("VI_51", "VI_52")), 10)

    ff.write_text("1\n")
    wait_until(lambda: n2.has_address(VIP[51]) and n2.has_address(VIP[52]), 5, what="vipdeck takes both")
    wait_until(lambda: "Syncing instances to FAULT state" in ka.log(), 5)
    snap = {n: instance(vd, n) for n in ("VI_51", "VI_52")}
    assert {s["state"] for s in snap.values()} == {"MASTER"}
    assert {s["last_transition"]["reason"] for s in snap.values()} <= {"priority_zero_received", "sync_group"}
    assert {s["effective_priority"] for s in snap.values()} == {90}

    t1 = sn.last(vrid=51, src=n2.ip).time
    ff.write_text("0\n")
    wait_until(lambda: n1.has_address(VIP[51]) and n1.has_address(VIP[52])
               and not n2.has_address(VIP[51]) and not n2.has_address(VIP[52]), 5, what="keepalived preempts both")
    wait_until(lambda: {instance(vd, n)["state"] for n in ("VI_51", "VI_52")} == {"BACKUP"}, 5)
    reasons = sorted(instance(vd, n)["last_transition"]["reason"] for n in ("VI_51", "VI_52"))
    assert reasons in (["higher_priority_seen", "higher_priority_seen"], ["higher_priority_seen", "sync_group"])
    assert not [p for p in sn.snapshot(src=n2.ip) if p.time >= t1 and p.priority != 90]   # no priority 0 following
    check_vipdeck(sn, vd, n2.ip, 90)
    assert [p for p in sn.snapshot(src=n2.ip) if p.priority == 0] == []


def test_both_grouped_vipdeck_master_keepalived_backup(lab, keepalived_bin, tmp_path):
    """Roles swapped: keepalived's backup group faults and clears (ours stays master, untouched);
    then our VI_51 faults: our whole group goes to FAULT (priority 0 for both, as keepalived
    does), keepalived's group takes over, and ours preempts back when it clears."""
    n1 = lab.add_node("n1", "198.18.0.1/24")
    n2 = lab.add_node("n2", "198.18.0.2/24")
    sn = lab.sniffer()
    kff, vff = tmp_path / "kff", tmp_path / "vff"
    kff.write_text("0\n")
    vff.write_text("0\n")
    vd = start_vipdeck(n1, conf("vd", 100, group=True, fault_file=str(vff)))
    wait_until(lambda: n1.has_address(VIP[51]) and n1.has_address(VIP[52]), 10, what="vipdeck masters both")
    ka = start_keepalived(n2, conf("ka", 90, group=True, fault_file=str(kff)), binary=keepalived_bin)
    wait_until(lambda: "(VI_52) Entering BACKUP STATE" in ka.log(), 10)

    kff.write_text("1\n")
    wait_until(lambda: "Syncing instances to FAULT state" in ka.log(), 5)
    kff.write_text("0\n")
    wait_until(lambda: "Syncing instances to BACKUP state" in ka.log(), 5)
    t = sn.last(vrid=51, src=n1.ip).time
    wait_until(lambda: len(adverts_since(sn, n1.ip, 52, t)) >= 10, 5, what="2 s more of our adverts")
    assert "Entering MASTER STATE" not in ka.log()
    assert {instance(vd, n)["state"] for n in ("VI_51", "VI_52")} == {"MASTER"}
    assert {p.priority for p in sn.snapshot(src=n1.ip)} == {100}

    t_fault = sn.last(vrid=51, src=n1.ip).time
    vff.write_text("1\n")
    wait_until(lambda: n2.has_address(VIP[51]) and n2.has_address(VIP[52]), 5, what="keepalived takes both")
    snap = {n: instance(vd, n) for n in ("VI_51", "VI_52")}
    assert {n: s["state"] for n, s in snap.items()} == {"VI_51": "FAULT", "VI_52": "FAULT"}
    assert snap["VI_52"]["last_transition"]["reason"] == "sync_group"
    zeros = [p for p in sn.snapshot(src=n1.ip) if p.priority == 0]
    assert sorted(p.vrid for p in zeros) == [51, 52] and all(p.time >= t_fault for p in zeros)

    vff.write_text("0\n")
    wait_until(lambda: n1.has_address(VIP[51]) and n1.has_address(VIP[52])
               and not n2.has_address(VIP[51]) and not n2.has_address(VIP[52]), 5, what="vipdeck preempts back")
    wait_until(lambda: ka.log().count("Syncing instances to BACKUP state") >= 2, 5)
    snap = {n: instance(vd, n) for n in ("VI_51", "VI_52")}
    assert {s["state"] for s in snap.values()} == {"MASTER"}
    assert {s["last_transition"]["reason"] for s in snap.values()} <= {"preempt", "sync_group"}
    check_vipdeck(sn, vd, n1.ip, 100)
    assert len([p for p in sn.snapshot(src=n1.ip) if p.priority == 0]) == 2
