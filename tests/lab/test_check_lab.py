"""Checks that need two hosts: run from inside lab node ``lb`` (sockets made
in its namespace through ``CheckEnv.socket_factory``) against nodes whose
kernels answer, refuse, or silently drop (nftables) the traffic."""

from __future__ import annotations

import asyncio
import shutil
import socket
import time

import pytest

from vipdeck.engine.check.kinds import run_check
from vipdeck.engine.check.result import CheckEnv
from vipdeck.engine.check.runner import CheckEvent, CheckRunner
from vipdeck.engine.config.model import (DnsCheck, HttpCheck, HttpUrl, PingCheck, RealServer, TcpCheck, UdpCheck,
                                 VirtualServer)
from vipdeck.engine.lab.wait import async_wait_until
from tests.support.check_servers import HttpBackend, Route
from tests.support.paths import require

pytestmark = [pytest.mark.lab, pytest.mark.timeout(60)]

LB4, RS4, RS2_4 = "198.18.0.1", "198.18.0.2", "198.18.0.3"
LB6, RS6 = "2001:db8::1", "2001:db8::2"


@pytest.fixture
def nodes(lab):
    lb = lab.add_node("lb", [f"{LB4}/24", f"{LB6}/64"])
    rs = lab.add_node("rs", [f"{RS4}/24", f"{RS6}/64"])
    rs2 = lab.add_node("rs2", f"{RS2_4}/24")
    return lb, rs, rs2


def black_hole(node, source: str) -> None:
    """Drop everything from ``source`` inside ``node``: no RST, no ICMP."""
    require(shutil.which("nft") is not None, "nftables (nft) is needed for a black-holed node")
    node.run("nft", "add table inet blackhole")
    node.run("nft", "add chain inet blackhole in { type filter hook input priority 0 ; policy accept ; }")
    node.run("nft", "add rule inet blackhole in ip saddr", source, "drop")


async def test_ping_v4_v6_and_udp_port_unreachable_across_the_lab(nodes):
    lb, rs, _ = nodes
    env = CheckEnv(socket_factory=lb.socket)
    r = await run_check(PingCheck(kind="PING_CHECK", connect_ip=RS4, connect_port=None, connect_timeout=2), env)
    assert r.ok, r.error
    r = await run_check(PingCheck(kind="PING_CHECK", connect_ip=RS6, connect_port=None, connect_timeout=2), env)
    assert r.ok, r.error
    r = await run_check(PingCheck(kind="PING_CHECK", connect_ip="198.18.0.99", connect_port=None,
                                  connect_timeout=0.3), env)
    assert r.error == "no echo reply within 0.3 s"
    r = await run_check(UdpCheck(kind="UDP_CHECK", connect_ip=RS4, connect_port=9, payload=b"hi",
                                 connect_timeout=2), env)
    assert r.error == "port unreachable" and r.latency < 1.5
    r = await run_check(TcpCheck(kind="TCP_CHECK", connect_ip=RS4, connect_port=80), env)
    assert r.error == "connection refused"


async def test_black_holed_node_gives_timeouts_not_refusals(nodes):
    lb, rs, _ = nodes
    env = CheckEnv(socket_factory=lb.socket)
    black_hole(rs, LB4)
    t = 0.3
    base = dict(connect_ip=RS4, connect_timeout=t)
    r = await run_check(TcpCheck(kind="TCP_CHECK", connect_port=80, **base), env)
    assert r.error == "connect timeout after 0.3 s"
    assert 0.28 < r.latency < 1.0
    r = await run_check(HttpCheck(kind="HTTP_GET", connect_port=80, urls=(HttpUrl(),), **base), env)
    assert r.error == "connect timeout after 0.3 s"
    r = await run_check(PingCheck(kind="PING_CHECK", connect_port=None, **base), env)
    assert r.error == "no echo reply within 0.3 s"
    r = await run_check(DnsCheck(kind="DNS_CHECK", connect_port=53, **base), env)
    assert r.error == "no DNS reply within 0.3 s"
    # keepalived's UDP_CHECK semantics: silence (no ICMP error) is success without require_reply
    assert (await run_check(UdpCheck(kind="UDP_CHECK", connect_port=9, payload=b"x", **base), env)).ok
    r = await run_check(UdpCheck(kind="UDP_CHECK", connect_port=9, payload=b"x", require_reply=True, **base), env)
    assert r.error == "no reply within 0.3 s"
    # IPv6 is not dropped: the same node still answers there
    r = await run_check(PingCheck(kind="PING_CHECK", connect_ip=RS6, connect_port=None, connect_timeout=2), env)
    assert r.ok, r.error


async def test_black_holed_server_does_not_delay_checks_of_another(nodes):
    lb, rs, rs2 = nodes
    black_hole(rs, LB4)
    sock = rs2.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((RS2_4, 80))
    backend = HttpBackend(routes={"/health": Route(200, b"ok\n")})
    await backend.start(sock=sock)
    events: list[tuple[float, CheckEvent]] = []
    timing = dict(delay_loop=0.05, delay_before_retry=0.05, warmup=0.0, retry=0)
    dark = RealServer(address=RS4, port=80, checkers=(
        TcpCheck(kind="TCP_CHECK", connect_ip=RS4, connect_port=80, connect_timeout=1.5, **timing),))
    live = RealServer(address=RS2_4, port=80, virtualhost="app.example.test", checkers=(
        HttpCheck(kind="HTTP_GET", connect_ip=RS2_4, connect_port=80, connect_timeout=1.0,
                  virtualhost="app.example.test", urls=(HttpUrl(path="/health", regex="ok"),), **timing),))
    vs = VirtualServer(address="198.18.0.100", port=80, real_servers=(dark, live))
    runner = CheckRunner([vs], env=CheckEnv(socket_factory=lb.socket),
                         on_event=lambda e: events.append((time.monotonic(), e)))
    task = asyncio.create_task(runner.run())
    try:
        def first_dark():
            return next(((t, e) for t, e in events if e.kind == "check" and e.fields["rs"] == f"{RS4}:80"), None)

        t_dark, ev = await async_wait_until(first_dark, 5, what="the black-holed check to time out")
        assert ev.fields["error"] == "connect timeout after 1.5 s"
        # the live server's checks, seen on the wire (a passing check is no event)
        live_ok = [t for t in backend.times if t < t_dark]
        assert len(live_ok) >= 10, len(live_ok)
        assert max(b - a for a, b in zip(live_ok, live_ok[1:])) < 0.5
        assert backend.requests[0][1]["host"] == "app.example.test"
        await async_wait_until(lambda: [d.address for d in runner.desired(vs.key)] == [RS2_4], 3,
                               what="only the live server to stay in the pool")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await backend.close()
