"""The cluster view's comparison (console/cluster.py) on the fixtures' pair."""

from __future__ import annotations

import copy
import json

from vipdeck.console.cluster import (SPLIT_BRAIN, UNCONFIRMED, UNREACHABLE, VIP_NOT_MASTER, VIPS_MISSING,
                                     cluster_rows, node_names)
from vipdeck.console.peerview import PeerView
from tests.support.paths import FIXTURES


def snap(name: str) -> dict:
    return json.loads((FIXTURES / "console" / f"{name}.json").read_text())["snapshot"]


def pv(name: str, s: dict | None, *, heard: float | None = 0.2, reachable: bool = True,
       address: str | None = None) -> PeerView:
    return PeerView(name, address or f"/run/{name}.sock", s, heard, reachable)


def kinds(row) -> list[str]:
    return [f.kind for f in row.flags]


def test_a_healthy_pair_lines_up_per_vrid_without_flags():
    rows = cluster_rows([pv("node1", snap("node1")), pv("node2", snap("node2"))])
    assert [r.key for r in rows] == ["IPv4 VRID 51", "IPv4 VRID 52"]
    r51, r52 = rows
    assert [(c.node, c.state, c.priority, c.vips_held) for c in r51.cells] == [
        ("node1", "MASTER", 100, ("198.18.0.198",)), ("node2", "BACKUP", 96, ())]
    assert r51.cells[1].master_node == "node1"          # node2's master address is node1's
    assert r52.masters == ("node2",)
    assert r51.flags == () and r52.flags == ()


def test_the_split_brain_pair_flags_every_contradiction():
    rows = cluster_rows([pv("node1", snap("node1")), pv("node2", snap("node2-split-brain"))])
    r51, r52 = rows
    assert kinds(r51) == [SPLIT_BRAIN]
    assert r51.flags[0].nodes == ("node1", "node2")
    # node1 believes node2 masters VRID 52, node2 believes node1: neither confirms
    assert kinds(r52).count(UNCONFIRMED) == 2
    assert VIP_NOT_MASTER in kinds(r52)
    vip = next(f for f in r52.flags if f.kind == VIP_NOT_MASTER)
    assert vip.nodes == ("node2",) and "198.18.0.197" in vip.detail


def test_a_master_without_its_vips_in_its_kernel():
    s2 = snap("node2")
    s2["node"]["interfaces"][0]["addresses"] = ["198.18.0.2/24"]
    r52 = cluster_rows([pv("node1", snap("node1")), pv("node2", s2)])[1]
    assert kinds(r52) == [VIPS_MISSING]


def test_an_unreachable_or_stale_peer_is_flagged_and_not_counted_as_master():
    s2 = snap("node2-split-brain")
    for peer in (pv("node2", s2, reachable=False), pv("node2", s2, heard=9.0), pv("node2", None, heard=None)):
        rows = cluster_rows([pv("node1", snap("node1")), peer], stale_after=3.0)
        assert rows[0].masters == ("node1",)
        if peer.snapshot is not None:
            assert kinds(rows[0]) == [UNREACHABLE]
            assert SPLIT_BRAIN not in kinds(rows[0])


def test_a_vrid_only_one_node_runs_has_an_empty_cell():
    s2 = snap("node2")
    extra = copy.deepcopy(s2["instances"][1])
    extra.update(name="VI_9", vrid=9)
    extra["vips"] = []
    s2["instances"].append(extra)
    rows = cluster_rows([pv("node1", snap("node1")), pv("node2", s2)])
    assert rows[0].key == "IPv4 VRID 9"
    assert [c.present for c in rows[0].cells] == [False, True]
    assert rows[0].flags == ()


def test_two_nodes_with_one_name_are_told_apart():
    assert node_names([pv("vm", None, address="/a.sock"), pv("vm", None, address="ssh://n2")]) == [
        "vm (/a.sock)", "vm (ssh://n2)"]
    s1, s2 = snap("node1"), snap("node2")
    s1["node"]["hostname"] = s2["node"]["hostname"] = "vm"
    assert node_names([pv("vm", s1), pv("vm", s2)]) == ["node1", "node2"]      # their router_ids
