"""`vipdeck status` says times as an operator reads them, and the console's truths."""

from __future__ import annotations

import json
import re
import time

from vipdeck.cli.common import when
from vipdeck.cli.status import render
from tests.support.paths import FIXTURES


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / "console" / f"{name}.json").read_text())["snapshot"]


def test_no_raw_unix_timestamps_in_holds_and_drains():
    snap = fixture("node1")
    now = snap["node"]["now"]
    snap["instances"][0]["operator"].update(hold_until=now + 240.06, who="carol", when=now - 60, why="move VI_1")
    out = render(snap)
    line = next(x for x in out.splitlines() if "operator" in x and "carol" in x)
    assert "hold ends in 4m00s, at " in line and "by carol 1m00s ago" in line, line
    assert not re.search(r"\b1[0-9]{9}\b", out), "a unix timestamp in the output"
    snap = fixture("node1-drained")
    out = render(snap)
    assert "DRAINED by alice 10m00s ago, at " in out
    assert "every master resigned with a priority-0 advert; instances elect with priority 1" in out
    assert "effective 1 (no tracker change; drained: elects with priority 1)" in out
    assert not re.search(r"\b1[0-9]{9}\b", out)


def test_a_drain_the_kernel_has_not_taken_is_not_applied_never_drained():
    lines = render(fixture("node1-ipvs-unavailable")).splitlines()
    start = next(k for k, x in enumerate(lines) if "198.18.0.197:80" in x and "->" not in x)
    line = next(x for x in lines[start:] if "-> 198.18.1.202:80" in x)    # drained, engine says DRAINED
    assert "NOT APPLIED" in line and "DRAINED" not in line, line


def test_when_is_relative_to_the_daemons_clock_with_the_local_time():
    now = time.time()
    assert when(None, now) == "-"
    clock = r"(\d{4}-\d\d-\d\d )?\d\d:\d\d:\d\d"      # a date only when not today
    assert re.fullmatch(r"in 1m30s, at " + clock, when(now + 90, now))
    assert re.fullmatch(r"5.0s ago, at " + clock, when(now - 5, now))
