"""vrrp_script tracking: keepalived's rise/fall counting, with real scripts."""

from __future__ import annotations

from pathlib import Path

from vipdeck.engine.config.model import TrackRef, VrrpScript
from vipdeck.engine.lab.wait import async_wait_until
from vipdeck.engine.track.script import ScriptTracker
from vipdeck.engine.track.weights import Weighting, resolve


def tracker(**kw) -> ScriptTracker:
    kw.setdefault("name", "chk")
    kw.setdefault("script", "/bin/true")
    return ScriptTracker(VrrpScript(**kw))


def states(t: ScriptTracker, results: str) -> str:
    """Feed 's'/'f' results; return the up/down state after each ('U'/'D')."""
    out = ""
    for r in results:
        t.feed(r == "s")
        out += "U" if t.up else "D"
    return out


def test_first_result_decides_from_init():
    t = tracker(rise=3, fall=3)
    assert t.up is None and t.state_text() == "init"
    assert states(t, "s") == "U"          # one success is enough at start
    t = tracker(rise=3, fall=3)
    assert states(t, "f") == "D"          # and so is one failure


def test_rise_and_fall_counts():
    t = tracker(rise=2, fall=2)
    assert states(t, "s" "f" "s" "f" "f" "s" "f" "s" "s" "f") == "U" "U" "U" "U" "D" "D" "D" "D" "U" "U"


def test_fall_is_counted_from_the_top_after_rising():
    t = tracker(rise=2, fall=3)
    #                start up; 2 failures stay up, 3rd goes down; 1 success stays down; 2 bring up
    assert states(t, "s" "f" "f" "f" "s" "s") == "U" "U" "U" "D" "D" "U"


def test_init_fail_needs_rise_successes():
    t = tracker(rise=2, fall=1, init_fail=True)
    assert t.up is False and t.state_text() == "failed"
    assert states(t, "s" "s" "f") == "D" "U" "D"


def test_change_callback_only_on_state_change():
    seen = []
    t = ScriptTracker(VrrpScript(name="chk", script="/bin/true", rise=2, fall=2), on_change=seen.append)
    states(t, "s" "s" "f" "f" "s")
    assert seen == ["chk", "chk"]         # init→up, up→down; the counting runs are silent


def test_effect_and_detail_text():
    t = tracker(name="chk_down", weight=-20)
    states(t, "f")
    w = resolve(None, -20, False)
    assert t.effect(w).delta == -20
    assert t.detail(w) == "chk_down -20 (failed 1/1)"
    states(t, "s")
    assert t.effect(w).delta == 0 and t.detail(w) == "chk_down 0 (ok)"
    # unweighted: FAULT while failed
    t0 = tracker(name="chk_up")
    states(t0, "f")
    assert t0.effect(Weighting(0)).fault
    assert t0.detail(Weighting(0)) == "chk_up FAULT (failed 1/1)"


def test_reference_weight_overrides_the_script_weight():
    s = VrrpScript(name="chk", script="/bin/true", weight=-3)
    assert resolve(TrackRef(name="chk"), s.weight, s.weight_reverse) == Weighting(-3, False)
    assert resolve(TrackRef(name="chk", weight=10), s.weight, s.weight_reverse) == Weighting(10, False)
    assert resolve(TrackRef(name="chk", weight=10, reverse=True), s.weight, s.weight_reverse) == Weighting(10, True)
    assert resolve(TrackRef(name="chk", weight=0), s.weight, s.weight_reverse) == Weighting(0, False)


async def test_real_script_rise_and_fall_driven_by_a_file(tmp_path: Path):
    status = tmp_path / "status"
    status.write_text("0")
    sh = tmp_path / "chk.sh"
    sh.write_text(f"#!/bin/sh\nexit $(cat {status})\n")
    sh.chmod(0o755)
    changes: list[tuple[bool | None, int, int]] = []
    t = ScriptTracker(VrrpScript(name="chk", script=str(sh), interval=0.05, timeout=5, rise=3, fall=2, weight=-7))
    t.add_listener(lambda name: changes.append((t.up, t.streak_ok, t.streak_fail)))
    await t.start()
    try:
        await async_wait_until(lambda: t.up is True, timeout=5, what="script up")
        status.write_text("1")
        await async_wait_until(lambda: t.up is False, timeout=5, what="script down")
        status.write_text("0")
        await async_wait_until(lambda: t.up is True, timeout=5, what="script up again")
    finally:
        await t.stop()
    # the change to down came with the 2nd consecutive failure, up with the 3rd success
    assert changes == [(True, 1, 0), (False, 0, 2), (True, 3, 0)]
    assert t.last is not None and t.last.ok


async def test_hanging_script_times_out_and_counts_as_failure(tmp_path: Path):
    t = ScriptTracker(VrrpScript(name="hang", script="sleep 30", interval=0.05, timeout=0.2, weight=-5))
    await t.start()
    try:
        await async_wait_until(lambda: t.up is False, timeout=5, what="timed out script failed")
    finally:
        await t.stop()
    assert t.last.timed_out
    assert "timed out" in t.detail(Weighting(-5))


async def test_missing_script_is_a_failure_not_an_exception(tmp_path: Path):
    t = ScriptTracker(VrrpScript(name="gone", script=str(tmp_path / "nope.sh"), interval=0.05))
    await t.start()
    try:
        await async_wait_until(lambda: t.runs >= 2, timeout=5, what="two runs")
    finally:
        await t.stop()
    assert t.up is False
    assert t.last.error.startswith("not found")
    assert "not found" in t.detail(Weighting(0))
