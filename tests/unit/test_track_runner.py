"""The script runner with real processes: exec vs shell, errors, timeouts, users."""

from __future__ import annotations

import asyncio
import os
import pwd
import stat
import time
from pathlib import Path

import psutil
import pytest

from vipdeck.engine.lab.wait import async_wait_until
from vipdeck.engine.track.runner import ScriptRunner, needs_shell, parse_command
from tests.support.paths import require


def script(path: Path, body: str, mode: int = 0o755) -> Path:
    path.write_text(body)
    path.chmod(mode)
    return path


def test_classification_rule():
    assert parse_command("/usr/bin/true").argv == ("/usr/bin/true",)
    c = parse_command("/etc/keepalived/notify.sh master 'with space' \"dq arg\"")
    assert not c.shell and c.argv == ("/etc/keepalived/notify.sh", "master", "with space", "dq arg")
    assert parse_command("pidof nginx && exit 0 || exit 1").shell
    assert parse_command("[[ -f /etc/keepalived/down ]] && exit 1 || exit 0").shell
    assert parse_command("exit 3").shell
    assert not needs_shell("echo 'a && b; c'")       # quoted operators are just text
    assert needs_shell('echo "$HOME"')
    assert needs_shell("cat x | wc -l")
    with pytest.raises(ValueError):
        parse_command("echo 'unbalanced")
    with pytest.raises(ValueError):
        parse_command("   ")


async def test_exec_with_quoted_arguments(tmp_path):
    out = tmp_path / "args"
    s = script(tmp_path / "args.sh", f'#!/bin/sh\nfor a in "$@"; do printf "<%s>" "$a" >> {out}; done\n')
    res = await ScriptRunner().run(f"{s} one 'two words' \"three  spaced\" 'it''s'", timeout=5)
    assert res.ok, res
    assert res.exit_status == 0 and res.error is None and not res.timed_out
    assert out.read_text() == "<one><two words><three  spaced><its>"
    assert res.argv[0] == str(s)


async def test_shell_command_and_exit_status(tmp_path):
    flag = tmp_path / "down"
    runner = ScriptRunner()
    cmd = f"[[ -f {flag} ]] && exit 1 || exit 0"       # bash syntax, as in the seed's down.sh
    assert (await runner.run(cmd, timeout=5)).exit_status == 0
    flag.touch()
    res = await runner.run(cmd, timeout=5)
    assert res.exit_status == 1 and not res.ok and res.error is None


async def test_file_without_shebang_runs_with_the_shell(tmp_path):
    flag = tmp_path / "down"
    s = script(tmp_path / "down.sh", f"[[ -f {flag} ]] && exit 1 || exit 0\n")
    runner = ScriptRunner()
    assert (await runner.run(str(s), timeout=5)).exit_status == 0
    flag.touch()
    assert (await runner.run(str(s), timeout=5)).exit_status == 1


async def test_missing_not_executable_and_bad_commands(tmp_path):
    runner = ScriptRunner()
    res = await runner.run(str(tmp_path / "nope.sh") + " arg", timeout=5)
    assert not res.ok and res.exit_status is None and res.error.startswith("not found")
    res = await runner.run("no-such-command-vipdeck", timeout=5)
    assert res.error == "not found: no-such-command-vipdeck"
    plain = script(tmp_path / "plain.sh", "#!/bin/sh\nexit 0\n", mode=0o644)
    res = await runner.run(str(plain), timeout=5)
    assert not res.ok and res.error.startswith("permission denied")
    res = await runner.run("echo 'unterminated", timeout=5)
    assert res.error.startswith("bad command line")
    res = await runner.run("/bin/true", user="no-such-user-vipdeck", timeout=5)
    assert res.error == "unknown user 'no-such-user-vipdeck'"


async def test_timeout_kills_the_whole_process_group(tmp_path):
    pidfile = tmp_path / "child.pid"
    # the script starts a child that would outlive it, then hangs
    s = script(tmp_path / "hang.sh", f"#!/bin/sh\nsleep 300 &\necho $! > {pidfile}\nsleep 300\n")
    t0 = time.monotonic()
    res = await ScriptRunner().run(str(s), timeout=0.3)
    took = time.monotonic() - t0
    assert res.timed_out and not res.ok and res.error == "timed out after 0.3s"
    assert took < 2.0, took          # SIGTERM was enough: no 2 s grace needed
    child = int(pidfile.read_text())

    def gone() -> bool:
        try:
            return psutil.Process(child).status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True

    await async_wait_until(gone, timeout=5, what=f"child {child} killed")


async def test_sigterm_ignoring_script_gets_sigkill(tmp_path):
    s = script(tmp_path / "stubborn.sh", "#!/bin/bash\ntrap '' TERM\nwhile :; do sleep 0.05; done\n")
    runner = ScriptRunner(kill_grace=0.3)
    t0 = time.monotonic()
    res = await runner.run(str(s), timeout=0.2)
    assert res.timed_out and res.signal == 9
    assert 0.45 < time.monotonic() - t0 < 3


async def test_output_is_captured_and_bounded(tmp_path):
    runner = ScriptRunner(output_limit=1000)
    res = await runner.run("head -c 100000 /dev/zero | tr '\\0' x; echo err >&2", timeout=5)
    assert res.ok
    assert res.stdout == "x" * 1000 and res.truncated
    assert res.stderr == "err\n"


async def test_background_child_holding_stdout_does_not_block(tmp_path):
    t0 = time.monotonic()
    res = await ScriptRunner().run("sleep 3 & echo started", timeout=5)
    assert res.ok and res.stdout == "started\n"
    assert time.monotonic() - t0 < 1.5


async def test_runs_are_concurrent():
    runner = ScriptRunner()
    t0 = time.monotonic()
    results = await asyncio.gather(*[runner.run("sleep 0.3", timeout=5) for _ in range(10)])
    assert all(r.ok for r in results)
    assert time.monotonic() - t0 < 2.0


async def test_cancelled_run_leaves_no_process(tmp_path):
    pidfile = tmp_path / "pid"
    s = script(tmp_path / "slow.sh", f"#!/bin/sh\necho $$ > {pidfile}\nexec sleep 300\n")
    task = asyncio.ensure_future(ScriptRunner().run(str(s), timeout=100))
    await async_wait_until(lambda: pidfile.exists() and pidfile.read_text().strip(), timeout=5)
    pid = int(pidfile.read_text())
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    def gone() -> bool:
        try:
            return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True

    await async_wait_until(gone, timeout=5, what="cancelled script killed")


async def test_runs_as_user_and_group(tmp_path):
    require(os.geteuid() == 0, "switching user needs root")
    nobody = pwd.getpwnam("nobody")
    runner = ScriptRunner(default_user="nobody")
    res = await runner.run("id -u", timeout=5)
    assert res.ok and res.stdout.strip() == str(nobody.pw_uid)
    res = await runner.run("id -g", timeout=5)
    assert res.stdout.strip() == str(nobody.pw_gid)
    # a per-script user wins over the global script_user
    res = await runner.run("id -u", timeout=5, user="root")
    assert res.stdout.strip() == "0"
    # and a file only root may run is refused for nobody
    s = script(tmp_path / "rootonly.sh", "#!/bin/sh\nexit 0\n", mode=stat.S_IRWXU)
    tmp_path.chmod(0o755)
    res = await runner.run(str(s), timeout=5)
    assert res.error and res.error.startswith("permission denied")
