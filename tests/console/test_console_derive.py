"""The console's conclusions from a snapshot, without a terminal."""

from __future__ import annotations

import json

import pytest

from vipdeck.console import actions
from vipdeck.console import format as fmt
from vipdeck.console.actions import NotApplicable
from vipdeck.console.derive import SnapView, drain_moves, held_vips, orphaned, timeline, vip_rows
from tests.support.paths import FIXTURES

FIX = FIXTURES / "console"


def snap(name: str = "node1") -> dict:
    return json.loads((FIX / f"{name}.json").read_text())["snapshot"]


def test_peer_is_best_other_source_and_ignores_resigned_and_own():
    sv = SnapView(snap())
    vi1 = sv.instances_by_name["VI_1"]
    assert sv.peer(vi1)["address"] == "198.18.0.2"
    raw = snap()
    raw["adverts"][0]["sources"][1]["priority"] = 0     # the peer resigned itself
    assert SnapView(raw).peer(raw["instances"][0]) is None
    assert SnapView(snap("node1-alone")).peer(vi1) is None


def test_drain_moves_say_which_vips_go_where():
    moves = drain_moves(SnapView(snap()))
    by = {m.instance: m for m in moves}
    assert by["VI_1"].state == "MASTER" and by["VI_1"].vips == ("198.18.0.198/32",)
    assert by["VI_1"].successor.address == "198.18.0.2"
    assert by["VI_2"].state == "BACKUP" and by["VI_2"].master["address"] == "198.18.0.2"
    assert orphaned(moves) == []
    assert orphaned(drain_moves(SnapView(snap("node1-alone")))) == []     # node2 is alive on VRID 52
    lost = orphaned(drain_moves(SnapView(snap("node1-peer-down"))))
    assert [m.instance for m in lost] == ["VI_1", "VI_2"]


def test_drain_plan_warns_loudly_and_requires_typing_without_peer():
    plan = actions.plan_drain(SnapView(snap()))
    assert plan.op == "drain" and not plan.danger and plan.typed == ()
    assert "198.18.0.198/32 → 198.18.0.2" in plan.body.plain
    plan = actions.plan_drain(SnapView(snap("node1-peer-down")))
    assert plan.danger and plan.typed == ("node1", "drain")
    assert "NOBODY" in plan.body.plain and "WARNING" in plan.body.plain
    with pytest.raises(NotApplicable, match="already drained"):
        actions.plan_drain(SnapView(snap("node1-drained")))


def test_plans_refuse_nonsense_selections():
    sv = SnapView(snap())
    with pytest.raises(NotApplicable, match="BACKUP here"):
        actions.plan_failover(sv, "VI_2")
    with pytest.raises(NotApplicable, match="already MASTER"):
        actions.plan_takeover(sv, "VI_1")
    with pytest.raises(NotApplicable, match="no real server selected"):
        actions.plan_weight(sv, None)
    with pytest.raises(NotApplicable, match="no weight override"):
        actions.plan_clear_weight(sv, ("198.18.0.197:80", "198.18.1.203:80"))
    with pytest.raises(NotApplicable, match="not drained"):
        actions.plan_undrain(sv)
    with pytest.raises(NotApplicable, match="no operator hold"):
        actions.plan_clear(sv, "VI_1")


def test_request_args_merge_typed_values():
    plan = actions.plan_failover(SnapView(snap()), "VI_1")
    assert plan.request_args({"hold": "30", "reason": " maintenance "}) == \
        {"instance": "VI_1", "hold": 30, "reason": "maintenance"}
    assert plan.request_args({"hold": "", "reason": ""}) == {"instance": "VI_1", "hold": None}


def test_vip_rows_flag_conflicts():
    rows = {r.address: r for r in vip_rows(SnapView(snap()))}
    assert rows["198.18.0.198/32"].holder == "this node" and rows["198.18.0.198/32"].issues == []
    assert rows["198.18.0.197/32"].holder == "198.18.0.2"
    assert rows["198.18.0.197/32"].holder_mac == "02:00:c6:12:00:02"
    rows = {r.address: r for r in vip_rows(SnapView(snap("node1-split-brain")))}
    issues = rows["198.18.0.198/32"].issues
    assert "split brain on VRID 51" in issues
    assert any("VRID 60 (198.18.0.9)" in i for i in issues)
    raw = snap()
    raw["instances"][1]["vips"][0]["present"] = True        # a BACKUP holding its VIP
    rows = {r.address: r for r in vip_rows(SnapView(raw))}
    assert rows["198.18.0.197/32"].issues == ["in the kernel while BACKUP"]


def test_timeline_marks_master_change():
    raw = snap()
    sv = SnapView(raw)
    tl = timeline(sv.advert_of(sv.instances_by_name["VI_1"]), sv.now, window=300, width=100)
    assert [s for s, _, _ in tl.sources] == ["198.18.0.1", "198.18.0.2"]
    assert [(old, new) for _, _, old, new in tl.changes] == [("198.18.0.2", "198.18.0.1")]
    when, bucket, _, _ = tl.changes[0]
    assert round(sv.now - when) == 131 and bucket == (300 - 131) // 3
    assert tl.masters[-1] == "198.18.0.1" and tl.masters[bucket - 2] == "198.18.0.2"
    # a resign (priority 0) hands over to the other source
    entry = {"sources": [{"interval": 1.0}], "history": [[0, "a", 100], [1, "b", 90], [2, "a", 0], [3, "b", 90]]}
    tl = timeline(entry, now=10, window=10, width=10)
    assert [(o, n) for _, _, o, n in tl.changes] == [("a", "b")]


def test_formatting():
    assert fmt.weight_text({"weight_effective": 3, "weight_config": 1, "override": {"weight": 3}}).plain == "3 (cfg 1)"
    assert fmt.weight_text({"weight_effective": 1, "weight_config": 1, "override": None}).plain == "1"
    assert fmt.weight_text({"weight_effective": 3, "weight_config": 1, "weight_kernel": 1,
                            "override": {}}).plain == "3 (cfg 1) kernel 1"
    assert [fmt.age(x) for x in (None, 0.04, 5.9, 131.6, 7380, 200000)] == \
        ["-", "<1s", "5s", "2m11s", "2h03m", "2d07h"]
    assert fmt.signed(-3) == "−3" and fmt.signed(0) == "+0"
    assert held_vips(SnapView(snap())) == [("VI_1", "198.18.0.198/32")]


def grouped(states=("BACKUP", "BACKUP"), **op) -> dict:
    """node1 with VI_1 and VI_2 in sync group G, as the engine's snapshot says it
    (``operator.scope``: an action on either acts on both)."""
    raw = snap()
    for i, st in zip(raw["instances"], states):
        i["state"], i["sync_group"] = st, "G"
        i["operator"].update(scope=["VI_1", "VI_2"], **op)
        if st == "BACKUP":
            i["master"] = {"address": "198.18.0.2", "priority": 100, "interval": 1.0, "last_advert_age": 0.3,
                           "mac": None}
    return raw


def test_group_plans_say_the_whole_sync_group_moves():
    sv = SnapView(grouped())
    plan = actions.plan_takeover(sv, "VI_2")
    assert plan.title == "Take over sync group G (VI_1, VI_2)?" and plan.args == {"instance": "VI_2"}
    text = plan.body.plain
    assert "VI_1, VI_2 are sync group G, which moves as one" in text
    assert "VI_1 (VRID 51): this node raises its effective priority above the current master 198.18.0.2" in text
    assert "VI_2 (VRID 52): this node raises" in text and "They stay master until released" in text
    with pytest.raises(NotApplicable, match="sync group G has no MASTER member here"):
        actions.plan_failover(sv, "VI_1")

    sv = SnapView(grouped(("MASTER", "MASTER")))
    plan = actions.plan_failover(sv, "VI_1")
    assert plan.title == "Fail over sync group G (VI_1, VI_2)?"
    assert "VI_1 (VRID 51) resigns now" in plan.body.plain and "VI_2 (VRID 52) resigns now" in plan.body.plain
    with pytest.raises(NotApplicable, match="sync group G: every member is already MASTER"):
        actions.plan_takeover(sv, "VI_2")

    raw = grouped(("BACKUP", "FAULT"))
    with pytest.raises(NotApplicable, match="sync group G: VI_2 is FAULT here and cannot take over"):
        actions.plan_takeover(SnapView(raw), "VI_1")

    plan = actions.plan_clear(SnapView(grouped(("MASTER", "MASTER"), takeover=True, who="ops", group="G")), "VI_2")
    assert (plan.op, plan.title) == ("release", "Release takeover of sync group G (VI_1, VI_2)?")
    assert "every member drops its raised priority" in plan.body.plain
    plan = actions.plan_clear(SnapView(grouped(held=True, who="ops", group="G")), "VI_1")
    assert (plan.op, plan.title) == ("clear_hold", "Clear hold on sync group G (VI_1, VI_2)?")
    with pytest.raises(NotApplicable, match="sync group G has no operator hold or takeover"):
        actions.plan_clear(SnapView(grouped()), "VI_1")


def test_a_takeover_of_an_address_owner_is_not_offered():
    raw = snap()
    raw["instances"][1]["master"]["priority"] = 255
    with pytest.raises(NotApplicable, match="address owner"):
        actions.plan_takeover(SnapView(raw), "VI_2")


def test_overview_and_status_show_vrrp_drops_masters_macs_and_rejected_sources():
    """Issue 9.5 and 9.10: the master's MAC and the packets an interface dropped
    before any VRID was read are on screen and in `vipdeck status`."""
    from vipdeck.cli.status import render
    from vipdeck.console.views.overview import instance_detail, node_text

    raw = snap("node1-split-brain")
    sv = SnapView(raw)
    assert "eth0 UP 02:00:c6:12:00:01" in node_text(sv).plain
    assert "VRRP dropped: own address 2, too short 1" in node_text(sv).plain
    assert "VRRP dropped" not in node_text(SnapView(snap())).plain
    assert "master    198.18.0.2 (100, <1s) 02:00:c6:12:00:02" in instance_detail(sv, sv.instances_by_name["VI_2"]).plain
    assert "master    this node 02:00:c6:12:00:01" in instance_detail(sv, sv.instances_by_name["VI_1"]).plain
    text = render(raw)
    assert "eth0: VRRP packets dropped before any instance saw them: our own source address 2, too short 1" in text
    assert "master     this node (02:00:c6:12:00:01)" in text
    assert "master     198.18.0.2 (02:00:c6:12:00:02) prio 100" in text
    assert "adverts vrid 51 IPv4 on eth0 (VI_1): master 198.18.0.1" in text
    assert "SPLIT_BRAIN" in text and "rejected from 198.18.0.77 (02:00:c6:12:00:4d): ttl x37" in text
    assert "vrid 60 IPv6" not in text                  # FRR's IPv6 half of VRID 60: nothing wrong there
    # a daemon without the new fields still renders
    old = snap()
    for a in old["adverts"]:
        for k in ("family", "interface", "instance", "rejected_sources", "split_brain"):
            a.pop(k, None)
    old["node"]["interfaces"][0].pop("vrrp")
    assert "VI_1" in render(old) and SnapView(old).advert_of(old["instances"][0])["vrid"] == 51
