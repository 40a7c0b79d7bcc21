"""The four seed configurations: they load clean and the model holds what they say."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from vipdeck.cli import main as cli_main
from vipdeck.engine.config import load
from vipdeck.engine.config.model import MASK, Forward, HttpCheck, TcpCheck
from tests.support.paths import FIXTURES, ROOT

SEED = FIXTURES / "seed"
SEEDS = sorted(SEED.glob("*.conf"))
DIAG = re.compile(r"^.+:\d+: (error|warning|note): ")


def test_there_are_four_seeds():
    assert [p.name for p in SEEDS] == ["dual-master-lvs.conf", "nginx-track.conf", "node1-master.conf",
                                       "node2-backup.conf"]


@pytest.mark.parametrize("path", SEEDS, ids=lambda p: p.name)
def test_seed_checks_clean_with_the_real_cli(path: Path):
    proc = subprocess.run([sys.executable, "-m", "vipdeck", "check", "-f", str(path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert all(DIAG.match(line) for line in proc.stderr.splitlines()), proc.stderr
    assert proc.stdout.count("\n") == 1 and "VRRP instance(s)" in proc.stdout
    assert not [line for line in proc.stderr.splitlines() if ": error: " in line]


def test_dual_master_vrrp_values():
    r = load(str(SEED / "dual-master-lvs.conf"))
    assert r.ok, r.diagnostics
    c = r.config
    vi1, vi2 = c.instance("VI_1"), c.instance("VI_2")
    assert (vi1.state, vi1.interface, vi1.vrid, vi1.priority, vi1.advert_int) == ("MASTER", "ens34", 51, 100, 1.0)
    assert (vi2.state, vi2.vrid, vi2.priority) == ("BACKUP", 52, 98)
    vip = vi1.virtual_ipaddresses[0]
    assert (vip.address, vip.prefixlen, vip.dev, vip.label) == ("192.168.1.198", 32, "ens34", "ens34:0")
    assert [str(v) for v in vi2.virtual_ipaddresses] == ["192.168.1.197/32"]
    assert vi2.virtual_ipaddresses[0].dev is None
    # global vrrp_mcast_group4 resolved into every instance
    assert {i.mcast_group for i in c.vrrp_instances} == {"224.1.101.33"}
    assert c.global_defs.vrrp_mcast_group4 == "224.1.101.33"
    assert vi1.authentication.auth_type.value == "PASS" and vi1.authentication.auth_pass == "1111"
    assert vi2.authentication.auth_pass == "2222"
    assert vi1.authentication.wire_pass == b"1111\0\0\0\0"
    # notify scripts keep their arguments
    assert vi1.notify_master.command == "/etc/keepalived/notify.sh master"
    assert vi1.notify_backup.command == "/etc/keepalived/notify.sh backup"
    assert vi2.notify_fault.command == "/etc/keepalived/notify.sh fault"
    assert vi1.notify_master.user is None
    g = c.global_defs
    assert (g.router_id, g.smtp_server, g.smtp_port, g.smtp_connect_timeout) == ("node1", "127.0.0.1", 25, 30.0)
    assert g.notification_email == ("root@localhost",)
    assert g.notification_email_from == "Alexandre.Cassen@localhost"


def test_dual_master_lvs_values_and_inheritance():
    r = load(str(SEED / "dual-master-lvs.conf"))
    c = r.config
    assert [vs.key for vs in c.virtual_servers] == ["192.168.1.198:80", "192.168.1.197:80"]
    for vs in c.virtual_servers:
        assert (vs.scheduler, vs.forward, vs.protocol, vs.delay_loop) == ("wrr", Forward.DR, "TCP", 1.0)
        assert (vs.sorry_server.address, vs.sorry_server.port) == ("192.168.1.200", 80)
        assert vs.sorry_server.forward is Forward.DR
        http_rs, tcp_rs = vs.real_servers
        assert (str(http_rs), http_rs.weight, http_rs.forward) == ("192.168.1.202:80", 1, Forward.DR)
        assert str(tcp_rs) == "192.168.1.203:80"
        (http,) = http_rs.checkers
        assert isinstance(http, HttpCheck) and http.kind == "HTTP_GET"
        assert [(u.path, u.status_codes) for u in http.urls] == [("/index.html", ((200, 200),))]
        assert http.urls[0].status_ok(200) and not http.urls[0].status_ok(204)
        (tcp,) = tcp_rs.checkers
        assert isinstance(tcp, TcpCheck)
        for chk in (http, tcp):
            # retry from the old name nb_get_retry, delay_loop inherited from the virtual server
            assert (chk.retry, chk.delay_before_retry, chk.connect_timeout, chk.delay_loop) == (3, 2.0, 3.0, 1.0)
        assert (tcp.connect_ip, tcp.connect_port) == ("192.168.1.203", 80)
    notes = [d for d in r.diagnostics if d.severity == "note"]
    retry_notes = [d for d in notes if "nb_get_retry" in d.message and "'retry'" in d.message]
    assert {d.line for d in retry_notes} == {58, 66, 85, 93}
    assert any("lb_algo" in d.message and d.line == 47 for d in notes)
    assert any("lb_kind" in d.message and d.line == 48 for d in notes)


def test_nginx_track_scripts():
    r = load(str(SEED / "nginx-track.conf"))
    assert r.ok and not r.warnings, r.diagnostics
    c = r.config
    down, nginx = c.script("chk_down"), c.script("chk_nginx")
    assert (down.script, down.interval, down.weight, down.fall, down.rise) == ("/etc/keepalived/down.sh", 1.0, -20, 1, 1)
    assert nginx.script == "pidof nginx && exit 0 || exit 1"
    assert (nginx.fall, nginx.rise, nginx.weight) == (2, 2, -3)      # rise has a trailing '#' comment
    vi = c.instance("VI_1")
    assert [t.name for t in vi.track_scripts] == ["chk_down", "chk_nginx"]
    assert all(t.weight is None for t in vi.track_scripts)
    assert [str(v) for v in vi.virtual_ipaddresses] == ["192.168.1.198/24"]
    assert vi.mcast_group == "224.1.101.33"


def test_node_pair_differs_where_the_notes_say():
    a = load(str(SEED / "node1-master.conf"))
    b = load(str(SEED / "node2-backup.conf"))
    assert a.ok and b.ok
    ia, ib = a.config.instance("VI_1"), b.config.instance("VI_1")
    assert (ia.state, ia.priority, a.config.global_defs.router_id) == ("MASTER", 100, "node1")   # '#单个id' comment
    assert (ib.state, ib.priority, b.config.global_defs.router_id) == ("BACKUP", 96, "node2")
    assert ia.vrid == ib.vrid == 51 and ia.mcast_group == ib.mcast_group == "224.1.101.33"
    assert ia.virtual_ipaddresses == ib.virtual_ipaddresses[:0] + ia.virtual_ipaddresses
    assert [str(v) for v in ib.virtual_ipaddresses] == ["192.168.1.199/32"]
    assert ia.notify_fault.command == "/etc/keepalived/notify.sh fault"


def test_json_output_masks_auth_pass(capsys):
    rc = cli_main(["check", "-f", str(SEED / "dual-master-lvs.conf"), "--json"])
    out = capsys.readouterr()
    assert rc == 0
    doc = json.loads(out.out)
    assert (doc["ok"], doc["exit_status"], doc["counts"]["errors"]) == (True, 0, 0)
    data = doc["config"]                           # the model, beside the diagnostics
    auths = [i["authentication"] for i in data["vrrp_instances"]]
    assert [a["auth_pass"] for a in auths] == [MASK, MASK]
    assert "1111" not in out.out and "2222" not in out.out
    assert data["vrrp_instances"][1]["priority"] == 98
    assert data["virtual_servers"][0]["real_servers"][1]["checkers"][0]["kind"] == "TCP_CHECK"
    assert "VRRP instance(s)" in out.err           # the summary moves to stderr with --json


def test_cli_missing_file_is_a_clear_error(tmp_path, capsys):
    missing = tmp_path / "nope.conf"
    rc = cli_main(["check", "-f", str(missing)])
    err = capsys.readouterr().err
    assert rc == 1
    assert f"{missing}:0: error: cannot read configuration file {missing}: it does not exist" in err


def test_cli_reports_errors_with_file_and_line(tmp_path, capsys):
    conf = tmp_path / "bad.conf"
    conf.write_text("vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 300\n"
                    " virtual_ipaddress {\n  10.0.0.1\n }\n}\n")
    rc = cli_main(["check", "-f", str(conf)])
    out = capsys.readouterr()
    assert rc == 1
    assert f"{conf}:3: error: virtual_router_id 300 is outside 1-255" in out.err.splitlines()
    assert "1 error(s)" in out.out


def test_cli_config_id_selects_conditional_lines(tmp_path, capsys):
    conf = tmp_path / "c.conf"
    conf.write_text("vrrp_instance V {\n interface eth0\n virtual_router_id 9\n@main priority 200\n"
                    "@backup priority 50\n virtual_ipaddress {\n  10.0.0.1\n }\n}\n")
    assert cli_main(["check", "-f", str(conf), "-i", "backup", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["config"]["vrrp_instances"][0]["priority"] == 50
    assert cli_main(["check", "-f", str(conf), "-i", "main", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["config"]["vrrp_instances"][0]["priority"] == 200
