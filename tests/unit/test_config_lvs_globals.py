"""The LVS settings the kernel layer supports, as the parser reads them:
lvs_sync_daemon (and the old per-instance form), lvs_timeouts, lvs_flush,
lvs_flush_on_stop, uthreshold/lthreshold and lvs_method TUN's options, with
keepalived's defaults, inheritance and complaints."""

from __future__ import annotations

from vipdeck.engine.check.quorum import Destination
from vipdeck.engine.config import loads
from vipdeck.engine.config.model import Forward, LvsSyncDaemon, Tunnel
from vipdeck.engine.lvs import _dest_options


def parse(text: str):
    return loads(text, path="l.conf")


def ok(text: str):
    r = parse(text)
    assert r.ok and not r.warnings, [str(d) for d in r.diagnostics]
    return r.config


def vi(name: str = "VI_1", vrid: int = 51, body: str = "") -> str:
    return (f"vrrp_instance {name} {{\n interface eth0\n virtual_router_id {vrid}\n virtual_ipaddress {{\n"
            f"  198.18.0.100\n }}\n{body}}}\n")


def gd(*lines: str) -> str:
    return "global_defs {\n" + "".join(f" {line}\n" for line in lines) + "}\n"


# --------------------------------------------------------------------------- lvs_sync_daemon


def test_sync_daemon_with_every_option():
    c = ok(gd("lvs_sync_daemon eth1 inst VI_1 id 5 maxlen 1400 port 8850 ttl 2 group 224.0.0.82") + vi())
    assert c.global_defs.lvs_sync_daemon == LvsSyncDaemon(interface="eth1", instance="VI_1", syncid=5, maxlen=1400,
                                                          port=8850, ttl=2, group="224.0.0.82")
    assert c.global_defs.lvs_sync_daemon.loc.line == 2


def test_sync_id_is_the_vrid_of_the_instance_or_0_without_one():
    assert ok(gd("lvs_sync_daemon eth1 VI_1") + vi(vrid=42)).global_defs.lvs_sync_daemon.syncid == 42
    both = ok(gd("lvs_sync_daemon eth1") + vi()).global_defs.lvs_sync_daemon
    assert (both.instance, both.syncid, both.maxlen, both.group) == (None, 0, None, None)


def test_the_old_positional_sync_id_is_read_with_a_note():
    r = parse(gd("lvs_sync_daemon eth1 VI_1 9") + vi())
    assert r.ok and r.config.global_defs.lvs_sync_daemon.syncid == 9
    assert [(d.line, d.severity) for d in r.diagnostics] == [(2, "note")]
    assert "write the sync id as 'id N'" in r.diagnostics[0].message


def test_the_per_instance_form_names_its_own_instance():
    r = parse(vi(vrid=61, body=" lvs_sync_daemon_interface eth2\n"))
    assert r.ok
    assert r.config.global_defs.lvs_sync_daemon == LvsSyncDaemon(interface="eth2", instance="VI_1", syncid=61)
    assert [d.severity for d in r.diagnostics] == ["note"]          # deprecated, as keepalived says


def test_a_global_sync_daemon_wins_over_the_per_instance_form():
    r = parse(gd("lvs_sync_daemon eth1 VI_1") + vi(body=" lvs_sync_daemon_interface eth2\n"))
    assert r.config.global_defs.lvs_sync_daemon.interface == "eth1"
    (w,) = r.warnings
    assert w.line == 10 and "lvs_sync_daemon_interface in vrrp_instance VI_1 is ignored" in w.message


def test_a_second_sync_daemon_is_ignored_like_keepalived():
    r = parse(gd("lvs_sync_daemon eth1 VI_1", "lvs_sync_daemon eth3 VI_1") + vi())
    assert r.config.global_defs.lvs_sync_daemon.interface == "eth1"
    (w,) = r.warnings
    assert w.line == 3 and "already set (at l.conf:2)" in w.message


def test_sync_daemon_mistakes_are_errors_at_their_word():
    cases = {
        "lvs_sync_daemon eth1 NOPE": (2, "no vrrp_instance named 'NOPE'"),
        "lvs_sync_daemon eth1 VI_1 group 198.18.0.1": (2, "lvs_sync_daemon group 198.18.0.1 is not a multicast"),
        "lvs_sync_daemon eth1 VI_1 ttl 0": (2, "lvs_sync_daemon ttl 0 is outside 1-255"),
        "lvs_sync_daemon eth1 VI_1 id 256": (2, "lvs_sync_daemon id 256 is outside 0-255"),
        "lvs_sync_daemon eth1 VI_1 maxlen 65508": (2, "lvs_sync_daemon maxlen 65508 is outside 1-65507"),
        "lvs_sync_daemon eth1 VI_1 port": (2, "lvs_sync_daemon 'port' needs a value"),
        "lvs_sync_daemon eth1 VI_1 7 frobnicate": (2, "'frobnicate' is not an lvs_sync_daemon option"),
        "lvs_sync_daemon a-very-long-ifname": (2, "longer than 15 characters"),
        "lvs_sync_daemon": (2, "'lvs_sync_daemon' needs an interface"),
    }
    for line, (lineno, text) in cases.items():
        r = parse(gd(line) + vi())
        assert [(e.line, text in e.message) for e in r.errors] == [(lineno, True)], (line, [str(d) for d in r.errors])


# --------------------------------------------------------------------------- timeouts and flushes


def test_lvs_timeouts_leave_unset_ones_alone():
    g = ok(gd("lvs_timeouts tcp 600 udp 60")).global_defs
    assert (g.lvs_timeouts.tcp, g.lvs_timeouts.tcpfin, g.lvs_timeouts.udp) == (600, None, 60)
    assert ok("").global_defs.lvs_timeouts is None
    # 0 leaves that one alone, as keepalived reads it
    zero = ok(gd("lvs_timeouts tcp 0 tcpfin 20")).global_defs.lvs_timeouts
    assert (zero.tcp, zero.tcpfin, zero.udp) == (None, 20, None)
    assert ok(gd("lvs_timeouts tcp 0")).global_defs.lvs_timeouts is None


def test_lvs_timeouts_mistakes():
    for line, text in (("lvs_timeouts", "needs at least one of tcp SECS"),
                       ("lvs_timeouts tcp", "needs at least one"),
                       ("lvs_timeouts tcp 10 udp", "lvs_timeouts 'udp' needs a number of seconds"),
                       ("lvs_timeouts tcp -1", "lvs_timeouts tcp -1 is outside 0-2678400"),
                       ("lvs_timeouts tcp 10 sctp 5", "'sctp' is not an lvs_timeouts option")):
        r = parse(gd(line))
        assert [text in e.message for e in r.errors] == [True], (line, [str(d) for d in r.diagnostics])


def test_flush_at_start_and_at_stop():
    g = ok(gd("lvs_flush", "lvs_flush_on_stop")).global_defs
    assert (g.lvs_flush, g.lvs_flush_on_stop) == (True, "full")
    assert ok(gd("lvs_flush_on_stop VS")).global_defs.lvs_flush_on_stop == "VS"
    plain = ok("").global_defs
    assert (plain.lvs_flush, plain.lvs_flush_on_stop) == (False, None)
    old = parse(gd("lvs_flush_onstop"))
    assert old.ok and old.config.global_defs.lvs_flush_on_stop == "full"
    assert [d.severity for d in old.diagnostics] == ["note"]
    bad = parse(gd("lvs_flush_on_stop RS"))
    assert [e.line for e in bad.errors] == [2] and "is not 'VS'" in bad.errors[0].message


def test_the_data_dump_shows_them_like_keepalived():
    from vipdeck.engine.dumps.data import global_lines
    from vipdeck.engine.dumps.facts import Facts

    c = ok(gd("lvs_sync_daemon eth1 VI_1 maxlen 1400 group 224.0.0.82", "lvs_timeouts tcp 600 udp 60",
              "lvs_flush", "lvs_flush_on_stop VS") + vi())
    lines = global_lines(c, Facts(), vrrp=True)
    assert [line for line in lines if "LVS" in line] == [
        " LVS TCP timeout = 600", " LVS TCP timeout = 60",       # keepalived 2.2.7's label for udp
        " LVS syncd vrrp instance = VI_1", " LVS syncd interface = eth1", " LVS syncd syncid = 51",
        " LVS syncd maxlen = 1400", " LVS mcast group 224.0.0.82", " LVS flush = true", " LVS flush on stop = VS"]


# --------------------------------------------------------------------------- real servers


def vs(body: str) -> str:
    return f"virtual_server 198.18.0.100 80 {{\n protocol TCP\n{body}}}\n"


def test_tunnel_options_and_their_inheritance():
    c = ok(vs(" lvs_method TUN type gue port 6080 csum\n"
              " real_server 198.18.0.21 80 {\n }\n"
              " real_server 198.18.0.22 80 {\n  lvs_method TUN type gre nocsum\n }\n"
              " real_server 198.18.0.23 80 {\n  lvs_method TUN\n }\n"
              " real_server 198.18.0.24 80 {\n  lvs_method NAT\n }\n"))
    v = c.virtual_servers[0]
    assert v.tunnel == Tunnel(type="gue", port=6080, csum="csum")
    assert [(r.forward, r.tunnel) for r in v.real_servers] == [
        (Forward.TUN, Tunnel(type="gue", port=6080, csum="csum")),      # the virtual server's, whole
        (Forward.TUN, Tunnel(type="gre", port=0, csum="nocsum")),       # its own line, whole
        (Forward.TUN, None),                                             # plain IPIP
        (Forward.NAT, None)]


def test_the_sorry_server_takes_its_own_method_or_the_virtual_servers():
    own = ok(vs(" lvs_method DR\n sorry_server 198.18.0.30 80\n sorry_server_lvs_method TUN type gre csum\n"
                " real_server 198.18.0.21 80 {\n }\n")).virtual_servers[0].sorry_server
    assert (own.forward, own.tunnel) == (Forward.TUN, Tunnel(type="gre", csum="csum"))
    inherited = ok(vs(" lvs_method TUN type gue port 7000\n sorry_server 198.18.0.30 80\n"
                      " real_server 198.18.0.21 80 {\n }\n")).virtual_servers[0].sorry_server
    assert (inherited.forward, inherited.tunnel) == (Forward.TUN, Tunnel(type="gue", port=7000))


def test_tunnel_option_mistakes_follow_keepalived():
    cases = {
        "lvs_method TUN type gue": "type gue needs 'port N'",
        "lvs_method TUN type gre port 6080": "only gue tunnels take a port",
        "lvs_method TUN port 6080": "only gue tunnels take a port",
        "lvs_method TUN type ipip csum": "ipip tunnels take no checksum option",
        "lvs_method TUN csum": "ipip tunnels take no checksum option",
        "lvs_method TUN type gre remcsum": "gre tunnels do not support remcsum",
        "lvs_method TUN type vxlan": "tunnel type 'vxlan' is not one of ipip|gue|gre",
        "lvs_method TUN type gue port 0": "gue tunnel port '0' is not a valid port",
        "lvs_method TUN type": "'type' needs a value",
        "lvs_method TUN fast": "'fast' is not a tunnel option",
    }
    for line, text in cases.items():
        r = parse(vs(f" {line}\n real_server 198.18.0.21 80 {{\n }}\n"))
        assert any(text in e.message for e in r.errors), (line, [str(d) for d in r.diagnostics])
        assert all(e.line == 3 for e in r.errors), (line, [str(d) for d in r.errors])


def test_thresholds_and_tunnels_reach_the_ipvs_destination():
    c = ok(vs(" lvs_method TUN type gue port 6080 remcsum\n sorry_server 198.18.0.30 80\n"
              " real_server 198.18.0.21 80 {\n  uthreshold 4000000000\n  lthreshold 10\n }\n"
              " real_server 198.18.0.22 80 {\n  lvs_method DR\n }\n"))
    v = c.virtual_servers[0]
    assert _dest_options(v, Destination("198.18.0.21", 80, 1, Forward.TUN)) == {
        "u_threshold": 4000000000, "l_threshold": 10, "tunnel_type": "gue", "tunnel_port": 6080, "tunnel_flags": 2}
    assert _dest_options(v, Destination("198.18.0.22", 80, 1, Forward.DR)) == {"u_threshold": 0, "l_threshold": 0}
    # a real server written without a port (a fwmark service) is found too
    fwm = ok("virtual_server fwmark 5 {\n real_server 198.18.0.23 {\n  uthreshold 7\n }\n}\n").virtual_servers[0]
    assert _dest_options(fwm, Destination("198.18.0.23", 0, 1, Forward.NAT)) == {"u_threshold": 7, "l_threshold": 0}
    assert _dest_options(v, Destination("198.18.0.30", 80, 1000000, Forward.TUN, sorry=True)) == {
        "tunnel_type": "gue", "tunnel_port": 6080, "tunnel_flags": 2}


def test_a_sync_daemon_interface_this_host_lacks_is_a_host_warning():
    from vipdeck.engine.config.hostcheck import check

    c = ok(gd("lvs_sync_daemon vipdeck-none5 VI_1") + vi())
    (w,) = [d for d in check(c, interfaces={"lo", "eth0"})]
    assert (w.line, w.code) == (2, "host") and "interface 'vipdeck-none5' of lvs_sync_daemon" in w.message
    assert not check(c, interfaces={"eth0", "vipdeck-none5"})
