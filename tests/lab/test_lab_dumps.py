"""keepalived's runtime interfaces on a real daemon pair in a namespace lab.

SIGUSR1 / SIGUSR2 / SIGJSON / SIGSTATS_CLEAR write keepalived's files to
the locations global_defs gives, the daemons keep running and keep their
roles, and the files read the way mehdy/keepalived-exporter reads them.
Logging goes to a real syslog receiver (a Unix datagram socket) with
keepalived's program names, facility and line forms.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket

import pytest

from vipdeck.engine.lab import wait_until
from vipdeck.engine.lab.peers import instance, start_vipdeck, status
from tests.support.labconf import VIP1, seed_pair
from tests.unit.test_dumps import (exporter_parse_data, exporter_parse_scripts, exporter_parse_stats,
                                   go_decode_vrrp, parse_vip)

pytestmark = pytest.mark.lab

SIGJSON = signal.SIGRTMIN + 2
SIGSTATS_CLEAR = signal.SIGRTMAX - 1


def locations(d) -> str:
    return (f"state_file_location {d}/\n    stats_file_location {d}/ka.stats\n"
            f"    json_file_location {d}/")


def identity(path: str) -> tuple[int, int]:
    """Which write a dump file is: every write is an atomic rename of a new file, so
    the inode changes even when two writes fall within one tick of the file clock."""
    st = os.stat(path)
    return st.st_ino, st.st_mtime_ns


def wait_file(path: str, after: float = 0.0) -> str:
    wait_until(lambda: os.path.exists(path) and os.stat(path).st_mtime >= after, 10, what=path)
    with open(path) as f:
        return f.read()


def test_dump_signals_write_keepalived_s_files_and_the_pair_keeps_its_roles(lab, tmp_path):
    n1 = lab.add_node("n1", "198.18.0.1/24")
    n2 = lab.add_node("n2", "198.18.0.2/24")
    d1, d2 = tmp_path / "n1", tmp_path / "n2"
    d1.mkdir()
    d2.mkdir()
    r1 = start_vipdeck(n1, seed_pair("node1", 100, "MASTER", global_extra=locations(d1)))
    r2 = start_vipdeck(n2, seed_pair("node2", 96, "BACKUP", global_extra=locations(d2)))
    wait_until(lambda: n1.has_address(VIP1) and instance(r2, "VI_1")["state"] == "BACKUP", 10)
    wait_until(lambda: instance(r2, "VI_1")["counters"]["adverts_received"] >= 2, 10, what="adverts at node2")

    for r in (r1, r2):
        r.signal(signal.SIGUSR1)
        r.signal(signal.SIGUSR2)
        r.signal(SIGJSON)
    data1 = wait_file(f"{d1}/keepalived.data")
    data2 = wait_file(f"{d2}/keepalived.data")
    assert os.path.exists(f"{d1}/keepalived_parent.data")
    assert not os.path.exists(f"{d1}/keepalived_check.data")       # no virtual_server: no checker "process"
    stats1, stats2 = wait_file(f"{d1}/ka.stats"), wait_file(f"{d2}/ka.stats")
    json1, json2 = wait_file(f"{d1}/keepalived.json"), wait_file(f"{d2}/keepalived.json")

    # the exporter's text parsers
    p1, p2 = exporter_parse_data(data1), exporter_parse_data(data2)
    assert (p1["VI_1"]["State"], p2["VI_1"]["State"]) == (2, 1)
    assert p1["VI_1"]["intf"] == "eth0" and p1["VI_1"]["Virtual Router ID"] == 51
    assert p1["VI_1"]["vips"] == [f"{VIP1} dev eth0 scope global set"]
    assert p2["VI_1"]["vips"] == [f"{VIP1} dev eth0 scope global"]
    s1, s2 = exporter_parse_stats(stats1), exporter_parse_stats(stats2)
    assert s1["VI_1"]["Became master"] == 1 and s1["VI_1"]["Advertisements/Sent"] >= 2
    assert s2["VI_1"]["Advertisements/Received"] >= 2 and s2["VI_1"]["Became master"] == 0
    assert exporter_parse_scripts(data1) == []
    # ... and its JSON decoder (--ka.json)
    j1, j2 = go_decode_vrrp(json1), go_decode_vrrp(json2)
    assert (j1[0]["data"]["state"], j2[0]["data"]["state"]) == (2, 1)
    assert [parse_vip(v) for v in j1[0]["data"]["vips"]] == [(VIP1, "eth0")]
    assert j1[0]["stats"]["become_master"] == 1 and j2[0]["data"]["master_priority"] == 100
    assert j1[0]["data"]["last_transition"] > 1e9
    # the real interface, socket and source are in the data dump
    assert re.search(r"^ Name = eth0\n   index = \d+\n   IPv4 address = 198\.18\.0\.1$", data1, re.M)
    assert "   Using src_ip = 198.18.0.1\n" in data1 and re.search(r"^   fd_in \d+, fd_out \d+$", data1, re.M)
    assert "   Master router = 198.18.0.1\n   Master priority = 100\n" in data2
    for text in (data1, data2, json1, json2, stats1, stats2):
        assert "1111" not in text.replace("1796", "")                 # the auth_pass never

    # still running, still in their roles
    assert r1.alive() and r2.alive()
    assert instance(r1, "VI_1")["state"] == "MASTER" and instance(r2, "VI_1")["state"] == "BACKUP"
    assert n1.has_address(VIP1) and not n2.has_address(VIP1)
    assert any(e["kind"] == "daemon" and e.get("path") == f"{d1}/keepalived.json"
               for e in status_events(r1))

    # STATS_CLEAR: written, then counted from zero
    before = identity(f"{d1}/ka.stats")
    r1.signal(SIGSTATS_CLEAR)
    wait_until(lambda: identity(f"{d1}/ka.stats") != before, 10, what="stats written on STATS_CLEAR")
    sent_before_clear = exporter_parse_stats(open(f"{d1}/ka.stats").read())["VI_1"]["Advertisements/Sent"]
    mark = identity(f"{d1}/ka.stats")
    r1.signal(signal.SIGUSR2)
    wait_until(lambda: identity(f"{d1}/ka.stats") != mark, 10, what="stats after the clear")
    after = exporter_parse_stats(open(f"{d1}/ka.stats").read())["VI_1"]
    assert after["Became master"] == 0 and after["Advertisements/Sent"] < sent_before_clear
    assert instance(r1, "VI_1")["counters"]["adverts_sent"] >= sent_before_clear   # the console's never go back


def status_events(router) -> list[dict]:
    import asyncio

    from vipdeck.engine.control.client import SocketClient

    async def go():
        return await SocketClient(router.socket_path).request("events", since=0)

    res = asyncio.run(go())
    return res["events"] if isinstance(res, dict) else res


def test_a_dump_that_cannot_be_written_is_an_error_not_a_crash(lab, tmp_path):
    n1 = lab.add_node("n1", "198.18.0.1/24")
    missing = tmp_path / "not-there"
    r1 = start_vipdeck(n1, seed_pair("node1", 100, "MASTER", global_extra=f"json_file_location {missing}/"))
    wait_until(lambda: n1.has_address(VIP1), 10)
    r1.signal(SIGJSON)
    wait_until(lambda: f"cannot write {missing}/keepalived.json" in r1.log(), 10, what="the error in the log")
    ev = wait_until(lambda: next((e for e in status_events(r1) if e["kind"] == "daemon"
                                  and e["severity"] == "error" and "keepalived.json" in e["message"]), None), 5)
    assert "No such file or directory" in ev["message"]
    assert r1.alive() and instance(r1, "VI_1")["state"] == "MASTER" and n1.has_address(VIP1)


SYSLOG = re.compile(r"^<(\d+)>\w{3} [ \d]\d \d\d:\d\d:\d\d ([\w.-]+)\[(\d+)\]: (.*)$", re.S)


def test_syslog_lines_are_keepalived_s(lab, tmp_path):
    """A real receiver: keepalived's program names, facility local3 (-S 3), and its lines for a
    transition, a failing vrrp_script and a failing TCP_CHECK, each with vipdeck's reason."""
    n1 = lab.add_node("n1", "198.18.0.1/24")
    lab.add_node("n2", "198.18.0.2/24")            # the real server: nothing listens on 8080
    path = str(tmp_path / "log")
    rx = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    rx.bind(path)
    rx.setblocking(False)
    lines: list[tuple[int, str, int, str]] = []

    def drain():
        while True:
            try:
                raw = rx.recv(65536).decode()
            except BlockingIOError:
                return lines
            m = SYSLOG.match(raw)
            assert m, raw
            lines.append((int(m.group(1)), m.group(2), int(m.group(3)), m.group(4)))

    def seen(ident: str, text: str):
        drain()
        return next((x for x in lines if x[1] == ident and x[3].startswith(text)), None)

    scripts = '''
vrrp_script chk_fail {
    script "/bin/sh -c 'exit 1'"
    interval 1
    weight -10
}
'''
    extra = '''
virtual_server 198.18.0.100 80 {
    delay_loop 1
    lvs_sched rr
    protocol TCP
    real_server 198.18.0.2 8080 {
        TCP_CHECK {
            connect_timeout 1
            retry 0
        }
    }
}
'''
    from vipdeck.engine.lab.peers import vrrp_conf

    conf = vrrp_conf(router_id="node1", scripts=scripts, extra=extra, instances=[dict(
        name="VI_1", vrid=51, priority=100, state="MASTER", vips=[VIP1], track_script=["chk_fail"])])
    try:
        r1 = start_vipdeck(n1, conf, extra_args=("-S", "3", "--log-ident", "keepalived", "--syslog-socket", path))
        pid = r1.proc.pid
        master = wait_until(lambda: seen("Keepalived_vrrp", "(VI_1) Entering MASTER STATE ("), 15, what="MASTER")
        backup = seen("Keepalived_vrrp", "(VI_1) Entering BACKUP STATE (init) (startup: ")
        script = wait_until(lambda: seen("Keepalived_vrrp", "VRRP_Script(chk_fail) failed"), 10, what="script")
        check = wait_until(lambda: seen("Keepalived_healthcheckers",
                                        "TCP_CHECK on service [198.18.0.2]:tcp:8080 failed."), 15, what="check")
        removed = wait_until(lambda: seen("Keepalived_healthcheckers",
                                          "Removing service [198.18.0.2]:tcp:8080 from VS [198.18.0.100]:tcp:80"),
                             10, what="real server removed")
    finally:
        rx.close()
    assert backup is not None
    assert script[3] == "VRRP_Script(chk_fail) failed (exited with status 1)"
    assert re.fullmatch(r"\(VI_1\) Entering MASTER STATE \(master_down_timer: .+\)", master[3]), master
    assert re.fullmatch(r"TCP_CHECK on service \[198\.18\.0\.2\]:tcp:8080 failed\. \(.+\)", check[3]), check
    for pri, ident, p, _ in (master, script, check, removed):
        assert pri >> 3 == 19 and p == pid            # local3, our pid
    assert master[0] & 7 == 6 and check[0] & 7 == 4   # info; a checker going down is a warning
    assert lines and not [x for x in lines if x[1] == "vipdeck"]   # every line carries keepalived's names
    assert "no syslog at" not in r1.log()


def test_a_full_disk_is_reported_with_its_cause(tmp_path):
    """A real ENOSPC: a one-page tmpfs in a private mount namespace (nothing is
    mounted where the host sees it), a dump bigger than that, the writer's error."""
    import shutil
    import subprocess
    import sys

    from tests.support.paths import ROOT, require

    require(os.geteuid() == 0 and shutil.which("unshare") is not None, "needs root and unshare")
    d = tmp_path / "full"
    d.mkdir()
    code = ("import sys\nfrom vipdeck.engine.dumps.writer import DumpError, write_atomic\n"
            "try:\n    write_atomic(sys.argv[1] + '/keepalived.data', 'x' * 65536)\n"
            "except DumpError as e:\n    print(e)\n    sys.exit(3)\n")
    r = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c",
                        f'mount -t tmpfs -o size=4k tmpfs "$1" && exec "$2" -c "$3" "$1"', "sh", str(d),
                        sys.executable, code], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert r.returncode == 3, (r.stdout, r.stderr)
    assert r.stdout.strip() == f"cannot write {d}/keepalived.data: disk full (No space left on device)"
    assert os.listdir(d) == []                      # the host never saw the tmpfs


def test_P_runs_only_vrrp_and_C_only_the_checkers(lab, tmp_path):
    from vipdeck.engine.lab.peers import vrrp_conf

    extra = '''
virtual_server 198.18.0.100 80 {
    delay_loop 1
    protocol TCP
    real_server 198.18.0.2 8080 {
        TCP_CHECK {
            connect_timeout 1
        }
    }
}
'''
    conf = vrrp_conf(router_id="node1", extra=extra, global_extra=f"state_file_location {tmp_path}/\n"
                     f"    json_file_location {tmp_path}/",
                     instances=[dict(name="VI_1", vrid=51, priority=100, state="MASTER", vips=[VIP1])])
    n1 = lab.add_node("n1", "198.18.0.1/24")
    lab.add_node("n2", "198.18.0.2/24")
    r = start_vipdeck(n1, conf, extra_args=("-P",))
    wait_until(lambda: n1.has_address(VIP1), 10)
    snap = status(r)
    assert [i["name"] for i in snap["instances"]] == ["VI_1"] and snap["virtual_servers"] == []
    r.signal(signal.SIGUSR1)
    wait_file(f"{tmp_path}/keepalived.data")
    assert not os.path.exists(f"{tmp_path}/keepalived_check.data")   # no checker half, no checker dump
    assert r.stop() == 0

    r = start_vipdeck(n1, conf, extra_args=("-C",))
    wait_until(lambda: status(r)["virtual_servers"] and status(r)["virtual_servers"][0]["real_servers"][0]
               ["checkers"][0]["ok"] is not None, 15, what="the TCP_CHECK ran")
    snap = status(r)
    assert snap["instances"] == [] and not n1.has_address(VIP1)
    os.unlink(f"{tmp_path}/keepalived.data")
    r.signal(SIGJSON)
    r.signal(signal.SIGUSR1)
    wait_file(f"{tmp_path}/keepalived_check.data")
    # a second SIGUSR1 round: whatever SIGJSON was going to do is done by the time it shows
    os.unlink(f"{tmp_path}/keepalived_check.data")
    r.signal(signal.SIGUSR1)
    wait_file(f"{tmp_path}/keepalived_check.data")
    assert not os.path.exists(f"{tmp_path}/keepalived.data") and not os.path.exists(f"{tmp_path}/keepalived.json")
    assert r.alive()
