"""The control socket under abuse, against a real daemon's real socket.

Refused changes are audited (who, uid, pid, op, why) and a flood of them
is bounded; undecodable input is a ``bad_request`` with no traceback and
no log flood; an idle connection is closed after the idle timeout (here 1 s)
while a follow stream is not; a uid cannot hold more than its cap of
connections (here 3) and root still gets in.  Unprivileged peers are the
test process itself with its effective uid switched to nobody around
``connect`` (SO_PEERCRED records the credentials at connect time).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time

import pytest

from vipdeck.engine.lab import wait_until
from vipdeck.engine.lab.peers import instance, start_vipdeck
from tests.support.labconf import VIP1, seed_pair
from tests.support.vipdeck_cli import cli, events

pytestmark = pytest.mark.lab

NOBODY = 65534
IDLE = 1.0
CAP = 3


@pytest.fixture
def r1(lab):
    n1 = lab.add_node("n1", "198.18.0.1/24")
    r = start_vipdeck(n1, seed_pair("node1", 100, "MASTER", version=3, advert_int=0.1),
                      extra_args=("--control-idle-timeout", str(IDLE), "--control-max-connections", str(CAP)))
    wait_until(lambda: n1.has_address(VIP1), 10, what="node1 master")
    os.chmod(r.workdir, 0o755)              # let nobody reach the socket at all
    os.chmod(r.socket_path, 0o666)
    return r


@contextlib.contextmanager
def as_uid(uid: int):
    os.seteuid(uid)
    try:
        yield
    finally:
        os.seteuid(0)


def connect(r, uid: int = 0) -> socket.socket:
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    if uid:
        with as_uid(uid):
            s.connect(r.socket_path)
    else:
        s.connect(r.socket_path)
    return s


class Conn:
    def __init__(self, r, uid: int = 0):
        self.sock = connect(r, uid)
        self.f = self.sock.makefile("rb")

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def reply(self) -> dict | None:
        line = self.f.readline()
        return json.loads(line) if line else None

    def close(self) -> None:
        self.f.close()
        self.sock.close()


def _audit(r) -> list[dict]:
    try:
        with open(os.path.join(r.state_dir, "audit.log")) as f:
            return [json.loads(x) for x in f]
    except FileNotFoundError:
        return []


def test_refused_changes_are_audited_and_a_flood_of_them_is_bounded(r1):
    r = cli(r1, "drain", "--reason", "not mine to drain", uid=NOBODY)
    assert r.returncode == 3 and "root" in r.stderr
    last = _audit(r1)[-1]
    assert (last["op"], last["ok"], last["uid"], last["code"]) == ("drain", False, NOBODY, "forbidden")
    assert last["pid"] > 0 and last["args"]["reason"] == "not mine to drain" and "root" in last["result"]
    ev = [e for e in events(r1) if e["kind"] == "operator" and e.get("ok") is False]
    assert ev and ev[-1]["uid"] == NOBODY and ev[-1]["action"] == "drain"

    # 300 refusals on one connection: all answered, but the audit log, the event ring and
    # the daemon's log grow by a bounded amount (a burst, then one per 10 s per uid)
    audit_before, events_before, log_before = len(_audit(r1)), events(r1)[-1]["seq"], len(r1.log())
    c = Conn(r1, NOBODY)
    c.send((b'{"op": "drain", "who": "flood", "reason": "' + b"x" * 5000 + b'"}\n') * 300)
    replies = [c.reply() for _ in range(300)]
    c.close()
    assert {x["error"]["code"] for x in replies} == {"forbidden"}
    added = _audit(r1)[audit_before:]
    assert 1 <= len(added) <= 12, len(added)
    assert all(len(json.dumps(a)) < 3000 for a in added)      # a 5 KB reason is not copied in
    assert len([e for e in events(r1, events_before) if e["kind"] == "operator"]) <= 12
    assert len(r1.log()) - log_before < 20_000
    assert instance(r1, "VI_1")["state"] == "MASTER" and not instance(r1, "VI_1")["operator"]["drained"]


def test_undecodable_input_is_a_bad_request_without_a_traceback(r1):
    c = Conn(r1)
    bad = [b"\xff\xfe\x00\x01", b"\x80abc", b"[" * 100_000, b'{"op": ' + b"1" * 5000 + b"}",
           b'{"op": "events", "since": NaN}', b"not json", b'"a string"']
    for line in bad:
        c.send(line + b"\n")
        x = c.reply()
        assert x["ok"] is False and x["error"]["code"] == "bad_request", (line[:20], x)
    c.send(b"\xff\x00\n" * 200)
    assert {c.reply()["error"]["code"] for _ in range(200)} == {"bad_request"}
    c.send(b'{"id": 7, "op": "ping"}\n')
    assert c.reply() == {"id": 7, "ok": True, "result": {"pong": True}}
    c.close()
    log = r1.log()
    assert "Traceback" not in log and "internal error" not in log
    assert len([x for x in log.splitlines() if "vipdeck.control" in x]) <= 8   # a burst of 5, then limited


def test_an_idle_connection_is_closed_and_a_follow_stream_is_not(r1):
    follower = Conn(r1)
    follower.send(b'{"id": 1, "op": "events", "since": 0, "follow": true}\n')
    assert follower.reply()["ok"]

    t0 = time.monotonic()
    idle = Conn(r1)
    x = idle.reply()                         # nothing sent: the server gives up after IDLE
    assert x["error"]["code"] == "timeout" and "1 s" in x["error"]["message"]
    assert idle.reply() is None              # and closes
    assert IDLE - 0.1 < time.monotonic() - t0 < IDLE + 2
    idle.close()

    # the deadline covers the whole line: trickling a byte at a time does not keep it open
    t0 = time.monotonic()
    trickle = Conn(r1)
    trickle.sock.settimeout(0.2)
    got = b""
    for ch in b'{"op": "ping"' + b" " * 100:
        try:
            trickle.sock.send(bytes([ch]))
            got += trickle.sock.recv(4096)
        except socket.timeout:
            continue
        except (BrokenPipeError, ConnectionResetError):
            break
        if got.endswith(b"\n"):
            break
    assert b'"timeout"' in got and time.monotonic() - t0 < IDLE + 2
    trickle.close()

    # the follower, connected for longer than the idle timeout, still gets new events
    r = cli(r1, "failover", "VI_1", "--clear")       # a refusal (no hold: an operator event); the CLI
    assert r.returncode == 0 and "nothing to undo" in r.stdout   # says nothing to undo and succeeds
    follower.sock.settimeout(5)
    while True:
        ev = json.loads(follower.f.readline())["event"]
        if ev["kind"] == "operator":
            break
    assert ev["action"] == "clear_hold" and ev["ok"] is False
    follower.close()


def test_connections_per_uid_are_capped_root_still_gets_in_and_closed_ones_are_freed(r1):
    held = []
    for _ in range(CAP):                     # followers: long-lived by design
        c = Conn(r1, NOBODY)
        c.send(b'{"id": 1, "op": "events", "since": 0, "follow": true}\n')
        assert c.reply()["ok"]
        held.append(c)
    extra = Conn(r1, NOBODY)
    x = extra.reply()
    assert x["error"]["code"] == "busy" and f"uid {NOBODY} (limit {CAP})" in x["error"]["message"]
    assert extra.reply() is None
    extra.close()
    # root is not locked out by the group's members
    assert instance(r1, "VI_1")["state"] == "MASTER"
    assert cli(r1, "status").returncode == 0
    # a follower that hangs up frees its slot at once (the node is quiet: no event write
    # would have noticed it)
    held.pop().close()

    def accepted() -> bool:
        c = Conn(r1, NOBODY)
        try:
            c.send(b'{"id": 2, "op": "ping"}\n')
            return c.reply().get("ok") is True
        finally:
            c.close()

    wait_until(accepted, 5, what="a new connection after one closed")
    for c in held:
        c.close()
    assert "Traceback" not in r1.log()
