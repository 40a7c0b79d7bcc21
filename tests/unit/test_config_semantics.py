"""What the model holds after resolution: keepalived's defaults, inheritance, global settings."""

from __future__ import annotations

import json

import pytest

from vipdeck.engine.config import loads
from vipdeck.engine.config.model import MASK, AuthType, Forward, to_jsonable


def ok(text: str, **kw):
    r = loads(text, path="s.conf", config_id="main", **kw)
    assert r.ok, [str(d) for d in r.diagnostics]
    return r.config


def vi(body: str = "", name: str = "V", vips: str = "10.0.0.1") -> str:
    return f"vrrp_instance {name} {{\n interface eth0\n virtual_router_id 7\n virtual_ipaddress {{\n  {vips}\n }}\n{body}\n}}\n"


def vs(body: str, head: str = "10.0.0.1 80") -> str:
    return f"virtual_server {head} {{\n{body}\n}}\n"


def test_vrrp_defaults_are_keepalived_defaults():
    i = ok(vi()).instance("V")
    assert (i.state, i.priority, i.advert_int, i.version, i.mcast_group) == ("BACKUP", 100, 1.0, 2, "224.0.0.18")
    assert (i.nopreempt, i.preempt_delay, i.authentication, i.accept, i.strict_mode) == (False, 0.0, None, None, False)
    assert (i.garp_master_delay, i.garp_master_repeat, i.garp_master_refresh, i.garp_master_refresh_repeat) == (
        5.0, 5, 0.0, 1)
    assert (i.garp_lower_prio_delay, i.garp_lower_prio_repeat) == (5.0, 5)     # default to the master values
    assert i.smtp_alert is False and i.family == 4


def test_garp_lower_prio_defaults_follow_keepalived():
    """keepalived 2.2.7's SIGUSR1 data dump of this config: V has lower priority delay 2 and
    repeat 3 (the global garp_master values, not its own 9 and 4); the strict S has 0 and 0."""
    text = ("global_defs {\n vrrp_garp_master_delay 2\n vrrp_garp_master_repeat 3\n}\n"
            + vi(" garp_master_delay 9\n garp_master_repeat 4")
            + vi(" strict_mode", name="S").replace("virtual_router_id 7", "virtual_router_id 8"))
    c = ok(text)
    v, s = c.instance("V"), c.instance("S")
    assert (v.garp_lower_prio_delay, v.garp_lower_prio_repeat) == (2.0, 3)
    assert (s.garp_lower_prio_delay, s.garp_lower_prio_repeat) == (0.0, 0)
    r = loads(text.replace(" strict_mode", " strict_mode\n garp_lower_prio_repeat 2"), path="s.conf")
    assert any("strict mode requires no garp_lower_prio_repeat" in str(x) for x in r.diagnostics)
    assert r.config.instance("S").garp_lower_prio_repeat == 0


def test_global_defs_resolve_into_instances():
    text = ("global_defs {\n vrrp_version 3\n vrrp_mcast_group4 224.0.0.99\n vrrp_garp_master_delay 2\n"
            " vrrp_garp_master_repeat 3\n vrrp_garp_lower_prio_repeat 1\n vrrp_garp_interval 0.001\n"
            " vrrp_gna_interval 0.002\n smtp_alert_vrrp on\n vrrp_garp_master_refresh 60\n}\n")
    c = ok(text + vi(" garp_master_delay 9"))
    i = c.instance("V")
    assert (i.version, i.mcast_group, i.garp_master_delay, i.garp_master_repeat) == (3, "224.0.0.99", 9.0, 3)
    # the lower-priority delay follows the *global* master delay (2), not the instance's 9:
    # keepalived 2.2.7's data dump says so
    assert (i.garp_lower_prio_delay, i.garp_lower_prio_repeat, i.garp_interval, i.gna_interval) == (2.0, 1, 0.001, 0.002)
    assert i.smtp_alert is True and i.garp_master_refresh == 60.0
    # global_defs may come after the instance, keepalived reads the whole file first
    i2 = ok(vi() + text).instance("V")
    assert (i2.version, i2.mcast_group) == (3, "224.0.0.99")


def test_ipv6_instance_uses_version_3_and_group6():
    c = ok("global_defs {\n vrrp_mcast_group6 ff02::99\n}\n" + vi(" advert_int 0.5", vips="2001:db8::10/64"))
    i = c.instance("V")
    assert (i.family, i.version, i.mcast_group, i.advert_int) == (6, 3, "ff02::99", 0.5)


def test_instance_settings():
    body = (" state MASTER\n priority 150\n nopreempt\n preempt_delay 30\n unicast_src_ip 10.0.0.2\n"
            " unicast_peer {\n  10.0.0.3\n  10.0.0.4 min_ttl 250\n }\n unicast_ttl 10\n"
            " track_interface {\n  eth1 weight -10 reverse\n }\n virtual_ipaddress_excluded {\n  2001:db8::5/64\n }\n"
            " virtual_routes {\n  10.9.0.0/16 via 10.0.0.254 dev eth0\n }\n virtual_rules {\n  from 10.9.0.0/16 table 5 pref 100\n }\n"
            " notify \"/bin/notify.sh all\" nobody nogroup\n notify_stop /bin/stop.sh\n smtp_alert\n no_accept\n"
            " use_vmac\n dont_track_primary\n mcast_src_ip 10.0.0.2\n debug 2")
    i = ok(vi(body, vips="10.0.0.1/24 brd 10.0.0.255 dev eth2 scope global label eth2:vip no_track")).instance("V")
    assert (i.state, i.priority, i.nopreempt, i.preempt_delay) == ("MASTER", 150, True, 30.0)
    assert (i.unicast_src_ip, i.unicast_peers, i.unicast_ttl) == ("10.0.0.2", ("10.0.0.3", "10.0.0.4"), 10)
    assert [(t.name, t.weight, t.reverse) for t in i.track_interfaces] == [("eth1", -10, True)]
    v = i.virtual_ipaddresses[0]
    assert (str(v), v.brd, v.dev, v.scope, v.label, v.no_track) == ("10.0.0.1/24", "10.0.0.255", "eth2", "global",
                                                                     "eth2:vip", True)
    assert [str(x) for x in i.virtual_ipaddresses_excluded] == ["2001:db8::5/64"]
    assert i.virtual_routes[0].words == ("10.9.0.0/16", "via", "10.0.0.254", "dev", "eth0")
    assert i.virtual_rules[0].words[:2] == ("from", "10.9.0.0/16")
    assert (i.notify.command, i.notify.user, i.notify.group) == ("/bin/notify.sh all", "nobody", "nogroup")
    assert i.notify_stop.command == "/bin/stop.sh"
    assert (i.smtp_alert, i.accept, i.use_vmac, i.dont_track_primary, i.mcast_src_ip, i.debug) == (
        True, False, "vrrp.7", True, "10.0.0.2", 2)


def test_authentication_types_and_masking():
    r = loads(vi(" authentication {\n  auth_type AH\n  auth_pass abc\n }"), path="s.conf")
    # AH is refused (an AH peer would see our unauthenticated adverts: two masters), but read
    assert [(d.line, d.code) for d in r.errors] == [(8, "refused")]
    a = r.config.instance("V").authentication
    assert (a.auth_type, a.auth_pass) == (AuthType.AH, "abc")
    assert to_jsonable(a)["auth_pass"] == MASK and "abc" not in repr(a)


def test_tracker_blocks():
    text = ("vrrp_script chk {\n script \"/bin/check --fast\"\n interval 2.5\n timeout 4\n weight -30 reverse\n"
            " rise 3\n fall 4\n user nobody nogroup\n init_fail\n}\n"
            "track_file tf {\n file /run/prio\n weight -5 reverse\n init_file 7 overwrite\n}\n"
            "vrrp_track_process tp {\n process haproxy -f \"/etc/my cfg\"\n param_match initial\n weight 10\n"
            " quorum 2\n quorum_max 4\n delay 0.5\n full_command\n}\n")
    c = ok(text + vi(" track_script {\n  chk weight 5\n }\n track_file {\n  tf\n }\n track_process {\n  tp noreverse\n }"))
    s = c.script("chk")
    assert (s.script, s.interval, s.timeout, s.weight, s.weight_reverse, s.rise, s.fall) == (
        "/bin/check --fast", 2.5, 4.0, -30, True, 3, 4)
    assert (s.user, s.group, s.init_fail) == ("nobody", "nogroup", True)
    f = c.track_file("tf")
    assert (f.file, f.weight, f.weight_reverse, f.init_file, f.init_file_overwrite) == ("/run/prio", -5, True, 7, True)
    p = c.track_process("tp")
    assert (p.process, p.parameters, p.param_match, p.weight, p.quorum, p.quorum_max) == (
        "haproxy", ("-f", "/etc/my cfg"), "initial", 10, 2, 4)
    assert (p.delay, p.fork_delay, p.terminate_delay, p.full_command) == (0.5, 0.5, 0.5, True)
    i = c.instance("V")
    assert [(t.name, t.weight) for t in i.all_track_refs] == [("chk", 5), ("tf", None), ("tp", None)]


def test_sync_group():
    text = (vi("", "A") + vi("", "B").replace("virtual_router_id 7", "virtual_router_id 8")
            + "vrrp_script s {\n script /bin/true\n}\n"
            "vrrp_sync_group G {\n group {\n  A B\n }\n notify_master \"/bin/m.sh G\"\n track_script {\n  s weight -10\n }\n"
            " sync_group_tracking_weight\n smtp_alert false\n}\n")
    g = ok(text).sync_groups[0]
    assert (g.name, g.group, g.notify_master.command, g.smtp_alert, g.sync_group_tracking_weight) == (
        "G", ("A", "B"), "/bin/m.sh G", False, True)
    assert [(t.name, t.weight) for t in g.track_scripts] == [("s", -10)]


# --------------------------------------------------------------------------- LVS


def test_lvs_defaults():
    r = loads(vs(" real_server 10.0.1.1 80 {\n  TCP_CHECK {\n  }\n }"), path="s.conf")
    assert r.ok
    v = r.config.virtual_servers[0]
    # no protocol: UDP, as keepalived ("no protocol set - defaulting to UDP"), with a warning
    assert [(d.line, "has no protocol" in d.message) for d in r.diagnostics] == [(1, True)]
    assert (v.scheduler, v.forward, v.protocol, v.delay_loop, v.quorum, v.hysteresis) == ("wlc", Forward.NAT, "UDP",
                                                                                        60.0, 1, 0)
    assert (v.persistence_timeout, v.alpha, v.omega, v.smtp_alert) == (None, False, False, False)
    rs = v.real_servers[0]
    assert (rs.weight, rs.forward, rs.inhibit_on_failure, rs.smtp_alert) == (1, Forward.NAT, False, True)
    chk = rs.checkers[0]
    assert (chk.connect_ip, chk.connect_port, chk.connect_timeout, chk.retry, chk.delay_before_retry) == (
        "10.0.1.1", 80, 5.0, 1, 1.0)
    assert (chk.delay_loop, chk.warmup, chk.alpha) == (60.0, None, False)


@pytest.mark.parametrize("kind,body,retry,dbr", [
    ("HTTP_GET", "url {\n path /\n }", 1, 3.0),
    ("SSL_GET", "url {\n path /\n }", 1, 3.0),
    ("TCP_CHECK", "", 1, 1.0),
    ("DNS_CHECK", "", 3, 8.0),              # delay_before_retry defaults to delay_loop
    ("MISC_CHECK", "misc_path /bin/true", 0, 1.0),
    ("SMTP_CHECK", "", 1, 1.0),
    ("UDP_CHECK", "", 1, 1.0),
    ("PING_CHECK", "", 1, 1.0),
])
def test_per_checker_defaults(kind, body, retry, dbr):
    c = ok(vs(f" delay_loop 8\n real_server 10.0.1.1 80 {{\n  {kind} {{\n  {body}\n  }}\n }}"))
    chk = c.virtual_servers[0].real_servers[0].checkers[0]
    assert (chk.kind, chk.retry, chk.delay_before_retry, chk.delay_loop) == (kind, retry, dbr, 8.0)


def test_inheritance_virtual_server_to_real_server_to_checker():
    body = (" delay_loop 10\n connect_timeout 7\n retry 4\n delay_before_retry 6\n warmup 2\n alpha\n"
            " inhibit_on_failure\n virtualhost vs.example\n"
            " real_server 10.0.1.1 80 {\n  retry 5\n  virtualhost rs.example\n"
            "  HTTP_GET {\n   url {\n    path /a\n   }\n   url {\n    path /b\n    virtualhost url.example\n   }\n"
            "   connect_timeout 1\n  }\n  TCP_CHECK {\n   connect_ip 10.0.9.9\n   connect_port 8080\n   alpha off\n  }\n"
            "  MISC_CHECK {\n   misc_path /bin/x\n  }\n }\n"
            " real_server 10.0.1.2 80 {\n  HTTP_GET {\n   url {\n    path /\n   }\n  }\n }")
    v = ok(vs(body)).virtual_servers[0]
    rs1, rs2 = v.real_servers
    assert (rs1.inhibit_on_failure, rs1.alpha, rs1.virtualhost, rs2.virtualhost) == (True, True, "rs.example",
                                                                                     "vs.example")
    http, tcp, misc = rs1.checkers
    assert (http.connect_timeout, http.retry, http.delay_before_retry, http.warmup, http.delay_loop) == (1.0, 5, 6.0,
                                                                                                        2.0, 10.0)
    assert http.virtualhost == "rs.example"
    assert [u.virtualhost for u in http.urls] == ["rs.example", "url.example"]
    assert (tcp.connect_ip, tcp.connect_port, tcp.alpha, tcp.connect_timeout) == ("10.0.9.9", 8080, False, 7.0)
    assert (misc.retry, misc.alpha) == (5, True)          # an explicit retry beats MISC_CHECK's default 0
    (http2,) = rs2.checkers
    assert (http2.retry, http2.virtualhost, http2.urls[0].virtualhost) == (4, "vs.example", "vs.example")


def test_virtual_server_settings():
    body = (" lvs_sched sh\n sh-port\n flag-2\n ops\n lvs_method TUN type gue port 6080 csum\n protocol udp\n"
            " persistence_timeout\n persistence_granularity 255.255.255.0\n persistence_engine sip\n ha_suspend\n"
            " omega\n quorum 2\n hysteresis 1\n quorum_up \"/bin/up.sh VS1\"\n quorum_down /bin/down.sh\n"
            " sorry_server 10.0.2.1 8080\n sorry_server_inhibit\n sorry_server_lvs_method NAT\n smtp_alert\n"
            " real_server 10.0.1.1 80 {\n  weight 3\n  lvs_method DR\n  uthreshold 100\n  lthreshold 10\n"
            "  notify_up /bin/up\n  notify_down \"/bin/down rs1\"\n  smtp_alert off\n }")
    v = ok(vs(body)).virtual_servers[0]
    assert (v.scheduler, v.sched_flags, v.ops, v.forward, v.protocol) == ("sh", ("sh-port", "flag-2"), True,
                                                                          Forward.TUN, "UDP")
    assert (v.persistence_timeout, v.persistence_granularity, v.persistence_engine) == (360, "255.255.255.0", "sip")
    assert (v.ha_suspend, v.omega, v.quorum, v.hysteresis, v.smtp_alert) == (True, True, 2, 1, True)
    assert (v.quorum_up.command, v.quorum_down.command) == ("/bin/up.sh VS1", "/bin/down.sh")
    s = v.sorry_server
    assert (s.address, s.port, s.forward, s.inhibit) == ("10.0.2.1", 8080, Forward.NAT, True)
    rs = v.real_servers[0]
    assert (rs.weight, rs.forward, rs.uthreshold, rs.lthreshold, rs.smtp_alert) == (3, Forward.DR, 100, 10, False)
    assert (rs.notify_up.command, rs.notify_down.command) == ("/bin/up", "/bin/down rs1")


def test_fwmark_and_group_virtual_servers():
    text = ("virtual_server_group G {\n 192.168.200.1-10 80\n 10.0.0.1-10.0.1.2 443\n 10.1.0.8/29\n"
            " 2001:db8::2-a 80\n fwmark 7 inet6\n}\n" + vs(" persistence_timeout 60\n real_server 10.0.1.1 {\n }",
                                                            "fwmark 5")
            + vs(" real_server 192.168.1.1 80 {\n }", "group G"))
    c = ok(text)
    (g,) = c.virtual_server_groups
    e = g.entries
    assert (e[0].first, e[0].last, e[0].port, len(e[0].addresses())) == ("192.168.200.1", "192.168.200.10", 80, 10)
    assert (e[1].first, e[1].last, len(e[1].addresses())) == ("10.0.0.1", "10.0.1.2", 258)
    assert (e[2].first, e[2].last, e[2].port) == ("10.1.0.8", "10.1.0.15", None)
    assert (e[3].first, e[3].last, e[3].family) == ("2001:db8::2", "2001:db8::a", 6)
    assert (e[4].fwmark, e[4].family) == (7, 6)
    fw, grp = c.virtual_servers
    assert (fw.key, fw.fwmark, fw.real_servers[0].port) == ("fwmark 5", 5, None)
    assert (grp.key, grp.group) == ("group G", "G")


def test_udp_file_bfd_dns_smtp_checkers():
    text = ("track_file tf {\n file /tmp/x\n}\nbfd_instance b1 {\n neighbor_ip 10.0.0.9\n}\n"
            + vs(" real_server 10.0.1.1 53 {\n"
                 "  UDP_CHECK {\n   payload Ab12f 3 456 546443123\n   require_reply 01xX ff\n   min_reply_length 2\n"
                 "   max_reply_length 64\n  }\n"
                 "  FILE_CHECK {\n   track_file tf\n   weight -3 reverse\n   dynamic\n  }\n"
                 "  BFD_CHECK {\n   name b1\n  }\n"
                 "  DNS_CHECK {\n   type aaaa\n   name example.org\n  }\n"
                 "  SMTP_CHECK {\n   helo_name \"mx.example.org\"\n  }\n }", "10.0.0.1 53"))
    udp, file_, bfd, dns, smtp = ok(text).virtual_servers[0].real_servers[0].checkers
    assert udp.payload == bytes.fromhex("AB120F0345065464431203")      # the man page's example
    assert (udp.require_reply, udp.reply_pattern, udp.min_reply_length, udp.max_reply_length) == (
        True, "01xxff", 2, 64)
    assert (file_.track_file, file_.weight, file_.reverse, file_.dynamic) == ("tf", -3, True, True)
    assert bfd.name == "b1"
    assert (dns.type, dns.name) == ("AAAA", "example.org")
    assert smtp.helo_name == "mx.example.org"


def test_http_checker_options():
    body = (" real_server 10.0.1.1 443 {\n  SSL_GET {\n   url {\n    path /health\n"
            "    digest 9B3A0C85A887A256D6939DA88AABD8CD\n    status_code 200-204 301\n    regex \"ok|up\"\n"
            "    regex_no_match\n   }\n   http_protocol 1.1\n   enable_sni\n   tls_compliant\n   fast_recovery\n  }\n }")
    chk = ok(vs(body, "10.0.0.1 443")).virtual_servers[0].real_servers[0].checkers[0]
    u = chk.urls[0]
    assert (u.path, u.digest, u.status_codes, u.regex, u.regex_no_match) == (
        "/health", "9b3a0c85a887a256d6939da88aabd8cd", ((200, 204), (301, 301)), "ok|up", True)
    assert (chk.http_protocol, chk.enable_sni, chk.tls_compliant, chk.fast_recovery) == ("1.1", True, True, True)


def test_ssl_block_and_json_masking():
    c = ok("SSL {\n password hunter2\n ca /etc/ca.pem\n certificate /etc/c.pem\n key /etc/k.pem\n}\n")
    assert (c.ssl.password, c.ssl.ca, c.ssl.certificate, c.ssl.key) == ("hunter2", "/etc/ca.pem", "/etc/c.pem",
                                                                       "/etc/k.pem")
    dumped = json.dumps(to_jsonable(c))
    assert "hunter2" not in dumped and MASK in dumped and "/etc/k.pem" in dumped


def test_global_defs_values():
    text = ("global_defs {\n router_id lb1\n notification_email {\n  a@example.org \"Ops <ops@example.org>\"\n"
            "  b@example.org\n }\n smtp_server mail.example.org 2525\n smtp_helo_name lb1.example.org\n"
            " smtp_connect_timeout 12\n smtp_alert yes\n smtp_alert_checker no\n vrrp_strict\n"
            " vrrp_skip_check_adv_addr\n vrrp_check_unicast_src\n script_user keepalived_script kgroup\n"
            " enable_script_security\n dynamic_interfaces allow_if_changes\n}\n")
    g = ok(text).global_defs
    assert g.notification_email == ("a@example.org", "Ops <ops@example.org>", "b@example.org")
    assert (g.router_id, g.smtp_server, g.smtp_port, g.smtp_helo_name, g.smtp_connect_timeout) == (
        "lb1", "mail.example.org", 2525, "lb1.example.org", 12.0)
    assert (g.smtp_alert, g.smtp_alert_checker, g.vrrp_strict, g.vrrp_skip_check_adv_addr) == (True, False, True, True)
    assert (g.vrrp_check_unicast_src, g.script_user, g.script_group, g.enable_script_security,
            g.dynamic_interfaces) == (True, "keepalived_script", "kgroup", True, True)


def test_auth_hmac(tmp_path):
    keyfile = tmp_path / "k2"
    keyfile.write_text("hex:" + "ab" * 40 + "\n")
    text = vi(" auth_hmac {\n  key 1 hex:" + "00" * 32 + "\n  key 2 file:k2\n  active_key 2\n"
              "  anti_replay monotonic\n  mode permissive\n }", vips="10.0.0.1")
    r = loads(text, path=str(tmp_path / "k.conf"))
    # refused (vipdeck would send adverts without the trailer: a peer enforcing it sees two masters), but read
    assert [(d.line, d.code) for d in r.diagnostics] == [(7, "refused")], [str(d) for d in r.diagnostics]
    h = r.config.instance("V").auth_hmac
    assert [(k.id, len(k.secret)) for k in h.keys] == [(1, 32), (2, 40)]
    assert h.key(2).secret == b"\xab" * 40 and h.key(2).source == f"file:{tmp_path / 'k2'}"
    assert (h.active_key, h.anti_replay, h.mode, h.time_window) == (2, "monotonic", "permissive", 5.0)
    dumped = json.dumps(to_jsonable(r.config))
    assert "abab" not in dumped and "0000000000" not in dumped
    # a single key is the active one; the window defaults to max(3 x advert_int, 5)
    one = loads(vi(" version 3\n advert_int 4\n auth_hmac {\n  key 9 " + "k" * 32 + "\n }")).config.instance("V").auth_hmac
    assert (one.active_key, one.time_window, one.key(9).secret) == (9, 12.0, b"k" * 32)


def test_auth_hmac_errors():
    both = loads(vi(" auth_hmac {\n  key 1 " + "k" * 32 + "\n }\n authentication {\n  auth_type PASS\n"
                    "  auth_pass x\n }"), path="h.conf")
    assert [(d.line, "cannot be used together" in d.message) for d in both.errors if d.code != "refused"] == [
        (7, True)]
    r = loads(vi(" auth_hmac {\n  key 1 tooshort\n  key 2 hex:zz\n  key 3 file:/nonexistent/vipdeck\n }\n"
                 " authentication {\n  auth_type PASS\n  auth_pass x\n }"), path="h.conf")
    lines = [(d.line, d.message) for d in r.errors if d.code != "refused"]
    assert [n for n, _ in lines] == [7, 8, 9, 10]
    assert "no valid key" in lines[0][1]
    assert "is 8 bytes" in lines[1][1] and "hexadecimal" in lines[2][1] and "cannot read" in lines[3][1]
    assert "tooshort" not in " ".join(str(d) for d in r.diagnostics)


def test_route_and_rule_specs_keep_ip_syntax():
    c = ok("static_routes {\n inet6 default via fe80::1 dev eth0\n unreachable inet6 2001:db8::/32\n"
           " src 10.0.0.1 to 10.9.0.0/16 via inet 10.0.0.254 table 7\n"
           " 10.8.0.0/16 table 9 nexthop via 10.0.0.1 dev eth0 weight 1 nexthop via 10.0.0.2 dev eth0 weight 2\n}\n"
           "static_rules {\n from all to 10.0.0.0/8 table 2 preference 100\n}\n"
           "static_ipaddress {\n 10.0.0.5/24 dev eth0 scope link track_group G1\n}\n")
    assert [s.words[0] for s in c.static_routes] == ["inet6", "unreachable", "src", "10.8.0.0/16"]
    assert c.static_rules[0].words[:4] == ("from", "all", "to", "10.0.0.0/8")
    (ip,) = c.static_ipaddresses
    assert (str(ip), ip.dev, ip.scope) == ("10.0.0.5/24", "eth0", "link")


def test_a_reload_after_moving_lines_keeps_every_instance(tmp_path):
    """Where a block stands is not what it means: comments or blank lines
    added above an instance must not restart it (a restart is a failover)."""
    from vipdeck.engine.reload import plan

    text = vi("interface eth0\nvirtual_router_id 51\npriority 100", name="VI_1") + vs(
        "lb_algo rr\nreal_server 10.0.0.2 80 {\n TCP_CHECK {\n connect_timeout 3\n }\n}")
    before = ok(text)
    after = ok("# maintenance window notes\n\n\n" + text)
    inst_b, inst_a = before.vrrp_instances[0], after.vrrp_instances[0]
    assert inst_b.loc.line != inst_a.loc.line
    assert inst_b == inst_a and hash(inst_b) == hash(inst_a)
    assert before.virtual_servers[0] == after.virtual_servers[0]
    assert plan(before, after) == (["VI_1"], [], [])
    changed = ok(text.replace("priority 100", "priority 101"))
    assert plan(before, changed) == ([], ["VI_1"], [])
