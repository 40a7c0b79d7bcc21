"""The state store's transaction, the control socket's decoding and its rate
limit: the parts of the operator-fault fixes that need no root (the lab
tests drive the same code through a real daemon on a full / read-only tmpfs
and a real socket)."""

from __future__ import annotations

import json
import os

import pytest

from vipdeck.engine.control.limits import RateLimit
from vipdeck.engine.control.schema import ControlError
from vipdeck.engine.control.server import decode_request
from vipdeck.engine.state import StateStore, StateWriteError, Stamp


def test_a_commit_the_disk_refuses_leaves_the_current_state_alone(tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the state directory should be")
    store = StateStore(str(blocker / "state"))           # ENOTDIR: no directory, the store still opens
    assert store.problem and "cannot be created" in store.problem
    new = store.proposal()
    new.drained = Stamp(who="ops", when=1.0)
    with pytest.raises(StateWriteError) as e:
        store.commit(new)
    assert str(blocker / "state" / "state.json") in str(e.value) and "Not a directory" in str(e.value)
    assert store.state.drained is None                   # nothing changed in memory
    with pytest.raises(StateWriteError) as e:
        store.audit(uid=0, who="ops", op="drain", args={}, ok=False, result="x")
    assert e.value.entry["op"] == "drain" and "audit.log" in str(e.value)


def test_a_commit_is_on_disk_before_it_is_current_and_proposals_are_copies(tmp_path):
    store = StateStore(str(tmp_path))
    new = store.proposal()
    new.holds["VI_1"] = {"until": None, "who": "ops", "when": 1.0, "why": ""}
    assert store.state.holds == {}                        # editing a proposal touches nothing
    store.commit(new)
    assert json.loads((tmp_path / "state.json").read_text())["holds"]["VI_1"]["who"] == "ops"
    assert store.state is new
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".state-")]
    store.audit(uid=0, who="ops", op="failover", args={"instance": "VI_1", "who": "ops"}, ok=True, result="ok")
    assert store.audit_tail()[-1]["args"] == {"instance": "VI_1"}


@pytest.mark.parametrize("line,why", [
    (b"\xff\xfe\x00\x01\n", "not UTF-8 text: byte 0xff at offset 0"),
    (b'{"op": "x\x80"}\n', "byte 0x80 at offset 9"),
    (b"[" * 100_000 + b"\n", "nested too deeply"),
    (b'{"since": ' + b"9" * 5000 + b"}\n", "more than 4300 digits"),
    (b'{"since": NaN}\n', "NaN is not a JSON number"),
    (b"{oops}\n", "not JSON: Expecting property name"),
])
def test_undecodable_requests_are_bad_requests_naming_the_problem(line, why):
    with pytest.raises(ControlError) as e:
        decode_request(line)
    assert e.value.code == "bad_request" and why in e.value.message


def test_rate_limit_passes_a_burst_then_one_per_interval_and_counts_the_rest():
    t = [0.0]
    rl = RateLimit(burst=3, interval=10.0, clock=lambda: t[0])
    assert [rl.allow("u")[0] for _ in range(5)] == [True, True, True, False, False]
    assert rl.allow("other") == (True, 0)                # per key
    t[0] = 10.0
    assert rl.allow("u") == (True, 2)                    # says what it left out
    assert rl.allow("u") == (False, 0)
    t[0] = 1000.0
    assert [rl.allow("u")[0] for _ in range(4)] == [True, True, True, False]   # refilled to the burst only


def test_rate_limit_keys_are_bounded():
    t = [0.0]
    rl = RateLimit(burst=1, interval=1.0, clock=lambda: t[0], max_keys=10)
    for k in range(100):
        rl.allow(k)
        t[0] += 0.01
    assert len(rl._buckets) <= 10


class BusOnly:
    """The server needs only a bus for a follow stream (a real EventBus)."""

    def __init__(self):
        from vipdeck.engine.events import EventBus

        self.bus = EventBus()

    async def handle(self, op, args, uid):
        return {}


async def test_a_follower_that_stops_reading_is_dropped_and_one_that_hangs_up_is_freed(tmp_path):
    import asyncio

    from vipdeck.engine.control.server import ControlServer
    from vipdeck.engine.lab.wait import async_wait_until

    api = BusOnly()
    server = ControlServer(str(tmp_path / "c.sock"), api, idle_timeout=0.5)
    await server.start()
    try:
        stalled_r, stalled_w = await asyncio.open_unix_connection(server.path)
        stalled_w.write(b'{"id": 1, "op": "events", "follow": true}\n')
        await stalled_r.readline()
        quiet_r, quiet_w = await asyncio.open_unix_connection(server.path)
        quiet_w.write(b'{"id": 1, "op": "events", "follow": true}\n')
        await quiet_r.readline()
        await async_wait_until(lambda: sum(server.connections.values()) == 2, 5, what="two followers")
        quiet_w.close()                      # hangs up on a quiet bus: freed without any write
        await async_wait_until(lambda: sum(server.connections.values()) == 1, 5, what="the hang-up noticed")
        # the stalled one never reads: once the buffers are full its write cannot finish
        for k in range(2000):
            api.bus.emit("daemon", "x" * 4000, n=k)
            await asyncio.sleep(0)
            if not server.connections:
                break
        await async_wait_until(lambda: not server.connections, 5, what="the stalled follower dropped")
        stalled_w.close()
    finally:
        await server.stop()
