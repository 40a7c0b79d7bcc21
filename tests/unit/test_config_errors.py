"""Each class of configuration error: reported with its file:line, parsing carries on."""

from __future__ import annotations

import re
import subprocess

import pytest

from vipdeck.engine.config import Diagnostic, loads
from vipdeck.engine.config.diagnostics import ParseResult


def check(text: str, **kw) -> ParseResult:
    return loads(text, path="k.conf", config_id=kw.pop("config_id", "main"), **kw)


def errors(text: str, **kw) -> list[tuple[int, str]]:
    return [(d.line, d.message) for d in check(text, **kw).errors]


def one_error(text: str, line: int, *fragments: str) -> Diagnostic:
    r = check(text)
    errs = list(r.errors)
    assert len(errs) == 1, [str(d) for d in r.diagnostics]
    (e,) = errs
    assert (e.file, e.line) == ("k.conf", line), str(e)
    for f in fragments:
        assert f in e.message, str(e)
    return e


def vi(body: str, name: str = "VI_1", vrid: int = 51, iface: str = "eth0", vips: str = "10.0.0.1") -> str:
    return (f"vrrp_instance {name} {{\n interface {iface}\n virtual_router_id {vrid}\n"
            f" virtual_ipaddress {{\n  {vips}\n }}\n{body}\n}}\n")


def test_diagnostic_string_form():
    d = Diagnostic("error", "/etc/keepalived/keepalived.conf", 12, "virtual_router_id 300 is outside 1-255")
    assert str(d) == "/etc/keepalived/keepalived.conf:12: error: virtual_router_id 300 is outside 1-255"
    r = ParseResult(None, (d, Diagnostic("warning", "f", 1, "w")))
    assert r.errors == (d,) and not r.ok and len(r.warnings) == 1


# --------------------------------------------------------------------------- braces


def test_missing_close_brace_is_found_at_the_next_top_level_block():
    text = (
        "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n virtual_ipaddress {\n  10.0.0.1\n }\n"
        "\nvrrp_instance VI_2 {\n interface eth0\n virtual_router_id 52\n virtual_ipaddress {\n  10.0.0.2\n }\n}\n")
    e = one_error(text, 1, "vrrp_instance VI_1", "not closed", "vrrp_instance VI_2", "k.conf:8", "missing '}'")
    r = check(text)
    assert [i.name for i in r.config.vrrp_instances] == ["VI_1", "VI_2"]    # both still parsed
    assert e.severity == "error"


def test_missing_brace_inside_a_block_names_the_innermost_block():
    # authentication's '}' and the instance's '}' are both missing
    text = ("vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n authentication {\n  auth_type PASS\n"
            "  auth_pass 1234\n virtual_ipaddress {\n  10.0.0.1\n }\nvirtual_server 10.0.0.1 80 {\n}\n")
    r = check(text)
    (e,) = [d for d in r.errors if "not closed" in d.message]
    assert e.line == 1 and "innermost open block is 'authentication' from line 4" in e.message
    # what got swallowed is pointed out too
    assert any(d.line == 7 and "virtual_ipaddress" in d.message for d in r.warnings)


def test_block_never_closed_at_end_of_file():
    e = one_error("global_defs {\n router_id x\n}\nvrrp_script s {\n script /bin/true\n", 4,
                  "vrrp_script s", "never closed")
    assert "end of the configuration" in e.message


def test_extra_close_brace():
    one_error("global_defs {\n router_id x\n}\n}\n", 4, "unexpected '}'", "no block is open")


# --------------------------------------------------------------------------- values


def test_bad_vip_address():
    one_error(vi("", vips="192.168.1.300/24"), 5, "'192.168.1.300/24'", "not a valid address")
    one_error(vi("", vips="10.0.0.1/33"), 5, "10.0.0.1/33")


def test_bad_route_and_rule_addresses():
    text = ("static_routes {\n 10.1.0.0/16 via 10.0.0.1\n 10.2.0.0/16 via 10.0.0.999\n}\n"
            "static_rules {\n from 10.0.0.0/8 table 1 pref 5\n to 10.0./8 table 1 pref 6\n}\n")
    assert [line for line, _ in errors(text)] == [3, 7]


def test_vrid_out_of_range():
    one_error(vi("", vrid=300), 3, "virtual_router_id 300 is outside 1-255")
    one_error(vi("", vrid=0), 3, "virtual_router_id 0 is outside 1-255")


def test_priority_out_of_range_and_not_a_number():
    one_error(vi(" priority 256"), 7, "priority 256 is outside 1-255")
    one_error(vi(" priority 0"), 7, "priority 0 is outside 1-255")
    one_error(vi(" priority high"), 7, "priority 'high' is not a whole number")


def test_priority_255_is_the_address_owner_note():
    r = check(vi(" priority 255"))
    assert r.ok and any(d.line == 7 and "address owner" in d.message for d in r.notes)


def test_advert_int_range_depends_on_version():
    one_error(vi(" advert_int 0.5"), 7, "advert_int 0.5 is not valid for VRRP version 2", "1-255")
    one_error(vi(" advert_int 300"), 7, "advert_int 300")
    assert check(vi(" version 3\n advert_int 0.5")).ok
    one_error(vi(" version 3\n advert_int 50"), 8, "advert_int 50 is outside 0.01-40.95")
    r = check(vi(" version 3\n advert_int 0.123"))
    assert r.ok and r.config.instance("VI_1").advert_int == 0.12
    assert any("rounded to 0.12" in d.message for d in r.notes)
    # the global default version applies
    assert check("global_defs {\n vrrp_version 3\n}\n" + vi(" advert_int 0.25")).ok


def test_bad_integers_and_durations_name_the_keyword():
    text = ("virtual_server 10.0.0.1 80 {\n delay_loop 1x\n real_server 10.0.0.2 80 {\n weight -1\n"
            "  TCP_CHECK {\n   connect_timeout -3\n   retry many\n  }\n }\n}\n")
    got = errors(text)
    assert got == [(2, "delay_loop '1x' is not a valid number of seconds"),
                   (4, "weight -1 is outside 0-65535"),
                   (6, "connect_timeout -3 is below the minimum 0 seconds"),
                   (7, "retry 'many' is not a whole number")]


# --------------------------------------------------------------------------- references


def test_track_script_naming_an_undefined_vrrp_script():
    text = "vrrp_script chk_ok {\n script /bin/true\n}\n" + vi(" track_script {\n  chk_ok\n  chk_nope weight 5\n }")
    one_error(text, 12, "track_script 'chk_nope'", "vrrp_instance VI_1", "no vrrp_script")


def test_track_file_and_track_process_references():
    text = ("track_file tf {\n file /tmp/x\n}\nvrrp_track_process tp {\n process nginx\n}\n"
            + vi(" track_file {\n  tf\n  tf_missing\n }\n track_process {\n  tp\n  tp_missing\n }"))
    got = errors(text)
    assert [line for line, _ in got] == [15, 19]
    assert "track_file 'tf_missing'" in got[0][1] and "track_process 'tp_missing'" in got[1][1]


def test_sync_group_naming_an_unknown_instance():
    text = vi("", "VI_1", 51) + vi("", "VI_2", 52) + "vrrp_sync_group G {\n group {\n  VI_1\n  VI_2\n  VI_3\n }\n}\n"
    one_error(text, 21, "vrrp_sync_group G", "no vrrp_instance named 'VI_3'")


def test_instance_in_two_sync_groups():
    text = (vi("", "A", 1) + vi("", "B", 2) + "vrrp_sync_group G1 {\n group {\n  A\n  B\n }\n}\n"
            "vrrp_sync_group G2 {\n group {\n  A\n  B\n }\n}\n")
    assert [line for line, _ in errors(text)] == [25, 26]


def test_duplicate_vrid_on_one_interface():
    text = vi("", "VI_1", 51) + vi("", "VI_2", 51)
    e = one_error(text, 9, "virtual_router_id 51 of vrrp_instance VI_2", "vrrp_instance VI_1 (k.conf:1)", "eth0")
    assert "IPv4" in e.message


@pytest.mark.parametrize("second", [
    vi("", "VI_2", 51, iface="eth1"),                   # another interface
    vi("", "VI_2", 51, vips="2001:db8::1"),             # another family
    vi(" mcast_dst_ip 224.0.0.19", "VI_2", 51),         # another multicast group
])
def test_same_vrid_is_fine_elsewhere(second):
    r = check(vi("", "VI_1", 51) + second)
    assert r.ok, [str(d) for d in r.diagnostics]


def test_virtual_server_group_naming_an_unknown_group():
    text = ("virtual_server_group G1 {\n 10.0.0.1 80\n}\nvirtual_server group G2 {\n"
            " real_server 10.0.1.1 80 {\n  TCP_CHECK {\n  }\n }\n}\n")
    one_error(text, 4, "virtual_server group G2", "no virtual_server_group named 'G2'")


def test_real_server_without_port_when_the_virtual_server_has_one():
    text = "virtual_server 10.0.0.1 80 {\n real_server 10.0.1.1 {\n  TCP_CHECK {\n  }\n }\n}\n"
    one_error(text, 2, "real_server 10.0.1.1", "has no port", "real_server 10.0.1.1 80")


def test_errors_in_one_block_do_not_stop_the_others():
    text = (vi(" priority 900", "A", 1) + vi("", "B", 300) + "virtual_server 10.0.0.1 80 {\n lvs_sched nope\n}\n"
            + vi(" track_script {\n  ghost\n }", "C", 3))
    got = errors(text)
    assert [line for line, _ in got] == [7, 11, 18, 27]
    r = check(text)
    assert [i.name for i in r.config.vrrp_instances] == ["A", "C"]    # B has no usable VRID


# --------------------------------------------------------------------------- unknown keywords and old names


def test_unknown_keyword_is_a_warning_and_its_block_is_skipped():
    r = check(vi(" prority 90\n fancy_block {\n  priority 999\n }\n priority 90"))
    assert r.ok
    (typo, block) = r.warnings
    assert (typo.line, block.line) == (7, 8)
    assert "unknown keyword 'prority' in vrrp_instance VI_1" in typo.message and "did you mean 'priority'" in typo.message
    assert "its block is skipped" in block.message
    assert r.config.instance("VI_1").priority == 90     # the 999 inside the skipped block was not read


def test_known_but_unimplemented_keywords_are_warned_about_not_silent():
    """Each keepalived keyword vipdeck does not act on is a warning at its line
    (the whole table is walked in test_config_keywords); the values are kept."""
    text = ("global_defs {\n router_id r\n vrrp_min_garp\n disable_local_igmp\n enable_snmp_vrrp\n max_auto_priority 10\n}\n"
            "net_namespace blue\nlinkbeat_interfaces {\n eth0\n}\n"
            + vi(" garp_extra_if all 100\n promote_secondaries\n track_src_ip"))
    r = check(text)
    assert r.ok and not r.notes, [str(d) for d in r.diagnostics]
    assert [(d.line, d.message.split("'")[1]) for d in r.warnings] == [
        (3, "vrrp_min_garp"), (4, "disable_local_igmp"), (5, "enable_snmp_vrrp"), (6, "max_auto_priority"),
        (8, "net_namespace"), (9, "linkbeat_interfaces"), (18, "garp_extra_if"), (19, "promote_secondaries"),
        (20, "track_src_ip")]
    assert all("is not implemented by vipdeck: " in d.message and "(keepalived would " in d.message
               for d in r.warnings)
    assert r.not_implemented == r.warnings
    assert ("vrrp_min_garp", ()) in r.config.global_defs.other
    assert ("net_namespace", ("blue",)) in r.config.other
    assert ("garp_extra_if", ("all", "100")) in r.config.instance("VI_1").other


def test_old_names_are_read_with_a_note():
    text = ("virtual_server 10.0.0.1 80 {\n lb_algo rr\n lb_kind TUN\n real_server 10.0.1.1 80 {\n"
            "  HTTP_GET {\n   url {\n    path /\n   }\n   nb_get_retry 4\n  }\n  SMTP_CHECK {\n   nb_sock_retry 2\n  }\n"
            " }\n}\nvrrp_track_file tf {\n file /tmp/f\n}\n")
    r = check(text)
    assert r.ok
    assert [(d.line, d.severity) for d in r.diagnostics] == [(1, "warning"), (2, "note"), (3, "note"), (9, "note"),
                                                            (12, "note"), (16, "note")]
    assert "has no protocol; it is UDP" in r.diagnostics[0].message     # keepalived's default
    vs = r.config.virtual_servers[0]
    assert (vs.scheduler, vs.forward.value) == ("rr", "TUN")
    assert [c.retry for c in vs.real_servers[0].checkers] == [4, 2]
    assert r.config.track_file("tf").file == "/tmp/f"


def test_secrets_never_appear_in_messages():
    r = check(vi(" authentication {\n  auth_type PASS\n  auth_pass s3cr3t-value-long extra-secret\n }"))
    text = "\n".join(str(d) for d in r.diagnostics)
    assert "s3cr3t" not in text and "extra-secret" not in text
    assert any("longer than 8" in d.message for d in r.warnings)


def test_real_keepalived_flags_the_same_lines(tmp_path, keepalived_bin):
    """keepalived -t agrees on where the bad values are (it also adds host-dependent warnings)."""
    conf = tmp_path / "k.conf"
    conf.write_text("vrrp_instance VI_1 {\n interface vipdeck-none0\n virtual_router_id 300\n priority 0\n"
                    " virtual_ipaddress {\n  10.0.0.256\n  10.0.0.1/24\n }\n track_script {\n  nothere\n }\n}\n")
    proc = subprocess.run([keepalived_bin, "-t", "-f", str(conf), "-l", "-D", "-n"], capture_output=True,
                          text=True, timeout=30)
    theirs = {int(m) for m in re.findall(r"Line (\d+)\)", proc.stdout + proc.stderr)}
    assert proc.returncode != 0 and {3, 4, 6, 10} <= theirs
    from vipdeck.engine.config import load

    ours = {d.line for d in load(str(conf)).errors}
    assert ours == {3, 4, 6, 10}


def test_a_flood_of_diagnostics_is_capped_without_losing_the_verdict():
    text = "global_defs {\n" + "bogus_keyword\n" * 2100 + "}\n" + vi("", vrid=300)
    r = check(text)              # the VRID error comes after 2000 warnings: dropped, but still counted
    assert len(r.diagnostics) == 2001
    assert r.diagnostics[-1].severity == "error" and "more diagnostics not shown" in r.diagnostics[-1].message
    assert not r.ok
