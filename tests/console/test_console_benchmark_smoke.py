"""benchmarks/console_responsiveness.py keeps working (its ``--quick`` run:
20 VRIDs, the cluster view of two scripted nodes): every key press it sends
reaches a rendered frame and the summary lines are printed.  Timings are
not judged here."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tests.support.paths import ROOT

pytestmark = pytest.mark.timeout(120)


def test_console_responsiveness_quick_run_shows_a_frame_for_every_key():
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    res = subprocess.run([sys.executable, "benchmarks/console_responsiveness.py", "--quick", "pair"], cwd=ROOT,
                         env=env, capture_output=True, text=True, timeout=100)
    assert res.returncode == 0, res.stderr[-2000:]
    out = res.stdout
    assert "load pair" in out and "2 nodes x 20 VRIDs" in out
    keys = re.findall(r"key +(\S+) -> frame: (\S+) ms", out)
    assert len(keys) == 11, out
    assert all(ms != "inf" for _, ms in keys), out       # a key whose frame never came
    for line in ("key press -> frame: median", "cost per refresh", "event-loop lag", "cluster rows 20"):
        assert line in out, out
