"""The keepalived rules of the sans-IO core: retries, alpha, several
checkers, dynamic weights, quorum with hysteresis, sorry server, inhibit."""

from __future__ import annotations

from vipdeck.engine.check.kinds import CHECKS
from vipdeck.engine.check.quorum import VirtualServerState
from vipdeck.engine.check.realserver import CheckerState, RealServerState
from vipdeck.engine.check.result import CheckResult
from vipdeck.engine.config.model import (BfdCheck, Forward, MiscCheck, RealServer, SorryServer, TcpCheck,
                                 VirtualServer)

OK = CheckResult(True, 0.001)
FAIL = CheckResult(False, 0.001, "connection refused")


def tcp(**kw) -> TcpCheck:
    kw.setdefault("delay_loop", 10.0)
    kw.setdefault("delay_before_retry", 1.0)
    return TcpCheck(kind="TCP_CHECK", connect_ip="198.18.1.1", connect_port=80, **kw)


def test_up_checker_goes_down_after_exactly_retry_plus_one_failures():
    cs = CheckerState(tcp(retry=2), "TCP_CHECK", up=True)
    assert cs.record(FAIL, 0.0) == 1.0 and cs.up          # retry 1, delay_before_retry
    assert cs.record(FAIL, 0.0) == 1.0 and cs.up          # retry 2
    assert cs.record(FAIL, 0.0) == 10.0 and not cs.up     # third failure: DOWN, back to delay_loop
    assert cs.record(FAIL, 0.0) == 10.0 and cs.failures == 4   # a DOWN checker is not retried


def test_a_success_between_retries_resets_the_count():
    cs = CheckerState(tcp(retry=2), "TCP_CHECK", up=True)
    for r in (FAIL, FAIL, OK, FAIL, FAIL):
        cs.record(r, 0.0)
    assert cs.up and cs.failures == 2
    cs.record(FAIL, 0.0)
    assert not cs.up


def test_down_checker_comes_up_on_first_success():
    cs = CheckerState(tcp(retry=3), "TCP_CHECK", up=False)
    assert cs.record(OK, 0.0) == 10.0 and cs.up and cs.failures == 0


def test_retry_zero_fails_at_once():
    cs = CheckerState(tcp(retry=0), "TCP_CHECK", up=True)
    cs.record(FAIL, 0.0)
    assert not cs.up


def rs(address: str, weight: int = 1, checkers=None, **kw) -> RealServer:
    return RealServer(address=address, port=80, weight=weight,
                      checkers=(tcp(),) if checkers is None else checkers, **kw)


def build(rs_cfg: RealServer, vs_port: int | None = 80) -> RealServerState:
    return RealServerState.build(rs_cfg, vs_port, set(CHECKS))


def test_alpha_starts_down_otherwise_up():
    assert build(rs("198.18.1.1")).alive
    assert not build(rs("198.18.1.1", checkers=(tcp(alpha=True),))).alive
    assert build(rs("198.18.1.1", checkers=())).alive        # no checker: always alive


def test_all_checkers_must_be_up_and_bfd_is_ignored():
    r = build(rs("198.18.1.1", checkers=(tcp(retry=0), tcp(retry=0),
                                         BfdCheck(kind="BFD_CHECK", connect_ip="198.18.1.1", connect_port=None))))
    assert [c.label for c in r.checkers] == ["TCP_CHECK#1", "TCP_CHECK#2", "BFD_CHECK"]
    assert r.checkers[2].unsupported and r.alive
    r.checkers[1].record(FAIL, 0.0)
    assert r.update_alive() is False and r.error == "TCP_CHECK#2: connection refused"
    r.checkers[0].record(OK, 0.0)
    assert r.update_alive() is None                  # still one DOWN checker
    r.checkers[1].record(OK, 0.0)
    assert r.update_alive() is True


def test_misc_dynamic_weight_and_clamping():
    m = MiscCheck(kind="MISC_CHECK", connect_ip="198.18.1.1", connect_port=None, misc_path="x",
                  misc_dynamic=True)
    r = build(rs("198.18.1.1", weight=3, checkers=(m,)))
    assert r.weight == 3
    r.checkers[0].record(CheckResult(True, 0, weight=10), 0.0)
    assert r.weight == 10
    r.checkers[0].record(CheckResult(True, 0, weight=0), 0.0)
    assert r.weight == 0
    r.checkers[0].record(CheckResult(True, 0, weight=100000), 0.0)
    assert r.weight == 65535


def vs_state(vs: VirtualServer) -> VirtualServerState:
    return VirtualServerState(vs, [build(r) for r in vs.real_servers])


def fail(state: VirtualServerState, i: int) -> None:
    r = state.reals[i]
    for c in r.checkers:
        c.up = False
    r.update_alive()


def heal(state: VirtualServerState, i: int) -> None:
    r = state.reals[i]
    for c in r.checkers:
        c.up = True
    r.update_alive()


def test_quorum_with_hysteresis_and_sorry_server():
    vs = VirtualServer(address="198.18.0.100", port=80, quorum=3, hysteresis=1,
                       sorry_server=SorryServer(address="198.18.2.1", port=8080),
                       real_servers=(rs("198.18.1.1", 1), rs("198.18.1.2", 1), rs("198.18.1.3", 2)))
    s = vs_state(vs)
    assert s.initialise() is None and s.quorum_up                 # 4 >= 3+1; nothing announced
    assert {d.address: d.weight for d in s.destinations()} == {"198.18.1.1": 1, "198.18.1.2": 1,
                                                               "198.18.1.3": 2}
    fail(s, 2)
    assert s.update() is None and s.quorum_up                     # 2 is not < 3-1
    fail(s, 1)
    qc = s.update()
    assert qc is not None and not qc.up and qc.sorry_in and qc.weight_sum == 1
    dests = s.destinations()
    assert [(d.address, d.port, d.weight, d.sorry) for d in dests] == [("198.18.2.1", 8080, 1, True)]
    heal(s, 1)
    assert s.update() is None and not s.quorum_up                 # 2 < 3+1: still down
    assert [d.sorry for d in s.destinations()] == [True]
    heal(s, 2)
    qc = s.update()
    assert qc.up and qc.sorry_out and qc.weight_sum == 4
    assert not any(d.sorry for d in s.destinations()) and len(s.destinations()) == 3


def test_start_with_quorum_down_puts_the_sorry_server_in():
    vs = VirtualServer(address="198.18.0.100", port=80, alpha=True,
                       sorry_server=SorryServer(address="198.18.2.1", port=None, inhibit=True),
                       real_servers=(rs("198.18.1.1", checkers=(tcp(alpha=True),)),))
    s = vs_state(vs)
    qc = s.initialise()
    assert qc is not None and qc.init and not qc.up and qc.sorry_in
    assert [(d.address, d.port, d.weight) for d in s.destinations()] == [("198.18.2.1", 80, 1)]
    heal(s, 0)
    assert s.update().up
    # sorry_server_inhibit: kept at weight 0 instead of removed
    assert [(d.address, d.weight, d.sorry) for d in s.destinations()] == [("198.18.1.1", 1, False),
                                                                       ("198.18.2.1", 0, True)]


def test_start_with_quorum_down_without_sorry_server_is_silent():
    vs = VirtualServer(address="198.18.0.100", port=80,
                       real_servers=(rs("198.18.1.1", checkers=(tcp(alpha=True),)),))
    s = vs_state(vs)
    assert s.initialise() is None and not s.quorum_up and s.destinations() == ()


def test_inhibit_on_failure_keeps_a_dead_server_at_weight_zero():
    vs = VirtualServer(address="198.18.0.100", port=80,
                       real_servers=(rs("198.18.1.1", 5, inhibit_on_failure=True, forward=Forward.DR),
                                     rs("198.18.1.2", 5)))
    s = vs_state(vs)
    s.initialise()
    fail(s, 0)
    fail(s, 1)
    s.update()
    assert [(d.address, d.weight, d.alive, d.forward) for d in s.destinations()] == \
        [("198.18.1.1", 0, False, Forward.DR)]
    assert not s.quorum_up                                        # weight_sum 0


def test_lost_quorum_with_sorry_server_and_inhibit_keeps_alive_servers_at_zero():
    vs = VirtualServer(address="198.18.0.100", port=80, quorum=2,
                       sorry_server=SorryServer(address="198.18.2.1", port=80),
                       real_servers=(rs("198.18.1.1", inhibit_on_failure=True), rs("198.18.1.2")))
    s = vs_state(vs)
    s.initialise()
    fail(s, 1)
    assert not s.update().up
    assert [(d.address, d.weight, d.alive) for d in s.destinations()] == \
        [("198.18.1.1", 0, True), ("198.18.2.1", 1, True)]
