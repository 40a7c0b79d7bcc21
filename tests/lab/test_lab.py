"""The lab fixture itself: namespaces joined by a bridge, a sniffer, full teardown."""

import subprocess

from vipdeck.engine.lab import Lab, wait_until
from tests.support.paths import require_root_netns


def _netns() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def test_lab_nodes_reach_each_other_and_teardown_is_complete():
    require_root_netns()
    before = _netns()
    with Lab() as lab:
        a = lab.add_node("a", "198.18.0.1/24")
        b = lab.add_node("b", "198.18.0.2/24")
        assert {a.netns, b.netns, lab.bridge_ns} <= _netns()
        r = a.run("ping", "-c1", "-W2", b.ip, check=False) if subprocess.run(["which", "ping"], capture_output=True).returncode == 0 else None
        # reachability without depending on ping: ARP resolution via a UDP send
        a.run("python3", "-c", "import socket;s=socket.socket(2,2);s.sendto(b'x',('198.18.0.2',9))")
        wait_until(lambda: "198.18.0.2" in a.run("ip", "neigh", "show").stdout, 5, what="ARP entry for b")
        if r is not None:
            assert r.returncode == 0, r.stdout + r.stderr
        a.popen("sleep", "300")
    assert _netns() == before


def test_lab_refuses_addresses_outside_the_lab_range():
    require_root_netns()
    import pytest

    with Lab() as lab:
        with pytest.raises(ValueError):
            lab.add_node("x", "192.168.1.10/24")


def test_sniffer_records_vrrp_with_kernel_timestamps(lab):
    import socket
    import struct

    a = lab.add_node("a", "198.18.0.1/24")
    sn = lab.sniffer()
    s = a.socket(socket.AF_INET, socket.SOCK_RAW, 112)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 255)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"eth0")
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(a.ip))
    # a hand-made v3 advert: vrid 7, prio 42, interval 100 cs, no addresses
    s.sendto(struct.pack("!BBBBHH", 0x31, 7, 42, 0, 100, 0), ("224.0.0.18", 0))
    p = wait_until(lambda: sn.last(vrid=7), 5, what="sniffed advert")
    s.close()
    assert (p.src, p.priority, p.version, p.ttl, p.interval) == ("198.18.0.1", 42, 3, 255, 1.0)
    assert p.src_mac == a.mac
