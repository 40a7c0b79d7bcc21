"""The README's first command: the demo lab comes up and the real console draws it."""

import re
import subprocess
import sys

from tests.support.paths import require_root_netns


def test_demo_builds_its_lab_and_the_console_shows_every_screen(tmp_path):
    require_root_netns()
    before = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    r = subprocess.run([sys.executable, "-m", "vipdeck", "demo", "--no-keepalived", "--screenshots", str(tmp_path)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    shots = {p.name: p.read_text() for p in tmp_path.glob("*.svg")}
    assert {"1-overview.svg", "2-adverts.svg", "3-vips.svg", "4-ipvs.svg", "5-events.svg"} <= set(shots)
    # live data from the lab, not a fixture
    assert "198.18.0.198" in shots["3-vips.svg"] and "HTTP_GET" in shots["4-ipvs.svg"]
    assert "MASTER" in shots["1-overview.svg"]
    # nothing of the demo's lab is left (it names its prefix; other runs' labs may come and go meanwhile)
    prefix = re.search(r"in namespaces (vd[0-9a-f]+)-\*", r.stderr).group(1)
    assert prefix + "-node1" not in before
    left = {n for n in _netns() if n.startswith(prefix + "-")}
    assert not left, f"the demo left {left} behind"


def _netns() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def test_a_killed_or_hung_up_demo_still_removes_its_lab(tmp_path):
    """Closing the terminal (SIGHUP) or a kill (SIGTERM) must not leave
    namespaces and daemons behind."""
    import signal

    from vipdeck.engine.lab.wait import wait_until

    require_root_netns()
    for sig in (signal.SIGTERM, signal.SIGHUP):
        before = _netns()
        p = subprocess.Popen([sys.executable, "-m", "vipdeck", "demo", "--no-keepalived", "--screenshots",
                              str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            mine = wait_until(lambda: {n for n in _netns() - before if n.endswith("-node2")}, 30,
                              what="the demo lab built")
            prefix = next(iter(mine))[:-len("-node2")]
            if sig == signal.SIGHUP:     # this one once the daemons run (SIGTERM came during the build)
                wait_until(lambda: subprocess.run(["pgrep", "-f", f"{prefix}-node2-vd"]).returncode == 0, 30,
                           what="node2's daemon running")
            p.send_signal(sig)
            assert p.wait(timeout=30) == 128 + sig, p.stderr.read()[-2000:]
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        assert not {n for n in _netns() if n.startswith(prefix + "-")}, f"{sig!r} left namespaces behind"
        left = subprocess.run(["pgrep", "-f", prefix], capture_output=True, text=True).stdout
        assert not left.strip(), f"{sig!r} left processes behind: {left}"
