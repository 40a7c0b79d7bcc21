"""Operator actions through the real CLI and control socket, on a daemon pair.

Each action is a CLI command → control request → persisted intent → audit
line → effect on the wire; the tests check all of those, and that the
intent survives a daemon restart.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import pytest

from vipdeck.engine.control.client import SocketClient
from vipdeck.engine.lab import wait_until
from vipdeck.engine.lab.peers import instance, start_vipdeck, status
from tests.support.labconf import VIP1, seed_pair
from tests.support.vipdeck_cli import cli, restart_with_state

pytestmark = pytest.mark.lab

FAST = dict(version=3, advert_int=0.1)


@pytest.fixture
def pair(lab):
    n1 = lab.add_node("n1", "198.18.0.1/24")
    n2 = lab.add_node("n2", "198.18.0.2/24")
    sn = lab.sniffer()
    r1 = start_vipdeck(n1, seed_pair("node1", 100, "MASTER", **FAST))
    r2 = start_vipdeck(n2, seed_pair("node2", 96, "BACKUP", **FAST))
    def settled() -> bool:
        i = instance(r2, "VI_1")          # BACKUP having heard node1 (not still waiting for it)
        return n1.has_address(VIP1) and i["state"] == "BACKUP" and i["master"]["address"] == n1.ip
    wait_until(settled, 10, what="node1 master, node2 its backup")
    return n1, n2, r1, r2, sn


def test_drain_moves_the_vip_with_a_priority_zero_advert_and_survives_restart(pair):
    n1, n2, r1, r2, sn = pair
    r = cli(r1, "drain", "--reason", "kernel upgrade")
    assert r.returncode == 0, r.stderr
    assert "resigned VI_1" in r.stdout
    zero = wait_until(lambda: next((p for p in sn.snapshot(vrid=51, src=n1.ip) if p.priority == 0), None), 5)
    wait_until(lambda: n2.has_address(VIP1) and not n1.has_address(VIP1), 5, what="VIP moved to node2")
    first = next(p for p in sn.snapshot(vrid=51, src=n2.ip) if p.priority > 0 and p.time > zero.time)
    assert first.time - zero.time <= (256 - 96) * 0.1 / 256 + 0.2  # skew time, not 3 intervals
    i = instance(r1, "VI_1")
    assert i["state"] == "BACKUP" and i["operator"]["drained"]
    snap = status(r1)
    assert snap["operator"]["drained"]["why"] == "kernel upgrade"
    assert "DRAINED" in cli(r1, "status").stdout

    # the intent is persisted: a restarted daemon stays drained and does not preempt
    assert r1.stop() == 0
    r1 = restart_with_state(n1, r1)
    wait_until(lambda: instance(r1, "VI_1")["state"] == "BACKUP", 5)
    mark = sn.last(vrid=51, src=n2.ip).time
    wait_until(lambda: (sn.last(vrid=51, src=n2.ip).time - mark) > 1.0, 5, what="a second of node2 adverts")
    assert n2.has_address(VIP1) and not n1.has_address(VIP1)
    assert instance(r1, "VI_1")["operator"]["drained"]

    r = cli(r1, "undrain")
    assert r.returncode == 0, r.stderr
    wait_until(lambda: n1.has_address(VIP1) and not n2.has_address(VIP1), 5, what="VIP back after undrain")

    audit = [json.loads(x) for x in open(os.path.join(r1.state_dir, "audit.log"))]
    assert [(a["op"], a["ok"]) for a in audit][-2:] == [("drain", True), ("undrain", True)]
    assert audit[-2]["uid"] == 0 and audit[-2]["args"]["reason"] == "kernel upgrade"


def test_failover_with_hold_and_takeover(pair):
    n1, n2, r1, r2, sn = pair
    r = cli(r2, "failover", "VI_1")
    assert r.returncode == 1 and "not MASTER" in r.stderr      # refused on the backup, clearly
    r = cli(r1, "failover", "VI_1", "--hold", "30", "--reason", "test")
    assert r.returncode == 0, r.stderr
    wait_until(lambda: n2.has_address(VIP1) and not n1.has_address(VIP1), 5, what="VIP to node2")
    # held: node1 (100) does not preempt node2 (96)
    mark = sn.last(vrid=51, src=n2.ip).time
    wait_until(lambda: sn.last(vrid=51, src=n2.ip).time - mark > 1.0, 5)
    assert instance(r1, "VI_1")["state"] == "BACKUP"
    r = cli(r1, "failover", "VI_1", "--clear")
    assert r.returncode == 0, r.stderr
    wait_until(lambda: n1.has_address(VIP1), 5, what="preemption after clearing the hold")

    # takeover from the backup: node2 raises its effective priority above node1's
    r = cli(r2, "takeover", "VI_1", "--reason", "move traffic")
    assert r.returncode == 0, r.stderr
    wait_until(lambda: n2.has_address(VIP1) and not n1.has_address(VIP1), 5, what="takeover")
    assert instance(r2, "VI_1")["effective_priority"] == 101
    assert cli(r2, "takeover", "VI_1", "--release").returncode == 0
    wait_until(lambda: n1.has_address(VIP1), 5, what="node1 preempts after release")


def test_a_takeover_survives_a_daemon_restart(pair):
    """The persisted takeover reaches the restarted daemon's machine before it has heard
    any master; it must take over again at node1's first advert (it used to stay BACKUP)."""
    n1, n2, r1, r2, sn = pair
    r = cli(r2, "takeover", "VI_1", "--reason", "move traffic")
    assert r.returncode == 0, r.stderr
    wait_until(lambda: n2.has_address(VIP1) and not n1.has_address(VIP1), 5, what="takeover")
    assert r2.stop() == 0                       # priority 0: node1 takes the VIP back at once
    wait_until(lambda: n1.has_address(VIP1) and instance(r1, "VI_1")["state"] == "MASTER", 5,
               what="node1 master while node2 is down")
    down = sn.last(vrid=51, src=n1.ip).time
    r2 = restart_with_state(n2, r2)
    wait_until(lambda: n2.has_address(VIP1) and not n1.has_address(VIP1), 5, what="node2 takes over again")
    i = instance(r2, "VI_1")
    assert i["state"] == "MASTER" and i["effective_priority"] == 101
    assert i["last_transition"]["reason"] == "operator" and "takeover: priority 101 > 100" in i["last_transition"]["detail"]
    assert i["operator"]["takeover"] and not i["operator"]["takeover_pending"]
    mark = sn.last(vrid=51, src=n2.ip).time
    wait_until(lambda: sn.last(vrid=51, src=n2.ip).time - mark > 1.0, 5, what="a second of node2 adverts")
    assert instance(r1, "VI_1")["state"] == "BACKUP" and n2.has_address(VIP1)
    assert {p.priority for p in sn.snapshot(vrid=51, src=n2.ip) if p.time > down} == {101}
    assert "takeover by" in cli(r2, "status").stdout


def test_changes_need_root_reads_do_not_and_bad_requests_are_named(pair):
    n1, n2, r1, r2, sn = pair
    os.chmod(r1.workdir, 0o755)              # let uid 65534 reach the socket at all
    os.chmod(r1.socket_path, 0o666)
    r = cli(r1, "drain", uid=65534)
    assert r.returncode == 3 and "root" in r.stderr
    assert instance(r1, "VI_1")["state"] == "MASTER"
    r = cli(r1, "status", "--json", uid=65534)
    assert r.returncode == 0 and json.loads(r.stdout)["instances"][0]["name"] == "VI_1"
    r = cli(r1, "status", uid=65534)           # the text needs nothing the socket's group cannot read
    assert r.returncode == 0 and "VI_1: vrid 51" in r.stdout, r.stderr
    r = cli(r1, "failover", "VI_9")
    assert r.returncode == 1 and "no vrrp_instance 'VI_9'" in r.stderr
    r = cli(r1, "weight", "198.18.0.199:80", "198.18.0.10:80", "5")
    assert r.returncode == 1 and "no virtual_server" in r.stderr
    # a raw malformed request gets an error reply naming the field, and the daemon lives on
    import socket

    s = socket.socket(socket.AF_UNIX)
    s.connect(r1.socket_path)
    s.sendall(b'{"id": 1, "op": 42}\n{"id": 2, "op": "events", "since": "x"}\nnot json\n')
    f = s.makefile()
    replies = [json.loads(f.readline()) for _ in range(3)]
    s.close()
    assert [x["error"]["code"] for x in replies] == ["bad_request"] * 3
    assert "'op'" in replies[0]["error"]["message"] and "'since'" in replies[1]["error"]["message"]
    assert r1.alive()
    audit = [json.loads(x) for x in open(os.path.join(r1.state_dir, "audit.log"))]
    assert any(a["op"] == "failover" and not a["ok"] for a in audit)


def test_events_stream_shows_transitions_and_operator_actions(pair):
    n1, n2, r1, r2, sn = pair
    # from the settled pair on: on a loaded machine node2 may have been MASTER for a moment
    # at start-up (node1's first adverts late), and that transition is in its history
    settled = max((e["seq"] for e in asyncio.run(SocketClient(r2.socket_path).events())), default=0)
    follow = subprocess.Popen([sys.executable, "-m", "vipdeck", "events", "--follow", "--json", "--since",
                               str(settled), "--socket", r2.socket_path], stdout=subprocess.PIPE, text=True)
    try:
        assert cli(r1, "drain").returncode == 0
        seen = []
        while True:
            ev = json.loads(follow.stdout.readline())
            seen.append(ev)
            if ev["kind"] == "transition" and ev["to"] == "MASTER":
                break
        assert ev["reason"] == "priority_zero_received" and ev["instance"] == "VI_1"
    finally:
        follow.kill()
        follow.wait()
    out = cli(r1, "events").stdout
    assert "operator" in out and "drained" in out


def test_drain_preview_and_asking_twice_both_ways_changes_nothing_and_succeeds(pair):
    """`drain --dry-run` prints the console's preview; a second drain and an
    undrain of a node that is not drained change nothing and exit 0 (a second
    drain exited 0 and re-stamped who drained, an undrain of nothing exited 1);
    "drained by" names the account when $USER is unset (it said "0")."""
    n1, n2, r1, r2, sn = pair
    r = cli(r1, "drain", "--dry-run")
    assert r.returncode == 0, r.stderr
    from vipdeck.console.actions import plan_drain
    from vipdeck.console.derive import SnapView

    plan = plan_drain(SnapView(status(r1)))          # what the console's confirmation says
    vi1 = next(x for x in plan.body.plain.splitlines() if "VI_1 (VRID 51)" in x)
    assert r.stdout.splitlines()[0] == plan.title and vi1 in r.stdout.splitlines(), r.stdout
    assert f"{VIP1}/32 → " in vi1 and "(dry run: nothing was changed)" in r.stdout
    assert instance(r1, "VI_1")["state"] == "MASTER" and status(r1)["operator"]["drained"] is None

    r = cli(r1, "undrain")
    assert r.returncode == 0 and "node is not drained: nothing to undo" in r.stdout, (r.stdout, r.stderr)

    env = {k: v for k, v in os.environ.items() if k not in ("USER", "LOGNAME", "SUDO_USER")}
    r = subprocess.run([sys.executable, "-m", "vipdeck", "drain", "--reason", "first", "--socket",
                        r1.socket_path], capture_output=True, text=True, timeout=30, env=env)
    assert r.returncode == 0, r.stderr
    drained = status(r1)["operator"]["drained"]
    assert (drained["who"], drained["why"]) == ("root", "first")
    r = cli(r1, "drain", "--reason", "second")
    assert r.returncode == 0 and "drained already (by root" in r.stdout and "nothing changed" in r.stdout
    assert status(r1)["operator"]["drained"] == drained          # not re-stamped
    r = cli(r1, "drain", "--dry-run")
    assert r.returncode == 0 and "drained already" in r.stdout
    assert "DRAINED by root" in cli(r1, "status").stdout

    r = cli(r1, "undrain", "--dry-run")
    assert r.returncode == 0 and "returns to normal election" in r.stdout
    assert status(r1)["operator"]["drained"] is not None
    assert cli(r1, "undrain").returncode == 0
    r = cli(r1, "undrain")
    assert r.returncode == 0 and "nothing to undo" in r.stdout
