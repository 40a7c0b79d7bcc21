"""The benchmark scripts keep working: each one this suite owns runs with
``--quick`` (tiny sizes) and prints a markdown table with a ratio column,
and run.py writes its report.  Numbers are not judged here (benchmarks
measure; tests never assert timings)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest

from tests.support.paths import ROOT, require, require_root_netns

pytestmark = [pytest.mark.lab, pytest.mark.timeout(120)]

OWNED = ("checkers.py", "config_parse.py", "advert_timing.py", "cost_by_role.py", "failover.py")
# one round where a round is most of the time (the suite's 15 minutes): the
# rounds' medians and spreads are the same code with one round or two
EXTRA = {"advert_timing.py": ("--rounds", "1"), "cost_by_role.py": ("--rounds", "1")}


def run(*argv: str, timeout: float = 90) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, *argv], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)


def tables(text: str) -> list[list[str]]:
    """The header rows of the markdown tables in ``text``, as cell lists."""
    lines = text.splitlines()
    return [[c.strip() for c in line.strip().strip("|").split("|")]
            for line, nxt in zip(lines, lines[1:]) if line.startswith("|") and re.match(r"\|(-+\|)+$", nxt)]


@pytest.fixture(scope="module")
def prerequisites():
    require_root_netns()
    require(shutil.which("keepalived") is not None, "keepalived is not installed")


@pytest.mark.parametrize("name", OWNED)
def test_a_benchmark_prints_a_table_with_a_ratio(prerequisites, name):
    p = run(f"benchmarks/{name}", "--quick", *EXTRA.get(name, ()))
    assert p.returncode == 0, p.stderr[-3000:]
    heads = tables(p.stdout)
    assert heads, p.stdout
    assert any(any("ratio" in c for c in head) for head in heads), heads
    # every data row of the first table has as many cells as its header
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("|")]
    assert len(lines) >= 3 and len({ln.count("|") for ln in lines[:3]}) == 1, lines


def test_run_reports_a_missing_script_and_writes_the_report(prerequisites, tmp_path):
    out = tmp_path / "RESULTS.md"
    p = run("benchmarks/run.py", "--quick", "--only", "config_parse.py", "no_such_bench.py", "--output", str(out),
            timeout=100)
    assert p.returncode == 0, p.stderr[-3000:]
    text = out.read_text()
    assert "`benchmarks/no_such_bench.py` | missing" in text
    assert "`benchmarks/config_parse.py` | ok" in text
    assert re.search(r"cores, Linux \S+", text) and "Command: `python benchmarks/run.py --quick" in text
    assert any(any("ratio" in c for c in head) for head in tables(text))
