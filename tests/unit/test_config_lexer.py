"""Lexer features: comments, quotes, glued braces, includes, @conditionals, $VARs, ~SEQ/~LST."""

from __future__ import annotations

import os

import pytest

from vipdeck.engine.config import load, loads
from vipdeck.engine.config.diagnostics import Diags
from vipdeck.engine.config.lexer import EOL, LBRACE, RBRACE, WORD, Lexer, brace_expand, default_config_id, tokenize


def lex(text: str, config_id: str = "main", path: str = "t.conf") -> tuple[list[tuple[str, int]], Diags]:
    """(text, line) of every token, EOL as '\\n'."""
    d = Diags()
    lx = Lexer(d, config_id, seed=1)
    lx.lex_text(text, path)
    return [("\n" if t.kind == EOL else t.text, t.line) for t in lx.tokens], d


def words(text: str, **kw) -> list[str]:
    return [w for w, _ in lex(text, **kw)[0]]


INSTANCE = ("vrrp_instance V {{\n interface eth0\n virtual_router_id 7\n{body}\n"
            " virtual_ipaddress {{\n  10.0.0.1\n }}\n}}\n")


def instance(body: str, **kw):
    r = loads(INSTANCE.format(body=body), path="t.conf", config_id=kw.pop("config_id", "main"), **kw)
    return r, (r.config.instance("V") if r.config else None)


# --------------------------------------------------------------------------- comments and quotes


def test_hash_and_bang_comments_anywhere():
    assert words("router_id node1 #单个id\n! whole line\n  # indented\nrise 2 ! bang\n") == [
        "router_id", "node1", "\n", "rise", "2", "\n"]
    assert words("a#b c\n") == ["a", "\n"]


def test_comment_characters_inside_quotes_are_text():
    assert words('script "echo # not a comment ! really"\n') == ["script", "echo # not a comment ! really", "\n"]
    assert words("script 'a # b' # real comment\n") == ["script", "a # b", "\n"]


def test_quotes_protect_spaces_and_join_like_the_shell():
    assert words('a"b c"d "e f" g\n') == ["ab cd", "e f", "g", "\n"]
    assert words('x "it\'s" \'say "hi"\'\n') == ["x", "it's", 'say "hi"', "\n"]
    toks = tokenize('"{ not a block }" plain', "f", 1, Diags())
    assert [(t.kind, t.text, t.quoted) for t in toks] == [(WORD, "{ not a block }", True), (WORD, "plain", False)]


def test_escapes_in_quoted_strings():
    assert words(r'x "tab\there" "\x41\102\\z\"q"' + "\n") == ["x", "tab\there", 'AB\\z"q', "\n"]


def test_unterminated_quote_is_a_warning_not_a_crash():
    toks, d = lex('script "never closed\nnext line\n')
    assert [w for w, _ in toks] == ["script", "never closed", "\n", "next", "line", "\n"]
    assert [(x.severity, x.line) for x in d.items] == [("warning", 1)]


# --------------------------------------------------------------------------- braces


def test_braces_glued_to_words_are_tokens():
    toks, _ = lex("real_server 192.168.1.202 80{\nweight 1}\n}")
    assert toks == [("real_server", 1), ("192.168.1.202", 1), ("80", 1), ("{", 1), ("\n", 1),
                    ("weight", 2), ("1", 2), ("}", 2), ("\n", 2), ("}", 3), ("\n", 3)]


def test_undefined_parameter_with_braces_stays_one_word():
    assert words("notify ${NOT_DEFINED}/x.sh\n") == ["notify", "${NOT_DEFINED}/x.sh", "\n"]


def test_block_brace_on_the_next_line_and_one_line_blocks():
    r = loads("vrrp_instance V\n{\n interface eth0\n virtual_router_id 7\n virtual_ipaddress { 10.0.0.1 10.0.0.2/24 }\n"
              " track_interface { eth1 weight 5 }\n}\n", path="t.conf")
    assert r.ok, r.diagnostics
    vi = r.config.instance("V")
    assert [str(v) for v in vi.virtual_ipaddresses] == ["10.0.0.1/32"]     # one address per line, like keepalived
    assert [(t.name, t.weight) for t in vi.track_interfaces] == [("eth1", 5)]


def test_token_kinds():
    toks = tokenize("a{b}", "f", 4, Diags())
    assert [(t.kind, t.line) for t in toks] == [(WORD, 4), (LBRACE, 4), (WORD, 4), (RBRACE, 4)]


# --------------------------------------------------------------------------- include


def test_include_relative_glob_and_nested_relative(tmp_path):
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "b.conf").write_text("vrrp_script chk_b {\n script /bin/b\n}\n")
    (tmp_path / "conf.d" / "a.conf").write_text("vrrp_script chk_a {\n script /bin/a\n}\ninclude sub/c.conf\n")
    (tmp_path / "conf.d" / "sub").mkdir()
    (tmp_path / "conf.d" / "sub" / "c.conf").write_text("\n\nvrrp_script chk_c {\n script /bin/c\n}\n")
    main = tmp_path / "keepalived.conf"
    main.write_text("global_defs {\n router_id r1\n}\ninclude conf.d/*.conf\n")
    r = load(str(main))
    assert r.ok, r.diagnostics
    assert [s.name for s in r.config.vrrp_scripts] == ["chk_a", "chk_c", "chk_b"]   # sorted glob, depth first
    c = r.config.script("chk_c")
    assert c.loc.file == str(tmp_path / "conf.d" / "sub" / "c.conf") and c.loc.line == 3
    assert r.config.files == (str(main), str(tmp_path / "conf.d" / "a.conf"),
                              str(tmp_path / "conf.d" / "sub" / "c.conf"), str(tmp_path / "conf.d" / "b.conf"))


def test_include_inside_a_block_and_brace_expansion(tmp_path):
    (tmp_path / "v4.vips").write_text("10.0.0.1\n")
    (tmp_path / "v5.vips").write_text("10.0.0.2 dev eth1\n")
    main = tmp_path / "k.conf"
    main.write_text("vrrp_instance V {\n interface eth0\n virtual_router_id 7\n virtual_ipaddress {\n"
                    "  include v{4,5}.vips\n }\n}\n")
    r = load(str(main))
    assert r.ok, r.diagnostics
    vips = r.config.instance("V").virtual_ipaddresses
    assert [(str(v), v.dev, v.loc.file) for v in vips] == [("10.0.0.1/32", None, str(tmp_path / "v4.vips")),
                                                          ("10.0.0.2/32", "eth1", str(tmp_path / "v5.vips"))]
    assert brace_expand("{a/{,cat,dog},bar}") == ["a/", "a/cat", "a/dog", "bar"]


def test_missing_include_is_a_warning_but_includea_is_an_error(tmp_path):
    main = tmp_path / "k.conf"
    main.write_text("include nothing/*.conf\nincludea missing.conf\n")
    r = load(str(main))
    assert [(d.severity, d.line) for d in r.diagnostics] == [("warning", 1), ("error", 2)]


def test_include_loop_between_two_files_is_diagnosed(tmp_path):
    (tmp_path / "a.conf").write_text("vrrp_script s {\n script /bin/true\n}\ninclude b.conf\n")
    (tmp_path / "b.conf").write_text("\ninclude a.conf\n")
    r = load(str(tmp_path / "a.conf"))
    (err,) = r.errors
    assert (err.file, err.line) == (str(tmp_path / "b.conf"), 2)
    assert "include loop" in err.message
    assert [s.name for s in r.config.vrrp_scripts] == ["s"]


def test_self_include_and_runaway_depth(tmp_path):
    (tmp_path / "self.conf").write_text("include self.conf\n")
    assert "include loop" in load(str(tmp_path / "self.conf")).errors[0].message
    for i in range(40):
        (tmp_path / f"d{i}.conf").write_text(f"include d{i + 1}.conf\n")
    (tmp_path / "d40.conf").write_text("global_defs {\n}\n")
    r = load(str(tmp_path / "d0.conf"))
    assert any("nested more than" in d.message for d in r.errors)


def test_unreadable_and_binary_files(tmp_path):
    bad = tmp_path / "bin.conf"
    bad.write_bytes(b"global_defs {\n router_id \xff\xfe\x00x\n}\n\x80\x81\x82 {\n")
    r = load(str(bad))
    assert r.config is not None
    assert any(d.severity == "warning" and d.line == 2 and "UTF-8" in d.message for d in r.diagnostics)
    assert all(str(d).startswith(f"{bad}:") for d in r.diagnostics)
    r = load(str(tmp_path))                 # a directory
    assert r.config is None and "is a directory" in r.errors[0].message


# --------------------------------------------------------------------------- conditionals


def test_conditional_lines_follow_the_config_id():
    text = "@main a 1\n@backup b 2\n@^main c 3\n@^backup d 4\nplain 5\n"
    assert words(text, config_id="main") == ["a", "1", "\n", "d", "4", "\n", "plain", "5", "\n"]
    assert words(text, config_id="backup") == ["b", "2", "\n", "c", "3", "\n", "plain", "5", "\n"]
    assert words(text, config_id="other") == ["c", "3", "\n", "d", "4", "\n", "plain", "5", "\n"]


def test_default_config_id_is_the_short_host_name(monkeypatch):
    import socket

    monkeypatch.setattr(socket, "gethostname", lambda: "lb7.example.org")
    assert default_config_id() == "lb7"
    r = loads(INSTANCE.format(body="@lb7 priority 150\n@lb8 priority 50"), path="t.conf")
    assert r.config.instance("V").priority == 150


# --------------------------------------------------------------------------- parameters


def test_parameter_definition_and_substitution():
    r, vi = instance("$PRIO=120\npriority $PRIO\n$IF=eth9\ntrack_interface {\n ${IF}\n}")
    assert r.ok and vi.priority == 120 and vi.track_interfaces[0].name == "eth9"
    # $NAME needs whitespace after it; ${NAME} does not
    assert words("$A=1\nx $A.2 ${A}.2 $A\n") == ["x", "$A.2", "1.2", "1", "\n"]


def test_substitution_is_done_at_use_time_and_recursively():
    text = ("$ADDRESS_BASE=10.2.${ADDRESS_BASE_SUB}\n$ADDRESS_BASE_SUB=0\n${ADDRESS_BASE}.100/32\n"
            "$ADDRESS_BASE_SUB=10\n${ADDRESS_BASE}.100/32\n")
    assert words(text) == ["10.2.0.100/32", "\n", "10.2.10.100/32", "\n"]


def test_parameters_work_with_conditionals():
    r, vi = instance("@main $PRIORITY=240\n@backup $PRIORITY=200\npriority $PRIORITY", config_id="backup")
    assert vi.priority == 200
    r, vi = instance("$IF_MAIN=@main\n$IF_MAIN priority 240", config_id="main")
    assert vi.priority == 240
    r, vi = instance("$IF_MAIN=@main\n$IF_MAIN priority 240", config_id="other")
    assert vi.priority == 100


def test_multi_line_definitions_expand_to_blocks():
    text = ("$INSTANCE= \\\nvrrp_instance VI_${NUM} { \\\n  interface eth0.${NUM} \\\n  virtual_router_id ${ID} \\\n"
            "  @high priority 130 \\\n  @low priority 120 \\\n  virtual_ipaddress { \\\n    10.0.${NUM}.254/24 \\\n"
            "  } \\\n}\n\n$NUM=0\n$ID=10\n$INSTANCE\n$NUM=1\n$ID=11\n$INSTANCE\n")
    r = loads(text, path="m.conf", config_id="low")
    assert r.ok, r.diagnostics
    got = [(i.name, i.interface, i.vrid, i.priority, str(i.virtual_ipaddresses[0]), i.loc.line)
           for i in r.config.vrrp_instances]
    assert got == [("VI_0", "eth0.0", 10, 120, "10.0.0.254/24", 14), ("VI_1", "eth0.1", 11, 120, "10.0.1.254/24", 17)]


def test_predefined_parameters(tmp_path, monkeypatch):
    monkeypatch.setenv("VIPDECK_TEST_IF", "eth42")
    conf = tmp_path / "p.conf"
    conf.write_text("a ${_PWD} ${_INSTANCE} ${_ENV VIPDECK_TEST_IF} x${_HASH}y ${_BANG}\nr ${_RANDOM 5 5}\n")
    d = Diags()
    lx = Lexer(d, "node9")
    assert lx.lex_file(str(conf))
    assert [t.text for t in lx.tokens if t.kind == WORD] == ["a", str(tmp_path), "node9", "eth42", "x#y", "!", "r", "5"]


def test_self_referencing_parameter_is_diagnosed_not_followed_forever():
    r = loads("$A=x $A\nline $A\n$B=$C\n$C=$B\nother $B\n", path="s.conf")
    errs = [(d.line, "nested too deeply" in d.message or "grows beyond" in d.message) for d in r.errors]
    assert errs == [(2, True), (5, True)]


def test_sequence_and_list_blocks():
    r, vi = instance("virtual_ipaddress_excluded {\n~SEQ(N, 1, 3) 10.9.${N}.1\n"
                     "~LST({A, B}, {1, 2}, {3, 4}) 10.8.${A}.${B}\n~SEQx(H, 0x9, 1, 0xb) fe80::${H}\n}")
    assert r.ok, r.diagnostics
    assert [v.address for v in vi.virtual_ipaddresses_excluded] == [
        "10.9.1.1", "10.9.2.1", "10.9.3.1", "10.8.1.2", "10.8.3.4", "fe80::9", "fe80::a", "fe80::b"]
    r = loads("~SEQ(X, 1, 100000000) a\n", path="q.conf")
    assert r.errors and "would generate" in r.errors[0].message


@pytest.mark.parametrize("eol", ["\n", "\r\n"])
def test_line_numbers_survive_crlf(eol):
    toks, _ = lex(eol.join(["a", "", "b {", "c", "}"]))
    assert [(w, n) for w, n in toks if w != "\n"] == [("a", 1), ("b", 3), ("{", 3), ("c", 4), ("}", 5)]


def test_relative_main_path_includes_resolve_beside_it(tmp_path, monkeypatch):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "inc.conf").write_text("vrrp_script x {\n script /bin/x\n}\n")
    (tmp_path / "etc" / "main.conf").write_text("include inc.conf\n")
    monkeypatch.chdir(tmp_path)
    r = load(os.path.join("etc", "main.conf"))
    assert r.ok and r.config.script("x").loc.file == os.path.join("etc", "inc.conf")


# --------------------------------------------------------------------------- reading files


def test_reading_a_file_allocates_about_its_size_not_the_limit(tmp_path):
    """read(MAX_FILE_BYTES + 1) allocated the whole 16 MiB limit before
    shrinking: every daemon start and reload peaked 16 MiB higher (issue 13)."""
    import tracemalloc

    conf = tmp_path / "k.conf"
    conf.write_text("global_defs {\n router_id n1\n}\n" + "! padding comment line\n" * 2000)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        ok = Lexer(Diags(), "main").lex_file(str(conf))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert ok and peak < 4 * 1024 * 1024, f"peak {peak / 2**20:.1f} MiB reading a {conf.stat().st_size} B file"


def test_read_limited_stops_at_the_limit_and_reads_a_file_that_grew(tmp_path, monkeypatch):
    from vipdeck.engine.config import lexer

    p = tmp_path / "f"
    p.write_bytes(b"x" * 300_000)
    with open(p, "rb") as fh:
        assert lexer.read_limited(fh, 100_001) == b"x" * 100_001
    with open(p, "rb") as fh:
        monkeypatch.setattr(lexer.os, "fstat", lambda fd: os.stat_result((0,) * 10))   # looked empty
        assert lexer.read_limited(fh, 1_000_000) == b"x" * 300_000


def test_a_file_over_the_limit_is_refused(tmp_path, monkeypatch):
    from vipdeck.engine.config import lexer

    monkeypatch.setattr(lexer, "MAX_FILE_BYTES", 1000)
    p = tmp_path / "big.conf"
    p.write_text("! " + "x" * 2000 + "\n")
    d = Diags()
    assert not Lexer(d, "main").lex_file(str(p))
    assert any("larger than" in x.message for x in d.items), d.items
