"""vrrp_startup_delay / vrrp_delay_after_boot: the delay from the keywords and
the system uptime (passed in, so an early boot can be faked)."""

from __future__ import annotations

from vipdeck.engine.config import loads
from vipdeck.engine.vrrp.startdelay import read_uptime, start_delay


def test_startup_delay_alone():
    assert start_delay(0, 0, None).seconds == 0
    d = start_delay(5.5, 0, None)
    assert (d.seconds, d.why, d.problem) == (5.5, "vrrp_startup_delay 5.5", None)


def test_delay_after_boot_counts_from_boot():
    early = start_delay(0, 300, uptime=42.0)          # a host that booted 42 s ago
    assert early.seconds == 258.0 and early.why == "vrrp_delay_after_boot 300, system up 42.00 s"
    assert start_delay(0, 300, uptime=4000.0).seconds == 0      # a later restart is not delayed
    assert start_delay(0, 300, uptime=300.0).seconds == 0


def test_the_longer_delay_wins():
    assert start_delay(60, 300, uptime=250.0).seconds == 60
    assert start_delay(10, 300, uptime=250.0).seconds == 50
    assert start_delay(10, 300, uptime=250.0).why.startswith("vrrp_delay_after_boot")


def test_an_unreadable_uptime_ignores_delay_after_boot_and_says_so(tmp_path):
    d = start_delay(3, 300, uptime=None)
    assert d.seconds == 3 and "cannot read the system uptime" in d.problem
    f = tmp_path / "uptime"
    f.write_text("12345.67 98765.43\n")
    assert read_uptime(str(f)) == 12345.67
    f.write_text("garbage\n")
    assert read_uptime(str(f)) is None
    assert read_uptime(str(tmp_path / "none")) is None
    assert read_uptime() > 0                          # this host's /proc/uptime


def test_the_keywords_parse_with_keepalived_s_limits():
    g = loads("global_defs {\n vrrp_startup_delay 5.5\n vrrp_delay_after_boot 86400\n}\n").config.global_defs
    assert (g.vrrp_startup_delay, g.vrrp_delay_after_boot) == (5.5, 86400.0)
    r = loads("global_defs {\n vrrp_startup_delay 5000\n}\n", path="d.conf")
    (d,) = r.diagnostics
    assert (d.line, d.severity) == (2, "error") and "outside 0-4294.97 seconds" in d.message
    r = loads("global_defs {\n vrrp_startup_delay 90\n}\n", path="d.conf")
    assert [(x.severity, x.message) for x in r.diagnostics] == [("note", "vrrp_startup_delay 90 is very large "
                                                                  "(keepalived says so too)")]
