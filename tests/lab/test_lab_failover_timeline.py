"""A real failover in the timeline: two vipdeck daemons, the dual-master pair.

node1 masters VI_1 (VRID 51), node2 VI_2 (VRID 52), VRRPv3 at 0.1 s.  The
drain preview built from node1's real snapshot names node2 as VI_1's next
master (silent on VRID 51, alive on 52; and over a peer connection, by
name); a drain of node1 and then a crash of node2 are two real failovers,
and the timeline built from the daemons' events, advert view and node2's
snapshot has their steps in order, with totals against the RFC bound
(asserted as bounds and order, not timings).
"""

from __future__ import annotations

import re

import pytest

from vipdeck.console import actions
from vipdeck.console.derive import SnapView, move_of
from vipdeck.console.failover import Followup, failovers, master_down_interval, skew_time
from vipdeck.console.peerview import PeerView
from vipdeck.engine.lab.peers import instance, start_vipdeck, status
from vipdeck.engine.lab.wait import wait_until
from tests.support.labconf import VIP_VI1, VIP_VI2, dual_master_pair
from tests.support.vipdeck_cli import cli, events

pytestmark = pytest.mark.lab

INTERVAL = 0.1


def entry(sv: SnapView, name: str) -> dict:
    return sv.advert_of(sv.instances_by_name[name])


def test_a_real_drain_and_a_real_crash_in_the_failover_timeline(lab):
    n1, n2, r1, r2 = dual_master_pair(lab)

    # the preview: node2 is silent on VRID 51 but alive as master of 52; by name over a peer connection
    sv = SnapView(status(r1))
    m = move_of(sv, sv.instances_by_name["VI_1"])
    assert m.successor is not None and m.successor.address == n2.ip and m.successor.via == "wire (VRID 52)"
    node2 = PeerView("node2", r2.socket_path, status(r2), 0.05, True)
    m = move_of(sv, sv.instances_by_name["VI_1"], [node2])
    assert (m.successor.name, m.successor.state, m.successor.priority) == ("node2", "BACKUP", 96)
    dry = cli(r1, "drain", "--dry-run")
    assert dry.returncode == 0 and f"198.18.0.198/32 → {n2.ip}" in dry.stdout and "to type" not in dry.stdout
    def ageless(text: str) -> str:      # the two snapshots are a moment apart
        return re.sub(r"heard [0-9.]+ s ago", "heard … ago", text)

    assert ageless(actions.plan_drain(sv).body.plain.strip()) in ageless(dry.stdout)   # the console's words

    # a drain: our priority-0 resign, then node2's first advert within its skew time
    since = sv.now
    assert cli(r1, "drain", "--reason", "timeline").returncode == 0
    wait_until(lambda: n2.has_address(VIP_VI1) and not n1.has_address(VIP_VI1), 10, what="VI_1 to node2")
    follow = Followup("drain", ("VI_1",), since=since)

    def drained_timeline():
        sv1 = SnapView(status(r1))
        peer = PeerView("node2", r2.socket_path, status(r2), 0.05, True)
        fos = [f for f in failovers(sv1, entry(sv1, "VI_1"), events(r1), [peer]) if f.start >= since - 0.5]
        done = fos and any(s.witness == "wire" for s in fos[-1].steps) and \
            any(s.what == "GARP/NA sent" for s in fos[-1].steps)
        return (sv1, peer, fos[-1]) if done else None

    sv1, peer, fo = wait_until(drained_timeline, 10, what="the drain's timeline with node2's side")
    order = [(s.witness, s.what.split(" (")[0].split(":")[0]) for s in fo.steps]
    assert order.index(("engine", "MASTER → BACKUP")) < order.index(("wire", "first advert heard"))
    assert [s.time for s in fo.steps] == sorted(s.time for s in fo.steps)
    assert fo.new == f"node2 ({n2.ip})" and fo.bound_name == "Skew_Time"
    assert fo.bound == pytest.approx(skew_time(96, INTERVAL))
    # handed over on the priority 0, not after a Master_Down_Interval of silence
    assert 0 < fo.total < master_down_interval(96, INTERVAL), fo.verdict
    [(_sev, said)] = follow.check(sv1, events(r1), [peer])
    assert said.startswith(f"VI_1: node2 ({n2.ip}) MASTER after ") and "VIPs present on node2" in said

    # a crash of node2: node1 (drained, priority 1) is the only router left and takes both VRIDs
    # when its master-down timer expires, Master_Down_Interval after node2's last advert
    crashed = SnapView(status(r1)).now
    r2.crash()
    wait_until(lambda: n1.has_address(VIP_VI1) and n1.has_address(VIP_VI2), 10, what="node1 takes both")

    def crash_timeline():
        sv1 = SnapView(status(r1))
        # this crash's takeover, not node1's own at start-up (before node2 came, at priority 96)
        fo = next((f for f in reversed(failovers(sv1, entry(sv1, "VI_2"), events(r1)))
                   if f.instance == "VI_2" and f.start >= crashed - 0.5), None)
        return fo if fo and any(s.what.startswith("GARP") for s in fo.steps) else None

    fo = wait_until(crash_timeline, 10, what="VI_2's takeover with its GARP")
    assert [s.what.split(" (")[0].split(":")[0] for s in fo.steps] == [
        "last advert heard", "master-down timer expired", "VIPs added", "GARP/NA sent"]
    assert fo.steps[-1].what.startswith("GARP/NA sent (")          # the engine's own event, frames counted
    garp = [e for e in events(r1) if e.get("kind") == "vip" and e.get("instance") == "VI_2" and e.get("garp")]
    assert garp and garp[-1]["vips"] == [VIP_VI2] and garp[-1]["garp"] >= 1
    assert fo.old == n2.ip and fo.bound_name == "Master_Down_Interval"
    assert fo.bound == pytest.approx(3 * INTERVAL + (256 - 1) * INTERVAL / 256, abs=1e-3)
    # never before the bound (the timer is re-armed by every advert), and not seconds after it
    assert fo.bound - INTERVAL <= fo.total <= fo.bound + 1.0, fo.verdict


@pytest.mark.keepalived
def test_keepalived_resigning_is_timed_from_its_priority_zero_advert(lab, keepalived_bin):
    """keepalived (-G -l) masters VI_1 and stops cleanly: its priority-0 advert, vipdeck's
    skew timer, VIPs and GARP, against Skew_Time; the referee sniffer saw the same advert."""
    from tests.support.labconf import VIP1, seed_pair
    from vipdeck.engine.lab.peers import start_keepalived

    n1 = lab.add_node("n1", "198.18.0.1/24")
    n2 = lab.add_node("n2", "198.18.0.2/24")
    sn = lab.sniffer()
    conf = dict(version=3, advert_int=INTERVAL)
    ka = start_keepalived(n1, seed_pair("node1", 100, "MASTER", **conf), binary=keepalived_bin)
    wait_until(lambda: n1.has_address(VIP1), 10, what="keepalived master holds the VIP")
    vd = start_vipdeck(n2, seed_pair("node2", 96, "BACKUP", **conf))
    wait_until(lambda: instance(vd, "VI_1")["master"]["address"] == n1.ip, 10, what="vipdeck hears keepalived")
    ka.stop()                                              # SIGTERM: keepalived resigns with priority 0
    wait_until(lambda: n2.has_address(VIP1), 10, what="vipdeck takes over")

    def timeline():
        sv = SnapView(status(vd))
        fo = next((f for f in reversed(failovers(sv, entry(sv, "VI_1"), events(vd))) if f.instance == "VI_1"), None)
        return fo if fo and fo.old == n1.ip and any(s.what.startswith("GARP") for s in fo.steps) else None

    fo = wait_until(timeline, 10, what="VI_1's takeover with its GARP")
    assert [s.what.split(" (")[0].split(":")[0] for s in fo.steps] == [
        "priority-0 advert heard", "skew time expired", "VIPs added", "GARP/NA sent"]
    assert fo.bound_name == "Skew_Time" and fo.bound == pytest.approx(skew_time(96, INTERVAL), abs=1e-3)
    assert fo.bound - INTERVAL <= fo.total <= fo.bound + 1.0, fo.verdict
    zero = next(p for p in sn.snapshot(vrid=51, src=n1.ip) if p.priority == 0)
    assert abs(fo.steps[0].time - zero.time) < 0.05        # the referee heard the same advert
