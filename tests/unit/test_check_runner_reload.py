"""A reload keeps what the checkers know (CheckRunner.adopt).

Before the fix every real server started UP again under the new runner, so a
dead server went back into IPVS for retry+1 failed checks after each
SIGHUP.  The same flap is also checked end to end on a real kernel in
tests/uml/guest/guest_lvs_daemon.py.
"""

from __future__ import annotations

import dataclasses

import pytest

from vipdeck.engine.check.runner import CheckRunner
from vipdeck.engine.config.model import Loc, RealServer, SorryServer, TcpCheck, VirtualServer
from vipdeck.engine.lab.wait import async_wait_until
from tests.support.check_servers import free_port

pytestmark = pytest.mark.timeout(30)
LO = "127.0.0.1"


def tcp(port: int, line: int, **kw) -> TcpCheck:
    kw = {"delay_loop": 0.1, "delay_before_retry": 0.05, "warmup": 0.0, "connect_timeout": 1.0, "retry": 1, **kw}
    return TcpCheck(kind="TCP_CHECK", connect_ip=LO, connect_port=port, loc=Loc("k.conf", line), **kw)


def vs_with(dead: int, live_weight: int, line: int = 10, **dead_check) -> VirtualServer:
    """One dead server (nothing listens on its port) and one whose weight the reload edits."""
    return VirtualServer(address="198.18.0.100", port=80, sorry_server=SorryServer(address="198.18.0.30", port=80),
                         real_servers=(
                             RealServer(address=LO, port=dead, checkers=(tcp(dead, line, **dead_check),)),
                             RealServer(address="198.18.0.22", port=80, weight=live_weight, checkers=())))


async def run_until_down(vs: VirtualServer) -> CheckRunner:
    runner = CheckRunner([vs])
    runner.start()
    await async_wait_until(lambda: not runner.real_server(vs.key, f"{LO}:{vs.real_servers[0].port}").alive, 5,
                           what="the dead server DOWN")
    await runner.stop()
    return runner


async def test_a_dead_server_stays_down_across_a_reload():
    dead = free_port()
    old = await run_until_down(vs_with(dead, 1))
    # the edit moved the checker two lines down: positions do not count
    new_vs = vs_with(dead, 2, line=12)
    changes: list[str] = []
    new = CheckRunner([new_vs], on_change=changes.append)
    assert new.adopt(old) == 2
    rs = new.real_server(new_vs.key, f"{LO}:{dead}")
    assert not rs.alive and rs.checkers[0].failures == 2 and rs.checkers[0].has_run
    new.start()
    try:
        assert changes == [new_vs.key]
        # from the first desired state on: the dead server is not in the pool
        assert [(d.address, d.weight) for d in new.desired(new_vs)] == [("198.18.0.22", 2)]
    finally:
        await new.stop()


async def test_a_changed_checker_starts_afresh():
    dead = free_port()
    old = await run_until_down(vs_with(dead, 1))
    new_vs = vs_with(dead, 1, connect_timeout=2.0)
    new = CheckRunner([new_vs])
    assert new.adopt(old) == 1                       # only the server without checkers
    assert new.real_server(new_vs.key, f"{LO}:{dead}").alive


async def test_an_active_sorry_server_is_kept_without_a_second_announcement():
    dead = free_port()
    vs = dataclasses.replace(vs_with(dead, 1), real_servers=vs_with(dead, 1).real_servers[:1])
    old = await run_until_down(vs)
    assert old.vs(vs.key).sorry_active
    events = []
    new = CheckRunner([vs], on_event=events.append)
    new.adopt(old)
    new.start()
    try:
        assert [(d.address, d.sorry) for d in new.desired(vs)] == [("198.18.0.30", True)]
        assert not [e for e in events if e.fields.get("state") == "QUORUM_DOWN"]
    finally:
        await new.stop()
