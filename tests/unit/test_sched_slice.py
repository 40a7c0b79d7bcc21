"""engine/sched.py: the daemon's thread asks for a short scheduler slice."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

from vipdeck.engine.sched import current_slice_ns

PROBE = """
import os, sys
os.nice(int(sys.argv[1]))
from vipdeck.engine.sched import request_short_slice, current_slice_ns
print(request_short_slice(), current_slice_ns(), os.getpriority(os.PRIO_PROCESS, 0))
"""


def _kernel() -> tuple[int, int]:
    major, minor = platform.release().split(".")[:2]
    return int(major), int("".join(ch for ch in minor if ch.isdigit()) or 0)


def probe(nice: int) -> list[str]:
    out = subprocess.run([sys.executable, "-c", PROBE, str(nice)], capture_output=True, text=True, timeout=30,
                         env=dict(os.environ, PYTHONPATH=os.getcwd()))
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


@pytest.mark.skipif(current_slice_ns() is None or _kernel() < (6, 12),
                    reason="custom slices for SCHED_OTHER came with Linux 6.12 (EEVDF)")
def test_the_slice_is_the_shortest_and_nice_is_kept():
    ok, slice_ns, nice = probe(4)
    assert ok == "True" and slice_ns == "100000" and nice == "4"


def test_a_thread_under_another_policy_is_left_alone():
    code = ("import os; os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0)); "
            "from vipdeck.engine.sched import request_short_slice; print(request_short_slice(), os.sched_getscheduler(0))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", str(os.SCHED_BATCH)]
