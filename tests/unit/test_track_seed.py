"""The seed's nginx-track.conf tracking, with real scripts and a real 'nginx'.

chk_down (weight -20, fall 1 rise 1) runs a down.sh without a #! line holding
``[[ -f .../down ]] && exit 1 || exit 0``; chk_nginx (weight -3, fall 2
rise 2) is ``pidof nginx && exit 0 || exit 1``.  Priority 100 must become 80
while the down file exists and 97 once nginx has been gone for two runs.

Intervals are 0.05 s to keep the test fast; the timeouts are set explicitly
(keepalived's default timeout is the interval, too tight on a loaded CI box).
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import psutil

from vipdeck.engine.config.model import Config, TrackRef, VrrpInstance, VrrpScript
from vipdeck.engine.lab.wait import async_wait_until
from vipdeck.engine.vrrp.track import TrackingHub
from tests.support.paths import require


async def test_seed_chk_down_and_chk_nginx(tmp_path: Path):
    require(shutil.which("pidof") is not None, "pidof (sysvinit-utils/procps) is needed")
    # the seed's check is literally "pidof nginx": a real nginx on this machine would answer it
    require(not any(p.info["name"] == "nginx" for p in psutil.process_iter(["name"])),
            "a process named nginx is already running here")
    down = tmp_path / "down"
    down_sh = tmp_path / "down.sh"
    down_sh.write_text(f"[[ -f {down} ]] && exit 1 || exit 0\n")     # as in the seed: no #! line
    down_sh.chmod(0o755)
    nginx_exe = tmp_path / "nginx"
    shutil.copy(shutil.which("sleep"), nginx_exe)
    cfg = Config(
        vrrp_scripts=(
            VrrpScript(name="chk_down", script=str(down_sh), interval=0.05, timeout=5, weight=-20, fall=1, rise=1),
            VrrpScript(name="chk_nginx", script="pidof nginx && exit 0 || exit 1", interval=0.05, timeout=5,
                       weight=-3, fall=2, rise=2),
        ),
        vrrp_instances=(VrrpInstance(name="VI_1", interface="eth0", vrid=51, priority=100,
                                     track_scripts=(TrackRef(name="chk_down"), TrackRef(name="chk_nginx"))),),
    )
    at_change: list[tuple[str, int, int]] = []
    hub: TrackingHub

    def changed(name: str) -> None:
        t = hub.tracker(name)
        at_change.append((name, hub.effective("VI_1").priority, t.streak_fail))

    hub = TrackingHub(cfg, changed)
    nginx = await asyncio.create_subprocess_exec(str(nginx_exe), "300")
    try:
        await hub.start()
        await async_wait_until(lambda: hub.tracker("chk_nginx").up and hub.tracker("chk_down").up,
                               timeout=5, what="both scripts ok")
        assert hub.effective("VI_1").priority == 100
        assert hub.instance("VI_1").detail() == "chk_down 0 (ok); chk_nginx 0 (ok)"

        down.touch()
        await async_wait_until(lambda: hub.effective("VI_1").priority == 80, timeout=5, what="priority 80")
        e = hub.effective("VI_1")
        assert e.contributions == {"chk_down": -20, "chk_nginx": 0} and not e.faulted
        assert e.detail == "chk_down -20 (failed 1/1)"
        down.unlink()
        await async_wait_until(lambda: hub.effective("VI_1").priority == 100, timeout=5, what="back to 100")

        nginx.kill()
        await nginx.wait()
        await async_wait_until(lambda: hub.effective("VI_1").priority == 97, timeout=5, what="priority 97")
        assert hub.effective("VI_1").detail == "chk_nginx -3 (failed 2/2)"
    finally:
        if nginx.returncode is None:
            nginx.kill()
            await nginx.wait()
        await hub.stop()
    # the -3 applied only with the second consecutive failure (fall 2), the -20 with the first
    nginx_down = [c for c in at_change if c[0] == "chk_nginx" and c[1] == 97]
    assert nginx_down == [("chk_nginx", 97, 2)]
    assert ("chk_down", 80, 1) in at_change
