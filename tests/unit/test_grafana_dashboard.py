"""The shipped Grafana dashboard only queries metrics that vipdeck exports.

Every PromQL expression in it (panel targets and template queries) is taken
apart: strings, label matchers, ranges, ``by (...)`` lists, functions and
keywords go, and each name left must be in engine.metrics.CATALOGUE (a
histogram's ``_bucket``/``_sum``/``_count``, a counter by its ``_total`` name).
The lab test checks that the catalogue is what a real daemon serves.
"""

from __future__ import annotations

import json
import re

from vipdeck.cli.docgen import SHARE
from vipdeck.engine.metrics import SPECS

DASHBOARD = SHARE / "grafana" / "vipdeck.json"

KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool",
            "offset", "inf", "nan"}


def expressions(dash: dict) -> list[str]:
    out = []

    def walk(panels):
        for p in panels:
            out.extend(t["expr"] for t in p.get("targets", []) if t.get("expr"))
            walk(p.get("panels", []))

    walk(dash["panels"])
    for var in dash.get("templating", {}).get("list", []):
        q = var.get("query")
        q = q.get("query") if isinstance(q, dict) else q
        if var.get("type") == "query" and q:
            out.append(q)
    return out


def metric_names(expr: str) -> set[str]:
    e = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)                 # strings
    e = re.sub(r"\{[^}]*\}", "", e)                             # label matchers
    e = re.sub(r"\[[^\]]*\]", "", e)                            # ranges
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", e)
    e = re.sub(r"label_values\(\s*([a-zA-Z_:][\w:]*)\s*,[^)]*\)", r"\1", e)   # Grafana's template function
    names = set()
    for m in re.finditer(r"[a-zA-Z_:][\w:]*", e):
        word = m.group(0)
        rest = e[m.end():].lstrip()
        if rest.startswith("(") or word.lower() in KEYWORDS or re.fullmatch(r"\d+[smhdwy]?", word):
            continue                                            # a function, keyword or duration
        names.add(word)
    return names


def exported(name: str) -> bool:
    if name in SPECS:
        return True
    for suffix in ("_bucket", "_sum", "_count"):
        base = name.removesuffix(suffix)
        if base != name and base in SPECS and SPECS[base].kind == "histogram":
            return True
    return False


def test_the_parser_of_this_test():
    assert metric_names('sum by (le, iname) (rate(x_bucket{instance=~"$i"}[5m]))') == {"x_bucket"}
    assert metric_names("count by (iname) (keepalived_vrrp_state == 2)") == {"keepalived_vrrp_state"}
    assert metric_names("label_values(keepalived_up, instance)") == {"keepalived_up"}
    assert metric_names("8 * rate(a_total[1m]) / on (x) b") == {"a_total", "b"}


def test_every_expression_names_an_exported_metric():
    dash = json.loads(DASHBOARD.read_text())
    exprs = expressions(dash)
    assert len(exprs) >= 20
    used = set()
    for e in exprs:
        names = metric_names(e)
        assert names, f"no metric in {e!r}"
        for n in names:
            assert exported(n), f"{n} (in {e!r}) is not a metric vipdeck exports"
        used |= names
    # the keepalived-exporter core that dashboards carry over
    assert {"keepalived_up", "keepalived_vrrp_state", "keepalived_become_master_total",
            "keepalived_advertisements_received_total"} <= used


def test_dashboard_is_importable_json():
    dash = json.loads(DASHBOARD.read_text())
    ids = []

    def walk(panels):
        for p in panels:
            ids.append(p["id"])
            if p["type"] != "row":
                assert p["datasource"]["uid"] == "${datasource}" and p["targets"], p["title"]
            walk(p.get("panels", []))

    walk(dash["panels"])
    assert len(ids) == len(set(ids))
    assert dash["uid"] == "vipdeck" and dash["schemaVersion"] >= 36
