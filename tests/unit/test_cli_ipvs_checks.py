"""`vipdeck ipvs --checks`: the daemon's checker state beside the kernel table.

The live path (a real daemon, a real kernel table) is proven in the UML
guest (tests/uml/guest/guest_lvs_daemon.py); here the formatting is pinned
down from a snapshot shaped as engine/control/schema.py describes.
"""

from __future__ import annotations

import pytest

from vipdeck.cli.ipvs import checks_column, fetch_checker_summaries, real_server_summary, summaries_from_snapshot
from vipdeck.engine.control.schema import ControlError
from vipdeck.engine.ipvs.model import Dest, DestKey, DestStatus, Service, ServiceKey, ServiceStatus, Snapshot
from vipdeck.engine.ipvs.table import render


def rs(address, state, checkers, port=80, override=None):
    return {"key": f"{address}:{port}", "address": address, "port": port, "state": state,
            "weight_config": 1, "override": override, "checkers": checkers}


def chk(kind, ok, latency=None, error=None, failures=0):
    return {"kind": kind, "ok": ok, "latency": latency, "error": error, "failures": failures, "last_check": None}


SNAPSHOT = {"virtual_servers": [
    {"key": "198.19.0.197:80", "protocol": "TCP", "address": "198.19.0.197", "port": 80, "fwmark": None,
     "sorry_server": "198.18.0.30:80", "sorry_active": True, "real_servers": [
         rs("198.18.0.21", "UP", [chk("HTTP_GET", True, 0.00183)], override={"weight": 3}),
         rs("198.18.0.22", "DOWN", [chk("TCP_CHECK", False, 0.0004, "connect: connection\nrefused", 2)]),
         rs("198.18.0.23", "DRAINING", []),
         rs("198.18.0.24", "UP", [chk("HTTP_GET", None), chk("MISC_CHECK", False, 1.0, "x" * 80, 1)]),
     ]},
    {"key": "fwmark 5", "protocol": "FWM", "address": None, "port": None, "fwmark": 5,
     "sorry_server": None, "sorry_active": False, "real_servers": [rs("198.18.0.21", "UP", [], port=0)]},
    {"key": "group G", "protocol": "TCP", "address": None, "port": None, "fwmark": None, "group": "G",
     "services": [{"protocol": "TCP", "address": "198.19.0.50", "port": 443, "fwmark": None, "family": 4},
                  {"protocol": None, "address": None, "port": None, "fwmark": 9, "family": 6}],
     "sorry_server": None, "real_servers": [rs("198.18.0.23", "DOWN", [], port=443)]},
    {"key": "group OLD", "protocol": "TCP", "address": None, "port": None, "fwmark": None, "group": "OLD",
     "sorry_server": None, "real_servers": [rs("198.18.0.21", "UP", [])]},
]}


def test_one_line_per_real_server():
    s = summaries_from_snapshot(SNAPSHOT)
    nat = ServiceKey.of("TCP", "198.19.0.197", 80)
    assert s[(nat, DestKey("198.18.0.21", 80))] == "UP  HTTP_GET ok 1.8ms  (weight override 3, cfg 1)"
    # newlines in an error never break the table
    assert s[(nat, DestKey("198.18.0.22", 80))] == "DOWN  TCP_CHECK failed x2: connect: connection refused"
    assert s[(nat, DestKey("198.18.0.23", 80))] == "DRAINING  no checker"
    both = s[(nat, DestKey("198.18.0.24", 80))]
    assert both.startswith("UP  HTTP_GET pending; MISC_CHECK failed x1: xxx") and both.endswith("x…")
    assert len(both) < 110
    assert s[(nat, DestKey("198.18.0.30", 80))] == "sorry server (in: quorum lost)"
    # a fwmark service is found whatever its family
    assert s[(ServiceKey.fwm(5), DestKey("198.18.0.21", 0))] == "UP  no checker"
    assert s[(ServiceKey.fwm(5, 6), DestKey("198.18.0.21", 0))] == "UP  no checker"
    # a group's kernel services come from the snapshot; without them (an older daemon) nothing is guessed
    assert s[(ServiceKey.of("TCP", "198.19.0.50", 443), DestKey("198.18.0.23", 443))] == "DOWN  no checker"
    assert s[(ServiceKey.fwm(9, 6), DestKey("198.18.0.23", 443))] == "DOWN  no checker"
    assert len(s) == 9


def test_summary_of_a_server_that_never_ran_a_check():
    assert real_server_summary({"state": "UP", "checkers": [chk("SSL_GET", None)]}) == "UP  SSL_GET pending"


def test_the_column_is_appended_to_destination_lines_only():
    nat = ServiceKey.of("TCP", "198.19.0.197", 80)
    snap = Snapshot((ServiceStatus(Service(nat, "wrr"), (
        DestStatus(Dest("198.18.0.21", 80, 3, "masq"), active_conns=1),
        DestStatus(Dest("198.18.0.99", 80, 1, "masq")),           # not the daemon's
    )),))
    plain = render(snap).splitlines()
    text = render(snap, extra=checks_column(summaries_from_snapshot(SNAPSHOT))).splitlines()
    assert text[:4] == plain[:4]                     # headers and the service line are untouched
    assert text[4] == plain[4] + "  UP  HTTP_GET ok 1.8ms  (weight override 3, cfg 1)"
    assert text[5] == plain[5] + "  -"


def test_no_daemon_is_a_clear_error(tmp_path):
    with pytest.raises(ControlError, match="no daemon control socket at"):
        fetch_checker_summaries(str(tmp_path / "nothing.sock"))


def test_the_snapshot_lists_a_groups_kernel_services():
    from vipdeck.engine.config import loads
    from vipdeck.engine.lvs import _service_dicts

    r = loads("virtual_server_group G {\n 198.19.0.50 443\n 198.19.0.51-52 443\n fwmark 9\n}\n"
              "virtual_server group G {\n lb_algo rr\n lb_kind DR\n protocol TCP\n"
              " real_server 198.18.0.23 443 {\n }\n}\n", path="g.conf")
    assert r.ok, [str(d) for d in r.diagnostics]
    vs = r.config.virtual_servers[0]
    got = [(d["protocol"], d["address"], d["port"], d["fwmark"], d["family"]) for d in _service_dicts(vs, r.config)]
    assert got == [("TCP", "198.19.0.50", 443, None, 4), ("TCP", "198.19.0.51", 443, None, 4),
                   ("TCP", "198.19.0.52", 443, None, 4), (None, None, None, 9, 4)]
