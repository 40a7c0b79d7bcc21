"""Nothing silent: every keepalived keyword has a row in the keyword table, and
using one vipdeck does not implement says so at its file:line."""

from __future__ import annotations

import logging
import re

import pytest

from vipdeck.engine.config import compat, keywords, loads
from vipdeck.engine.config.context import ParseContext
from vipdeck.engine.config.diagnostics import NOT_IMPLEMENTED, REFUSED
from vipdeck.engine.config.keywords import KEYWORDS, Status
from tests.support.paths import FIXTURES, ROOT

SOURCES = [line.rstrip("\n").split("\t") for line in (FIXTURES / "keepalived-keywords.tsv").open()
           if not line.startswith("#")]
# blocks whose rows are words on an entry's line, or lexer directives: not in keepalived's keyword lists
OPTION_BLOCKS = {"directives", "address", "route", "unicast_peer", "lvs_method"}


def test_every_keepalived_keyword_has_a_row():
    """Every keyword keepalived 2.2.7's parser installs and the man page shows."""
    assert len(SOURCES) > 400
    missing = [(block, kw) for _, block, kw in SOURCES if keywords.lookup(block, kw) is None
               or keywords.lookup(block, kw).block not in (block, "checker")]
    assert not missing


def test_origins_say_who_knows_the_keyword():
    known = {(block, kw): src for src, block, kw in SOURCES}
    wrong = [(r.block, r.name, r.origin, known.get((r.block, r.name), "vipdeck")) for r in KEYWORDS
             if r.block not in OPTION_BLOCKS and r.block != "virtual_server_group" and " " not in r.name
             and r.origin != known.get((r.block, r.name), "vipdeck")]
    assert not wrong


def test_rows_are_complete():
    for r in KEYWORDS:
        assert r.block in compat.BLOCKS, r
        if r.implemented:
            assert not r.why and not r.keepalived, r
        else:
            assert r.why and r.keepalived and not r.note, r
            assert not r.keepalived.startswith("keepalived"), r     # it follows "keepalived would"
    assert {r.name for r in KEYWORDS if r.status is Status.REFUSED} == {"auth_type AH", "auth_hmac"}


# --------------------------------------------------------------------------- walking the table

# how to write one use of a keyword of each block: (text before, text after); the keyword is line 1 + lines before
OPEN = {
    "top": ("", ""),
    "global_defs": ("global_defs {\n", "}\n"),
    "vrrp_script": ("vrrp_script S {\n", "}\n"),
    "track_file": ("track_file T {\n", "}\n"),
    "vrrp_track_process": ("vrrp_track_process P {\n", "}\n"),
    "bfd_instance": ("bfd_instance B {\n", "}\n"),
    "vrrp_sync_group": ("vrrp_sync_group G {\n", "}\n"),
    "track_group": ("track_group TG {\n", "}\n"),
    "garp_group": ("garp_group {\n", "}\n"),
    "vrrp_instance": ("vrrp_instance V {\n", "}\n"),
    "authentication": ("vrrp_instance V {\n authentication {\n", " }\n}\n"),
    "auth_hmac": ("vrrp_instance V {\n auth_hmac {\n", " }\n}\n"),
    "virtual_server": ("virtual_server 10.0.0.1 80 {\n", "}\n"),
    "real_server": ("virtual_server 10.0.0.1 80 {\n real_server 10.0.0.2 80 {\n", " }\n}\n"),
    "checker": ("virtual_server 10.0.0.1 80 {\n real_server 10.0.0.2 80 {\n  TCP_CHECK {\n", "  }\n }\n}\n"),
    "url": ("virtual_server 10.0.0.1 80 {\n real_server 10.0.0.2 80 {\n  HTTP_GET {\n   url {\n",
            "   }\n  }\n }\n}\n"),
    "SSL": ("SSL {\n", "}\n"),
    "virtual_server_group": ("virtual_server_group VSG {\n", "}\n"),
}
for _kind in ("HTTP_GET", "SMTP_CHECK", "DNS_CHECK", "MISC_CHECK", "UDP_CHECK", "FILE_CHECK", "BFD_CHECK"):
    OPEN[_kind] = (f"virtual_server 10.0.0.1 80 {{\n real_server 10.0.0.2 80 {{\n  {_kind} {{\n", "  }\n }\n}\n")
# options: the entry the word is written on
ENTRY = {
    "address": ("static_ipaddress {\n", "10.0.0.5/24 dev eth0 {opt}", "}\n"),
    "route": ("static_routes {\n", "10.1.0.0/16 via 10.0.0.254 {opt}", "}\n"),
    "unicast_peer": ("vrrp_instance V {\n unicast_peer {\n", "10.0.0.9 {opt}", " }\n}\n"),
    "lvs_method": ("virtual_server 10.0.0.1 80 {\n", "lvs_method TUN {opt}", "}\n"),
}
OPTION_VALUES = {"dev": "eth1", "brd": "+", "scope": "link", "label": "eth0:1", "peer": "10.0.0.6",
                 "preferred_lft": "forever", "track_group": "G", "min_ttl": "5", "max_ttl": "250",
                 "type": "gue", "port": "6080"}
LITERAL = re.compile(r"[A-Za-z][A-Za-z0-9_\-]*( [A-Z]+)?\Z")


def _uses():
    for r in KEYWORDS:
        if r.block in ENTRY:
            before, entry, after = ENTRY[r.block]
            opt = f"{r.name} {OPTION_VALUES[r.name]}" if r.name in OPTION_VALUES else r.name
            yield r, before + entry.format(opt=opt) + "\n" + after, before.count("\n") + 1
        elif r.block in OPEN and LITERAL.match(r.name):
            before, after = OPEN[r.block]
            # a sample value: rows about one value carry theirs in the name
            line = r.name if " " in r.name else f"{r.name} 1"
            kinds = ("HTTP_GET", "SSL_GET") if r.block == "HTTP_GET" else (None,)
            for kind in kinds:
                b = before.replace("HTTP_GET", kind) if kind else before
                yield r, b + line + "\n" + after, b.count("\n") + 1


USES = list(_uses())


def test_the_walk_covers_the_table():
    walked = {(r.block, r.name) for r, _, _ in USES}
    skipped = [(r.block, r.name) for r in KEYWORDS if (r.block, r.name) not in walked]
    # not keywords of a block: lexer directives, interface names, a group's address ranges
    assert all(b in ("directives", "linkbeat_interfaces", "interface_up_down_delays", "virtual_server_group")
               for b, _ in skipped), skipped
    assert len(walked) > 420


@pytest.mark.parametrize("row,text,line", USES, ids=[f"{r.block}:{r.name}:{n}" for n, (r, _, _) in
                                                        enumerate(USES)])
def test_each_keyword_used_says_what_it_does(row, text, line):
    """A not-implemented keyword is a warning at its line with the table's reason, a
    refused one an error; an implemented one neither, and never 'unknown'."""
    r = loads(text, path="kw.conf", config_id="main")
    here = [d for d in r.diagnostics if d.line == line]
    assert not [d for d in here if "unknown keyword" in d.message], here
    flagged = [d for d in here if d.code in (NOT_IMPLEMENTED, REFUSED)]
    if row.implemented or row.inside:
        assert not flagged, here
        return
    (d,) = flagged
    assert (d.file, d.code) == ("kw.conf", REFUSED if row.status is Status.REFUSED else NOT_IMPLEMENTED)
    assert d.severity == ("error" if row.status is Status.REFUSED else "warning")
    assert d.message == row.message()
    assert f"{row.why} (keepalived would {row.keepalived})" in d.message


def test_every_parser_handler_has_a_row(monkeypatch):
    """A keyword the parser reads but the table does not know would be accepted
    silently: every handler table seen while walking the table must be covered."""
    seen: dict[str, set[str]] = {}
    real = ParseContext.walk

    def spy(self, block, table, where, *, kind, **kw):
        seen.setdefault(kind, set()).update(table)
        return real(self, block, table, where, kind=kind, **kw)

    monkeypatch.setattr(ParseContext, "walk", spy)
    for _, text, _ in USES:
        loads(text, path="kw.conf", config_id="main")
    assert {"top", "global_defs", "vrrp_instance", "vrrp_sync_group", "authentication", "auth_hmac",
            "virtual_server", "real_server", "url", "host", "SSL"} <= set(seen) | {"host"}
    missing = sorted((kind, kw) for kind, kws in seen.items() for kw in kws if keywords.lookup(kind, kw) is None)
    assert not missing


def test_the_issue_example_reads_as_promised():
    # the issue's own example was use_vmac, implemented since; use_ipvlan is its sibling
    r = loads("vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n use_ipvlan\n"
              " virtual_ipaddress {\n  10.0.0.1\n }\n}\n", path="k.conf")
    assert r.ok
    (d,) = r.not_implemented
    assert str(d).startswith("k.conf:4: warning: 'use_ipvlan' is not implemented by vipdeck: "
                             "VIPs move with the interface's own MAC (keepalived would put them on an ipvlan")


def test_a_not_implemented_block_is_one_warning_not_one_per_line():
    r = loads("garp_group {\n garp_interval 1\n interfaces {\n  eth0\n }\n}\n"
              "bfd_instance B {\n neighbor_ip 10.0.0.1\n min_rx 10\n}\n", path="k.conf")
    assert [(d.line, d.code) for d in r.diagnostics] == [(1, NOT_IMPLEMENTED), (7, NOT_IMPLEMENTED)]


def test_options_on_an_entry_line_are_flagged_at_that_line():
    text = ("vrrp_instance V {\n interface eth0\n virtual_router_id 5\n unicast_peer {\n  10.0.0.9 min_ttl 3\n }\n"
            " virtual_ipaddress {\n  10.0.0.1/24 no_track\n  10.0.0.2/24 dev eth1 -nodad\n }\n}\n"
            "virtual_server 10.0.0.1 80 {\n protocol TCP\n lvs_method TUN type gre\n}\n")
    r = loads(text, path="k.conf")
    assert [(d.line, d.message.split(":")[0]) for d in r.not_implemented] == [
        (8, "'no_track' is not implemented by vipdeck")]
    # implemented options (a unicast peer's min_ttl, the tunnel type) are read, and say nothing
    assert r.config.virtual_servers[0].tunnel.type == "gre" and not [d for d in r.diagnostics if d.line in (5, 14)]


def test_refusals_keep_the_model_but_fail_the_verdict():
    ah = loads("vrrp_instance V {\n interface eth0\n virtual_router_id 5\n authentication {\n  auth_type AH\n"
               "  auth_pass abc\n }\n virtual_ipaddress {\n  10.0.0.1\n }\n}\n", path="k.conf")
    assert not ah.ok
    (e,) = ah.errors
    assert (e.line, e.code) == (5, REFUSED) and "a keepalived AH peer drops them and both become master" in e.message
    assert ah.config.instance("V").authentication.auth_type.value == "AH"
    lower = loads("vrrp_instance V {\n interface eth0\n virtual_router_id 5\n authentication {\n  auth_type ah\n"
                  "  auth_pass abc\n }\n virtual_ipaddress {\n  10.0.0.1\n }\n}\n", path="k.conf")
    assert [d.code for d in lower.errors] == [REFUSED]          # keepalived reads the type in any case
    pw = loads("vrrp_instance V {\n interface eth0\n virtual_router_id 5\n authentication {\n  auth_type PASS\n"
               "  auth_pass abc\n }\n virtual_ipaddress {\n  10.0.0.1\n }\n}\n", path="k.conf")
    assert pw.ok and not pw.diagnostics


# --------------------------------------------------------------------------- what keepalived warns about


def test_a_virtual_server_without_protocol_is_udp_with_a_warning():
    r = loads("virtual_server 10.0.0.1 53 {\n real_server 10.0.0.2 53 {\n }\n}\n"
              "virtual_server fwmark 7 {\n real_server 10.0.0.2 80 {\n }\n}\n"
              "virtual_server_group G {\n 10.0.0.10-12 80\n}\nvirtual_server group G {\n real_server 10.0.0.2 80 {\n"
              " }\n}\nvirtual_server 10.0.0.1 80 {\n protocol TCP\n real_server 10.0.0.2 80 {\n }\n}\n", path="k.conf")
    assert r.ok
    assert [(d.line, "has no protocol; it is UDP, as in keepalived" in d.message) for d in r.warnings] == [
        (1, True), (12, True)]
    assert [v.protocol for v in r.config.virtual_servers] == ["UDP", "TCP", "UDP", "TCP"]


def test_a_static_address_without_dev_needs_default_interface():
    bare = loads("static_ipaddress {\n 10.0.0.5/24\n 10.0.0.6/24 dev eth1\n}\n", path="k.conf")
    (w,) = bare.warnings
    assert w.line == 2 and "has no dev and there is no default_interface" in w.message
    assert [v.dev for v in bare.config.static_ipaddresses] == [None, "eth1"]
    dflt = loads("global_defs {\n default_interface eth3\n}\nstatic_ipaddress {\n 10.0.0.5/24\n}\n", path="k.conf")
    assert dflt.ok and not dflt.diagnostics
    assert dflt.config.static_ipaddresses[0].dev == "eth3"


def test_vrrp_garp_interval_0_is_warned_about_like_keepalived():
    """keepalived 2.2.7: "number '0' outside range [0.000001, 4294.967295]", and it keeps its default."""
    r = loads("global_defs {\n vrrp_garp_interval 0\n vrrp_gna_interval 0.5\n}\n", path="k.conf")
    assert r.ok
    assert [(d.line, d.message.split(" (")[0]) for d in r.warnings] == [
        (2, "vrrp_garp_interval 0 is outside 0.000001-4294.967295")]
    assert (r.config.global_defs.vrrp_garp_interval, r.config.global_defs.vrrp_gna_interval) == (0.0, 0.5)


def test_a_virtual_server_weight_is_its_real_servers_default():
    r = loads("virtual_server 10.0.0.1 80 {\n protocol TCP\n weight 7\n real_server 10.0.0.2 80 {\n }\n"
              " real_server 10.0.0.3 80 {\n  weight 2\n }\n}\n", path="k.conf")
    assert r.ok and not r.diagnostics
    assert [rs.weight for rs in r.config.virtual_servers[0].real_servers] == [7, 2]


def test_global_tracking_is_read_as_sync_group_tracking_weight():
    r = loads("vrrp_sync_group G {\n group {\n  A\n  B\n }\n global_tracking\n}\n", path="k.conf")
    (g,) = r.config.sync_groups
    assert g.sync_group_tracking_weight and g.global_tracking
    assert [d.severity for d in r.diagnostics if d.line == 6] == ["note"]


# --------------------------------------------------------------------------- the daemon and the README


def test_the_daemon_logs_them_at_start(tmp_path, caplog):
    from vipdeck.engine.daemon import load_config

    conf = tmp_path / "keepalived.conf"
    conf.write_text("global_defs {\n vrrp_min_garp\n}\nvrrp_instance VI_1 {\n interface vipdeck-none0\n"
                    " virtual_router_id 5\n virtual_ipaddress {\n  10.0.0.1\n }\n}\n")
    with caplog.at_level(logging.WARNING, logger="vipdeck.daemon"):
        config, _ = load_config(str(conf))
    assert config is not None
    lines = [rec.getMessage() for rec in caplog.records]
    assert f"{conf}:2: warning: 'vrrp_min_garp' is not implemented by vipdeck: the garp_master_* settings apply" \
        in "\n".join(lines)
    assert any(line.startswith(f"{conf}:4: warning: interface 'vipdeck-none0' of vrrp_instance VI_1 does not "
                               "exist on this host") for line in lines)


def test_the_readme_compatibility_section_is_the_table():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert compat.section(readme) == compat.markdown(), \
        "README.md is stale: python -m vipdeck.engine.config.compat --update README.md"


def test_the_readme_section_counts_and_lists():
    md = compat.markdown()
    c = compat.counts()
    assert md.startswith(f"{c['implemented']} keywords implemented, {c['not implemented']} not implemented")
    assert "| vrrp_instance | `use_ipvlan` | VIPs move with the interface's own MAC |" in md
    assert "| authentication | `auth_type AH` |" in md.split("### Refused")[1]
    assert "`lvs_id`" in md.split("### vipdeck extensions")[1]
