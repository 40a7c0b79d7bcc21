"""The incremental cluster comparison (ClusterComparison) says what a fresh
``cluster_rows`` says, after any history of snapshots, and makes again only
the rows whose cells changed (that is what keeps the console quick with 255
VRIDs on two nodes).

The property: over a random sequence of node sets (snapshots new, reused as
the same object, or absent; nodes reachable, stale or down; VIPs moving in
and out of kernels; masters named by address; names colliding), every
update equals a fresh comparison of the same nodes, including the ages an
unreachable node's flags quote."""

from __future__ import annotations

import copy
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from vipdeck.console.cluster import UNREACHABLE, ClusterComparison, cluster_rows
from vipdeck.console.peerview import PeerView
from tests.support.paths import FIXTURES

STALE = 3.0
ADDRS = ["198.18.0.1", "198.18.0.2", "198.18.0.3"]          # the nodes' own addresses
VIPS = ["198.18.1.10", "198.18.1.11", "198.18.1.12"]


def fresh_equal(inc, nodes) -> None:
    """``inc`` is what a fresh comparison says (rows, cells, flags and the
    unreachable nodes' ages; a reachable cell's age is left out of equality
    on purpose, see NodeCell)."""
    ref = cluster_rows(nodes, stale_after=STALE)
    assert inc == ref
    assert [[c.heard_age for c in r.cells if not c.reachable] for r in inc] == \
        [[c.heard_age for c in r.cells if not c.reachable] for r in ref]
    assert [r.key for r in inc] == [r.key for r in ref]


instance = st.fixed_dictionaries({
    "vrid": st.integers(1, 4),
    "family": st.sampled_from([4, 4, 6]),
    "name": st.sampled_from(["VI_1", "VI_2", "VI_3", "VI_x"]),
    "state": st.sampled_from(["MASTER", "BACKUP", "FAULT", None]),
    "effective_priority": st.sampled_from([90, 100, 150, None]),
    "vips": st.lists(st.fixed_dictionaries({
        "address": st.sampled_from(VIPS + [v + "/32" for v in VIPS]),
        "present": st.booleans(),
        "excluded": st.sampled_from([False, False, True]),
    }), max_size=3),
    "master": st.one_of(st.none(), st.fixed_dictionaries({
        "address": st.sampled_from([None, *ADDRS, ADDRS[0] + "/24", "203.0.113.9"])})),
    "wire": st.fixed_dictionaries({"source": st.sampled_from([None, *ADDRS])}),
    # what the cluster cell does not read: must not matter
    "counters": st.fixed_dictionaries({"adverts_received": st.integers(0, 3)}),
})

snapshot = st.fixed_dictionaries({
    "node": st.fixed_dictionaries({
        "hostname": st.sampled_from(["n1", "n2", "vm"]),
        "router_id": st.sampled_from(["r1", "r2", None]),
        "interfaces": st.lists(st.fixed_dictionaries({
            "addresses": st.lists(st.sampled_from([a + "/24" for a in ADDRS] + [v + "/32" for v in VIPS]),
                                  max_size=4)}), max_size=2),
    }),
    "instances": st.lists(instance, max_size=5),
})


def edited(snap: dict | None, edits: list[tuple[str, int, object]]) -> dict | None:
    """A copy of ``snap`` with a few small changes (a cluster changes a field
    at a time: these are the histories an incremental comparison can get
    wrong)."""
    if snap is None:
        return None
    snap = copy.deepcopy(snap)
    insts, node = snap["instances"], snap["node"]
    for kind, k, value in edits:
        inst = insts[k % len(insts)] if insts else None
        if kind == "hostname":
            node["hostname"] = value
        elif kind == "router_id":
            node["router_id"] = value
        elif kind == "address":          # one address joins or leaves the kernel
            if not node["interfaces"]:
                node["interfaces"].append({"addresses": []})
            addrs = node["interfaces"][k % len(node["interfaces"])]["addresses"]
            addrs.remove(value) if value in addrs else addrs.append(value)
        elif kind == "drop" and inst is not None:
            insts.remove(inst)
        elif kind == "copy" and inst is not None:     # a second instance, maybe on the same VRID
            insts.append({**copy.deepcopy(inst), "vrid": value})
        elif inst is None:
            continue
        elif kind in ("state", "effective_priority", "name", "vrid", "family"):
            inst[kind] = value
        elif kind == "master":
            inst["master"] = {"address": value}
        elif kind == "source":
            inst["wire"] = {"source": value}
        elif kind == "counters":
            inst["counters"] = {"adverts_received": value}
        elif kind in ("present", "excluded") and inst["vips"]:
            v = inst["vips"][k % len(inst["vips"])]
            v[kind] = not v[kind]
        elif kind == "vip":
            inst["vips"].append({"address": value, "present": k % 2 == 0, "excluded": False})
    return snap


# what one instance says (most edits: one row changes) ...
instance_edit = st.one_of(
    st.tuples(st.sampled_from(["drop", "present", "excluded"]), st.integers(0, 4), st.none()),
    st.tuples(st.sampled_from(["copy", "vrid"]), st.integers(0, 4), st.integers(1, 4)),
    st.tuples(st.just("family"), st.integers(0, 4), st.sampled_from([4, 6])),
    st.tuples(st.just("state"), st.integers(0, 4), st.sampled_from(["MASTER", "BACKUP", "FAULT", None])),
    st.tuples(st.just("effective_priority"), st.integers(0, 4), st.sampled_from([90, 100, 150, None])),
    st.tuples(st.just("name"), st.integers(0, 4), st.sampled_from(["VI_1", "VI_2", "VI_x"])),
    st.tuples(st.just("master"), st.integers(0, 4), st.sampled_from([None, *ADDRS, ADDRS[0] + "/24", "203.0.113.9"])),
    st.tuples(st.just("counters"), st.integers(0, 4), st.integers(0, 3)),
)
# ... and what the node is (its name, its addresses: may change every row)
node_edit = st.one_of(
    st.tuples(st.just("hostname"), st.integers(0, 4), st.sampled_from(["n1", "n2", "vm"])),
    st.tuples(st.just("router_id"), st.integers(0, 4), st.sampled_from(["r1", "r2", None])),
    st.tuples(st.just("address"), st.integers(0, 4),
              st.sampled_from([a + "/24" for a in ADDRS] + [v + "/32" for v in VIPS])),
    st.tuples(st.just("source"), st.integers(0, 4), st.sampled_from([None, *ADDRS])),
    st.tuples(st.just("vip"), st.integers(0, 4), st.sampled_from(VIPS)),
)
edit = st.one_of(instance_edit, instance_edit, instance_edit, node_edit)

# one node at one step: its snapshot (the previous one as the same object, a
# copy with a few edits, none, or a new one), and mostly the same link as
# before ("keep"; else a heard_age and whether its connection is up): a
# change there makes every row again, which would hide the rest
node_step = st.tuples(
    st.one_of(st.just("same"), st.lists(edit, min_size=1, max_size=2), st.lists(edit, min_size=1, max_size=2),
              st.lists(edit, min_size=1, max_size=2), st.none(), snapshot),
    st.one_of(st.just("keep"), st.just("keep"), st.just("keep"),
              st.tuples(st.sampled_from([0.1, None, 2.9, 5.0, 9.0]), st.booleans())),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(snapshot, min_size=1, max_size=3).flatmap(
    lambda first: st.tuples(st.just(first), st.lists(st.lists(node_step, min_size=len(first), max_size=len(first)),
                                                     min_size=1, max_size=8))))
def test_every_update_equals_a_fresh_comparison(case):
    first, steps = case
    comp = ClusterComparison()
    last: list[dict | None] = [copy.deepcopy(s) for s in first]
    links = [(0.1, True)] * len(first)
    for step in [[("same", "keep")] * len(first), *steps]:
        nodes = []
        for k, (how, link) in enumerate(step):
            if link != "keep":
                links[k] = link
            heard, reachable = links[k]
            if how == "same":
                snap = last[k]
            elif isinstance(how, list):
                snap = edited(last[k], how)
            else:
                snap = copy.deepcopy(how)      # a new object, as every snapshot received is
            last[k] = snap
            name = (snap or {}).get("node", {}).get("hostname") or f"node{k}"
            nodes.append(PeerView(name, f"/run/{k}.sock", snap, heard, reachable))
        fresh_equal(comp.update(nodes, stale_after=STALE), nodes)


def snap(name: str) -> dict:
    return json.loads((FIXTURES / "console" / f"{name}.json").read_text())["snapshot"]


def pv(name: str, s: dict | None, *, heard: float | None = 0.2, reachable: bool = True) -> PeerView:
    return PeerView(name, f"/run/{name}.sock", s, heard, reachable)


def test_only_the_rows_whose_cells_changed_are_made_again():
    s1, s2 = snap("node1"), snap("node2")
    comp = ClusterComparison()
    first = comp.update([pv("node1", s1), pv("node2", s2)])
    assert comp.rebuilt == 2

    # counters and ages moved (a new snapshot object): no cell changed, no row made
    s1 = copy.deepcopy(s1)
    for i in s1["instances"]:
        i["counters"]["adverts_sent"] = (i["counters"].get("adverts_sent") or 0) + 10
    nodes = [pv("node1", s1), pv("node2", s2)]
    rows = comp.update(nodes)
    assert comp.rebuilt == 0 and all(a is b for a, b in zip(rows, first))
    fresh_equal(rows, nodes)

    # one instance changed state: that row only
    s2 = copy.deepcopy(s2)
    s2["instances"][0]["state"] = "MASTER"
    nodes = [pv("node1", s1), pv("node2", s2)]
    rows = comp.update(nodes)
    assert comp.rebuilt == 1 and rows[1] is first[1] and rows[0] is not first[0]
    fresh_equal(rows, nodes)

    # a VIP left node1's kernel: the row of the VRID that holds it
    s1 = copy.deepcopy(s1)
    vip = s1["instances"][0]["vips"][0]["address"].split("/")[0]
    for itf in s1["node"]["interfaces"]:
        itf["addresses"] = [a for a in itf["addresses"] if a.split("/")[0] != vip]
    nodes = [pv("node1", s1), pv("node2", s2)]
    rows = comp.update(nodes)
    assert comp.rebuilt == 1
    fresh_equal(rows, nodes)


def test_an_unreachable_node_s_age_is_quoted_as_it_grows():
    s1, s2 = snap("node1"), snap("node2")
    comp = ClusterComparison()
    for heard in (0.2, 4.0, 5.5):
        nodes = [pv("node1", s1), pv("node2", s2, heard=heard)]
        rows = comp.update(nodes, stale_after=STALE)
        fresh_equal(rows, nodes)
    assert all(UNREACHABLE in [f.kind for f in r.flags] for r in rows)
    assert "5.5 s ago" in rows[0].flags[-1].detail
