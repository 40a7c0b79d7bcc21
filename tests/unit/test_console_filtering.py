"""The `/` filter's words and the event choices the console and `vipdeck events` share."""

from __future__ import annotations

from vipdeck.console.filtering import EventChoice, TextFilter, is_passing_check, split_kinds


def ev(kind: str, severity: str = "info", **kw) -> dict:
    return {"seq": 1, "time": 0.0, "kind": kind, "severity": severity, "message": kw.pop("message", kind), **kw}


def test_words_must_all_match_and_bang_words_exclude():
    f = TextFilter.parse("vi_2 master")
    assert f.matches("VI_2", "BACKUP → MASTER") and not f.matches("VI_2", "BACKUP")
    f = TextFilter.parse("!check")
    assert not f.matches("check", "ok") and f.matches("transition", "VI_1")
    f = TextFilter.parse("VI_1 !operator")
    assert f.matches("VI_1 master down") and not f.matches("VI_1", "operator takeover")
    assert TextFilter.parse("").matches("anything") and not TextFilter.parse("")
    assert TextFilter.parse("!").matches("anything")             # a lone ! is nothing to exclude


def test_kind_and_sev_words_pick_events_on_the_events_screen_only():
    f = TextFilter.parse("kind:transition,operator sev:warning", fields=True)
    assert f.matches_event(ev("transition", "warning"), "transition")
    assert not f.matches_event(ev("transition", "info"), "transition")
    assert not f.matches_event(ev("check", "error"), "check")
    f = TextFilter.parse("!kind:check VI_1", fields=True)
    assert f.matches_event(ev("transition"), "VI_1") and not f.matches_event(ev("check"), "VI_1")
    assert not f.matches_event(ev("transition"), "VI_2")
    # elsewhere "kind:" is a word like any other
    assert TextFilter.parse("kind:check").words == ("kind:check",)
    assert TextFilter.parse("sev:bogus", fields=True).words == ("sev:bogus",)


def test_passing_checks_are_successful_info_runs_only():
    assert is_passing_check(ev("check", ok=True))
    assert not is_passing_check(ev("check", "warning", ok=True, message="HTTP_GET slow (812 ms)"))
    assert not is_passing_check(ev("check", "warning", ok=False))
    assert not is_passing_check(ev("rs_state", state="UP"))
    assert not is_passing_check(ev("check"))                     # no verdict: not known to pass


def test_event_choice_kinds_severity_and_passing_checks():
    c = EventChoice(split_kinds(["transition,operator", "vip"]), frozenset(), "info", False)
    assert c.kinds == {"transition", "operator", "vip"}
    assert c.keeps(ev("vip")) and not c.keeps(ev("check"))
    c = EventChoice(frozenset(), split_kinds(["advert"]), "warning", True)
    assert not c.keeps(ev("advert", "error")) and not c.keeps(ev("transition", "info"))
    assert c.keeps(ev("transition", "warning")) and c.keeps(ev("check", "error", ok=False))
    assert not EventChoice(hide_passing=True).keeps(ev("check", ok=True))
    assert EventChoice().keeps(ev("check", ok=True))
