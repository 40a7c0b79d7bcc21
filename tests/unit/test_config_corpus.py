"""Every file of the keepalived sample corpus: a verdict with file:line diagnostics, never a traceback."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from vipdeck.cli import main as cli_main
from vipdeck.engine.config import load
from tests.support.paths import ROOT, SHARED

CORPUS = SHARED / "corpus" / "keepalived-samples"
NAMES = sorted(p.name for p in CORPUS.iterdir()) if CORPUS.is_dir() else []
DIAG = re.compile(r"^.+:\d+: (error|warning|note): ")


def test_corpus_is_present(corpus_dir):
    assert len(NAMES) >= 30 and sorted(p.name for p in corpus_dir.iterdir()) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_corpus_file_gets_a_clean_verdict(corpus_dir, name, capsys):
    path = corpus_dir / name
    rc = cli_main(["check", "-f", str(path)])
    out = capsys.readouterr()
    assert rc in (0, 1)
    assert "Traceback" not in out.err
    lines = out.err.splitlines()
    assert all(DIAG.match(line) for line in lines), out.err
    assert not any("internal parser error" in line for line in lines)
    result = load(str(path))
    assert result.config is not None
    assert rc == (0 if result.ok else 1)
    # every diagnostic points into a file that was read
    assert {d.file for d in result.diagnostics} <= set(result.config.files)


def test_malformed_rule_address_is_an_error_on_line_11(corpus_dir):
    path = corpus_dir / "keepalived.conf.vrrp.rules"
    r = load(str(path))
    assert not r.ok
    errors = {(d.line, d.file) for d in r.errors}
    assert (11, str(path)) in errors
    (line11,) = [d for d in r.errors if d.line == 11]
    assert "192.168.100./24" in line11.message
    # the same mistake inside the vrrp_instance is found too, and nothing else is an error
    assert {d.line for d in r.errors} == {11, 26}
    # the good rules are kept
    assert [s.words for s in r.config.static_rules] == [("from", "192.168.100.0/24", "table", "1")]


def test_malformed_rule_exit_code_via_subprocess(corpus_dir):
    path = corpus_dir / "keepalived.conf.vrrp.rules"
    proc = subprocess.run([sys.executable, "-m", "vipdeck", "check", "-f", str(path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert f"{path}:11: error: " in proc.stderr


def test_conditional_corpus_follows_the_config_id(corpus_dir):
    path = str(corpus_dir / "keepalived.conf.conditional_conf")
    high, low, other = (load(path, config_id=i) for i in ("high", "low", "elsewhere"))
    assert high.ok and low.ok
    assert high.config.instance("VI_0").priority == 170 and low.config.instance("VI_0").priority == 85
    assert high.config.script("check_VI_0").script == "/etc/keepalived/scripts/check_high_VI_0.sh"
    assert low.config.script("check_VI_0").script == "/etc/keepalived/scripts/check_low_VI_0.sh"
    assert ("net_namespace", ("high",)) in high.config.other
    vi = high.config.instance("VI_0")
    assert (vi.version, vi.advert_int, vi.use_vmac) == (3, 12.0, "vrrp.1")
    assert [(t.name, t.weight) for t in vi.track_interfaces] == [("eth3", None), ("eth2", 20)]
    # with neither id, the script has no command: reported at its line
    assert [(d.line, d.severity) for d in other.errors] == [(6, "error")]


def test_unicast_conditionals_1972(corpus_dir):
    path = str(corpus_dir / "1972.conf")
    low = load(path, config_id="low").config.instance("bond0_61")
    high = load(path, config_id="high").config.instance("bond0_61")
    assert (low.priority, low.unicast_src_ip, low.unicast_peers) == (80, "192.168.61.253", ("192.168.61.254",))
    assert (high.priority, high.unicast_src_ip, high.unicast_peers) == (100, "192.168.61.254", ("192.168.61.253",))


def test_corpus_lvs_details(corpus_dir):
    vsg = load(str(corpus_dir / "keepalived.conf.virtual_server_group")).config
    (group,) = vsg.virtual_server_groups
    ranged = [e for e in group.entries if e.first == "192.168.200.3"]
    assert ranged[0].last == "192.168.200.10" and len(ranged[0].addresses()) == 8
    assert [e.fwmark for e in group.entries if e.fwmark] == [1, 2]
    assert vsg.virtual_servers[0].group == "VSG_1"

    codes = load(str(corpus_dir / "keepalived.conf.status_code")).config
    url1, url2 = codes.virtual_servers[0].real_servers[0].checkers[0].urls
    assert url1.status_codes == ((200, 299), (400, 499), (503, 503), (505, 505))
    assert url2.digest == "9b3a0c85a887a256d6939da88aabd8cd" and url2.status_codes == ((200, 200),)

    smtp = load(str(corpus_dir / "keepalived.conf.SMTP_CHECK")).config.virtual_servers[0]
    assert [len(rs.checkers) for rs in smtp.real_servers] == [1, 3, 3]     # legacy host {} blocks
    hosts = smtp.real_servers[2].checkers
    assert [(h.connect_ip, h.connect_port, h.bindto) for h in hosts] == [
        ("172.16.1.12", 25, "172.16.1.2"), ("192.168.155.11", 25, "192.168.155.2"), ("64.233.167.100", 587, None)]
    assert all(h.helo_name == "foo.bar.com" and h.retry == 2 for h in hosts)

    vhost = load(str(corpus_dir / "keepalived.conf.virtualhost")).config.virtual_servers[0]
    chk = vhost.real_servers[0].checkers[0]
    assert chk.kind == "SSL_GET" and chk.virtualhost == "www.firewall.loc"
    assert {u.virtualhost for u in chk.urls} == {"www.firewall.loc"}

    fw = load(str(corpus_dir / "keepalived.conf.fwmark")).config.virtual_servers[0]
    assert fw.key == "fwmark 1" and fw.persistence_timeout == 900
    assert [(rs.port, rs.checkers[0].connect_port) for rs in fw.real_servers] == [(None, 80), (None, 80)]

    misc = load(str(corpus_dir / "keepalived.conf.misc_check_arg")).config.virtual_servers[0]
    assert misc.real_servers[0].checkers[0].misc_path == "/usr/local/bin/script.sh arg1 arg2"
    assert misc.real_servers[0].checkers[0].retry == 0

    dns = load(str(corpus_dir / "chk_dns.conf")).config.virtual_servers[0].real_servers[0].checkers[0]
    assert (dns.type, dns.name, dns.retry, dns.delay_before_retry) == ("RRSIG", "armitage.org.uk", 3, 3.0)
    assert (dns.connect_ip, dns.connect_port) == ("2001:470:69dd:35::10", 53)


def test_corpus_vrrp_details(corpus_dir):
    local = load(str(corpus_dir / "keepalived.conf.vrrp.localcheck")).config
    vi1 = local.instance("VI_1")
    assert [(t.name, t.weight) for t in vi1.track_interfaces] == [("eth1", 2), ("eth2", -2), ("eth3", None)]
    assert [(t.name, t.weight) for t in vi1.track_scripts][:2] == [("chk_sshd", None), ("chk_haproxy", 2)]
    assert local.script("chk_http_port").script == "</dev/tcp/127.0.0.1/80"
    assert local.script("chk_sshd").script == "killall -0 sshd"

    sync = load(str(corpus_dir / "keepalived.conf.vrrp.sync")).config
    assert [g.group for g in sync.sync_groups] == [("VI_1", "VI_2", "VI_5", "VI_6", "VI_7", "VI_8", "VI_9"),
                                                  ("VI_3", "VI_4")]
    assert sync.sync_group_of("VI_4").name == "G2"
    assert sync.sync_groups[0].notify_master.command == "/usr/local/bin/vrrp.mast arg1 arg2"

    routes = load(str(corpus_dir / "keepalived.conf.vrrp.routes")).config.instance("VI_1")
    assert len(routes.virtual_routes) == 7
    assert routes.virtual_routes[-1].words == ("0.0.0.0/0", "gw", "192.168.0.1", "table", "100")

    syncd = load(str(corpus_dir / "keepalived.conf.vrrp.lvs_syncd"))
    hints = [d for d in syncd.warnings if "belong inside 'group { }'" in d.message]
    assert [d.line for d in hints] == [4, 5]

    strict = load(str(corpus_dir / "keepalived.conf.sample.in"))
    vi = strict.config.instance("VI_1")
    # VRRPv2 accept mode under strict mode is reset, as keepalived 2.2.7's vrrp.c does
    assert vi.strict_mode and vi.authentication is None and vi.accept is False
    assert any("accept mode with VRRP version 2 does not comply" in d.message for d in strict.warnings)
    assert any("strict mode does not support authentication" in d.message for d in strict.warnings)
