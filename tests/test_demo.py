"""The README's first command: the demo lab comes up and the real console draws it."""

import subprocess
import sys

from tests.conftest import require_root_netns


def test_demo_builds_its_lab_and_the_console_shows_every_screen(tmp_path):
    require_root_netns()
    before = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    r = subprocess.run([sys.executable, "-m", "engine", "demo", "--no-keepalived", "--screenshots", str(tmp_path)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    shots = {p.name: p.read_text() for p in tmp_path.glob("*.svg")}
    assert {"1-overview.svg", "2-adverts.svg", "3-vips.svg", "4-ipvs.svg", "5-events.svg"} <= set(shots)
    # live data from the lab, not a fixture
    assert "198.18.0.198" in shots["3-vips.svg"] and "HTTP_GET" in shots["4-ipvs.svg"]
    assert "MASTER" in shots["1-overview.svg"]
    assert subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout == before
