"""enable_script_security: a script run as root that someone else could
replace is not run (notify, vrrp_script and MISC_CHECK alike)."""

from __future__ import annotations

import os

import pytest

from vipdeck.engine.check.misc import check_misc
from vipdeck.engine.check.result import CheckEnv
from vipdeck.engine.config.model import MiscCheck
from vipdeck.engine.track.runner import ScriptRunner, insecure
from tests.support.paths import require



@pytest.fixture(autouse=True)
def root():
    require(os.geteuid() == 0, "ownership checks are about scripts run as root")


def script(tmp_path, mode: int, dir_mode: int = 0o755, name: str = "bin"):
    d = tmp_path / name
    d.mkdir()
    d.chmod(dir_mode)
    p = d / "check.sh"
    p.write_text("#!/bin/sh\nexit 0\n")
    p.chmod(mode)
    return p


def test_the_path_and_its_directories_are_checked(tmp_path):
    assert insecure(str(script(tmp_path, 0o755)), 0) is None
    assert insecure("/bin/true", 0) is None
    assert "writable by others" in insecure(str(script(tmp_path, 0o757, name="a")), 0)
    assert "writable by its group" in insecure(str(script(tmp_path, 0o775, name="b")), 0)
    bad_dir = script(tmp_path, 0o755, dir_mode=0o777, name="c")
    assert f"{bad_dir.parent} is writable by group and others" in insecure(str(bad_dir), 0)
    sticky = script(tmp_path, 0o755, dir_mode=0o1777, name="d")
    assert insecure(str(sticky), 0) is None                       # like /tmp
    owned = script(tmp_path, 0o755, name="e")
    os.chown(owned, 65534, 65534)
    assert "owned by uid 65534" in insecure(str(owned), 0)
    assert insecure(str(owned), 65534) is None                    # not run as root: not our concern


async def test_runner_refuses_an_insecure_script_only_when_asked(tmp_path):
    p = script(tmp_path, 0o777)
    assert (await ScriptRunner().run(str(p))).ok
    res = await ScriptRunner(secure=True).run(str(p))
    assert not res.ok and "insecure script" in res.error and "writable by group and others" in res.error
    p.chmod(0o755)
    assert (await ScriptRunner(secure=True).run(str(p))).ok


async def test_misc_check_refuses_an_insecure_script(tmp_path):
    p = script(tmp_path, 0o777)
    chk = MiscCheck(kind="MISC_CHECK", misc_path=str(p), delay_loop=1.0, connect_ip="127.0.0.1", connect_port=0)
    assert (await check_misc(chk, CheckEnv())).ok
    res = await check_misc(chk, CheckEnv(script_security=True))
    assert not res.ok and "insecure script" in res.error


def test_the_global_setting_reaches_every_runner():
    from vipdeck.engine.config import loads
    from vipdeck.engine.notify.scripts import NotifyDispatcher
    from vipdeck.engine.vrrp.track import TrackingHub

    r = loads("global_defs {\n enable_script_security\n}\n", path="s.conf")
    assert r.ok and r.config.global_defs.enable_script_security
    assert TrackingHub(r.config, probe_links=False).runner.secure
    assert NotifyDispatcher(r.config).runner.secure
    assert CheckEnv.from_config(r.config).script_security
    plain = loads("global_defs {\n router_id x\n}\n", path="p.conf").config
    assert not TrackingHub(plain, probe_links=False).runner.secure and not NotifyDispatcher(plain).runner.secure
