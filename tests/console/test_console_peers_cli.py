"""Peers on the command line and in console.toml, addresses, and `vipdeck
proxy` relaying a real control socket (the ssh leg is tests/lab/test_lab_ssh_proxy.py)."""

from __future__ import annotations

import asyncio
import json
import os
import sys

import pytest

from vipdeck.cli import main as vipdeck
from vipdeck.console.config import ConsoleConfigError, load
from vipdeck.console.testing import wait_for
from vipdeck.engine.control.client import SshClient, parse_address, ssh_command
from vipdeck.engine.control.server import ControlServer
from tests.console.test_console_cli import FixtureApi
from tests.support.paths import ROOT


def test_addresses():
    a = parse_address("ssh://root@node2:2222/run/vipdeck/control.sock")
    assert (a.user, a.host, a.port, a.path) == ("root", "node2", 2222, "/run/vipdeck/control.sock")
    assert parse_address("/run/x.sock").path == "/run/x.sock" and not parse_address("/run/x.sock").is_ssh
    assert parse_address("ssh://[2001:db8::2]").host == "2001:db8::2"
    assert ssh_command(parse_address("ssh://node2")) == ["ssh", "-T", "-o", "BatchMode=yes", "--", "node2",
                                                         "vipdeck proxy"]
    cmd = ssh_command(a, options=["-F", "/dev/null"], remote_command="/opt/vipdeck/bin/vipdeck")
    assert cmd[-3:] == ["--", "root@node2", "/opt/vipdeck/bin/vipdeck proxy --socket /run/vipdeck/control.sock"]
    assert cmd[cmd.index("-p") + 1] == "2222" and "-F" in cmd
    for bad, why in [("http://node2", "only ssh://"), ("ssh://", "no host"), ("ssh://a:b@h", "no passwords"),
                     ("ssh://h:99999", "port"), ("", "empty")]:
        with pytest.raises(ValueError, match=why):
            parse_address(bad)


def test_console_toml(tmp_path):
    good = tmp_path / "console.toml"
    good.write_text('peers = ["ssh://root@node2", "/run/vipdeck/other.sock"]\nssh_options = ["-o", "X=1"]\n')
    cfg = load(str(good))
    assert cfg.peers == ("ssh://root@node2", "/run/vipdeck/other.sock") and cfg.ssh_options == ("-o", "X=1")
    cases = [("peers = [", "not valid TOML"), ('peer = ["x"]', "peer: unknown key"),
             ('peers = "ssh://n2"', "peers: expected a list of strings"),
             ('peers = ["ftp://n2"]', r"peers\[0\]: 'ftp://n2': only ssh://"),
             ('remote_command = ""', "remote_command: expected a command")]
    for text, why in cases:
        good.write_text(text + "\n")
        with pytest.raises(ConsoleConfigError, match=f"{good}: {why}"):
            load(str(good))
    with pytest.raises(ConsoleConfigError, match="no such file"):
        load(str(tmp_path / "absent.toml"))


def test_console_cli_bad_peers_are_one_clear_line(tmp_path, capsys):
    sock = str(tmp_path / "control.sock")
    assert vipdeck(["console", "--socket", sock, "--peer", "ftp://node2"]) == 1
    err = capsys.readouterr().err
    assert "vipdeck console: --peer 'ftp://node2': only ssh://" in err and "Traceback" not in err
    bad = tmp_path / "console.toml"
    bad.write_text("peers = [1]\n")
    assert vipdeck(["console", "--socket", sock, "--console-config", str(bad)]) == 1
    assert f"vipdeck console: {bad}: peers: expected a list of strings" in capsys.readouterr().err


async def test_proxy_relays_a_real_control_socket(tmp_path):
    api = FixtureApi()
    path = str(tmp_path / "control.sock")
    server = ControlServer(path, api)
    await server.start()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "vipdeck", "proxy", "--socket", path, env=env,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            limit=1 << 24)
        for k in (1, 2):     # two requests on one relayed connection
            proc.stdin.write(json.dumps({"id": k, "op": "snapshot"}).encode() + b"\n")
            await proc.stdin.drain()
            reply = json.loads(await asyncio.wait_for(proc.stdout.readline(), 10))
            assert reply["id"] == k and reply["ok"] and reply["result"]["node"]["hostname"] == "node1"
        proc.stdin.close()                       # our end: the proxy half-closes and exits
        assert await asyncio.wait_for(proc.wait(), 10) == 0
        missing = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "vipdeck", "proxy", "--socket", str(tmp_path / "none.sock"), env=env,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await missing.communicate()
        assert missing.returncode == 1 and b"no daemon control socket at" in err and out == b""
    finally:
        await server.stop()


async def test_ssh_client_reuses_its_connection_and_reopens_an_idle_one(tmp_path):
    """The transport stands in for ssh (a shell running the real proxy): what
    is tested is the client's reuse, the idle reconnect and its errors."""
    api = FixtureApi()
    path = str(tmp_path / "control.sock")
    server = ControlServer(path, api, idle_timeout=0.3)
    await server.start()
    transport = ("sh", "-c", f"PYTHONPATH={ROOT} exec {sys.executable} -m vipdeck proxy --socket \"$VD_SOCK\"")
    os.environ["VD_SOCK"] = path
    c = SshClient("ssh://root@node2", who="tester", ssh=transport)
    try:
        assert (await c.snapshot())["node"]["hostname"] == "node1"
        assert (await c.request("drain", reason="x"))["message"] == "drain done"
        assert len(c._procs) == 1                               # one connection for both
        proc = c._conn[1].proc
        await wait_for(lambda: proc.returncode is not None, 5, "the server closing the idle connection")
        assert (await c.snapshot())["node"]["hostname"] == "node1"
        assert api.changes == [("drain", {"who": "tester", "reason": "x"}, os.getuid())]
    finally:
        await c.close()
        await server.stop()
        del os.environ["VD_SOCK"]
    os.environ["VD_SOCK"] = str(tmp_path / "none.sock")
    gone = SshClient("ssh://node2", ssh=transport)
    try:
        with pytest.raises(Exception) as err:
            await gone.snapshot()
        assert "ssh node2: vipdeck proxy: no daemon control socket at" in str(err.value)
    finally:
        await gone.close()
        del os.environ["VD_SOCK"]


def test_client_commands_take_ssh_addresses_and_say_when_one_is_wrong(capsys):
    assert vipdeck(["status", "--socket", "ssh://node2:99999"]) == 1
    assert "port is not a number from 1 to 65535" in capsys.readouterr().err
    assert vipdeck(["events", "--socket", "ssh://"]) == 1
    assert "no host after ssh://" in capsys.readouterr().err
    assert vipdeck(["console", "--socket", "ssh://a:b@node1"]) == 1
    assert "vipdeck console: --socket 'ssh://a:b@node1': no passwords" in capsys.readouterr().err


def test_peer_settings_drop_the_attached_node_and_replace_the_files_list(tmp_path):
    from argparse import Namespace

    from vipdeck.cli.console import peer_settings

    cfg = tmp_path / "console.toml"
    cfg.write_text(f'peers = ["ssh://root@node2", "{tmp_path}/control.sock"]\n')
    args = Namespace(console_config=str(cfg), peer=None, socket=str(tmp_path / "control.sock"), config=None)
    assert peer_settings(args)[0] == ["ssh://root@node2"]          # the attached socket itself is left out
    args.peer = ["/run/other.sock", "/run/other.sock"]
    assert peer_settings(args)[0] == ["/run/other.sock"]            # --peer replaces the file's list
    args.socket, args.peer = "ssh://root@node2", None
    assert peer_settings(args)[0] == [f"{tmp_path}/control.sock"]
