"""TCP, UDP, DNS, SMTP, MISC, FILE, PING and BFD checks against real things
on loopback (servers in the test's loop, real subprocesses, real files)."""

from __future__ import annotations

import asyncio
import os
import socket
import time

import pytest

from vipdeck.engine.check.dns import build_query, encode_name
from vipdeck.engine.check.file import evaluate, strtol0
from vipdeck.engine.check.kinds import run_check
from vipdeck.engine.check.result import CheckEnv
from vipdeck.engine.check.udp import match_pattern, parse_hex_pattern
from vipdeck.engine.config.model import (BfdCheck, DnsCheck, FileCheck, MiscCheck, PingCheck, SmtpCheck,
                                 TcpCheck, TrackFile, UdpCheck)
from tests.support.check_servers import dns_reply, free_port, udp_server

pytestmark = pytest.mark.timeout(30)
LO = "127.0.0.1"


# ------------------------------------------------------------------ TCP

async def test_tcp_connect_ok_refused_and_bindto():
    accepted = []

    async def handle(reader, writer):
        accepted.append(writer.get_extra_info("peername"))
        writer.close()

    server = await asyncio.start_server(handle, LO, 0)
    port = server.sockets[0].getsockname()[1]
    try:
        r = await run_check(TcpCheck(kind="TCP_CHECK", connect_ip=LO, connect_port=port))
        assert r.ok and r.latency < 1
        src_port = free_port()
        r = await run_check(TcpCheck(kind="TCP_CHECK", connect_ip=LO, connect_port=port,
                                     bindto="127.0.0.2", bind_port=src_port))
        assert r.ok, r.error
        from vipdeck.engine.lab.wait import async_wait_until
        await async_wait_until(lambda: len(accepted) == 2, 2, what="two accepts")
        assert accepted[1] == ("127.0.0.2", src_port)
    finally:
        server.close()
    r = await run_check(TcpCheck(kind="TCP_CHECK", connect_ip=LO, connect_port=port))
    assert r.error == "connection refused"
    r = await run_check(TcpCheck(kind="TCP_CHECK", connect_ip=LO, connect_port=None))
    assert "no port" in r.error
    r = await run_check(TcpCheck(kind="TCP_CHECK", connect_ip=LO, connect_port=port, bindto="198.18.9.9"))
    assert r.error.startswith("cannot apply bindto 198.18.9.9"), r.error


# ------------------------------------------------------------------ UDP

def test_hex_pattern_free_format_and_wildcards():
    pat = parse_hex_pattern("Ab12f 3 456 546443123")
    assert [v for v, _ in pat] == [0xAB, 0x12, 0x0F, 0x03, 0x45, 0x06, 0x54, 0x64, 0x43, 0x12, 0x03]
    wild = parse_hex_pattern("aXx1")
    assert wild == [(0xA0, 0xF0), (0x01, 0x0F)]
    assert match_pattern(b"\xa7\x51", wild) is None
    assert match_pattern(b"\xb7\x51", wild) == 0


async def test_udp_reply_length_and_pattern():
    proto, port = await udp_server(lambda d: b"PONG" + d)
    base = dict(kind="UDP_CHECK", connect_ip=LO, connect_port=port, connect_timeout=0.5)
    try:
        r = await run_check(UdpCheck(payload=b"\x01\x02", require_reply=True, **base))
        assert r.ok and r.latency < 0.4
        assert proto.received[-1] == b"\x01\x02"
        r = await run_check(UdpCheck(payload=b"\x01", require_reply=True, reply_pattern="504f4e47 01", **base))
        assert r.ok, r.error
        r = await run_check(UdpCheck(payload=b"\x01", require_reply=True, reply_pattern="50 4f 4e 48", **base))
        assert r.error == "reply does not match pattern at byte 3 (got 47)"
        r = await run_check(UdpCheck(payload=b"\x01", require_reply=True, max_reply_length=3, **base))
        assert r.error == "reply of 5 bytes outside 0-3"
        r = await run_check(UdpCheck(payload=None, require_reply=True, min_reply_length=4, **base))
        assert r.ok and len(proto.received[-1]) == 16          # random payload
    finally:
        proto.transport.close()


async def test_udp_port_unreachable_and_silent_service():
    r = await run_check(UdpCheck(kind="UDP_CHECK", connect_ip=LO, connect_port=free_port(),
                                 payload=b"x", connect_timeout=1.0))
    assert r.error == "port unreachable" and r.latency < 0.5
    proto, port = await udp_server(lambda d: None)
    try:
        silent = dict(kind="UDP_CHECK", connect_ip=LO, connect_port=port, payload=b"x", connect_timeout=0.2)
        r = await run_check(UdpCheck(**silent))
        assert r.ok and r.latency >= 0.19                  # no ICMP error within the timeout
        r = await run_check(UdpCheck(require_reply=True, **silent))
        assert r.error == "no reply within 0.2 s"
    finally:
        proto.transport.close()


# ------------------------------------------------------------------ DNS

def test_dns_query_encoding():
    assert encode_name(".") == b"\0"
    assert encode_name("www.example.test.") == b"\x03www\x07example\x04test\x00"
    q = build_query(0x1234, "example.test", "aaaa")
    assert q[:12] == bytes.fromhex("123401000001000000000000") and q[-4:] == b"\x00\x1c\x00\x01"


async def test_dns_noerror_nxdomain_and_wrong_id():
    ok, port = await udp_server(dns_reply(rcode=0))
    nx, port_nx = await udp_server(dns_reply(rcode=3))
    bad, port_bad = await udp_server(dns_reply(id_delta=1))
    try:
        base = dict(kind="DNS_CHECK", connect_ip=LO, connect_timeout=0.5, type="A", name="www.example.test")
        r = await run_check(DnsCheck(connect_port=port, **base))
        assert r.ok, r.error
        assert b"\x03www\x07example\x04test\x00\x00\x01\x00\x01" in ok.received[0]
        r = await run_check(DnsCheck(connect_port=port_nx, **base))
        assert r.error == "DNS A www.example.test: rcode NXDOMAIN"
        r = await run_check(DnsCheck(connect_port=port_bad, **base))
        assert r.error == "no DNS reply within 0.5 s" and len(bad.received) == 1
        r = await run_check(DnsCheck(connect_port=free_port(), **base))
        assert r.error == "port unreachable"
        r = await run_check(DnsCheck(connect_port=port, **{**base, "type": "BOGUS"}))
        assert r.error.startswith("DNS type 'BOGUS' is not one of")
    finally:
        for p in (ok, nx, bad):
            p.transport.close()


# ------------------------------------------------------------------ SMTP

async def test_smtp_dialogue_with_aiosmtpd():
    from aiosmtpd.smtp import SMTP

    helos: list[str] = []

    class Handler:
        async def handle_HELO(self, server, session, envelope, hostname):
            helos.append(hostname)
            session.host_name = hostname
            return "250 backend.test"

    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(Handler(), hostname="backend.test"), LO, 0)
    port = server.sockets[0].getsockname()[1]
    try:
        r = await run_check(SmtpCheck(kind="SMTP_CHECK", connect_ip=LO, connect_port=port,
                                      helo_name="lb.example.test", connect_timeout=2))
        assert r.ok, r.error
        assert helos == ["lb.example.test"]
        r = await run_check(SmtpCheck(kind="SMTP_CHECK", connect_ip=LO, connect_port=port),
                            CheckEnv(smtp_helo_name="global.example.test"))
        assert r.ok and helos[-1] == "global.example.test"
    finally:
        server.close()


async def test_smtp_wrong_banner():
    async def not_smtp(reader, writer):
        writer.write(b"554 go away\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(not_smtp, LO, 0)
    try:
        r = await run_check(SmtpCheck(kind="SMTP_CHECK", connect_ip=LO,
                                      connect_port=server.sockets[0].getsockname()[1]))
        assert r.error == "SMTP banner: got 554, want 220 (554 go away)"
    finally:
        server.close()


# ------------------------------------------------------------------ MISC

def misc(path: str, **kw) -> MiscCheck:
    return MiscCheck(kind="MISC_CHECK", connect_ip=LO, connect_port=None, misc_path=path, **kw)


async def test_misc_exit_codes_and_dynamic_weight(tmp_path):
    assert (await run_check(misc("true"))).ok
    r = await run_check(misc("sh -c 'echo backend is sick >&2; exit 1'"))
    assert r.error == "exit status 1: backend is sick"
    r = await run_check(misc("sh -c 'exit 7'"))
    assert not r.ok and r.error == "exit status 7"
    r = await run_check(misc("sh -c 'exit 7'", misc_dynamic=True))
    assert r.ok and r.weight == 5
    r = await run_check(misc("sh -c 'exit 2'", misc_dynamic=True))
    assert r.ok and r.weight == 0
    r = await run_check(misc("sh -c 'exit 1'", misc_dynamic=True))
    assert not r.ok
    r = await run_check(misc(str(tmp_path / "missing.sh")))
    assert r.error.startswith("cannot run ") and "No such file" in r.error
    r = await run_check(misc("sh -c 'kill -TERM $$'"))
    assert r.error == "killed by signal SIGTERM"


async def test_misc_timeout_kills_the_whole_process_group(tmp_path):
    pidfile = tmp_path / "child.pid"
    # the script starts a grandchild that would outlive a plain kill of the script
    script = f"sh -c 'sleep 30 & echo $! > {pidfile}; wait'"
    t0 = time.monotonic()
    r = await run_check(misc(script, misc_timeout=0.3))
    assert r.error == "timed out after 0.3 s (process group killed)"
    assert time.monotonic() - t0 < 2
    grandchild = int(pidfile.read_text())

    def gone() -> bool:
        try:
            os.kill(grandchild, 0)
        except ProcessLookupError:
            return True
        # a zombie waiting for init counts as gone
        with open(f"/proc/{grandchild}/stat") as f:
            return f.read().split(") ", 1)[1].startswith("Z")

    from vipdeck.engine.lab.wait import async_wait_until
    await async_wait_until(gone, 3, what="the grandchild sleep to be killed")


# ------------------------------------------------------------------ FILE

def test_strtol_like_keepalived():
    assert [strtol0(s) for s in ("12\n", "  -3", "0x1f", "010", "abc", "", "7 apples", "+5")] == \
        [12, -3, 31, 8, 0, 0, 7, 5]


def test_file_value_semantics():
    assert evaluate(0, 0, False, False) == (True, 0, None)
    assert evaluate(3, 0, False, False)[0] is False
    assert evaluate(0, 0, True, False)[0] is False           # reverse: zero means down
    assert evaluate(3, 0, True, False)[0] is True
    assert evaluate(4, 5, False, True) == (True, 20, None)
    assert evaluate(4, 5, True, True) == (True, -20, None)
    assert evaluate(4, 5, False, False) == (True, 0, None)
    assert evaluate(-(2 ** 31), 1, False, True)[0] is False  # keepalived's fault level


async def test_file_check_reads_the_tracked_file(tmp_path):
    path = tmp_path / "weight"
    env = CheckEnv(track_files={"tf": TrackFile(name="tf", file=str(path))})
    c = FileCheck(kind="FILE_CHECK", connect_ip=LO, connect_port=None, track_file="tf", weight=0)
    assert (await run_check(c, env)).ok                         # missing file reads as 0
    path.write_text("1\n")
    r = await run_check(c, env)
    assert not r.ok and r.error == "value 1 means down (weight 0)"
    dyn = FileCheck(kind="FILE_CHECK", connect_ip=LO, connect_port=None, track_file="tf",
                    weight=10, dynamic=True)
    path.write_text("3")
    r = await run_check(dyn, env)
    assert r.ok and r.weight_delta == 30
    r = await run_check(FileCheck(kind="FILE_CHECK", connect_ip=LO, connect_port=None, track_file="nope"), env)
    assert r.error == "track_file 'nope' is not defined"


# ------------------------------------------------------------------ PING (loopback) and BFD

async def test_ping_loopback_v4_and_v6():
    r = await run_check(PingCheck(kind="PING_CHECK", connect_ip=LO, connect_port=None, connect_timeout=1))
    assert r.ok, r.error
    if socket.has_ipv6 and os.path.exists("/proc/net/if_inet6"):
        r = await run_check(PingCheck(kind="PING_CHECK", connect_ip="::1", connect_port=None, connect_timeout=1))
        assert r.ok, r.error


async def test_bfd_is_unsupported_not_a_crash():
    r = await run_check(BfdCheck(kind="BFD_CHECK", connect_ip=LO, connect_port=None, name="bfd1"))
    assert r.unsupported and not r.ok and "not implemented" in r.error
