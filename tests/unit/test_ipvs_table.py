"""ipvsadm text from model objects, compared with text the real ipvsadm printed.

The golden listings below were printed by ipvsadm 1.31 inside user-mode Linux
for the kernel state ``tests/uml/guest/guest_ipvs.py::EVERYTHING`` programs
(the guest suite re-checks the same equality live, with traffic).  Trailing
spaces are part of ipvsadm's output.
"""

from __future__ import annotations

import pytest

from vipdeck.engine.ipvs.model import (
    Dest,
    DestStatus,
    Service,
    ServiceKey,
    ServiceStatus,
    Snapshot,
    Stats,
)
from vipdeck.engine.ipvs.names import system_service as _system_service
from vipdeck.engine.ipvs.table import Resolver, largenum, render, sort_services
from tests.uml.guest.guest_ipvs import EVERYTHING

# ipvsadm -ln
LIST = (
    'IP Virtual Server version 1.2.1 (size=4096)\n'
    'Prot LocalAddress:Port Scheduler Flags\n'
    '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n'
    'FWM  -1294967296 rr\n'
    'TCP  198.19.0.100:80 rr\n'
    '  -> 198.18.0.21:80               Masq    1      0          0         \n'
    '  -> 198.18.0.22:80               Masq    3      0          0         \n'
    'TCP  198.19.0.101:80 wrr\n'
    '  -> 198.18.0.21:80               Route   1      0          0         \n'
    '  -> 198.18.0.22:80               Route   2      0          0         \n'
    'UDP  198.19.0.100:53 wlc ops\n'
    '  -> 198.18.0.21:53               Masq    5      0          0         \n'
    'UDP  198.19.0.102:5060 rr persistent 60 pe sip\n'
    '  -> 198.18.0.21:5060             Masq    1      0          0         \n'
    'SCTP 198.19.0.103:9 rr (flag-1,flag-3)\n'
    '  -> 198.18.0.25:9                Masq    0      0          0         \n'
    'TCP  [2001:db8::100]:443 mh (mh-fallback,mh-port) persistent 30 mask 64\n'
    '  -> [2001:db8::21]:443           Masq    1      0          0         \n'
    'FWM  5 sh (sh-port) persistent 300 mask 255.255.255.0\n'
    '  -> 198.18.0.23:0                Route   1      0          0         \n'
    '  -> 198.18.0.24:0                Tunnel  1      0          0         \n'
    'FWM  7 IPv6 lc\n'
)

# ipvsadm -ln --stats
STATS = (
    'IP Virtual Server version 1.2.1 (size=4096)\n'
    'Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes\n'
    '  -> RemoteAddress:Port\n'
    'FWM  -1294967296                         0        0        0        0        0\n'
    'TCP  198.19.0.100:80                     0        0        0        0        0\n'
    '  -> 198.18.0.21:80                      0        0        0        0        0\n'
    '  -> 198.18.0.22:80                      0        0        0        0        0\n'
    'TCP  198.19.0.101:80                     0        0        0        0        0\n'
    '  -> 198.18.0.21:80                      0        0        0        0        0\n'
    '  -> 198.18.0.22:80                      0        0        0        0        0\n'
    'UDP  198.19.0.100:53                     0        0        0        0        0\n'
    '  -> 198.18.0.21:53                      0        0        0        0        0\n'
    'UDP  198.19.0.102:5060                   0        0        0        0        0\n'
    '  -> 198.18.0.21:5060                    0        0        0        0        0\n'
    'SCTP 198.19.0.103:9                      0        0        0        0        0\n'
    '  -> 198.18.0.25:9                       0        0        0        0        0\n'
    'TCP  [2001:db8::100]:443                 0        0        0        0        0\n'
    '  -> [2001:db8::21]:443                  0        0        0        0        0\n'
    'FWM  5                                   0        0        0        0        0\n'
    '  -> 198.18.0.23:0                       0        0        0        0        0\n'
    '  -> 198.18.0.24:0                       0        0        0        0        0\n'
    'FWM  7 IPv6                              0        0        0        0        0\n'
)

# ipvsadm -ln --rate
RATE = (
    'IP Virtual Server version 1.2.1 (size=4096)\n'
    'Prot LocalAddress:Port                 CPS    InPPS   OutPPS    InBPS   OutBPS\n'
    '  -> RemoteAddress:Port\n'
    'FWM  -1294967296                         0        0        0        0        0\n'
    'TCP  198.19.0.100:80                     0        0        0        0        0\n'
    '  -> 198.18.0.21:80                      0        0        0        0        0\n'
    '  -> 198.18.0.22:80                      0        0        0        0        0\n'
    'TCP  198.19.0.101:80                     0        0        0        0        0\n'
    '  -> 198.18.0.21:80                      0        0        0        0        0\n'
    '  -> 198.18.0.22:80                      0        0        0        0        0\n'
    'UDP  198.19.0.100:53                     0        0        0        0        0\n'
    '  -> 198.18.0.21:53                      0        0        0        0        0\n'
    'UDP  198.19.0.102:5060                   0        0        0        0        0\n'
    '  -> 198.18.0.21:5060                    0        0        0        0        0\n'
    'SCTP 198.19.0.103:9                      0        0        0        0        0\n'
    '  -> 198.18.0.25:9                       0        0        0        0        0\n'
    'TCP  [2001:db8::100]:443                 0        0        0        0        0\n'
    '  -> [2001:db8::21]:443                  0        0        0        0        0\n'
    'FWM  5                                   0        0        0        0        0\n'
    '  -> 198.18.0.23:0                       0        0        0        0        0\n'
    '  -> 198.18.0.24:0                       0        0        0        0        0\n'
    'FWM  7 IPv6                              0        0        0        0        0\n'
)

# ipvsadm -ln --thresholds
THRESHOLDS = (
    'IP Virtual Server version 1.2.1 (size=4096)\n'
    'Prot LocalAddress:Port            Uthreshold Lthreshold ActiveConn InActConn \n'
    '  -> RemoteAddress:Port\n'
    'FWM  -1294967296 rr\n'
    'TCP  198.19.0.100:80 rr\n'
    '  -> 198.18.0.21:80               0          0          0          0         \n'
    '  -> 198.18.0.22:80               100        10         0          0         \n'
    'TCP  198.19.0.101:80 wrr\n'
    '  -> 198.18.0.21:80               0          0          0          0         \n'
    '  -> 198.18.0.22:80               0          0          0          0         \n'
    'UDP  198.19.0.100:53 wlc ops\n'
    '  -> 198.18.0.21:53               0          0          0          0         \n'
    'UDP  198.19.0.102:5060 rr persistent 60 pe sip\n'
    '  -> 198.18.0.21:5060             0          0          0          0         \n'
    'SCTP 198.19.0.103:9 rr (flag-1,flag-3)\n'
    '  -> 198.18.0.25:9                0          0          0          0         \n'
    'TCP  [2001:db8::100]:443 mh (mh-fallback,mh-port) persistent 30 mask 64\n'
    '  -> [2001:db8::21]:443           0          0          0          0         \n'
    'FWM  5 sh (sh-port) persistent 300 mask 255.255.255.0\n'
    '  -> 198.18.0.23:0                0          0          0          0         \n'
    '  -> 198.18.0.24:0                0          0          0          0         \n'
    'FWM  7 IPv6 lc\n'
)

# ipvsadm -ln --persistent-conn
PERSISTENT_CONN = (
    'IP Virtual Server version 1.2.1 (size=4096)\n'
    'Prot LocalAddress:Port            Weight    PersistConn ActiveConn InActConn \n'
    '  -> RemoteAddress:Port\n'
    'FWM  -1294967296 rr\n'
    'TCP  198.19.0.100:80 rr\n'
    '  -> 198.18.0.21:80               1         0           0          0         \n'
    '  -> 198.18.0.22:80               3         0           0          0         \n'
    'TCP  198.19.0.101:80 wrr\n'
    '  -> 198.18.0.21:80               1         0           0          0         \n'
    '  -> 198.18.0.22:80               2         0           0          0         \n'
    'UDP  198.19.0.100:53 wlc ops\n'
    '  -> 198.18.0.21:53               5         0           0          0         \n'
    'UDP  198.19.0.102:5060 rr persistent 60 pe sip\n'
    '  -> 198.18.0.21:5060             1         0           0          0         \n'
    'SCTP 198.19.0.103:9 rr (flag-1,flag-3)\n'
    '  -> 198.18.0.25:9                0         0           0          0         \n'
    'TCP  [2001:db8::100]:443 mh (mh-fallback,mh-port) persistent 30 mask 64\n'
    '  -> [2001:db8::21]:443           1         0           0          0         \n'
    'FWM  5 sh (sh-port) persistent 300 mask 255.255.255.0\n'
    '  -> 198.18.0.23:0                1         0           0          0         \n'
    '  -> 198.18.0.24:0                1         0           0          0         \n'
    'FWM  7 IPv6 lc\n'
)

# ipvsadm -l
NAMES = (
    'IP Virtual Server version 1.2.1 (size=4096)\n'
    'Prot LocalAddress:Port Scheduler Flags\n'
    '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n'
    'FWM  -1294967296 rr\n'
    'TCP  198.19.0.100:http rr\n'
    '  -> 198.18.0.21:http             Masq    1      0          0         \n'
    '  -> 198.18.0.22:http             Masq    3      0          0         \n'
    'TCP  198.19.0.101:http wrr\n'
    '  -> 198.18.0.21:http             Route   1      0          0         \n'
    '  -> 198.18.0.22:http             Route   2      0          0         \n'
    'UDP  198.19.0.100:domain wlc ops\n'
    '  -> 198.18.0.21:domain           Masq    5      0          0         \n'
    'UDP  198.19.0.102:sip rr persistent 60 pe sip\n'
    '  -> 198.18.0.21:sip              Masq    1      0          0         \n'
    'SCTP 198.19.0.103:9 rr (flag-1,flag-3)\n'
    '  -> 198.18.0.25:9                Masq    0      0          0         \n'
    'TCP  [2001:db8::100]:https mh (mh-fallback,mh-port) persistent 30 mask 64\n'
    '  -> [2001:db8::21]:https         Masq    1      0          0         \n'
    'FWM  5 sh (sh-port) persistent 300 mask 255.255.255.0\n'
    '  -> 198.18.0.23:0                Route   1      0          0         \n'
    '  -> 198.18.0.24:0                Tunnel  1      0          0         \n'
    'FWM  7 IPv6 lc\n'
)

def snapshot_of(services) -> Snapshot:
    return Snapshot(tuple(ServiceStatus(vs.service, tuple(DestStatus(d) for d in vs.dests))
                          for vs in services))


NO_HOSTS = Resolver(host=lambda addr: None, service=_system_service)


@pytest.mark.parametrize("mode,expected", [
    ("list", LIST), ("stats", STATS), ("rate", RATE),
    ("thresholds", THRESHOLDS), ("persistent-conn", PERSISTENT_CONN),
])
def test_listings_match_ipvsadm_byte_for_byte(mode, expected):
    assert render(snapshot_of(EVERYTHING), mode) == expected


def test_exact_numbers_are_the_same_when_small():
    assert render(snapshot_of(EVERYTHING), "stats", exact=True) == STATS


def test_names_listing_matches_ipvsadm_dash_l():
    # hosts do not resolve in the guest; ports do, from /etc/services (TCP/UDP only)
    assert render(snapshot_of(EVERYTHING), numeric=False, resolver=NO_HOSTS) == NAMES


def test_seed_notes_layout(shared_dir):
    """The seed's `ipvsadm -ln` (its spacing collapsed by copy-paste) from the same model."""
    def dr(addr):
        return Dest(addr, 80, 1, "route")
    services = [
        ServiceStatus(Service(ServiceKey.of("TCP", vip, 80), "wrr"),
                      tuple(DestStatus(dr(a)) for a in ("192.168.1.203", "192.168.1.202")))
        for vip in ("192.168.1.198", "192.168.1.197")
    ]
    ours = render(Snapshot(tuple(services)))
    assert ours == (
        "IP Virtual Server version 1.2.1 (size=4096)\n"
        "Prot LocalAddress:Port Scheduler Flags\n"
        "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n"
        "TCP  192.168.1.197:80 wrr\n"
        "  -> 192.168.1.202:80             Route   1      0          0         \n"
        "  -> 192.168.1.203:80             Route   1      0          0         \n"
        "TCP  192.168.1.198:80 wrr\n"
        "  -> 192.168.1.202:80             Route   1      0          0         \n"
        "  -> 192.168.1.203:80             Route   1      0          0         \n"
    )
    notes = (shared_dir / "seed" / "keepalived-lvs-notes.txt").read_text().splitlines()
    start = notes.index("[root@node1 keepalived]# ipvsadm -ln") + 1
    seed_block = notes[start:start + 9]
    assert [" ".join(line.split()) for line in ours.splitlines()] == seed_block


def test_sort_reads_unsigned_differences_as_int():
    """ipvsadm: 10.0.0.1 - 192.168.1.1 wraps to a positive int, so 10.x sorts last."""
    a = ServiceStatus(Service(ServiceKey.of("TCP", "10.0.0.1", 80)))
    b = ServiceStatus(Service(ServiceKey.of("TCP", "192.168.1.1", 80)))
    c = ServiceStatus(Service(ServiceKey.of("TCP", "172.16.0.1", 80)))
    assert [s.key.address for s in sort_services([a, b, c])] == ["172.16.0.1", "192.168.1.1", "10.0.0.1"]
    tcp, udp = (ServiceStatus(Service(ServiceKey.of(p, "198.18.0.1", 80))) for p in ("UDP", "TCP"))
    assert [s.key.protocol for s in sort_services([tcp, udp])] == ["TCP", "UDP"]


@pytest.mark.parametrize("value,text", [
    (0, "        0"),
    (99_999_999, " 99999999"),
    (100_000_000, "  100000K"),
    (999_999_999, "  999999K"),
    (1_000_000_000, "    1000M"),
    (99_999_999_999, "   99999M"),
    (100_000_000_000, "     100G"),
    (100_000_000_000_000, "     100T"),
])
def test_largenum_abbreviates_like_ipvsadm(value, text):
    assert largenum(value) == text


def test_largenum_exact_widens_the_column():
    assert largenum(123, exact=True) == "      123"
    assert largenum(12_345_678_901, exact=True) == " 12345678901"


def test_counters_and_rates_columns():
    stats = Stats(conns=5, inpkts=31, outpkts=27, inbytes=2_055, outbytes=123_456_789_012,
                  cps=1, inpps=4, outpps=3, inbps=215, outbps=2_500_000_000)
    svc = ServiceStatus(Service(ServiceKey.of("TCP", "198.19.0.100", 80), "rr"),
                        (DestStatus(Dest("198.18.0.21", 80, 1, "masq"), 1, 2, 0, stats),), stats)
    out = render(Snapshot((svc,)), "stats").splitlines()
    assert out[3] == "TCP  198.19.0.100:80                     5       31       27     2055     123G"
    assert out[4] == "  -> 198.18.0.21:80                      5       31       27     2055     123G"
    out = render(Snapshot((svc,)), "rate").splitlines()
    assert out[3] == "TCP  198.19.0.100:80                     1        4        3      215    2500M"
    assert out[4] == "  -> 198.18.0.21:80                      1        4        3      215    2500M"
    assert render(Snapshot((svc,))).splitlines()[4] == \
        "  -> 198.18.0.21:80               Masq    1      1          2         "


def test_long_names_are_cut_like_ipvsadm():
    long_host = "a-very-long-host-name.example.internal"
    resolver = Resolver(host=lambda a: long_host, service=lambda p, proto: "http")
    svc = ServiceStatus(Service(ServiceKey.of("TCP", "198.19.0.100", 80), "rr"),
                        (DestStatus(Dest("198.18.0.21", 80, 1, "route")),))
    lines = render(Snapshot((svc,)), numeric=False, resolver=resolver).splitlines()
    assert lines[3] == ("TCP  " + long_host + ":http")[:33] + " rr"
    assert lines[4].startswith("  -> " + (long_host + ":http")[:28] + " Route")
    v6 = ServiceStatus(Service(ServiceKey.of("TCP", "2001:db8:aaaa:bbbb:cccc:dddd:eeee:100", 443), "rr"))
    assert render(Snapshot((v6,))).splitlines()[3] == "TCP  [2001:db8:aaaa:bbbb:cccc:dddd:eeee:100]:443 rr"


def test_extra_column_hook_appends_to_dest_lines():
    from vipdeck.cli.ipvs import checks_column

    svc = ServiceStatus(Service(ServiceKey.of("TCP", "198.19.0.100", 80), "rr"),
                        (DestStatus(Dest("198.18.0.21", 80, 1, "masq")), DestStatus(Dest("198.18.0.22", 80))))
    summaries = {(svc.key, svc.dests[0].key): "UP HTTP_GET 200"}
    lines = render(Snapshot((svc,)), extra=checks_column(summaries)).splitlines()
    assert lines[3] == "TCP  198.19.0.100:80 rr"
    assert lines[4].endswith("0         " + "  UP HTTP_GET 200")
    assert lines[5].endswith("  -")


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="mode"):
        render(Snapshot(), "json")


# ipvsadm 1.31 -ln --tun-info, printed in the guest for these destinations
TUNNELS = (
    Dest("198.18.0.5", 80, 1, "tunnel", tunnel_type="gue", tunnel_port=6080, tunnel_flags=1),
    Dest("198.18.0.6", 80, 1, "tunnel", tunnel_type="gre", tunnel_flags=0),
    Dest("198.18.0.7", 80, 1, "tunnel", tunnel_type="gue", tunnel_port=6081, tunnel_flags=2),
    Dest("198.18.0.8", 80, 1, "tunnel"),
    Dest("198.18.0.9", 80, 1, "masq"),
    Dest("198.18.0.10", 80, 1, "tunnel", tunnel_type="gre", tunnel_flags=1),
)
TUN_INFO = (
    'IP Virtual Server version 1.2.1 (size=4096)\n'
    'Prot LocalAddress:Port Scheduler Flags\n'
    '  -> RemoteAddress:Port           Forward TunnelInfo    Weight ActiveConn InActConn\n'
    'TCP  198.18.0.1:80 rr\n'
    '  -> 198.18.0.5:80                Tunnel  gue:6080:+c   1      0          0         \n'
    '  -> 198.18.0.6:80                Tunnel  gre:-c        1      0          0         \n'
    '  -> 198.18.0.7:80                Tunnel  gue:6081:r+c  1      0          0         \n'
    '  -> 198.18.0.8:80                Tunnel  ipip          1      0          0         \n'
    '  -> 198.18.0.9:80                Masq    n/a           1      0          0         \n'
    '  -> 198.18.0.10:80               Tunnel  gre:+c        1      0          0         \n'
)


def test_tun_info_matches_ipvsadm():
    svc = ServiceStatus(Service(ServiceKey.of("TCP", "198.18.0.1", 80), "rr"), tuple(DestStatus(d) for d in TUNNELS))
    assert render(Snapshot((svc,)), "tun-info", sort=False) == TUN_INFO


def test_daemon_and_timeout_lines_match_ipvsadm():
    from vipdeck.engine.ipvs.model import SyncDaemon, Timeouts
    from vipdeck.engine.ipvs.table import daemon_lines, timeout_line

    daemons = [SyncDaemon("backup", "br0", 7, 1472, "224.0.0.81", 8848, 1),
               SyncDaemon("master", "br0", 7, 1200, "224.0.0.90", 9000, 3)]
    assert daemon_lines(daemons) == (
        "master sync daemon (mcast=br0, syncid=7, maxlen=1200, group=224.0.0.90, port=9000, ttl=3)\n"
        "backup sync daemon (mcast=br0, syncid=7, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n")
    assert daemon_lines([]) == ""
    assert timeout_line(Timeouts(900, 120, 300)) == "Timeout (tcp tcpfin udp): 900 120 300\n"
