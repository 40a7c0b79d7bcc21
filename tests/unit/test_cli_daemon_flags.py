"""keepalived's command line on `vipdeck daemon`: what Debian's unit and
/etc/default/keepalived pass, with keepalived's meanings."""

from __future__ import annotations

import shlex
import subprocess
import sys

import pytest

from vipdeck.cli import build_parser, kaflags
from tests.support.paths import ROOT


def parse(line: str):
    return build_parser().parse_args(["daemon", *shlex.split(line)])


@pytest.mark.parametrize("daemon_args", [
    "--dont-fork", "-n -D -S 3", "--dont-fork -D -S local3 -l", "-n -P -p /run/ka.pid -r /run/v.pid -c /run/c.pid",
    "--vrrp --log-detail --log-facility=daemon", "-C -G -g", "-n -D -D -S user -f /etc/keepalived/keepalived.conf",
    "-R -X -V -I -m -a -x -e --all -B", "-M core -A /var/agentx/master -b /run/bfd.pid --debug=TpM",
])
def test_debian_and_habitual_daemon_args_parse(daemon_args):
    args = parse(daemon_args)
    kaflags.resolve(args)


def test_meanings():
    a = parse("-n -D -S 3 -P -p /run/x.pid -r /run/vrrp.pid -c /run/checkers.pid -l -g")
    s = kaflags.resolve(a)
    assert (s.run_vrrp, s.run_checkers, s.facility) == (True, False, 19)
    assert (a.pid_file, a.vrrp_pid_file, a.checkers_pid_file) == ("/run/x.pid", "/run/vrrp.pid", "/run/checkers.pid")
    assert a.log_console and a.log_detail == 1 and a.log_file.endswith("/keepalived.log")
    assert any("one process" in n for n in s.notes)           # -r/-c said once
    assert kaflags.resolve(parse("-C")).run_vrrp is False
    assert kaflags.resolve(parse("")).facility == 3           # daemon, like keepalived
    assert parse("--pid-file /x").pid_file == "/x"             # the older spelling still works


def test_meaningless_options_are_said_once_each():
    s = kaflags.resolve(parse("-R -R --all -V -n -D"))
    assert [n.split(" accepted")[0] for n in s.notes] == ["keepalived option -R/--dont-respawn",
                                                          "keepalived option -V/--dont-release-vrrp",
                                                          "keepalived option --all"]
    assert kaflags.resolve(parse("-n -D -S 3 -l")).notes == []


@pytest.mark.parametrize("line, message", [
    ("-S 8", "invalid log facility '8'"), ("-S kern", "invalid log facility"),
    ("-P -C", "leave nothing to run"), ("-s blue", "ip netns exec blue"), ("-u 99x", "not a numeric umask"),
])
def test_bad_options_are_refused_clearly(line, message):
    with pytest.raises(SystemExit, match=message):
        kaflags.resolve(parse(line))


def cli(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vipdeck", "daemon", *argv], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)


def test_signum_prints_keepalived_s_numbers():
    for name, want in (("DATA", "10"), ("STATS", "12"), ("JSON", "36"), ("STATS_CLEAR", "63"), ("STOP", "15"),
                       ("RELOAD", "1")):
        r = cli(f"--signum={name}")
        assert (r.returncode, r.stdout) == (0, want + "\n"), name
    r = cli("--signum=NOPE")
    assert r.returncode == 1 and "Unknown sigfunc NOPE" in r.stderr


def test_config_test_is_vipdeck_check(tmp_path):
    good = tmp_path / "good.conf"
    good.write_text("vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n priority 100\n"
                    " virtual_ipaddress {\n  198.18.0.199\n }\n}\n")
    bad = tmp_path / "bad.conf"
    bad.write_text("vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 300\n}\n")
    r = cli("-t", "-f", str(good))
    assert r.returncode == 0 and "OK" in r.stdout, r.stderr
    r = cli("-t", "-f", str(bad))
    assert r.returncode == 1 and f"{bad}:3:" in r.stderr
    log = tmp_path / "test.log"
    r = cli(f"--config-test={log}", "-f", str(bad))
    assert r.returncode == 1 and f"{bad}:3:" in log.read_text()


def test_default_pid_file_is_keepalived_s(tmp_path):
    from vipdeck.engine.config import load
    from vipdeck.engine.dumps.paths import default_pid_file

    def conf(text: str):
        p = tmp_path / "k.conf"
        p.write_text(text)
        return load(str(p)).config

    assert default_pid_file(conf("")) == "/run/keepalived.pid"
    assert default_pid_file(conf("use_pid_dir\n")) == "/run/keepalived/keepalived.pid"
    assert (default_pid_file(conf("instance lb2\n"))
            == "/run/keepalived/keepalived_lb2.pid")
