"""Which checker runs are news: a passing check of a healthy checker emits no
event (a thousand real servers at delay_loop 1 would flood the stream with a
thousand a second), while every failure, every UP/DOWN change and the first
success after a failure still do.  Real TCP checks against loopback."""

from __future__ import annotations

import pytest

from vipdeck.engine.check.runner import CheckRunner
from vipdeck.engine.config.model import RealServer, VirtualServer
from vipdeck.engine.lab.wait import async_wait_until
from tests.unit.test_check_runner import Listener, Recorder, passes, tcp

pytestmark = pytest.mark.timeout(30)


async def test_passing_checks_of_a_healthy_server_emit_no_event():
    srv = await Listener().up()
    rec = Recorder()
    real = RealServer(address="127.0.0.1", port=srv.port, checkers=(tcp(srv.port, delay_loop=0.02),))
    vs = VirtualServer(address="198.18.0.100", port=80, real_servers=(real,))
    runner = CheckRunner([vs], on_event=rec.on_event, on_change=rec.changes.append)
    runner.start()
    try:
        await async_wait_until(lambda: passes(runner) >= 10, 5, what="ten passing checks")
        assert srv.accepts >= 10                       # they really ran, on the wire
        assert rec.events == []
        assert rec.changes == [vs.key]                 # the start only: nothing to reconcile per check
        snap = runner.snapshot()[0]["real_servers"][0]["checkers"][0]
        assert snap["runs"] >= 10 and snap["ok"] is True and snap["last_check"] is not None
    finally:
        await runner.stop()
        srv.down()


async def test_failures_the_down_change_and_the_recovery_still_emit():
    srv = await Listener().up()
    rec = Recorder()
    key = f"127.0.0.1:{srv.port}"
    real = RealServer(address="127.0.0.1", port=srv.port,
                      checkers=(tcp(srv.port, delay_loop=0.05, retry=1, delay_before_retry=0.02),))
    vs = VirtualServer(address="198.18.0.100", port=80, real_servers=(real,))
    runner = CheckRunner([vs], on_event=rec.on_event, on_change=rec.changes.append)
    runner.start()
    try:
        await async_wait_until(lambda: passes(runner) >= 3, 5, what="passing checks")
        srv.down()
        await async_wait_until(lambda: rec.of("rs_state", state="DOWN"), 5, what="DOWN")
        fails = rec.of("check", ok=False)
        assert [e.fields["failures"] for _, e in fails[:2]] == [1, 2]
        assert all(e.severity == "warning" and e.fields["rs"] == key for _, e in fails)
        assert rec.changes[-1] == vs.key and runner.desired(vs.key) == ()
        await srv.up()
        await async_wait_until(lambda: rec.of("rs_state", state="UP"), 5, what="UP again")
        ok = rec.of("check", ok=True)
        assert len(ok) == 1 and ok[0][1].fields["up"] is True      # the recovery, once
        n = len(rec.events)
        before = passes(runner)
        await async_wait_until(lambda: passes(runner) >= before + 5, 5, what="passing again")
        assert len(rec.events) == n                                  # and quiet afterwards
    finally:
        await runner.stop()
        srv.down()
