"""Operator actions on a vrrp_sync_group member beside a real keepalived 2.2.7.

vipdeck's sync group {VI_51, VI_52} on one side, keepalived holding both
instances (no sync group) on the other.  An action on one member acts on
the whole group (engine.operator.scope), through the real CLI, control
socket, state file and audit log; a sniffer on the bridge is the referee.

Before, ``takeover VI_51`` forged VI_51's priority only: the group pulled
VI_52 up at its own 90, keepalived's healthy VI_52 (100) re-asserted, our
VI_52 went BACKUP and took the group down again — the takeover did not
hold.  ``failover VI_51`` moved the group, but only VI_51 sent priority 0
and held.
"""

from __future__ import annotations

import json
import os

import pytest

from vipdeck.engine.lab import wait_until
from vipdeck.engine.lab.peers import instance, start_keepalived, start_vipdeck, vrrp_conf
from tests.support.vipdeck_cli import cli, events, restart_with_state

pytestmark = [pytest.mark.lab, pytest.mark.keepalived]

INT = 0.2                                   # advert_int (VRRPv3): Master_Down_Interval 0.6..0.73 s
VIP = {51: "198.18.0.151", 52: "198.18.0.152"}
NAMES = ("VI_51", "VI_52")
GROUP = "vrrp_sync_group G {\n    group {\n        VI_51\n        VI_52\n    }\n}\n"


def conf(router_id: str, prio: int, *, group: bool) -> str:
    return vrrp_conf(router_id=router_id, mcast_group="224.1.101.33", version=3, extra=GROUP if group else "",
                     instances=[dict(name=n, vrid=v, priority=prio, advert_int=INT, vips=[VIP[v]])
                                for n, v in (("VI_51", 51), ("VI_52", 52))])


def has_both(node) -> bool:
    return node.has_address(VIP[51]) and node.has_address(VIP[52])


def has_none(node) -> bool:
    return not node.has_address(VIP[51]) and not node.has_address(VIP[52])


def states(vd) -> dict[str, str]:
    return {n: instance(vd, n)["state"] for n in NAMES}


def since(sn, src: str, t: float, vrid: int | None = None) -> list:
    return [p for p in sn.snapshot(vrid=vrid, src=src) if p.time > t]


def audit(vd) -> list[dict]:
    with open(os.path.join(vd.state_dir, "audit.log")) as f:
        return [json.loads(x) for x in f]


def state_file(vd) -> dict:
    with open(os.path.join(vd.state_dir, "state.json")) as f:
        return json.load(f)


def moves(vd, after_seq: int) -> list[dict]:
    return [e for e in events(vd, after_seq) if e["kind"] == "transition" and e.get("instance")]


def test_takeover_of_one_member_takes_the_group_holds_and_survives_a_restart(lab, keepalived_bin):
    n1 = lab.add_node("n1", "198.18.0.1/24")
    n2 = lab.add_node("n2", "198.18.0.2/24")
    sn = lab.sniffer()
    ka = start_keepalived(n1, conf("ka", 100, group=False), binary=keepalived_bin)
    wait_until(lambda: has_both(n1), 10, what="keepalived masters both")
    vd = start_vipdeck(n2, conf("vd", 90, group=True))
    wait_until(lambda: all(instance(vd, n)["master"]["address"] == n1.ip for n in NAMES), 10,
               what="vipdeck hears both keepalived masters")

    # the preview says the whole group moves, and changes nothing
    r = cli(vd, "takeover", "VI_51", "--dry-run")
    assert r.returncode == 0, r.stderr
    assert "Take over sync group G (VI_51, VI_52)?" in r.stdout
    assert "VI_52 (VRID 52): this node raises its effective priority above the current master 198.18.0.1" \
        in r.stdout and "(dry run: nothing was changed)" in r.stdout
    assert states(vd) == {"VI_51": "BACKUP", "VI_52": "BACKUP"} and not os.path.exists(
        os.path.join(vd.state_dir, "state.json"))
    assert instance(vd, "VI_52")["operator"]["scope"] == list(NAMES)

    seq = events(vd)[-1]["seq"]
    t0 = sn.last(vrid=52, src=n1.ip).time
    r = cli(vd, "takeover", "VI_51", "--reason", "move traffic")
    assert r.returncode == 0, r.stderr
    assert "sync group G (VI_51, VI_52): taking over" in r.stdout
    wait_until(lambda: has_both(n2) and has_none(n1), 5, what="vipdeck takes both")
    wait_until(lambda: all(ka.log().count(f"({n}) Entering BACKUP STATE") >= 2 for n in NAMES), 5,
               what="keepalived BACKUP on both")
    # it holds: 5 s of our adverts on both, at 101, and not one from keepalived
    t1 = sn.last(vrid=52, src=n2.ip).time
    wait_until(lambda: len(since(sn, n2.ip, t1, 52)) >= 25 and len(since(sn, n2.ip, t1, 51)) >= 25, 10,
               what="5 s of our adverts")
    assert since(sn, n1.ip, t1) == []
    assert {p.priority for p in since(sn, n2.ip, t0)} == {101}
    assert has_both(n2) and has_none(n1) and states(vd) == {"VI_51": "MASTER", "VI_52": "MASTER"}
    ms = moves(vd, seq)
    assert sorted((e["instance"], e["to"], e["reason"]) for e in ms) == [("VI_51", "MASTER", "operator"),
                                                                         ("VI_52", "MASTER", "operator")]
    for n in NAMES:
        op = instance(vd, n)["operator"]
        assert op["takeover"] and not op["takeover_pending"] and op["group"] == "G" and op["why"] == "move traffic"
    assert {n: r["group"] for n, r in state_file(vd)["takeovers"].items()} == {"VI_51": "G", "VI_52": "G"}
    took = [a for a in audit(vd) if a["op"] == "takeover"]
    assert len(took) == 1 and (took[0]["ok"], took[0]["group"], took[0]["instances"]) == (True, "G", list(NAMES))

    # a restart: the persisted takeover is re-applied and takes both back from keepalived
    assert vd.stop() == 0                      # priority 0 for both: keepalived takes both at once
    wait_until(lambda: has_both(n1), 5, what="keepalived masters both while vipdeck is down")
    down = sn.last(vrid=52, src=n1.ip).time
    vd = restart_with_state(n2, vd)
    wait_until(lambda: has_both(n2) and has_none(n1), 5, what="vipdeck takes both again after its restart")
    t2 = sn.last(vrid=52, src=n2.ip).time
    wait_until(lambda: len(since(sn, n2.ip, t2, 52)) >= 15, 10, what="3 s more of our adverts")
    assert since(sn, n1.ip, t2) == [] and states(vd) == {"VI_51": "MASTER", "VI_52": "MASTER"}
    assert {instance(vd, n)["effective_priority"] for n in NAMES} == {101}
    # a member the group pulled up before it heard its own master advertised 90 until it did
    assert {p.priority for p in since(sn, n2.ip, down)} <= {90, 101}
    assert {p.priority for p in since(sn, n2.ip, t2)} == {101}

    # release of the other member releases the group: keepalived preempts both back
    r = cli(vd, "takeover", "VI_52", "--release")
    assert r.returncode == 0, r.stderr
    assert "sync group G (VI_51, VI_52): takeover released" in r.stdout
    wait_until(lambda: has_both(n1) and has_none(n2), 5, what="keepalived preempts both after release")
    wait_until(lambda: states(vd) == {"VI_51": "BACKUP", "VI_52": "BACKUP"}, 5)
    assert state_file(vd)["takeovers"] == {}
    assert [a["op"] for a in audit(vd) if a["ok"]] == ["takeover", "release"]


def test_failover_of_one_member_resigns_and_holds_the_group(lab, keepalived_bin):
    n1 = lab.add_node("n1", "198.18.0.1/24")
    n2 = lab.add_node("n2", "198.18.0.2/24")
    sn = lab.sniffer()
    vd = start_vipdeck(n1, conf("vd", 100, group=True))
    wait_until(lambda: has_both(n1), 10, what="vipdeck masters both")
    ka = start_keepalived(n2, conf("ka", 90, group=False), binary=keepalived_bin)
    wait_until(lambda: all(f"({n}) Entering BACKUP STATE" in ka.log() for n in NAMES), 10)

    t0 = sn.last(vrid=52, src=n1.ip).time
    r = cli(vd, "failover", "VI_51", "--hold", "30", "--reason", "maintenance")
    assert r.returncode == 0, r.stderr
    assert "sync group G (VI_51, VI_52): VI_51, VI_52 resigned; preemption held for 30s on every member" in r.stdout
    wait_until(lambda: has_both(n2) and has_none(n1), 5, what="keepalived takes both")
    zeros = [p for p in since(sn, n1.ip, t0) if p.priority == 0]
    assert sorted(p.vrid for p in zeros) == [51, 52]          # every member resigned with priority 0
    for v in (51, 52):
        zero = next(p for p in zeros if p.vrid == v)
        first = next(p for p in since(sn, n2.ip, zero.time, v) if p.priority == 90)
        assert first.time - zero.time <= (256 - 90) * INT / 256 + 0.2      # Skew_Time, not Master_Down_Interval
    # held: keepalived's 90 is not preempted by our 100 on either
    t1 = sn.last(vrid=52, src=n2.ip).time
    wait_until(lambda: len(since(sn, n2.ip, t1, 52)) >= 15 and len(since(sn, n2.ip, t1, 51)) >= 15, 10,
               what="3 s of keepalived's adverts")
    assert [p for p in since(sn, n1.ip, min(z.time for z in zeros)) if p.priority != 0] == []
    assert states(vd) == {"VI_51": "BACKUP", "VI_52": "BACKUP"}
    for n in NAMES:
        op = instance(vd, n)["operator"]
        assert op["held"] and op["hold_until"] and op["group"] == "G"
    holds = state_file(vd)["holds"]
    assert sorted(holds) == list(NAMES) and len({h["until"] for h in holds.values()}) == 1

    r = cli(vd, "failover", "VI_52", "--clear")
    assert r.returncode == 0, r.stderr
    assert "sync group G (VI_51, VI_52): failover hold cleared" in r.stdout
    wait_until(lambda: has_both(n1) and has_none(n2), 5, what="vipdeck preempts both back")
    assert state_file(vd)["holds"] == {}
    ok = [(a["op"], a.get("group"), a.get("instances")) for a in audit(vd) if a["ok"]]
    assert ok == [("failover", "G", list(NAMES)), ("clear_hold", "G", list(NAMES))]
