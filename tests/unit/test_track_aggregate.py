"""Per-instance aggregation: keepalived's weight table, interfaces, sync groups, owners."""

from __future__ import annotations

from pathlib import Path

import pytest

from vipdeck.engine.config.model import (Config, SyncGroup, TrackFile, TrackRef, VrrpInstance, VrrpScript)
from vipdeck.engine.lab.wait import async_wait_until
from vipdeck.engine.track.weights import Effect, Weighting, binary_effect
from vipdeck.engine.vrrp.track import Effective, TrackingHub


@pytest.mark.parametrize("weight,reverse,up,expected", [
    (10, False, True, Effect(delta=10)), (10, False, False, Effect()),
    (-10, False, True, Effect()), (-10, False, False, Effect(delta=-10)),
    (10, True, True, Effect(delta=-10)), (10, True, False, Effect()),
    (-10, True, True, Effect()), (-10, True, False, Effect(delta=10)),
    (0, False, True, Effect()), (0, False, False, Effect(fault=True)),
    (0, True, True, Effect(fault=True)), (0, True, False, Effect()),
    (0, False, None, Effect(pending=True)), (5, False, None, Effect()),
])
def test_keepalived_weight_table(weight, reverse, up, expected):
    assert binary_effect(up, Weighting(weight, reverse)) == expected


def inst(name="VI_1", priority=100, **kw) -> VrrpInstance:
    return VrrpInstance(name=name, interface="eth0", vrid=51, priority=priority, **kw)


async def test_interfaces_weighted_and_unweighted():
    cfg = Config(vrrp_instances=(inst(track_interfaces=(
        TrackRef(name="eth9"), TrackRef(name="eth8", weight=10), TrackRef(name="eth7", weight=-20),
        TrackRef(name="eth6", weight=0, reverse=True))),))
    seen = []
    hub = TrackingHub(cfg, seen.append, probe_links=False)
    for ifname, up in (("eth9", True), ("eth8", True), ("eth7", True), ("eth6", False)):
        hub.link_changed(ifname, up)
    e = hub.effective("VI_1")
    assert (e.priority, e.faulted, e.delta) == (110, False, 10)
    priority, faulted, contributions = e                      # tuple-style unpacking
    assert contributions == {"eth9": 0, "eth8": 10, "eth7": 0, "eth6": 0}
    hub.link_changed("eth7", False)
    assert hub.effective("VI_1").priority == 90
    hub.link_changed("eth9", False)
    e = hub.effective("VI_1")
    assert e.faulted and e.faults == ("eth9",) and e.detail == "eth9 FAULT (down)"
    hub.link_changed("eth6", True)                            # weight 0 reverse: up = FAULT
    assert hub.effective("VI_1").faults == ("eth9", "eth6")
    assert seen == ["eth9", "eth8", "eth7", "eth6", "eth7", "eth9", "eth6"]
    assert hub.affected("eth8") == ["VI_1"]
    assert hub.effect("VI_1") == (-10, True, "eth9 FAULT (down); eth6 FAULT (up)")


def test_unknown_link_is_pending_until_told():
    hub = TrackingHub(Config(vrrp_instances=(inst(track_interfaces=(TrackRef(name="eth9"),)),)),
                      probe_links=False)
    e = hub.effective("VI_1")
    assert not e.faulted and e.pending == ("eth9",)
    assert hub.pending() == {"VI_1": ("eth9",)}


def test_missing_interface_probes_as_down():
    hub = TrackingHub(Config(vrrp_instances=(inst(track_interfaces=(TrackRef(name="nosuchif0"),)),)))
    hub.trackers[("interface", "nosuchif0")].probe()
    assert hub.effective("VI_1").faulted


def test_clamping_and_owner():
    cfg = Config(vrrp_instances=(
        inst("low", 10, track_interfaces=(TrackRef(name="a", weight=-50),)),
        inst("high", 250, track_interfaces=(TrackRef(name="a", weight=50, reverse=True), TrackRef(name="b", weight=20))),
        inst("owner", 255, track_interfaces=(TrackRef(name="b", weight=20), TrackRef(name="c"))),
    ))
    hub = TrackingHub(cfg, probe_links=False)
    hub.link_changed("a", False)
    hub.link_changed("b", True)
    hub.link_changed("c", True)
    assert hub.effective("low").priority == 1
    assert hub.effective("high").priority == 254
    e = hub.effective("owner")
    assert e.priority == 255 and e.delta == 0
    owner_desc = {d["name"]: d for d in hub.describe("owner")}
    assert owner_desc["b"]["state"] == "ignored"              # weighted tracker on an owner
    hub.link_changed("c", False)
    assert hub.effective("owner").faulted                     # unweighted still faults


def test_sync_group_members_ignore_weights_and_get_group_trackers():
    s_w = VrrpScript(name="weighted", script="/bin/true", weight=-10)
    cfg = Config(
        vrrp_scripts=(s_w,),
        track_files=(TrackFile(name="tf", file="/nonexistent/x"),),
        vrrp_instances=(inst("A", track_scripts=(TrackRef(name="weighted"),),
                             track_interfaces=(TrackRef(name="ethw", weight=10),),
                             track_files=(TrackRef(name="tf"),)),
                        inst("B")),
        sync_groups=(SyncGroup(name="G", group=("A", "B"), track_interfaces=(TrackRef(name="ethg"),)),),
    )
    hub = TrackingHub(cfg, probe_links=False)
    a = {d["name"]: d for d in hub.describe("A")}
    assert a["weighted"]["state"] == "ignored"
    assert set(hub.instances["B"].tracker_names) == {"ethg"}
    hub.link_changed("ethw", False)                           # weighted → unweighted in a sync group
    hub.link_changed("ethg", True)
    assert hub.effective("A").faults == ("ethw",)
    hub.link_changed("ethw", True)
    hub.link_changed("ethg", False)
    assert hub.effective("A").faulted and hub.effective("B").faulted
    assert sorted(hub.affected("ethg")) == ["A", "B"]
    # a track_file left at its default weight 1 becomes weight 0 (fault on non-zero)
    entry = next(e for e in hub.instances["A"].entries if e.tracker.name == "tf")
    assert entry.weighting == Weighting(0) and entry.ignored is None


def test_sync_group_member_track_file_weight_1_given_or_default_becomes_0():
    """keepalived 2.2.7 (vrrp.c): a member's track_file whose weight in effect is 1 becomes
    unweighted; any other weight is ignored (unless sync_group_tracking_weight)."""
    cfg = Config(
        track_files=(TrackFile(name="tf", file="/nonexistent/x"), TrackFile(name="t5", file="/nonexistent/y")),
        vrrp_instances=(inst("A", track_files=(TrackRef(name="tf", weight=1), TrackRef(name="t5", weight=5))),
                        inst("B")),
        sync_groups=(SyncGroup(name="G", group=("A", "B")),),
    )
    hub = TrackingHub(cfg, probe_links=False)
    entries = {e.tracker.name: e for e in hub.instances["A"].entries}
    assert entries["tf"].weighting == Weighting(0) and entries["tf"].ignored is None
    assert entries["t5"].ignored == "weighted tracker in a SYNC group"
    free = TrackingHub(Config(track_files=cfg.track_files, vrrp_instances=cfg.vrrp_instances,
                              sync_groups=(SyncGroup(name="G", group=("A", "B"), sync_group_tracking_weight=True),)),
                       probe_links=False)
    assert {e.tracker.name: e.weighting.weight for e in free.instances["A"].entries} == {"tf": 1, "t5": 5}


def test_undefined_reference_is_reported_not_fatal():
    hub = TrackingHub(Config(vrrp_instances=(inst(track_scripts=(TrackRef(name="ghost"),)),)))
    assert hub.problems == ["script 'ghost' is tracked but not defined - ignored"]
    assert hub.effective("VI_1") == Effective(100, False, {})


async def test_reload_keeps_unchanged_trackers_running(tmp_path: Path):
    a = VrrpScript(name="a", script="/bin/true", interval=0.05, timeout=5, weight=5)
    b = VrrpScript(name="b", script="/bin/false", interval=0.05, timeout=5, weight=-5)
    cfg1 = Config(vrrp_scripts=(a, b), vrrp_instances=(inst(track_scripts=(TrackRef(name="a"), TrackRef(name="b"))),))
    hub = TrackingHub(cfg1)
    await hub.start()
    try:
        await async_wait_until(lambda: hub.effective("VI_1").priority == 100 and
                               hub.tracker("a").runs and hub.tracker("b").runs, timeout=5)
        ta = hub.tracker("a")
        b2 = VrrpScript(name="b", script="/bin/true", interval=0.05, timeout=5, weight=-5)
        cfg2 = Config(vrrp_scripts=(a, b2), vrrp_instances=(inst(track_scripts=(TrackRef(name="a"), TrackRef(name="b"))),))
        await hub.reload(cfg2)
        assert hub.tracker("a") is ta and ta.up is True       # kept, with its state
        await async_wait_until(lambda: hub.effective("VI_1").priority == 105, timeout=5, what="new b ok")
    finally:
        await hub.stop()
    assert all(getattr(t, "_task", None) is None for t in hub.trackers.values())
