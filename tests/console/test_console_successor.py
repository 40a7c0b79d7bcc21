"""Who takes a VRID over when this node lets go: every witness, no false alarm."""

from __future__ import annotations

import copy
import json

from vipdeck.console import actions
from vipdeck.console.derive import SnapView, drain_moves, move_of, orphaned, successors
from vipdeck.console.peerview import PeerView
from tests.support.paths import FIXTURES

FIX = FIXTURES / "console"
N2 = "198.18.0.2"


def snap(name: str = "node1") -> dict:
    return json.loads((FIX / f"{name}.json").read_text())["snapshot"]


def vi1(raw: dict) -> tuple[SnapView, dict]:
    sv = SnapView(raw)
    return sv, sv.instances_by_name["VI_1"]


def peer_down(raw: dict) -> dict:
    """node2 went quiet everywhere: its last advert on VRID 52 is 95 s old."""
    raw = copy.deepcopy(raw)
    for a in raw["adverts"]:
        for s in a["sources"]:
            if s["address"] == N2:
                s["last_seen_age"] = max(s["last_seen_age"], 95.0)
    return raw


def node2(raw: dict, *, state="BACKUP", prio=90, heard=0.4, reachable=True, snapshot=True) -> PeerView:
    """node2's own snapshot: the same VRIDs, BACKUP of VI_1 at ``prio``."""
    s = copy.deepcopy(raw)
    s["node"]["hostname"] = "node2"
    s["node"]["interfaces"][0]["addresses"] = [f"{N2}/24"]
    for i in s["instances"]:
        i["wire"]["source"] = N2
    s["instances"][0].update(state=state, effective_priority=prio)
    s["instances"][1].update(state="MASTER", effective_priority=100)
    return PeerView("node2", "/run/node2.sock", s if snapshot else None, heard, reachable)


def test_a_backup_silent_on_the_vrid_is_recognised_from_its_adverts_on_another():
    """The demo's false alarm: node2 is master of VRID 52, silent on 51 (we are master)."""
    sv, i = vi1(snap("node1-alone"))
    m = move_of(sv, i)
    assert m.successor is not None and m.successor.address == N2 and not m.successor.stale
    assert m.successor.via == "wire (VRID 52)" and m.successor.priority is None
    plan = actions.plan_drain(sv)
    assert not plan.danger and plan.typed == ()
    assert "198.18.0.198/32 → 198.18.0.2" in plan.body.plain and "never heard on VRID 51" in plan.body.plain
    assert "NOBODY" not in plan.body.plain


def test_a_stale_source_alive_elsewhere_keeps_its_last_priority():
    sv, i = vi1(snap())
    s = move_of(sv, i).successor
    assert s.address == N2 and s.priority == 96 and s.heard_age == 0.31 and "2m11s ago" in s.note


def test_a_stale_router_is_shown_stale_and_not_as_the_expected_master():
    """After a takeover, f named a peer last heard 1m27s ago without a warning."""
    sv, i = vi1(peer_down(snap()))
    m = move_of(sv, i)
    assert m.successor is None and [x.address for x in m.stale] == [N2] and m.stale[0].stale
    assert orphaned(drain_moves(sv)) == [m]
    plan = actions.plan_failover(sv, "VI_1")
    assert plan.danger and plan.typed == ("VI_1", "failover")
    assert "Expected new master: NOBODY" in plan.body.plain and "STALE" in plan.body.plain
    drain = actions.plan_drain(sv)
    assert drain.danger and drain.typed == ("node1", "drain") and "WARNING" in drain.body.plain


def test_a_router_of_foreign_vrids_only_is_no_successor():
    raw = peer_down(snap())
    assert any(a["vrid"] == 60 and a["sources"][0]["last_seen_age"] < 1 for a in raw["adverts"])
    sv, i = vi1(raw)
    assert successors(sv, i)[0] == []


def test_the_same_mac_on_another_vrid_is_the_same_router():
    raw = peer_down(snap())
    a52 = next(a for a in raw["adverts"] if a["vrid"] == 52)
    a52["sources"][0].update(address="198.18.0.22", last_seen_age=0.5)    # node2's second address
    sv, i = vi1(raw)
    s = move_of(sv, i).successor
    assert s is not None and s.address == N2 and s.via == "wire (VRID 52)" and s.priority == 96


def test_a_peer_connection_names_the_node_its_state_and_priority():
    raw = peer_down(snap())
    sv, i = vi1(raw)
    m = move_of(sv, i, [node2(raw)])
    s = m.successor
    assert (s.name, s.address, s.priority, s.state, s.via) == ("node2", N2, 90, "BACKUP", "control connection")
    assert m.stale == () and m.others == ()     # the wire's stale record of node2 is the same router
    plan = actions.plan_drain(sv, [node2(raw)])
    assert plan.typed == () and "→ node2 (198.18.0.2)" in plan.body.plain
    assert "priority 90, BACKUP, live over the control connection" in plan.body.plain


def test_a_stale_or_faulty_peer_is_not_counted_on():
    raw = peer_down(snap())
    sv, i = vi1(raw)
    for p in (node2(raw, heard=12.0), node2(raw, reachable=False), node2(raw, snapshot=False),
              node2(raw, state="FAULT")):
        m = move_of(sv, i, [p])
        assert m.successor is None and "node2" in [x.name for x in m.stale], p
        assert actions.plan_drain(sv, [p]).typed == ("node1", "drain")


def test_a_stale_peer_connection_does_not_hide_a_live_wire():
    sv, i = vi1(snap("node1-split-brain"))      # node2 advertises on VRID 51 now
    m = move_of(sv, i, [node2(snap(), heard=30.0)])
    assert m.successor is not None and m.successor.address == N2 and m.successor.via == "wire"
    assert "control connection" in m.successor.note


def test_the_highest_priority_is_expected_and_the_others_listed():
    raw = snap("node1-split-brain")
    a51 = raw["adverts"][0]
    a51["sources"].append({**a51["sources"][1], "address": "198.18.0.3", "mac": "02:00:c6:12:00:03",
                           "priority": 120})
    sv, i = vi1(raw)
    m = move_of(sv, i)
    assert m.successor.address == "198.18.0.3" and [o.address for o in m.others] == [N2]
    assert "could also take it: 198.18.0.2" in actions.plan_drain(sv).body.plain


def test_takeover_names_this_node_and_the_master_it_takes_from():
    raw = snap()
    sv = SnapView(raw)
    body = actions.plan_takeover(sv, "VI_2", [node2(raw, state="BACKUP")]).body.plain
    assert "expected master: node1 (this node)" in body
    assert "current master: node2 (198.18.0.2): priority 100, MASTER, live over the control connection" in body


def test_quitting_an_embedded_engine_names_the_successor_too():
    from vipdeck.console.app import ConsoleApp
    from vipdeck.console.testing import ScriptedClient

    app = ConsoleApp(ScriptedClient(snap("node1-alone")))
    app.sv = SnapView(snap("node1-alone"))
    plan = app.quit_plan()
    assert not plan.danger and "VI_1 → 198.18.0.2" in plan.body.plain
    app.sv = SnapView(snap("node1-peer-down"))
    plan = app.quit_plan()
    assert plan.danger and "VI_1 → NOBODY" in plan.body.plain


def test_at_fast_intervals_a_peer_connection_is_stale_after_seconds_not_after_3_intervals():
    raw = peer_down(snap())
    for i in raw["instances"]:
        i["advert_int"] = 0.1
    sv, i = vi1(raw)
    assert move_of(sv, i, [node2(raw, heard=1.0)]).successor.name == "node2"   # read once a second
    m = move_of(sv, i, [node2(raw, heard=4.0)])
    assert m.successor is None and "more than 3.0 s" in m.stale[-1].note


def test_a_peer_heard_a_few_seconds_ago_says_how_long():
    raw = peer_down(snap())
    sv, i = vi1(raw)
    s = move_of(sv, i, [node2(raw, heard=2.5)]).successor
    assert "heard 2.5 s ago over the control connection" in s.describe()
