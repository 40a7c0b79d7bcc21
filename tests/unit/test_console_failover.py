"""Failover timelines and the follow-up of a change, from synthetic events (no terminal)."""

from __future__ import annotations

import copy
import json

from vipdeck.console.derive import SnapView, timeline
from vipdeck.console.failover import (Followup, failovers, followed_instances, master_periods, skew_time,
                                      timeline_lines)
from vipdeck.console.peerview import PeerView
from tests.support.paths import FIXTURES

N1, N2 = "198.18.0.1", "198.18.0.2"


def fixture(name: str = "node1") -> tuple[dict, list]:
    data = json.loads((FIXTURES / "console" / f"{name}.json").read_text())
    return data["snapshot"], data["events"]


def drained_at(raw: dict, t: float, *, node2_first: float | None) -> tuple[SnapView, list[dict]]:
    """node1 drains at ``t``: VI_1 resigns; node2's first advert on VRID 51 at ``node2_first``."""
    raw = copy.deepcopy(raw)
    raw["node"]["now"] = t + 2.0
    vi1 = raw["instances"][0]
    vi1["state"] = "BACKUP"
    a51 = raw["adverts"][0]
    if node2_first is not None:
        a51["history"] = a51["history"] + [[node2_first, N2, 96], [node2_first + 1.0, N2, 96]]
    evs = [{"seq": 1, "time": t, "kind": "transition", "severity": "info", "message": "", "instance": "VI_1",
            "vrid": 51, "from": "MASTER", "to": "BACKUP", "reason": "operator", "detail": "drained: resigning",
            "priority": 1, "master": None, "last_advert": t - 100},
           {"seq": 2, "time": t + 0.004, "kind": "vip", "severity": "info", "message": "", "instance": "VI_1",
            "added": False, "vips": ["198.18.0.198/32"]}]
    return SnapView(raw), evs


def node2_view(raw: dict, became: float) -> PeerView:
    s = copy.deepcopy(raw)
    s["node"]["hostname"] = "node2"
    s["node"]["interfaces"][0]["addresses"] = [f"{N2}/24"]
    vi1 = s["instances"][0]
    vi1.update(state="MASTER", effective_priority=96)
    vi1["wire"]["source"] = N2
    vi1["last_transition"] = {"from": "BACKUP", "to": "MASTER", "reason": "priority_zero_received",
                              "detail": "", "time": became}
    vi1["vips"][0].update(present=True, last_garp=became + 0.003)
    return PeerView("node2", "/run/node2.sock", s, 0.2, True)


def test_a_drain_is_our_resign_then_the_new_masters_first_advert_within_skew_time():
    raw, _ = fixture()
    t = raw["node"]["now"]
    sv, evs = drained_at(raw, t, node2_first=t + 0.627)
    fo = failovers(sv, sv.adverts[0], evs)[-1]
    assert [s.witness for s in fo.steps] == ["engine", "engine", "wire"]
    assert [s.time for s in fo.steps] == sorted(s.time for s in fo.steps)
    assert fo.new == N2 and abs(fo.total - 0.627) < 1e-6
    assert fo.bound_name == "Skew_Time" and fo.bound == skew_time(96, 1.0) and fo.within
    assert "priority-0 advert sent" in fo.steps[0].what and fo.steps[1].what.startswith("VIPs removed")


def test_the_peer_adds_its_own_view_and_the_followup_says_it_in_one_sentence():
    raw, _ = fixture()
    t = raw["node"]["now"]
    sv, evs = drained_at(raw, t, node2_first=t + 0.627)
    peer = node2_view(raw, t + 0.626)
    fo = failovers(sv, sv.adverts[0], evs, [peer])[-1]
    assert fo.new == f"node2 ({N2})"
    assert [s.what for s in fo.steps if s.witness == "peer"] == [
        "BACKUP → MASTER (priority_zero_received)", "VIPs present: 198.18.0.198/32", "GARP/NA sent"]
    f = Followup("drain", ("VI_1",), since=t - 0.5)
    [(severity, said)] = f.check(sv, evs, [peer])
    assert severity == "information" and f.finished
    assert said.startswith(f"VI_1: node2 ({N2}) MASTER after 0.63 s; VIPs present on node2; GARP/NA sent on node2")
    assert f.check(sv, evs, [peer]) == []            # said once


def test_without_a_peer_the_followup_names_the_wire_and_says_what_it_cannot_see():
    raw, _ = fixture()
    t = raw["node"]["now"]
    sv, evs = drained_at(raw, t, node2_first=t + 0.627)
    [(severity, said)] = Followup("drain", ("VI_1",), since=t - 0.5).check(sv, evs)
    assert said.startswith(f"VI_1: {N2} MASTER after 0.63 s") and "not visible from here" in said


def test_after_the_deadline_it_says_what_did_not_happen():
    raw, _ = fixture()
    t = raw["node"]["now"]
    sv, evs = drained_at(raw, t, node2_first=None)
    f = Followup("drain", ("VI_1",), since=t - 0.5)
    assert f.check(sv, evs) == []                    # 2 s after: still waiting
    late = copy.deepcopy(sv.raw)
    late["node"]["now"] = t + 11.0
    [(severity, said)] = f.check(SnapView(late), evs)
    assert severity == "warning" and "no advert from a new master heard within 10 s" in said
    fo = failovers(SnapView(late), late["adverts"][0], evs)[-1]
    assert fo.missing == ["no advert from a new master heard"]
    assert any("not seen within 10 s" in line for line, _ in timeline_lines(fo))


def test_a_takeover_by_master_down_is_timed_from_the_old_masters_last_advert():
    raw, evs = fixture("node1-peer-down")
    sv = SnapView(raw)
    fo = failovers(sv, sv.adverts[1], evs)[-1]
    assert (fo.instance, fo.old, fo.bound_name) == ("VI_2", N2, "Master_Down_Interval")
    assert [s.what.split(":")[0] for s in fo.steps] == [
        "last advert heard", "master-down timer expired (3.629 s)", "VIPs added", "GARP/NA sent (5 frames)"]
    assert abs(fo.total - fo.bound) < 0.002 and fo.within and fo.missing == []


def test_our_own_transitions_are_master_changes_in_the_priority_timeline():
    """Eight transitions of VRID 51 and the timeline said 'no master change in the window'."""
    raw, _ = fixture()
    now = raw["node"]["now"]
    raw["adverts"][0]["history"] = [[now - 290 + k, N2, 96] for k in range(0, 280, 40)]   # node2 backs us up
    evs = []
    for k in range(8):
        when = now - 250 + 30 * k
        to, fr = ("MASTER", "BACKUP") if k % 2 == 0 else ("BACKUP", "MASTER")
        evs.append({"seq": k + 1, "time": when, "kind": "transition", "severity": "info", "message": "",
                    "instance": "VI_1", "vrid": 51, "from": fr, "to": to,
                    "reason": "preempt" if to == "MASTER" else "operator", "detail": "", "priority": 100})
    sv = SnapView(raw)
    assert timeline(raw["adverts"][0], now, 300, 60).changes == []       # the wire alone: ours missing
    own = master_periods(sv, raw["adverts"][0], evs)
    assert len(own) == 5 and own[-1][1] is None                          # 4 closed, and master now
    tl = timeline(raw["adverts"][0], now, 300, 60, own)
    assert len(tl.changes) >= 8 and {N1, N2} <= {new for *_x, new in tl.changes}
    assert len([f for f in failovers(sv, raw["adverts"][0], evs) if f.instance == "VI_1"]) == 8


def test_a_change_between_other_routers_is_timed_from_the_wire():
    raw, _ = fixture()
    now = raw["node"]["now"]
    a60 = raw["adverts"][2]
    a60["history"] = [[now - 20 + k, "198.18.0.9", 150] for k in range(5)] + \
                     [[now - 11.4, "198.18.0.8", 120]]
    fo = failovers(SnapView(raw), a60, [])[-1]
    assert (fo.old, fo.new, fo.bound_name) == ("198.18.0.9", "198.18.0.8", "Master_Down_Interval")
    assert abs(fo.total - 4.6) < 1e-6 and not fo.within          # bound 3 + 136/256 = 3.53 s


def test_followed_instances_are_the_masters_of_a_drain_and_the_scope_of_a_failover():
    sv = SnapView(fixture()[0])
    assert followed_instances(sv, "drain", {}) == ("VI_1",)
    assert followed_instances(sv, "failover", {"instance": "VI_1"}) == ("VI_1",)
    assert followed_instances(sv, "takeover", {"instance": "VI_2"}) == ("VI_2",)
    assert followed_instances(sv, "weight", {}) == ()


def test_the_snapshot_vouches_for_vips_and_garp_older_events_no_longer_show():
    raw, evs = fixture()            # VI_1's preempt is in the events, its VIP and GARP events are not
    sv = SnapView(raw)
    fo = failovers(sv, sv.adverts[0], evs)[-1]
    assert fo.instance == "VI_1" and fo.missing == []
    assert fo.steps[-1].what == "GARP/NA sent (the snapshot's last GARP)"
    raw["instances"][0]["vips"][0]["present"] = False          # and when it cannot vouch, it is said
    fo = failovers(SnapView(raw), raw["adverts"][0], evs)[-1]
    assert fo.missing == ["no VIPs added here"]


def test_our_master_period_does_not_flap_beside_a_lower_backup_at_any_width():
    raw, _ = fixture("node1-split-brain")          # node2 advertises at 96 every 2 s beside us (100)
    a51 = raw["adverts"][0]                         # as a real engine has it: our own adverts are not heard
    a51["history"] = [h for h in a51["history"] if h[1] != N1]
    a51["sources"] = [x for x in a51["sources"] if x["address"] != N1]
    sv = SnapView(raw)
    own = master_periods(sv, raw["adverts"][0], [])
    now = raw["node"]["now"]
    for width in (30, 60, 150):
        tl = timeline(raw["adverts"][0], now, 300, width, own)
        assert all(new == N1 for *_x, new in tl.changes), (width, tl.changes)


def test_a_takeover_here_shows_the_old_masters_own_word_from_its_peer_view():
    raw, evs = fixture("node1-peer-down")
    node2 = copy.deepcopy(raw)
    node2["node"]["hostname"] = "node2"
    node2["node"]["interfaces"][0]["addresses"] = [f"{N2}/24"]
    vi2 = node2["instances"][1]
    vi2["wire"]["source"] = N2
    taken = next(e["time"] for e in evs if e.get("instance") == "VI_2" and e.get("to") == "MASTER")
    vi2.update(state="BACKUP")
    vi2["last_transition"] = {"from": "MASTER", "to": "BACKUP", "reason": "operator", "detail": "drained: resigning",
                              "time": taken - 3.62}
    sv = SnapView(raw)
    fo = failovers(sv, sv.adverts[1], evs, [PeerView("node2", "ssh://node2", node2, 0.3, True)])[-1]
    assert fo.old == f"node2 ({N2})"
    assert fo.steps[1] == fo.steps[1].__class__(taken - 3.62, "node2", "MASTER → BACKUP (operator)", "peer")


def test_a_first_election_has_no_old_master():
    raw, _ = fixture()
    t = raw["node"]["now"] - 20
    evs = [{"seq": 1, "time": t, "kind": "transition", "severity": "info", "message": "", "instance": "VI_1",
            "vrid": 51, "from": "BACKUP", "to": "MASTER", "reason": "master_down_timer", "detail": "",
            "priority": 100, "master": None, "last_advert": None, "timer": 3.61}]
    fo = failovers(SnapView(raw), raw["adverts"][0], evs)[-1]
    assert fo.total is None and timeline_lines(fo)[0][0].startswith("VI_1: no master heard → node1 (here)")


def test_a_takeover_is_followed_until_our_garp_is_out():
    raw, _ = fixture()
    t = raw["node"]["now"] + 0.2
    evs = [{"seq": 1, "time": t, "kind": "transition", "severity": "info", "message": "", "instance": "VI_2",
            "vrid": 52, "from": "BACKUP", "to": "MASTER", "reason": "operator", "detail": "takeover",
            "priority": 101, "master": N2, "last_advert": t - 0.3}]
    f = Followup("takeover", ("VI_2",), since=t - 0.5)
    raw["node"]["now"] = t + 0.5
    assert f.check(SnapView(raw), evs) == []                  # MASTER, but no GARP yet: wait
    evs += [{"seq": 2, "time": t + 0.003, "kind": "vip", "severity": "info", "message": "", "instance": "VI_2",
             "added": True, "vips": ["198.18.0.197/32"]},
            {"seq": 3, "time": t + 0.005, "kind": "vip", "severity": "info", "message": "", "instance": "VI_2",
             "vips": ["198.18.0.197"], "garp": 5}]
    [(severity, said)] = f.check(SnapView(raw), evs)
    assert severity == "information"
    assert said == "VI_2: node1 (here) MASTER after 0.30 s; VIPs added: 198.18.0.197/32; GARP/NA sent (5 frames)"


def test_the_peers_own_events_give_its_steps_their_times():
    raw, _ = fixture()
    t = raw["node"]["now"]
    sv, evs = drained_at(raw, t, node2_first=t + 0.627)
    peer = node2_view(raw, t + 0.626)
    theirs = [{"seq": 7, "time": t + 0.6251, "kind": "transition", "severity": "info", "message": "",
               "instance": "VI_1", "vrid": 51, "from": "BACKUP", "to": "MASTER",
               "reason": "priority_zero_received", "detail": "", "priority": 96, "master": N1,
               "last_advert": t + 0.0002, "timer": 0.625},
              {"seq": 8, "time": t + 0.6282, "kind": "vip", "severity": "info", "message": "", "instance": "VI_1",
               "added": True, "vips": ["198.18.0.198/32"]},
              {"seq": 9, "time": t + 0.6301, "kind": "vip", "severity": "info", "message": "", "instance": "VI_1",
               "vips": ["198.18.0.198"], "garp": 5}]
    fo = failovers(sv, sv.adverts[0], evs, [peer], {"node2": theirs})[-1]
    assert [(round(s.time - t, 4), s.what) for s in fo.steps if s.witness == "peer"] == [
        (0.6251, "BACKUP → MASTER (priority_zero_received)"), (0.6282, "VIPs added: 198.18.0.198/32"),
        (0.6301, "GARP/NA sent")]
    [(_sev, said)] = Followup("drain", ("VI_1",), since=t - 0.5).check(sv, evs, [peer], {"node2": theirs})
    assert said.startswith(f"VI_1: node2 ({N2}) MASTER after 0.63 s; VIPs added on node2; GARP/NA sent on node2")
