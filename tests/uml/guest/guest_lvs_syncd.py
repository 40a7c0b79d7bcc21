"""lvs_sync_daemon for real: a long-lived TCP connection through the VIP
survives a director failover, and breaks without it (runs in UML).

Two ``vipdeck daemon`` directors share a VRRP instance and one direct-routing
virtual server in front of a TCP echo server; a client holds one connection
through the VIP.  With ``lvs_sync_daemon`` the master's kernel multicasts its
connection entries to the backup's, so when the master stops the new master
already knows the connection and forwards its next packet; without it the
new master's kernel has no entry for a mid-stream segment and its own stack
answers with a reset.  Judged from outside: ``ipvsadm -L --daemon`` /
``-Lnc`` / ``--timeout`` / ``-Sn`` and the client's socket.

Addresses, one bridge::

    client 198.18.0.10   dir1 198.18.0.1 (priority 150)   dir2 198.18.0.2 (priority 100)
    rs     198.18.0.21 (echo on port 7; the VIP on lo, arp_ignore/arp_announce)
    VIP    198.18.0.100 on the master's eth0

The same lab shows the configuration's destination details reaching the
kernel (``uthreshold``/``lthreshold``, ``lvs_method TUN type gue port N csum``
and ``type gre``: ``ipvsadm --thresholds`` / ``--tun-info``, and ``vipdeck
ipvs`` printing the same) and the other global LVS settings at work on dir1:
``lvs_flush`` (a service added by hand before the start is gone),
``lvs_timeouts`` (set while running, the kernel's own values back at exit)
and ``lvs_flush_on_stop`` (the whole table gone at exit, the hand-made
service included).
"""

from __future__ import annotations

import signal
import socket
import threading

import pytest

from vipdeck.engine.lab import Lab, wait_until
from vipdeck.engine.lab.peers import start_vipdeck, status
from vipdeck.engine.lab.wait import Timeout
from tests.support.ipvsadm import ipvsadm
from tests.support.paths import require_root_netns

VIP, RS, CLIENT = "198.18.0.100", "198.18.0.21", "198.18.0.10"
TUN_VIP = "198.18.0.101"          # a tunnelled service: thresholds and tunnel options from the config
SYNCD = "lvs_sync_daemon eth0 VI_1 id 7 maxlen 1400 port 8850 ttl 2 group 224.0.0.82"
SYNCD_TEXT = "sync daemon (mcast=eth0, syncid=7, maxlen=1400, group=224.0.0.82, port=8850, ttl=2)\n"
KERNEL_TIMEOUTS = "Timeout (tcp tcpfin udp): 900 120 300\n"


def conf(name: str, priority: int, *, sync: bool, timeouts: bool = True) -> str:
    return f"""
global_defs {{
    router_id {name}
    {SYNCD if sync else ""}
    {"lvs_timeouts tcp 600 tcpfin 30 udp 60" if timeouts else ""}
    lvs_flush
    lvs_flush_on_stop
}}
vrrp_instance VI_1 {{
    state BACKUP
    interface eth0
    virtual_router_id 51
    priority {priority}
    version 3
    advert_int 0.5
    virtual_ipaddress {{
        {VIP}/32 dev eth0
    }}
}}
virtual_server {VIP} 7 {{
    protocol TCP
    lvs_sched rr
    lvs_method DR
    delay_loop 1
    real_server {RS} 7 {{
        TCP_CHECK {{
            connect_timeout 1
        }}
    }}
}}
virtual_server {TUN_VIP} 80 {{
    protocol TCP
    lvs_sched wrr
    lvs_method TUN type gue port 6080 csum
    real_server 198.18.0.31 80 {{
        uthreshold 100
        lthreshold 10
    }}
    real_server 198.18.0.32 80 {{
        lvs_method TUN type gre csum
    }}
}}
"""


class EchoServer:
    """Echoes every line back, on port 7 of a lab node (threads of this process)."""

    def __init__(self, node):
        self.sock = node.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("0.0.0.0", 7))
        self.sock.listen(16)
        threading.Thread(target=self._accept, name="echo", daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    @staticmethod
    def _echo(conn: socket.socket) -> None:
        with conn:
            while data := conn.recv(4096):
                conn.sendall(data)

    def close(self) -> None:
        self.sock.close()


class Conversation:
    """One long-lived TCP connection from the client to the VIP."""

    def __init__(self, client):
        self.sock = client.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.settimeout(15)
        self.sock.connect((VIP, 7))
        self.port = self.sock.getsockname()[1]

    def say(self, text: str) -> str:
        self.sock.sendall(text.encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("closed by the peer")
            data += chunk
        return data.decode().strip()

    def close(self) -> None:
        self.sock.close()


def entry(node, port: int) -> str | None:
    """The client connection's line of ``ipvsadm -Lnc`` on a director, if it has one."""
    for line in ipvsadm(node, "-Lnc").splitlines():
        if f"{CLIENT}:{port} " in line and f"{VIP}:7 " in line and f"{RS}:7" in line:
            return line
    return None


@pytest.fixture(scope="module")
def pair():
    require_root_netns()
    with Lab() as lab:
        client = lab.add_node("client", f"{CLIENT}/24")
        dirs = [lab.add_node("dir1", "198.18.0.1/24"), lab.add_node("dir2", "198.18.0.2/24")]
        rs = lab.add_node("rs", f"{RS}/24")
        rs.run("ip", "addr", "add", f"{VIP}/32", "dev", "lo")
        for key in ("all", "eth0"):
            rs.run("sysctl", "-qw", f"net.ipv4.conf.{key}.arp_ignore=1", f"net.ipv4.conf.{key}.arp_announce=2")
        echo = EchoServer(rs)
        lab.on_close(echo.close)
        yield lab, client, dirs


def start_pair(dirs, *, sync: bool):
    routers = [start_vipdeck(d, conf(d.name, prio, sync=sync), extra_args=())
               for d, prio in zip(dirs, (150, 100))]

    def states():
        return [next(i["state"] for i in status(r)["instances"]) for r in routers]

    wait(routers, lambda: states() == ["MASTER", "BACKUP"] and dirs[0].has_address(VIP), 30,
         "dir1 MASTER with the VIP, dir2 BACKUP")
    for d in dirs:
        wait(routers, lambda d=d: f"-a -t {VIP}:7 -r {RS}:7 -g -w 1" in ipvsadm(d, "-Sn"), 15,
             f"the real server in {d.name}'s table")
    return routers


def wait(routers, pred, timeout: float, what: str):
    try:
        return wait_until(pred, timeout, interval=0.05, what=what)
    except Timeout as exc:
        logs = "\n".join(f"--- {r.node.name} ---\n" + "\n".join(
            line for line in r.log().splitlines()[-30:] if "pyroute2" not in line) for r in routers)
        raise Timeout(f"{exc}\n{logs}") from None


def fail_over(client, dirs, routers) -> None:
    """Stop dir1 (a clean resign); dir2 takes the VIP and the client's ARP follows."""
    routers[0].stop()
    wait(routers, lambda: dirs[1].has_address(VIP) and not dirs[0].has_address(VIP), 15, "dir2 holding the VIP")
    # dir2's gratuitous ARP: the client's next segment goes to dir2
    wait(routers, lambda: dirs[1].mac in client.run("ip", "neigh", "show", VIP).stdout, 10,
         "the client's ARP entry for the VIP pointing at dir2")


def vipdeck_ipvs(capsys, node, *args: str) -> str:
    """``vipdeck ipvs`` in this process (a new interpreter costs seconds in the guest)."""
    from vipdeck.cli import main

    capsys.readouterr()
    code = main(["ipvs", *args, "--netns", node.netns])
    out = capsys.readouterr()
    assert code == 0, out.err
    return out.out


def test_with_lvs_sync_daemon_a_connection_survives_the_failover(pair, capsys):
    lab, client, dirs = pair
    dir1, dir2 = dirs
    ipvsadm(dir1, "-A", "-t", "198.18.0.200:80", "-s", "rr")         # lvs_flush must remove it
    routers = start_pair(dirs, sync=True)
    try:
        # the master daemon where VI_1 is MASTER, the backup daemon on the other
        wait(routers, lambda: ipvsadm(dir1, "-L", "--daemon") == "master " + SYNCD_TEXT and
             ipvsadm(dir2, "-L", "--daemon") == "backup " + SYNCD_TEXT, 10, "the sync daemons as configured")
        assert status(routers[1])["sync_daemon"]["wanted"] == ["backup"]
        assert "198.18.0.200" not in ipvsadm(dir1, "-Sn")                                  # lvs_flush
        assert ipvsadm(dir1, "-L", "--timeout") == "Timeout (tcp tcpfin udp): 600 30 60\n"  # lvs_timeouts
        # the tunnelled service as configured: thresholds, GUE port and checksum, GRE
        tun = ipvsadm(dir1, "-ln", "--tun-info")
        assert f"  -> {'198.18.0.31:80':<28} Tunnel  gue:6080:+c   1      " in tun, tun
        assert f"  -> {'198.18.0.32:80':<28} Tunnel  gre:+c        1      " in tun, tun
        assert f"  -> {'198.18.0.31:80':<28} 100        10         " in ipvsadm(dir1, "-ln", "--thresholds")
        for args in (("-ln", "--tun-info"), ("-ln", "--thresholds"), ("-L", "--daemon"), ("-L", "--timeout")):
            assert vipdeck_ipvs(capsys, dir1, *args) == ipvsadm(dir1, *args), args
        ipvsadm(dir1, "-A", "-t", "198.18.0.201:80", "-s", "rr")     # not ours: lvs_flush_on_stop takes it too

        talk = Conversation(client)
        try:
            assert [talk.say(f"hello {i}") for i in range(4)] == [f"hello {i}" for i in range(4)]
            assert "ESTABLISHED" in (entry(dir1, talk.port) or "")
            # the master's kernel told the backup's about it
            line = wait(routers, lambda: entry(dir2, talk.port), 10, "the connection in dir2's table (synced)")
            assert "ESTABLISHED" in line, line

            fail_over(client, dirs, routers)
            assert talk.say("still there?") == "still there?"
            assert talk.say("after the failover") == "after the failover"
        finally:
            talk.close()

        # dir2 is master now: its sync daemon too
        wait(routers, lambda: ipvsadm(dir2, "-L", "--daemon") == "master " + SYNCD_TEXT, 10,
             "dir2's master sync daemon")
        assert status(routers[1])["sync_daemon"]["wanted"] == ["master"]
        # dir1 at exit: no daemons, the whole table flushed, the kernel's timeouts back
        assert ipvsadm(dir1, "-L", "--daemon") == ""
        assert ipvsadm(dir1, "-Sn") == "", routers[0].log()[-6000:]
        assert ipvsadm(dir1, "-L", "--timeout") == KERNEL_TIMEOUTS

        # a reload without lvs_sync_daemon stops it; without lvs_timeouts puts the kernel's back
        assert ipvsadm(dir2, "-L", "--timeout") == "Timeout (tcp tcpfin udp): 600 30 60\n"
        with open(routers[1].conf_path, "w") as f:
            f.write(conf("dir2", 100, sync=False, timeouts=False))
        routers[1].signal(signal.SIGHUP)
        wait(routers, lambda: ipvsadm(dir2, "-L", "--daemon") == "", 10, "no sync daemon on dir2 after the reload")
        assert status(routers[1])["sync_daemon"] is None
        wait(routers, lambda: ipvsadm(dir2, "-L", "--timeout") == KERNEL_TIMEOUTS, 10,
             "the kernel's timeouts back on dir2 after the reload")
    finally:
        for r in routers:
            r.stop()


def test_without_lvs_sync_daemon_the_same_failover_breaks_it(pair):
    """The control: the same scenario with no sync daemon resets the connection."""
    lab, client, dirs = pair
    routers = start_pair(dirs, sync=False)
    try:
        assert ipvsadm(dirs[0], "-L", "--daemon") == "" and ipvsadm(dirs[1], "-L", "--daemon") == ""
        talk = Conversation(client)
        try:
            assert [talk.say(f"hello {i}") for i in range(4)] == [f"hello {i}" for i in range(4)]
            assert entry(dirs[0], talk.port) is not None
            fail_over(client, dirs, routers)
            assert entry(dirs[1], talk.port) is None
            # dir2 has no entry for this connection: its own stack resets it
            with pytest.raises(ConnectionResetError):
                talk.say("still there?")
        finally:
            talk.close()
    finally:
        for r in routers:
            r.stop()
    assert ipvsadm(dirs[1], "-Sn") == ""          # lvs_flush_on_stop on dir2 too
