"""Operator changes are transactions, also when the disk says no; and the
operator's intent survives a reload that replaces an instance.

A real daemon (vipdeck, node1, master) beside a real keepalived backup
(node2), its state directory on a tiny tmpfs that the test fills up or
remounts read-only.  A change that cannot be persisted must change nothing
(memory, disk, the wire), name the state file and the reason, be audited
(or, when the audit log cannot be written either, say so in the event
stream and the log) and leave the daemon running.
"""

from __future__ import annotations

import json
import os
import signal

import pytest

from vipdeck.engine.lab import wait_until
from vipdeck.engine.lab.peers import instance, start_keepalived, start_vipdeck, status
from tests.support.labconf import VIP1, seed_pair
from tests.support.mounts import TinyFs
from tests.support.vipdeck_cli import cli, events

pytestmark = pytest.mark.lab

FAST = dict(version=3, advert_int=0.1)


@pytest.fixture
def node(lab, keepalived_bin):
    """(n1, n2, vipdeck on n1 with its state on a 64 KiB tmpfs, keepalived on n2, fs, sniffer)."""
    n1 = lab.add_node("n1", "198.18.0.1/24")
    n2 = lab.add_node("n2", "198.18.0.2/24")
    sn = lab.sniffer()
    fs = TinyFs(lab, "64k")
    state_dir = os.path.join(fs.path, "state")
    ka = start_keepalived(n2, seed_pair("node2", 96, "BACKUP", **FAST), binary=keepalived_bin)
    r1 = start_vipdeck(n1, seed_pair("node1", 100, "MASTER", **FAST), state_dir=state_dir)
    wait_until(lambda: n1.has_address(VIP1) and instance(r1, "VI_1")["state"] == "MASTER", 10, what="node1 master")
    return n1, n2, r1, ka, fs, sn


def _audit(r) -> list[dict]:
    with open(os.path.join(r.state_dir, "audit.log")) as f:
        return [json.loads(x) for x in f]


def _state_bytes(r) -> bytes | None:
    try:
        with open(os.path.join(r.state_dir, "state.json"), "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None


def _refusals(r, op: str) -> list[dict]:
    return [e for e in events(r) if e["kind"] == "operator" and e.get("action") == op and e.get("ok") is False]


def test_a_change_that_cannot_be_saved_on_a_full_disk_changes_nothing(node):
    n1, n2, r1, ka, fs, sn = node
    state_file = os.path.join(r1.state_dir, "state.json")
    # a first change, so state.json and audit.log exist (audit.log's last page has room left:
    # on a full tmpfs an append that fits there still succeeds, a new state file does not)
    assert "nothing to undo" in cli(r1, "failover", "VI_1", "--clear").stdout     # refused (no hold), audited
    before = _state_bytes(r1)
    fs.fill()

    r = cli(r1, "drain", "--reason", "disk full test")
    assert r.returncode == 1
    assert state_file in r.stderr and "No space left on device" in r.stderr, r.stderr
    assert "internal" not in r.stderr
    # nothing changed: memory, disk, the wire
    i = instance(r1, "VI_1")
    assert i["state"] == "MASTER" and i["effective_priority"] == 100 and not i["operator"]["drained"]
    assert status(r1)["operator"]["drained"] is None
    assert n1.has_address(VIP1) and not n2.has_address(VIP1)
    assert not [p for p in sn.snapshot(vrid=51, src=n1.ip) if p.priority != 100]
    assert _state_bytes(r1) == before
    assert not [f for f in os.listdir(r1.state_dir) if f.startswith(".state-")]   # no temp file left
    # audited, and in the event stream
    last = _audit(r1)[-1]
    assert (last["op"], last["ok"], last["uid"]) == ("drain", False, 0)
    assert "No space left on device" in last["result"] and last["args"]["reason"] == "disk full test"
    assert _refusals(r1, "drain")
    # undrain is refused by its own check: the node is not drained (nothing to undo, exit 0)
    r = cli(r1, "undrain")
    assert r.returncode == 0 and "not drained: nothing to undo" in r.stdout, r.stderr

    # the daemon goes on: with room again the same change works
    fs.unfill()
    assert cli(r1, "drain").returncode == 0
    wait_until(lambda: n2.has_address(VIP1) and not n1.has_address(VIP1), 5, what="VIP to keepalived")
    # ... and an undrain that cannot be saved leaves it drained
    fs.fill()
    r = cli(r1, "undrain")
    assert r.returncode == 1 and state_file in r.stderr and "No space left on device" in r.stderr, r.stderr
    i = instance(r1, "VI_1")
    assert i["state"] == "BACKUP" and i["operator"]["drained"] and i["effective_priority"] == 1
    assert json.loads(_state_bytes(r1))["drained"] is not None
    mark = sn.last(vrid=51, src=n2.ip).time
    wait_until(lambda: sn.last(vrid=51, src=n2.ip).time - mark > 0.5, 5, what="keepalived keeps advertising")
    assert n2.has_address(VIP1) and not n1.has_address(VIP1)
    assert r1.alive()


def test_a_change_on_a_read_only_state_dir_is_refused_and_the_audit_failure_is_reported(node):
    n1, n2, r1, ka, fs, sn = node
    state_file = os.path.join(r1.state_dir, "state.json")
    fs.read_only()

    r = cli(r1, "failover", "VI_1", "--hold", "60")
    assert r.returncode == 1
    assert state_file in r.stderr and "Read-only file system" in r.stderr, r.stderr
    i = instance(r1, "VI_1")
    assert i["state"] == "MASTER" and i["operator"]["hold_until"] is None and not i["operator"]["held"]
    assert n1.has_address(VIP1) and not n2.has_address(VIP1)
    # the audit log cannot be written either: the event stream and the daemon's log say so
    refused = _refusals(r1, "failover")
    assert refused and "Read-only file system" in refused[-1]["message"]
    audit_fail = [e for e in events(r1) if e["kind"] == "daemon" and "audit" in e["message"]]
    assert audit_fail and "Read-only file system" in audit_fail[-1]["message"], audit_fail
    assert "audit.log" in audit_fail[-1]["message"]
    assert "audit" in r1.log() and "Traceback" not in r1.log()
    assert not os.path.exists(os.path.join(r1.state_dir, "audit.log"))

    # and drain / undrain the same way; the daemon goes on and SIGHUP still reloads
    assert cli(r1, "drain").returncode == 1
    r = cli(r1, "undrain")
    assert r.returncode == 0 and "not drained: nothing to undo" in r.stdout
    assert instance(r1, "VI_1")["state"] == "MASTER"
    fs.read_only(False)
    assert cli(r1, "drain").returncode == 0
    wait_until(lambda: n2.has_address(VIP1) and not n1.has_address(VIP1), 5, what="VIP to keepalived")
    assert [a["op"] for a in _audit(r1)] == ["drain"]


def test_a_failover_hold_survives_a_reload_that_replaces_the_instance(lab, keepalived_bin):
    n1 = lab.add_node("n1", "198.18.0.1/24")
    n2 = lab.add_node("n2", "198.18.0.2/24")
    sn = lab.sniffer()
    start_keepalived(n2, seed_pair("node2", 96, "BACKUP", **FAST), binary=keepalived_bin)
    r1 = start_vipdeck(n1, seed_pair("node1", 100, "MASTER", **FAST))
    wait_until(lambda: n1.has_address(VIP1), 10, what="node1 master")
    assert cli(r1, "failover", "VI_1", "--reason", "maintenance").returncode == 0
    wait_until(lambda: n2.has_address(VIP1) and not n1.has_address(VIP1), 5, what="VIP to keepalived")

    # a changed VI_1 (garp_master_delay): the reload replaces its machine
    with open(r1.conf_path, "w") as f:
        f.write(seed_pair("node1", 100, "MASTER", more=["garp_master_delay 3"],
                          **FAST))
    seq = events(r1)[-1]["seq"]
    r1.signal(signal.SIGHUP)
    wait_until(lambda: any(e["kind"] == "config" and e.get("accepted") for e in events(r1, seq)), 10,
               what="reload accepted")
    assert "restarted 1" in next(e for e in events(r1, seq) if e["kind"] == "config")["message"]
    # held: node1 (100, preempt) must not take VI_1 back from keepalived (96)
    mark = sn.last(vrid=51, src=n2.ip).time
    wait_until(lambda: sn.last(vrid=51, src=n2.ip).time - mark > 1.0, 5, what="a second of keepalived adverts")
    assert not [p for p in sn.snapshot(vrid=51, src=n1.ip) if p.time > mark and p.priority > 0]
    i = instance(r1, "VI_1")
    assert i["state"] == "BACKUP" and i["operator"]["held"] and i["operator"]["who"]
    assert n2.has_address(VIP1) and not n1.has_address(VIP1)
    # clearing the hold lets it preempt again
    assert cli(r1, "failover", "VI_1", "--clear").returncode == 0
    wait_until(lambda: n1.has_address(VIP1), 5, what="preemption after clearing the hold")
