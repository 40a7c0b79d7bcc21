"""benchmarks/run.py's report plumbing, without running any benchmark."""

from __future__ import annotations

import importlib.util

from tests.support.paths import ROOT


def load():
    spec = importlib.util.spec_from_file_location("bench_run", ROOT / "benchmarks" / "run.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


README = """# x

## Failover figures measured in the lab

old figures

## keepalived compatibility

text
"""


def test_update_readme_adds_the_section_once_then_replaces_it(tmp_path):
    run = load()
    path = tmp_path / "README.md"
    path.write_text(README)
    run.update_readme("first table\n", str(path))
    text = path.read_text()
    assert text.index("old figures") < text.index("## Performance\n\nfirst table") < text.index("## keepalived")
    run.update_readme("second table\n", str(path))
    text = path.read_text()
    assert text.count("## Performance") == 1 and "first table" not in text
    assert "## Performance\n\nsecond table\n\n## keepalived compatibility\n\ntext" in text


def test_script_headings_go_below_the_report_headings():
    run = load()
    assert run.demote("### Checkers\n| a |\n", 1) == "#### Checkers\n| a |"


def test_discovery_lists_the_suite_and_reports_a_missing_one_as_missing():
    run = load()
    names = run.discover()
    assert names[:2] == ["checkers.py", "config_parse.py"] and "run.py" not in names
    assert not any(n.startswith("_") for n in names)
    assert run.run_one("no_such_bench.py", True, 5)["status"] == "missing"


def test_plain_text_output_is_fenced_and_tables_are_not():
    run = load()
    results = [{"name": "a.py", "status": "ok", "seconds": 1.0, "stdout": "### A\n| x | ratio |\n|---|---|\n| 1 | 2 |\n"},
               {"name": "b.py", "status": "ok", "seconds": 1.0, "stdout": "  key 1 -> frame: 5 ms\n"},
               {"name": "c.py", "status": "missing", "seconds": 0.0, "stdout": ""}]
    text = run.report(results, "python benchmarks/run.py", 2)
    assert "#### A\n| x | ratio |" in text
    assert "```text\n  key 1 -> frame: 5 ms\n```" in text
    assert "| `benchmarks/c.py` | missing | 0 s |" in text and "## c.py" not in text
