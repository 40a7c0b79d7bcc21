"""`vipdeck check`: --strict, --json for CI, this host's interfaces, and a closed pipe."""

from __future__ import annotations

import json
import subprocess
import sys

from vipdeck.cli import main as cli_main
from vipdeck.engine.config import load, loads
from vipdeck.engine.config.hostcheck import check as host_check
from tests.support.paths import ROOT

CONF = ("vrrp_instance VI_1 {\n interface lo\n virtual_router_id 51\n use_ipvlan\n"
        " virtual_ipaddress {\n  10.0.0.1\n }\n}\n")


def test_strict_fails_on_a_keyword_vipdeck_does_not_implement(tmp_path, capsys):
    conf = tmp_path / "k.conf"
    conf.write_text(CONF)
    assert cli_main(["check", "-f", str(conf)]) == 0
    out = capsys.readouterr()
    assert f"{conf}:4: warning: 'use_ipvlan' is not implemented by vipdeck: " in out.err
    assert cli_main(["check", "-f", str(conf), "--strict"]) == 1
    out = capsys.readouterr()
    assert "1 not implemented: --strict fails" in out.out
    conf.write_text(CONF.replace(" use_ipvlan\n", " priority 90\n"))
    assert cli_main(["check", "-f", str(conf), "--strict"]) == 0


def test_json_carries_every_diagnostic_for_ci(tmp_path, capsys):
    conf = tmp_path / "k.conf"
    conf.write_text(CONF.replace("interface lo", "interface vipdeck-none0") +
                    "vrrp_instance VI_2 {\n interface lo\n virtual_router_id 300\n}\n")
    assert cli_main(["check", "-f", str(conf), "--json"]) == 1
    out = capsys.readouterr()
    doc = json.loads(out.out)
    assert (doc["ok"], doc["exit_status"], doc["file"]) == (False, 1, str(conf))
    assert doc["counts"] == {"errors": 1, "warnings": 2, "notes": 0, "not_implemented": 1}
    by_line = {(d["line"], d["severity"], d["code"]) for d in doc["diagnostics"]}
    assert {(1, "warning", "host"), (4, "warning", "not-implemented"), (11, "error", "")} <= by_line
    assert all(set(d) == {"file", "line", "severity", "message", "code"} for d in doc["diagnostics"])
    assert doc["config"]["vrrp_instances"][0]["name"] == "VI_1"
    assert "VRRP instance(s)" in out.err


def test_json_of_an_unreadable_file(tmp_path, capsys):
    assert cli_main(["check", "-f", str(tmp_path / "nope.conf"), "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["config"] is None and doc["diagnostics"][0]["severity"] == "error"


def test_json_into_a_pipe_closed_early_is_no_traceback(tmp_path):
    """`vipdeck check --json | head` ends quietly when head has read enough."""
    conf = tmp_path / "big.conf"
    conf.write_text("".join(f"vrrp_instance VI_{i} {{\n interface lo\n virtual_router_id {i % 255 + 1}\n"
                            f" virtual_ipaddress {{\n  10.1.{i // 250}.{i % 250 + 1}\n }}\n}}\n"
                            for i in range(250)))
    proc = subprocess.run(f"{sys.executable} -m vipdeck check -f {conf} --json | head -3", shell=True, cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.stdout.splitlines()[0] == "{"
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr, proc.stderr[-2000:]


def test_missing_interfaces_are_this_hosts_business():
    text = ("vrrp_instance V {\n interface vipdeck-none0\n virtual_router_id 5\n track_interface {\n  lo\n"
            "  vipdeck-none1 weight 10\n }\n virtual_ipaddress {\n  10.0.0.1/24 dev vipdeck-none2\n }\n}\n"
            "static_ipaddress {\n 10.0.0.5/24 dev vipdeck-none3\n}\n")
    r = loads(text, path="k.conf")
    assert r.ok and not r.diagnostics          # the parse alone does not depend on the host
    found = host_check(r.config, interfaces={"lo", "eth0"})
    assert [(d.line, d.code, d.message.split("'")[1]) for d in found] == [
        (1, "host", "vipdeck-none0"), (6, "host", "vipdeck-none1"), (9, "host", "vipdeck-none2"),
        (13, "host", "vipdeck-none3")]
    assert "vipdeck cannot open the instance's VRRP socket" in found[0].message
    assert not host_check(r.config, interfaces={"lo", "vipdeck-none0", "vipdeck-none1", "vipdeck-none2",
                                                "vipdeck-none3"})


def test_load_adds_host_checks_only_when_asked(tmp_path):
    conf = tmp_path / "k.conf"
    conf.write_text(CONF.replace("interface lo", "interface vipdeck-none0").replace(" use_ipvlan\n", ""))
    assert not load(str(conf)).diagnostics
    (d,) = load(str(conf), host=True).diagnostics
    assert (d.line, d.severity, d.code) == (1, "warning", "host")      # the instance's line
