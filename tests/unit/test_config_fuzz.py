"""Hostile input never breaks the loader: it always returns a ParseResult with clean diagnostics."""

from __future__ import annotations

import json
import os
import re
import tempfile
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vipdeck.engine.config import load, loads
from vipdeck.engine.config.diagnostics import ParseResult
from vipdeck.engine.config.model import to_jsonable
from tests.support.paths import FIXTURES, SHARED

DIAG = re.compile(r"^.+:\d+: (error|warning|note): .")
CORPUS = SHARED / "corpus" / "keepalived-samples"
BASES = [p.read_text(encoding="utf-8") for p in sorted((FIXTURES / "seed").glob("*.conf"))]
if CORPUS.is_dir():         # the seeds are always there; the corpus adds variety when present
    BASES += [p.read_text(encoding="utf-8", errors="replace") for p in sorted(CORPUS.iterdir())]

TOKENS = ["{", "}", "{{", "}}", "vrrp_instance X", "virtual_server 10.0.0.1 80", "real_server 1.2.3.4",
          "HTTP_GET", "url", "track_script", "vrrp_sync_group G", "group", "virtual_server_group G",
          "authentication", "auth_hmac", "key 1 hex:zz", "priority", "300", "-1", "0.001", "advert_int",
          "version 3", "weight", "reverse", "fwmark", "$X", "${X}", "$X=$X $X", "$Y=\\", "@main", "@^main",
          "~SEQ(I,1,3)", "~LST(I,a,b)", "include", "include *", "includea nope", '"', "'", "#", "!", "\\",
          "${_RANDOM 9 1}", "${_ENV}", "1.2.3.4-1", "::1-zz", "10.0.0.0/33", "status_code 999", "\x00", "\t",
          "lb_kind TUN type gue", "use_vmac", "unicast_peer", "999999999999999999999", "1e308", "nan", "inf"]

mutation = st.tuples(
    st.floats(min_value=0, max_value=1),
    st.sampled_from(["delete", "insert", "junk", "drop_brace", "deep", "newline"]),
    st.sampled_from(TOKENS),
    st.binary(max_size=24),
)


def mutate(text: str, muts) -> str:  # type: ignore[no-untyped-def]
    parts = re.split(r"(\s+)", text)
    for frac, op, tok, raw in muts:
        i = min(int(frac * len(parts)), len(parts) - 1) if parts else 0
        if op == "delete" and parts:
            parts[i] = ""
        elif op == "insert":
            parts.insert(i, f" {tok} ")
        elif op == "junk":
            parts.insert(i, raw.decode("latin-1"))
        elif op == "drop_brace":
            joined = "".join(parts)
            braces = [k for k, c in enumerate(joined) if c in "{}"]
            if braces:
                k = braces[int(frac * (len(braces) - 1))]
                parts = re.split(r"(\s+)", joined[:k] + joined[k + 1:])
        elif op == "deep":
            n = 50 + int(frac * 500)
            parts.insert(i, " x {" * n + " }" * (n // 2))
        elif op == "newline":
            parts.insert(i, "\n")
    return "".join(parts)


def assert_clean(r: ParseResult) -> None:
    assert isinstance(r, ParseResult)
    for d in r.diagnostics:
        assert DIAG.match(str(d)), str(d)
        assert "internal parser error" not in d.message, str(d)
        assert d.severity in ("error", "warning", "note")
    if r.config is not None:
        json.dumps(to_jsonable(r.config))            # the model is always serialisable
        assert {d.file for d in r.diagnostics} <= set(r.config.files) | {"<string>"}
    assert r.ok == (r.config is not None and not r.errors)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(base=st.sampled_from(BASES), muts=st.lists(mutation, min_size=1, max_size=8))
def test_mutated_configs_never_crash(base, muts):
    text = mutate(base, muts)
    started = time.monotonic()
    r = loads(text, path=os.path.join(tempfile.gettempdir(), "vipdeck-fuzz", "k.conf"), config_id="main")
    assert time.monotonic() - started < 5
    assert_clean(r)


@settings(max_examples=40, deadline=None)
@given(defs=st.lists(st.tuples(st.sampled_from("ABC"), st.lists(st.sampled_from(["$A", "${B}", "$C", "x", "\\"]),
                                                                  max_size=4)), max_size=6),
       use=st.sampled_from(["$A", "${B} y", "$C", "priority $A"]))
def test_parameter_definitions_that_refer_to_each_other_terminate(defs, use):
    text = "".join(f"${name}={' '.join(body)}\n" for name, body in defs) + use + "\n"
    started = time.monotonic()
    r = loads(text, path="p.conf")
    assert time.monotonic() - started < 5
    assert_clean(r)


@settings(max_examples=30, deadline=None)
@given(junk=st.binary(max_size=400))
def test_binary_junk_files(junk):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "junk.conf")
        with open(path, "wb") as fh:
            fh.write(b"global_defs {\n" + junk + b"\n}\n")
        r = load(path)
        assert_clean(r)
        assert r.config is not None


def test_deep_nesting_is_bounded():
    r = loads("vrrp_instance X " + "{" * 500 + "\n", path="deep.conf")
    assert_clean(r)
    assert any("never closed" in d.message and "499 block(s) inside it" in d.message for d in r.errors)
    balanced = "global_defs {\n" + "a {\n" * 500 + "}\n" * 500 + "}\n"
    r = loads(balanced, path="deep.conf")
    assert_clean(r) and r.ok      # the unknown block is skipped whole: one warning, no recursion
    assert len(r.warnings) == 1


def test_include_loop_between_two_temp_files_with_content():
    with tempfile.TemporaryDirectory() as tmp:
        a, b = os.path.join(tmp, "a.conf"), os.path.join(tmp, "b.conf")
        with open(a, "w") as fh:
            fh.write("vrrp_instance V {\n interface eth0\n virtual_router_id 1\n include b.conf\n}\n")
        with open(b, "w") as fh:
            fh.write("virtual_ipaddress {\n 10.0.0.1\n}\ninclude a.conf\n")
        r = load(a)
        assert_clean(r)
        assert [(d.file, d.line) for d in r.errors] == [(b, 4)]
        assert [str(v) for v in r.config.instance("V").virtual_ipaddresses] == ["10.0.0.1/32"]


def test_multi_line_definition_that_doubles_itself_is_bounded():
    started = time.monotonic()
    r = loads("$A= \\\n$A \\\n$A\n$A\n", path="double.conf")
    assert time.monotonic() - started < 10
    assert_clean(r)
    assert any(d.line == 4 and "more than" in d.message for d in r.errors)
