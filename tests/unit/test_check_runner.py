"""The runner with real checks against real servers on loopback: retries
counted on the wire, alpha, notify and quorum scripts actually run, sorry
server in/out, dynamic weights, a hanging target, clean cancellation."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from vipdeck.engine.check.runner import CheckEvent, CheckRunner
from vipdeck.engine.config.model import (BfdCheck, FileCheck, HttpCheck, HttpUrl, MiscCheck, Notify, RealServer,
                                 SorryServer, TcpCheck, TrackFile, VirtualServer)
from vipdeck.engine.check.result import CheckEnv
from vipdeck.engine.lab.wait import async_wait_until
from tests.support.check_servers import HttpBackend, free_port, run_script

pytestmark = pytest.mark.timeout(30)
LO = "127.0.0.1"


class Listener:
    """A TCP service on a fixed loopback port that can be switched off and on."""

    def __init__(self, host: str = LO):
        self.host = host
        self.port = free_port()
        self.server: asyncio.AbstractServer | None = None
        self.accepts = 0
        self.times: list[float] = []     # monotonic time of each connection: the checks, seen on the wire

    async def _handle(self, reader, writer) -> None:
        self.accepts += 1
        self.times.append(time.monotonic())
        writer.close()

    async def up(self) -> "Listener":
        self.server = await asyncio.start_server(self._handle, self.host, self.port, reuse_address=True)
        return self

    def down(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None


class Recorder:
    def __init__(self):
        self.events: list[tuple[float, CheckEvent]] = []
        self.changes: list[str] = []

    def on_event(self, e: CheckEvent) -> None:
        self.events.append((time.monotonic(), e))

    def of(self, kind: str, **match) -> list[tuple[float, CheckEvent]]:
        return [(t, e) for t, e in self.events
                if e.kind == kind and all(e.fields.get(k) == v for k, v in match.items())]


def passes(runner: CheckRunner, **match) -> int:
    """Successful runs so far, from the runner's state (a passing check of a
    healthy checker is no event)."""
    return sum(c.runs - c.total_failures for vs in runner.vs_states.values() for r in vs.reals
               for c in r.checkers if all(getattr(c.checker, k) == v for k, v in match.items()))


def tcp(port: int, **kw) -> TcpCheck:
    kw.setdefault("delay_loop", 0.1)
    kw.setdefault("delay_before_retry", 0.05)
    kw.setdefault("warmup", 0.0)
    kw.setdefault("connect_timeout", 1.0)
    return TcpCheck(kind="TCP_CHECK", connect_ip=LO, connect_port=port, **kw)


def notify(tmp: Path, word: str) -> Notify:
    return Notify(command=f"sh -c 'echo {word} >> {tmp / 'notify.log'}'")


def notified(tmp: Path) -> list[str]:
    p = tmp / "notify.log"
    return p.read_text().split() if p.exists() else []


@pytest.fixture
async def runners():
    started: list[asyncio.Task] = []

    def start(runner: CheckRunner) -> asyncio.Task:
        t = asyncio.create_task(runner.run())
        started.append(t)
        return t

    yield start
    for t in started:
        t.cancel()
    await asyncio.gather(*started, return_exceptions=True)


async def test_down_after_exactly_retry_plus_one_failures_then_up_on_first_success(tmp_path, runners):
    srv = await Listener().up()
    rec = Recorder()
    real = RealServer(address=LO, port=srv.port, notify_up=notify(tmp_path, "up"),
                      notify_down=notify(tmp_path, "down"),
                      checkers=(tcp(srv.port, retry=2, delay_loop=0.3, delay_before_retry=0.03),))
    vs = VirtualServer(address="198.18.0.100", port=80, real_servers=(real,))
    runner = CheckRunner([vs], run_script=run_script, on_event=rec.on_event, on_change=rec.changes.append)
    runners(runner)
    await async_wait_until(lambda: passes(runner) >= 1, 3, what="a first success")
    assert [(d.address, d.port, d.weight) for d in runner.desired(vs.key)] == [(LO, srv.port, 1)]
    srv.down()
    mark = len(rec.events)
    await async_wait_until(lambda: rec.of("rs_state", state="DOWN"), 5, what="the server to go DOWN")
    t_down, _ = rec.of("rs_state", state="DOWN")[0]
    results = [(t, e) for t, e in rec.events[mark:] if e.kind == "check" and t <= t_down]
    assert [e.fields["ok"] for _, e in results] == [False, False, False]
    assert [e.fields["failures"] for _, e in results] == [1, 2, 3]
    gaps = [b[0] - a[0] for a, b in zip(results, results[1:])]
    assert all(g < 0.2 for g in gaps), gaps            # retries at delay_before_retry, not delay_loop
    assert runner.desired(vs.key) == ()
    assert rec.changes[-1] == vs.key
    st = runner.real_server(vs.key, f"{LO}:{srv.port}")
    assert st.state == "DOWN" and not st.alive
    assert st.error == "TCP_CHECK: connection refused"
    await async_wait_until(lambda: notified(tmp_path) == ["down"], 3, what="notify_down to run")
    await srv.up()
    await async_wait_until(lambda: rec.of("rs_state", state="UP"), 3, what="the server to come back UP")
    assert runner.desired(vs.key)[0].weight == 1
    await async_wait_until(lambda: notified(tmp_path) == ["down", "up"], 3, what="notify_up to run")
    srv.down()


async def test_alpha_starts_down_and_announces_the_first_failure_once(tmp_path, runners):
    port = free_port()
    rec = Recorder()
    real = RealServer(address=LO, port=port, notify_down=notify(tmp_path, "down"),
                      notify_up=notify(tmp_path, "up"), checkers=(tcp(port, alpha=True, retry=3),))
    vs = VirtualServer(address="198.18.0.100", port=80, real_servers=(real,))
    runner = CheckRunner([vs], run_script=run_script, on_event=rec.on_event, on_change=rec.changes.append)
    runner.start()
    try:
        assert runner.desired(vs.key) == () and rec.changes == [vs.key]
        assert not runner.vs(vs.key).quorum_up
        await async_wait_until(lambda: len(rec.of("check", ok=False)) >= 3, 3, what="three failures")
        downs = rec.of("rs_state", state="DOWN")
        assert len(downs) == 1 and downs[0][1].fields["initial"] is True
        await async_wait_until(lambda: notified(tmp_path) == ["down"], 3, what="one notify_down")
        srv = Listener()
        srv.port = port
        await srv.up()
        await async_wait_until(lambda: rec.of("rs_state", state="UP"), 3, what="UP on the first success")
        assert [e.fields["ok"] for _, e in rec.of("check")][-1] is True
        await async_wait_until(lambda: rec.of("rs_state", state="QUORUM_UP"), 3, what="quorum up")
        assert runner.desired(vs.key)[0].port == port
        srv.down()
    finally:
        await runner.stop()


async def test_without_alpha_a_server_starts_up_before_any_check(runners):
    port = free_port()
    real = RealServer(address=LO, port=port, checkers=(tcp(port, warmup=60.0),))
    vs = VirtualServer(address="198.18.0.100", port=80, real_servers=(real,))
    runner = CheckRunner([vs])
    runner.start()
    try:
        assert [d.port for d in runner.desired(vs.key)] == [port] and runner.vs(vs.key).quorum_up
    finally:
        await runner.stop()


async def test_quorum_sorry_server_and_scripts(tmp_path, runners):
    a, b = await Listener().up(), await Listener().up()
    rec = Recorder()
    vs = VirtualServer(
        address="198.18.0.100", port=80, quorum=2,
        quorum_up=notify(tmp_path, "quorum-up"), quorum_down=notify(tmp_path, "quorum-down"),
        sorry_server=SorryServer(address="198.18.3.3", port=8080),
        real_servers=tuple(RealServer(address=LO, port=s.port, inhibit_on_failure=(s is a),
                                      checkers=(tcp(s.port, retry=0),)) for s in (a, b)))
    runner = CheckRunner([vs], run_script=run_script, on_event=rec.on_event, on_change=rec.changes.append)
    runners(runner)
    await async_wait_until(lambda: passes(runner) >= 2, 3, what="both servers checked")
    b.down()
    await async_wait_until(lambda: rec.of("rs_state", state="QUORUM_DOWN"), 3, what="quorum lost")
    dests = runner.desired(vs.key)
    # alive a is taken out (weight 0: inhibit_on_failure), the sorry server takes the traffic
    assert [(d.address, d.port, d.weight, d.sorry) for d in dests] == [(LO, a.port, 0, False),
                                                                      ("198.18.3.3", 8080, 1, True)]
    snap = runner.snapshot()[0]
    assert snap["sorry_active"] and not snap["quorum_ok"] and snap["weight_sum"] == 1
    await b.up()
    await async_wait_until(lambda: rec.of("rs_state", state="QUORUM_UP"), 3, what="quorum back")
    assert sorted((d.port, d.weight) for d in runner.desired(vs.key)) == sorted([(a.port, 1), (b.port, 1)])
    await async_wait_until(lambda: notified(tmp_path) == ["quorum-down", "quorum-up"], 3, what="quorum scripts")
    a.down()
    b.down()


async def test_misc_dynamic_and_file_weights_reach_the_destination(tmp_path, runners):
    value = tmp_path / "value"
    value.write_text("2\n")
    env = CheckEnv(track_files={"tf": TrackFile(name="tf", file=str(value))})
    misc = MiscCheck(kind="MISC_CHECK", connect_ip=LO, connect_port=None, misc_path="sh -c 'exit 9'",
                     misc_dynamic=True, delay_loop=0.1, warmup=0.0)
    filec = FileCheck(kind="FILE_CHECK", connect_ip=LO, connect_port=None, track_file="tf", weight=3,
                      dynamic=True, delay_loop=0.1)
    real = RealServer(address=LO, port=80, weight=4, checkers=(misc, filec))
    vs = VirtualServer(address="198.18.0.100", port=80, real_servers=(real,))
    rec = Recorder()
    runner = CheckRunner([vs], env=env, on_event=rec.on_event, on_change=rec.changes.append, file_poll=0.05)
    runners(runner)
    # weight = 4 + (9 - 2 - 4) [misc] + 2 × 3 [file] = 13
    await async_wait_until(lambda: [d.weight for d in runner.desired(vs.key)] == [13], 3, what="weight 13")
    value.write_text("0\n")
    await async_wait_until(lambda: [d.weight for d in runner.desired(vs.key)] == [7], 3, what="weight 7")
    assert rec.of("rs_state", weight=7)
    assert rec.changes.count(vs.key) >= 3


async def test_file_check_weight_zero_takes_the_server_down(tmp_path, runners):
    value = tmp_path / "status"
    value.write_text("0")
    env = CheckEnv(track_files={"st": TrackFile(name="st", file=str(value))})
    real = RealServer(address=LO, port=80, checkers=(
        FileCheck(kind="FILE_CHECK", connect_ip=LO, connect_port=None, track_file="st", weight=0,
                  delay_loop=0.1),))
    vs = VirtualServer(address="198.18.0.100", port=80, real_servers=(real,))
    runner = CheckRunner([vs], env=env, file_poll=0.05)
    runners(runner)
    assert len(runner.desired(vs.key)) == 1
    value.write_text("1")
    await async_wait_until(lambda: runner.desired(vs.key) == (), 3, what="FILE_CHECK to take it down")
    assert runner.real_server(vs.key, f"{LO}:80").error == "FILE_CHECK: value 1 means down (weight 0)"


async def test_hanging_target_does_not_delay_another_server(runners):
    hang = HttpBackend(hang=True)
    await hang.start()
    live = await Listener().up()
    rec = Recorder()
    slow = RealServer(address=LO, port=hang.port, checkers=(
        HttpCheck(kind="HTTP_GET", connect_ip=LO, connect_port=hang.port, urls=(HttpUrl(digest="0" * 32),),
                  connect_timeout=1.0, delay_loop=0.05, warmup=0.0, retry=0),))
    fast = RealServer(address=LO, port=live.port, checkers=(tcp(live.port, delay_loop=0.05),))
    vs = VirtualServer(address="198.18.0.100", port=80, real_servers=(slow, fast))
    runner = CheckRunner([vs], on_event=rec.on_event)
    runners(runner)
    slow_key = f"{LO}:{hang.port}"
    await async_wait_until(lambda: rec.of("check", rs=slow_key), 5, what="the hanging check to give up")
    t_slow, ev = rec.of("check", rs=slow_key)[0]
    assert ev.fields["error"] == "no complete response within 1 s"
    fast_times = [t for t in live.times if t < t_slow]
    assert len(fast_times) >= 8, len(fast_times)
    gaps = [b - a for a, b in zip(fast_times, fast_times[1:])]
    assert max(gaps) < 0.5, gaps
    await hang.close()
    live.down()


async def test_no_exception_escapes_a_loop_and_bfd_is_unsupported(runners):
    calls = 0

    async def flaky(checker, env):
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("boom")
        from vipdeck.engine.check.kinds import run_check
        return await run_check(checker, env)

    srv = await Listener().up()
    rec = Recorder()
    real = RealServer(address=LO, port=srv.port, checkers=(
        tcp(srv.port, retry=5),
        BfdCheck(kind="BFD_CHECK", connect_ip=LO, connect_port=None, name="b1")))
    vs = VirtualServer(address="198.18.0.100", port=80, real_servers=(real,))
    runner = CheckRunner([vs], on_event=rec.on_event, check=flaky)
    runners(runner)
    await async_wait_until(lambda: passes(runner) >= 2, 3, what="the loop to go on")
    first = rec.of("check", checker_kind="TCP_CHECK")[0][1]
    assert first.fields["error"] == "internal error: RuntimeError('boom')"
    assert runner.internal_errors == 1
    assert rec.of("check", checker_kind="BFD_CHECK", error="unsupported")
    snap = runner.snapshot()[0]["real_servers"][0]
    assert snap["state"] == "UP" and [c["state"] for c in snap["checkers"]] == ["up", "unsupported"]
    srv.down()


async def omega_runner(tmp_path):
    """A live server under an omega virtual server whose notifiers write to tmp_path."""
    srv = await Listener().up()
    real = RealServer(address=LO, port=srv.port, notify_down=notify(tmp_path, "rs-down"),
                      checkers=(tcp(srv.port),))
    vs = VirtualServer(address="198.18.0.100", port=80, omega=True,
                       quorum_down=notify(tmp_path, "quorum-down"), real_servers=(real,))
    rec = Recorder()
    return srv, vs, rec, CheckRunner([vs], run_script=run_script, on_event=rec.on_event)


async def test_cancel_stops_everything_and_omega_runs_down_notifiers(tmp_path):
    srv, vs, rec, runner = await omega_runner(tmp_path)
    task = asyncio.create_task(runner.run())
    await async_wait_until(lambda: passes(runner), 3, what="a check")
    assert runner.scheduled() >= 1                 # something to stop
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    left = {t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()}
    assert not left, left
    assert sorted(notified(tmp_path)) == ["quorum-down", "rs-down"]
    n = len(rec.events)
    await asyncio.sleep(0.3)            # nothing may run any more: prove silence over 3 delay_loops
    assert len(rec.events) == n
    srv.down()


async def test_tcp_and_udp_services_on_one_address_and_port_stay_apart():
    port = free_port()
    tcp_vs = VirtualServer(address="198.18.0.100", port=53, protocol="TCP",
                           real_servers=(RealServer(address=LO, port=port, checkers=(tcp(port, warmup=60.0),)),))
    udp_vs = VirtualServer(address="198.18.0.100", port=53, protocol="UDP",
                           real_servers=(RealServer(address="127.0.0.2", port=port, checkers=()),))
    changes: list[str] = []
    runner = CheckRunner([tcp_vs, udp_vs], on_change=changes.append)
    runner.start()
    try:
        assert changes == ["198.18.0.100:53", "198.18.0.100:53 UDP"]
        assert runner.vs("198.18.0.100:53 UDP").config is udp_vs
        assert [d.address for d in runner.desired("198.18.0.100:53 UDP")] == ["127.0.0.2"]
        assert [s["key"] for s in runner.snapshot()] == changes
        assert [d.address for d in runner.desired(udp_vs)] == ["127.0.0.2"]
        assert [d.address for d in runner.desired(tcp_vs)] == [LO]
    finally:
        await runner.stop()


def test_env_from_config_carries_track_files_ssl_and_helo():
    from vipdeck.engine.config.model import Config, GlobalDefs, SslContext

    cfg = Config(global_defs=GlobalDefs(smtp_helo_name="lb1.example.test"),
                 track_files=(TrackFile(name="tf", file="/run/x"),), ssl=SslContext(ca="/etc/ca.pem"))
    env = CheckEnv.from_config(cfg)
    assert env.track_files["tf"].file == "/run/x" and env.ssl.ca == "/etc/ca.pem"
    assert env.smtp_helo_name == "lb1.example.test"


async def test_a_reload_stop_hands_state_on_without_omega_notifiers(tmp_path):
    """keepalived runs omega's notify_down/quorum_down at shutdown, not at a reload."""
    srv, vs, rec, runner = await omega_runner(tmp_path)
    runner.start()
    await async_wait_until(lambda: passes(runner), 3, what="a check")
    await runner.stop(omega=False)
    assert notified(tmp_path) == []
    assert not rec.of("rs_state", reason="shutdown")
    new = CheckRunner([vs], run_script=run_script, on_event=rec.on_event)
    assert new.adopt(runner) == 1
    assert new.real_server(vs.key, f"{LO}:{srv.port}").alive
    srv.down()


async def test_tcp_connects_in_flight_time_out_then_pass_and_leave_nothing_watched(runners):
    """TCP_CHECK connects are watched in the runner's own epoll: a connect
    that hangs (a listener whose accept queue is full drops the SYN) times
    out and closes, the next ones on reused descriptors pass, and the epoll
    holds nothing once the connects are done and is closed at stop."""
    import socket

    srv = socket.socket()
    srv.bind((LO, 0))
    srv.listen(0)                              # one connection fills the queue
    port = srv.getsockname()[1]
    fillers = []
    for _ in range(3):                         # more than the queue: later SYNs are dropped
        c = socket.socket()
        c.setblocking(False)
        c.connect_ex((LO, port))
        fillers.append(c)
    rec = Recorder()
    real = RealServer(address=LO, port=port, checkers=(tcp(port, connect_timeout=0.2, delay_loop=0.05, retry=0),))
    vs = VirtualServer(address="198.18.0.100", port=80, real_servers=(real,))
    runner = CheckRunner([vs], on_event=rec.on_event)
    task = runners(runner)
    accepted = []
    try:
        await async_wait_until(lambda: rec.of("check", ok=False), 5, what="a connect timeout")
        assert rec.of("check", ok=False)[0][1].fields["error"] == "connect timeout after 0.2 s"
        assert runner._watch is not None
        for c in fillers:
            c.close()
        srv.setblocking(False)

        def drain():
            try:
                while True:
                    accepted.append(srv.accept()[0])
            except BlockingIOError:
                pass
            return passes(runner) >= 5

        await async_wait_until(drain, 5, interval=0.01, what="checks passing again")
        assert runner.real_server(vs.key, f"{LO}:{port}").alive
        watch = runner._watch
        # between two checks nothing is in flight: every finished connect left the epoll's table
        await async_wait_until(lambda: (drain(), not watch.slots)[1], 2, interval=0.001,
                               what="no connect left in flight")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        for s in accepted:
            s.close()
        srv.close()
    assert runner._watch is None and watch.ep.closed
