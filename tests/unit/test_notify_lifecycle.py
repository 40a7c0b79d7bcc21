"""startup_script / shutdown_script: run once, bounded by their timeouts, a
failure reported and never raised (the daemon goes on)."""

from __future__ import annotations

import logging
import os
import time

import pytest

from vipdeck.engine.config import loads
from vipdeck.engine.config.model import GlobalDefs, Notify
from vipdeck.engine.notify.lifecycle import run_script

pytestmark = pytest.mark.timeout(30)


async def test_a_hung_script_is_killed_at_its_timeout(tmp_path, caplog):
    pid = tmp_path / "pid"
    gd = GlobalDefs(startup_script=Notify(command=f"/bin/sh -c 'echo $$ > {pid}; exec sleep 1000'"),
                    startup_script_timeout=1)
    t0 = time.monotonic()
    with caplog.at_level(logging.INFO, "vipdeck.daemon"):
        r = await run_script("startup", gd)
    assert r.timed_out and time.monotonic() - t0 >= 1.0
    with pytest.raises(ProcessLookupError):
        os.kill(int(pid.read_text()), 0)
    assert any("did not finish within its 1 s timeout: killed; starting anyway" in m for m in caplog.messages)


async def test_a_failing_or_missing_script_is_reported(tmp_path, caplog):
    gd = GlobalDefs(shutdown_script=Notify(command="/bin/sh -c 'exit 4'"),
                    startup_script=Notify(command=str(tmp_path / "missing.sh")))
    with caplog.at_level(logging.INFO, "vipdeck.daemon"):
        assert (await run_script("shutdown", gd)).exit_status == 4
        assert (await run_script("startup", gd)).error.startswith("not found")
    assert "shutdown_script /bin/sh -c 'exit 4' failed (exited with status 4); exiting anyway" in caplog.messages
    assert any(m.startswith(f"startup_script {tmp_path}/missing.sh could not run: not found") for m in caplog.messages)


async def test_nothing_configured_runs_nothing():
    assert await run_script("startup", GlobalDefs()) is None
    assert await run_script("shutdown", GlobalDefs()) is None


def test_the_keywords_parse_like_keepalived_s():
    g = loads('global_defs {\n startup_script "/etc/ka/up.sh arg" root\n startup_script_timeout 30\n'
              ' shutdown_script /etc/ka/down.sh\n}\n').config.global_defs
    assert g.startup_script == Notify(command="/etc/ka/up.sh arg", user="root")
    assert (g.startup_script_timeout, g.shutdown_script_timeout) == (30, 10)   # 10 s by default
    assert g.shutdown_script.command == "/etc/ka/down.sh"
    r = loads("global_defs {\n shutdown_script_timeout 1001\n}\n", path="s.conf")
    (d,) = r.diagnostics
    assert d.severity == "error" and d.line == 2 and "outside 1-1000" in d.message
