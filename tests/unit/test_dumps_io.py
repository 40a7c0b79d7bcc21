"""Where the dumps go, how they are written, and keepalived's counters.

Paths: keepalived 2.2.7's names in $TMPDIR or /tmp, data_use_instance as
its open_dump_file does, and the *_file_location keywords as
keepalived.conf(5) documents them.  Writing: atomic, never through a
symlink, errors name the file.  Counters: the priority-0 count the engine
derives from transitions is held to what the real VRRP machine sends.
"""

from __future__ import annotations

import os
import stat

import pytest

from vipdeck.engine.config import load
from vipdeck.engine.dumps.paths import dump_paths
from vipdeck.engine.dumps.stats import REJECT_COUNTERS, TransitionCounters, VrrpStats, sends_priority_zero, vrrp_stats
from vipdeck.engine.dumps.writer import DumpError, write_atomic
from vipdeck.engine.vrrp import machine as m
from vipdeck.engine.vrrp import packet
from vipdeck.engine.vrrp.driver import Counters


def config(tmp_path, global_lines: str = "", top: str = ""):
    p = tmp_path / "k.conf"
    p.write_text(f"{top}\nglobal_defs {{\n{global_lines}\n}}\n")
    r = load(str(p))
    assert r.ok, [str(d) for d in r.diagnostics]
    return r.config


def test_default_paths_are_keepalived_s(tmp_path):
    p = dump_paths(config(tmp_path), env={})
    assert (p.data, p.check_data, p.parent_data, p.stats, p.json) == (
        "/tmp/keepalived.data", "/tmp/keepalived_check.data", "/tmp/keepalived_parent.data",
        "/tmp/keepalived.stats", "/tmp/keepalived.json")


def test_tmpdir_is_used_only_when_absolute(tmp_path):
    assert dump_paths(config(tmp_path), env={"TMPDIR": "/var/tmp"}).json == "/var/tmp/keepalived.json"
    assert dump_paths(config(tmp_path), env={"TMPDIR": "relative"}).json == "/tmp/keepalived.json"


def test_data_use_instance_names_the_data_files_like_2_2_7(tmp_path):
    c = config(tmp_path, "data_use_instance", top="instance lb2")
    p = dump_paths(c, env={})
    assert p.data == "/tmp/keepalived.lb2.data" and p.check_data == "/tmp/keepalived_check.lb2.data"
    assert p.stats == "/tmp/keepalived.stats" and p.json == "/tmp/keepalived.json"   # 2.2.7 leaves these
    c = config(tmp_path, "data_use_instance", top="instance lb2\nnet_namespace blue")
    assert dump_paths(c, env={}).data == "/tmp/keepalived.blue_lb2.data"
    # without an instance or namespace name there is nothing to add
    assert dump_paths(config(tmp_path, "data_use_instance"), env={}).data == "/tmp/keepalived.data"


def test_file_locations_directory_or_file(tmp_path):
    c = config(tmp_path, "state_file_location /srv/dumps/\nstats_file_location /srv/s/ka.stats\n"
                         "json_file_location /srv/j/")
    p = dump_paths(c, env={})
    assert p.data == "/srv/dumps/keepalived.data" and p.check_data == "/srv/dumps/keepalived_check.data"
    assert p.stats == "/srv/s/ka.stats" and p.json == "/srv/j/keepalived.json"
    # a state file name is a template: _checker / _parent for those processes
    p = dump_paths(config(tmp_path, "state_file_location /srv/lb.dump"), env={})
    assert (p.data, p.check_data, p.parent_data) == ("/srv/lb.dump", "/srv/lb_checker.dump", "/srv/lb_parent.dump")


def test_write_atomic_replaces_whole_file_mode_0600_and_never_follows_a_symlink(tmp_path):
    target = tmp_path / "keepalived.json"
    victim = tmp_path / "victim"
    victim.write_text("precious")
    target.symlink_to(victim)
    write_atomic(str(target), "[]\n")
    assert victim.read_text() == "precious"               # the planted link was replaced, not followed
    assert not target.is_symlink() and target.read_text() == "[]\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert sorted(os.listdir(tmp_path)) == ["keepalived.json", "victim"]   # no temporary left


def test_write_error_names_the_file_and_the_cause(tmp_path):
    missing = tmp_path / "no" / "such" / "keepalived.data"
    with pytest.raises(DumpError) as e:
        write_atomic(str(missing), "x")
    assert str(missing) in str(e.value) and "No such file or directory" in str(e.value)


def test_reject_reasons_map_onto_keepalived_counters():
    c = Counters(adverts_sent=7, adverts_received=5)
    c.rejects.update({"truncated": 1, "length": 2, "ttl": 3, "interval_mismatch": 4, "auth_mismatch": 5,
                      "auth_type": 6, "checksum": 9})
    extra = TransitionCounters(become_master=2, release_master=1, pri_zero_sent=1, pri_zero_rcvd=3)
    s = vrrp_stats(c, extra)
    assert s == VrrpStats(advert_rcvd=5, advert_sent=7, become_master=2, release_master=1, packet_len_err=3,
                          advert_interval_err=4, ip_ttl_err=3, authtype_mismatch=6, auth_failure=5,
                          pri_zero_rcvd=3, pri_zero_sent=1)
    assert set(REJECT_COUNTERS) <= {r.value for r in packet.RejectReason}


def test_stats_clear_is_a_baseline():
    c = Counters(adverts_sent=10)
    extra = TransitionCounters(become_master=1)
    extra.baseline = vrrp_stats(c, extra)
    assert vrrp_stats(c, extra) == VrrpStats()
    c.adverts_sent += 3
    extra.transition("BACKUP", "MASTER", "preempt")
    assert vrrp_stats(c, extra) == VrrpStats(advert_sent=3, become_master=1)


def _run(mc: m.VrrpMachine, now: float, ev) -> tuple[list, float]:
    return mc.handle(now, ev), now


def _master(priority: int = 100) -> tuple[m.VrrpMachine, float]:
    mc = m.VrrpMachine(m.InstanceParams(name="VI_1", vrid=51, primary_address="198.18.0.1", priority=priority,
                                        initial_state="MASTER"))
    mc.handle(0.0, m.Startup())
    now = mc.master_down_interval() + 0.01
    mc.handle(now, m.Timer())
    assert mc.state is m.State.MASTER
    return mc, now


LEAVING_MASTER = {
    "shutdown": lambda: m.Shutdown(),
    "drain": lambda: m.Drain(True),
    "resign": lambda: m.Resign(hold_until=None),
    "tracker fault": lambda: m.TrackChanged(delta=0, fault=True, detail="chk failed"),
    "link down": lambda: m.InterfaceChanged(up=False, detail="eth0 down"),
    "sync group backup": lambda: m.SyncBackup("group went BACKUP"),
    "sync group fault": lambda: m.SyncFault(True, "VI_2 in FAULT"),
    "higher priority": lambda: m.AdvertReceived(packet.Advert(version=2, vrid=51, priority=200, interval=1.0,
                                                              addresses=(), src="198.18.0.2", dst="224.0.0.18",
                                                              ttl=255)),
}


@pytest.mark.parametrize("how", sorted(LEAVING_MASTER))
def test_priority_zero_count_matches_what_the_machine_sends(how):
    """sends_priority_zero() is derived from the machine's rules; hold it to them."""
    mc, now = _master()
    actions = mc.handle(now + 0.1, LEAVING_MASTER[how]())
    sent_zero = any(isinstance(a, m.SendAdvert) and a.priority == 0 for a in actions)
    t = next(a for a in actions if isinstance(a, m.Transition))
    assert sends_priority_zero(str(t.old), str(t.new), t.reason) == sent_zero, (how, t)
    counters = TransitionCounters()
    counters.transition(str(t.old), str(t.new), t.reason)
    assert (counters.release_master, counters.pri_zero_sent) == (1, int(sent_zero))
