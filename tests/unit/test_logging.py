"""Logging like keepalived: syslog datagrams to a real receiver, keepalived's line forms.

The receiver is a Unix datagram socket bound in the test's directory (the
machines here have no /dev/log); what arrives is checked byte for byte
against glibc syslog()'s shape: ``<PRI>Mmm dd HH:MM:SS IDENT[PID]: MSG``.
"""

from __future__ import annotations

import io
import logging
import os
import re
import socket

import pytest

from vipdeck.engine import logforms, logsetup

LINE = re.compile(r"^<(\d+)>(\w{3} [ \d]\d \d\d:\d\d:\d\d) ([\w.-]+)\[(\d+)\]: (.*)$", re.S)


@pytest.fixture
def restore_logging():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for h in list(root.handlers):
        root.removeHandler(h)
        if h not in handlers:
            h.close()
    for h in handlers:
        root.addHandler(h)
    root.setLevel(level)


@pytest.fixture
def receiver(tmp_path):
    path = str(tmp_path / "log")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    s.settimeout(2)
    yield path, s
    s.close()


def received(s: socket.socket, n: int) -> list[tuple[int, int, str, int, str]]:
    out = []
    for _ in range(n):
        raw = s.recv(65536)
        assert not raw.endswith(b"\0"), raw           # glibc sends no NUL
        m = LINE.match(raw.decode())
        assert m, raw
        pri = int(m.group(1))
        out.append((pri >> 3, pri & 7, m.group(3), int(m.group(4)), m.group(5)))
    return out


def test_facility_daemon_by_default_and_program_names_per_half(restore_logging, receiver):
    path, s = receiver
    notes = logsetup.setup(address=path, idents="keepalived")
    assert notes == []
    logging.getLogger("vipdeck.vrrp").info("(VI_1) Entering MASTER STATE (preempt: higher priority)")
    logging.getLogger("vipdeck.check").warning("TCP_CHECK on service [198.18.0.203]:tcp:80 failed.")
    logging.getLogger("vipdeck.daemon").info("started")
    logging.getLogger("vipdeck.events").info("check: x", extra={"event_kind": "rs_state"})
    got = received(s, 4)
    pid = os.getpid()
    assert got == [
        (3, 6, "Keepalived_vrrp", pid, "(VI_1) Entering MASTER STATE (preempt: higher priority)"),
        (3, 4, "Keepalived_healthcheckers", pid, "TCP_CHECK on service [198.18.0.203]:tcp:80 failed."),
        (3, 6, "Keepalived", pid, "started"),
        (3, 6, "Keepalived_healthcheckers", pid, "check: x"),
    ]


def test_facility_from_S_and_vipdeck_names(restore_logging, receiver):
    path, s = receiver
    logsetup.setup(address=path, facility=logsetup.parse_facility("3"))
    logging.getLogger("vipdeck.track.script").info("VRRP_Script(chk) succeeded")
    assert received(s, 1) == [(19, 6, "vipdeck", os.getpid(), "VRRP_Script(chk) succeeded")]


def test_debug_only_with_D(restore_logging, receiver):
    path, s = receiver
    logsetup.setup(address=path)
    logging.getLogger("vipdeck.vrrp").debug("detail")
    logging.getLogger("vipdeck.vrrp").info("shown")
    assert received(s, 1)[0][4] == "shown"
    logsetup.setup(address=path, detail=True)
    logging.getLogger("vipdeck.vrrp").debug("detail")
    assert received(s, 1)[0][4] == "detail"


def test_no_syslog_socket_falls_back_to_stderr_with_a_note(restore_logging, tmp_path):
    err = io.StringIO()
    notes = logsetup.setup(address=str(tmp_path / "nothing"), stream=err)
    assert len(notes) == 1 and "no syslog at" in notes[0] and "stderr" in notes[0]
    logging.getLogger("vipdeck.vrrp").info("(VI_1) Entering BACKUP STATE (init)")
    assert "(VI_1) Entering BACKUP STATE (init)" in err.getvalue()


@pytest.mark.parametrize("text, facility", [("0", 16), ("7", 23), ("local4", 20), ("daemon", 3), ("user", 1)])
def test_parse_facility_like_keepalived(text, facility):
    assert logsetup.parse_facility(text) == facility


@pytest.mark.parametrize("text", ["8", "local8", "kern", "", "-1"])
def test_bad_facility_is_refused(text):
    with pytest.raises(ValueError, match="invalid log facility"):
        logsetup.parse_facility(text)


# --------------------------------------------------------------------------- keepalived's line forms


def test_transition_lines():
    assert (logforms.transition("VI_1", "BACKUP", "MASTER", "master_down_timer", "no advert for 3.610 s")
            == "(VI_1) Entering MASTER STATE (master_down_timer: no advert for 3.610 s)")
    assert (logforms.transition("VI_1", "INIT", "BACKUP", "startup", "waiting 3.61 s for a master")
            == "(VI_1) Entering BACKUP STATE (init) (startup: waiting 3.61 s for a master)")
    assert logforms.transition("VI_1", "MASTER", "FAULT", "tracker", "") == "(VI_1) Entering FAULT STATE (tracker)"


def test_script_lines():
    assert logforms.script_result("chk_nginx", True) == "VRRP_Script(chk_nginx) succeeded"
    assert (logforms.script_result("chk_nginx", False, exit_status=1)
            == "VRRP_Script(chk_nginx) failed (exited with status 1)")
    assert logforms.script_result("chk", False, signal=9) == "VRRP_Script(chk) failed (due to signal 9)"
    assert logforms.script_result("chk", False, timed_out=True, signal=9) == "VRRP_Script(chk) timed_out"


def test_checker_lines():
    svc = logforms.service("198.18.0.203", "TCP", 80)
    assert svc == "[198.18.0.203]:tcp:80"
    assert (logforms.checker_result("TCP_CHECK", svc, False, reason="connection refused")
            == "TCP_CHECK on service [198.18.0.203]:tcp:80 failed. (connection refused)")
    assert (logforms.checker_result("TCP_CHECK", svc, False, retries=2)
            == "TCP_CHECK on service [198.18.0.203]:tcp:80 failed after 2 retries.")
    assert logforms.checker_result("TCP_CHECK", svc, True) == "TCP connection to [198.18.0.203]:tcp:80 success."
    assert (logforms.checker_result("HTTP_GET", svc, False)
            == "HTTP_CHECK on service [198.18.0.203]:tcp:80 failed.")
    assert (logforms.checker_result("SSL_GET", svc, True)
            == "Remote Web server [198.18.0.203]:tcp:80 succeed on service.")
    vs = logforms.virtual_service("198.18.0.100", "TCP", 80)
    assert (logforms.real_server_change(svc, vs, False)
            == "Removing service [198.18.0.203]:tcp:80 from VS [198.18.0.100]:tcp:80")
    assert (logforms.real_server_change(svc, vs, True, inhibit=True)
            == "Enabling service [198.18.0.203]:tcp:80 of VS [198.18.0.100]:tcp:80")
    assert logforms.virtual_service(None, "TCP", 80, fwmark=3) == "FWM 3"
    assert (logforms.weight_change(1, 3, True, svc, vs)
            == "Changing weight from 1 to 3 for active service [198.18.0.203]:tcp:80 of VS [198.18.0.100]:tcp:80")
    assert (logforms.quorum_change(vs, False, 0, 1, 0)
            == "Lost quorum 1-0=1 > 0 for VS [198.18.0.100]:tcp:80")


def test_event_bus_lines_that_owners_log_in_keepalived_form_are_debug_only(restore_logging, receiver):
    """A transition is logged once (keepalived's line by the engine), its event copy only with -D;
    a sync-held warning has no other line and stays a warning."""
    from vipdeck.engine.events import EventBus

    path, s = receiver
    logsetup.setup(address=path)
    bus = EventBus()
    bus.emit("transition", "VI_1 BACKUP -> MASTER", instance="VI_1", to="MASTER")
    bus.emit("check", "TCP_CHECK ok")
    bus.emit("transition", "VI_1 stays BACKUP, held by its sync group", "warning", instance="VI_1", held=True)
    bus.emit("daemon", "started")
    got = [(sev, msg) for _, sev, _, _, msg in received(s, 2)]
    assert got == [(4, "transition: VI_1 stays BACKUP, held by its sync group"), (6, "daemon: started")]


def test_the_vrrp_sides_own_loggers_log_under_the_vrrp_program_name():
    """keepalived's VRRP process logs VIP, GARP and route changes; so do our
    modules for them (their logger names must be in the VRRP half's table)."""
    from vipdeck.engine import hosting
    from vipdeck.engine.net import routes

    for log in (hosting.log, routes.log):
        record = logging.LogRecord(log.name, logging.INFO, __file__, 0, "x", (), None)
        assert logsetup.half_of(record) == "vrrp", log.name
