"""The real ``vipdeck daemon`` as an LVS director, on a real kernel (runs in UML).

The seed's dual-master LVS notes, replayed on lab addresses: one director
holds the VIPs through a VRRP instance and balances two web servers that
answer with their own names ("node3", "node4"), with a third one as
sorry_server.  One virtual server forwards by direct routing (as in the seed),
one by NAT, so both kernel paths carry real traffic.  Everything is judged
from outside the daemon: the real ``ipvsadm`` and real TCP clients.

Addresses (the seed's 192.168.1.x moved into 198.18.0.0/15)::

    client    198.18.0.10 (DR side)  198.19.0.10 (NAT side, default via director)
    director  198.18.0.1  198.19.0.1   VIPs 198.18.0.198 (DR)  198.19.0.197 (NAT)
    node3     198.18.0.21   node4 198.18.0.22   sorry 198.18.0.30
              (default via 198.18.0.1; DR VIP on lo with arp_ignore/arp_announce)

The NAT VIP sits on the client's subnet and the real servers route through
the director, so NAT replies come back through it; DR replies go straight
from a real server to the client on 198.18.0.0/24, as DR expects.

One lab and one daemon serve the whole module (a daemon start costs seconds
on the guest's one slow CPU); each test leaves the servers and the operator
state as it found them.  The web servers are threads of this process with
their listening sockets inside the server nodes' namespaces: starting and
stopping them is instant, which keeps the measured detection times honest.
"""

from __future__ import annotations

import asyncio
import http.server
import os
import re
import signal
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import pytest

from vipdeck.engine.lab import Lab, wait_until
from vipdeck.engine.lab.peers import Router, start_vipdeck, status
from vipdeck.engine.lab.wait import Timeout
from tests.support.paths import require_root_netns
from tests.support.ipvsadm import ipvsadm

VIP_DR = "198.18.0.198"      # seed VI_1 192.168.1.198 (lb_kind DR)
VIP_NAT = "198.19.0.197"     # seed VI_2 192.168.1.197, here NAT
VS_DR, VS_NAT = f"{VIP_DR}:80", f"{VIP_NAT}:80"
NODE3, NODE4, SORRY = "198.18.0.21", "198.18.0.22", "198.18.0.30"
NAMES = {NODE3: "node3", NODE4: "node4", SORRY: "sorry"}
RS3, RS4, RS_SORRY = f"{NODE3}:80", f"{NODE4}:80", f"{SORRY}:80"

METRICS_PORT = 9650

# checker timing: small, and the bound a failure must be seen within
DELAY_LOOP, RETRY, DELAY_BEFORE_RETRY, CONNECT_TIMEOUT = 1, 1, 0.5, 1
DETECT_BOUND = DELAY_LOOP + RETRY * DELAY_BEFORE_RETRY + CONNECT_TIMEOUT
RECOVER_BOUND = DELAY_LOOP + CONNECT_TIMEOUT
# the daemon's reconcile, a table read by ipvsadm and the guest's scheduling
# on one slow CPU, on top of the checker timing itself
SLACK = 1.0


def conf(weights: dict[tuple[str, str], int] | None = None) -> str:
    """dual-master-lvs.conf on lab addresses: node3 HTTP_GET, node4 TCP_CHECK."""
    weights = weights or {}
    timing = (f"retry {RETRY}\n            delay_before_retry {DELAY_BEFORE_RETRY}\n"
              f"            connect_timeout {CONNECT_TIMEOUT}")

    def vs(vip: str, kind: str) -> str:
        w3, w4 = weights.get((f"{vip}:80", RS3), 1), weights.get((f"{vip}:80", RS4), 1)
        return f"""
virtual_server {vip} 80 {{
    delay_loop {DELAY_LOOP}
    lb_algo wrr
    lb_kind {kind}
    protocol TCP
    sorry_server {SORRY} 80
    real_server {NODE3} 80 {{
        weight {w3}
        HTTP_GET {{
            url {{
                path /index.html
                status_code 200
            }}
            {timing}
        }}
    }}
    real_server {NODE4} 80 {{
        weight {w4}
        TCP_CHECK {{
            {timing}
        }}
    }}
}}
"""

    return f"""
global_defs {{
    router_id director
    vrrp_mcast_group4 224.1.101.33
}}
vrrp_instance VI_1 {{
    state MASTER
    interface eth0
    virtual_router_id 51
    priority 100
    version 3
    advert_int 0.2
    virtual_ipaddress {{
        {VIP_DR}/32 dev eth0 label eth0:0
        {VIP_NAT}/32
    }}
}}
{vs(VIP_DR, "DR")}{vs(VIP_NAT, "NAT")}"""


def row(addr: str, fwd: str, weight: int) -> str:
    """A destination line of ``ipvsadm -ln`` up to the connection counters."""
    return f"  -> {addr + ':80':<28} {fwd:<7} {weight:<6d} "


# ipvsadm -ln right after start: what the configuration says, nothing more
CONFIGURED = (
    "IP Virtual Server version 1.2.1 (size=4096)\n"
    "Prot LocalAddress:Port Scheduler Flags\n"
    "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n"
    f"TCP  {VIP_DR}:80 wrr\n"
    f"{row(NODE3, 'Route', 1)}0          0         \n"
    f"{row(NODE4, 'Route', 1)}0          0         \n"
    f"TCP  {VIP_NAT}:80 wrr\n"
    f"{row(NODE3, 'Masq', 1)}0          0         \n"
    f"{row(NODE4, 'Masq', 1)}0          0         \n"
)


# ------------------------------------------------------------------ web servers

class _Handler(http.server.BaseHTTPRequestHandler):
    """Answers every GET with the server's name; HTTP/1.1 so a connection can be held."""

    protocol_version = "HTTP/1.1"
    timeout = 60

    def do_GET(self) -> None:
        body = (self.server.name + "\n").encode()          # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


class WebServer:
    """A real HTTP server on port 80 of a lab node (threads of this process)."""

    def __init__(self, node, name: str):
        self.node = node
        self.name = name
        self._srv: http.server.ThreadingHTTPServer | None = None

    def start(self) -> None:
        assert self._srv is None, f"{self.name} already running"
        srv = http.server.ThreadingHTTPServer(("0.0.0.0", 80), _Handler, bind_and_activate=False)
        srv.socket.close()
        srv.socket = self.node.socket(socket.AF_INET, socket.SOCK_STREAM)
        srv.server_bind()
        srv.server_activate()
        srv.name = self.name                              # type: ignore[attr-defined]
        threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05},
                         name=f"web-{self.name}", daemon=True).start()
        self._srv = srv

    def stop(self) -> None:
        """Close the listening socket: new connections are refused (RST)."""
        if self._srv is not None:
            self._srv.shutdown()
            self._srv.server_close()
            self._srv = None

    @property
    def running(self) -> bool:
        return self._srv is not None


# ------------------------------------------------------------------ clients

def recv_response(sock: socket.socket) -> str:
    """One HTTP response (Content-Length framed); its body, stripped."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError(f"connection closed mid-response: {data!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head[:80]
    length = int(re.search(rb"(?i)content-length:\s*(\d+)", head).group(1))
    while len(body) < length:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("connection closed mid-body")
        body += chunk
    return body.decode().strip()


class Held:
    """A keep-alive connection to a VIP, kept open across table changes."""

    def __init__(self, client, vip: str):
        self.sock = client.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.settimeout(10)
        self.sock.connect((vip, 80))

    def get(self) -> str:
        self.sock.sendall(b"GET /index.html HTTP/1.1\r\nHost: vip\r\n\r\n")
        return recv_response(self.sock)

    def close(self) -> None:
        self.sock.close()


# ------------------------------------------------------------------ the director lab

@dataclass
class Director:
    lab: Lab
    director: object
    client: object
    web: dict[str, WebServer]
    router: Router
    ready_seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)

    # -------- reading state
    def table(self, *args: str) -> str:
        return ipvsadm(self.director, "-ln", *args)

    def dests(self, vip: str) -> dict[str, tuple[str, int]]:
        """{RIP: (forward, weight)} of one service, from ``ipvsadm -Sn``."""
        out = {}
        for line in ipvsadm(self.director, "-Sn").splitlines():
            m = re.match(rf"-a -t {re.escape(vip)}:80 -r ([\d.]+):80 (-[gmi]) -w (\d+)", line)
            if m:
                out[m.group(1)] = ({"-g": "Route", "-m": "Masq", "-i": "Tunnel"}[m.group(2)], int(m.group(3)))
        return out

    def configured(self) -> bool:
        """Services, methods and weights as configured (counters aside)."""
        return (self.dests(VIP_DR) == {NODE3: ("Route", 1), NODE4: ("Route", 1)} and
                self.dests(VIP_NAT) == {NODE3: ("Masq", 1), NODE4: ("Masq", 1)})

    def snapshot(self) -> dict:
        return status(self.router)

    def real_server(self, vs: str, rs: str) -> dict:
        v = next(v for v in self.snapshot()["virtual_servers"] if v["key"] == vs)
        return next(r for r in v["real_servers"] if r["key"] == rs)

    # -------- acting
    def get(self, vip: str) -> str:
        """One request on a new connection; the name of the server that answered."""
        s = self.client.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(10)
        try:
            s.connect((vip, 80))
            s.sendall(b"GET /index.html HTTP/1.1\r\nHost: vip\r\nConnection: close\r\n\r\n")
            return recv_response(s)
        finally:
            s.close()

    def vipdeck(self, *argv: str, capsys=None) -> str:
        """Run a ``vipdeck`` command in this process (a new interpreter costs seconds here)."""
        from vipdeck.cli import main

        args = list(argv)
        if argv[0] == "ipvs":
            args += ["--netns", self.director.netns]
        if argv[0] != "ipvs" or "--checks" in argv:
            args += ["--socket", self.router.socket_path]
        if capsys is not None:
            capsys.readouterr()
        code = main(args)
        out = capsys.readouterr() if capsys is not None else None
        assert code == 0, f"vipdeck {' '.join(argv)} exited {code}: {out.err if out else ''}\n{self.log_tail()}"
        return out.out if out else ""

    def log_tail(self, n: int = 40) -> str:
        lines = [line for line in self.router.log().splitlines() if "pyroute2" not in line]
        return "--- daemon log ---\n" + "\n".join(lines[-n:])

    def wait(self, pred: Callable, timeout: float, what: str):
        try:
            return wait_until(pred, timeout, interval=0.05, what=what)
        except Timeout as exc:
            raise Timeout(f"{exc}\n--- ipvsadm -ln ---\n{self.table()}{self.log_tail()}") from None


def _real_server_node(lab: Lab, name: str, ip: str):
    node = lab.add_node(name, f"{ip}/24")
    node.run("ip", "route", "add", "default", "via", "198.18.0.1")
    # direct routing: the DR VIP is local but never answered for on the wire
    node.run("ip", "addr", "add", f"{VIP_DR}/32", "dev", "lo")
    for key in ("all", "eth0"):
        node.run("sysctl", "-qw", f"net.ipv4.conf.{key}.arp_ignore=1", f"net.ipv4.conf.{key}.arp_announce=2")
    return node


@pytest.fixture(scope="module")
def lvs():
    require_root_netns()
    with Lab() as lab:
        director = lab.add_node("director", ["198.18.0.1/24", "198.19.0.1/24"])
        for key, value in (("net.ipv4.ip_forward", "1"), ("net.ipv4.conf.all.send_redirects", "0"),
                           ("net.ipv4.conf.eth0.send_redirects", "0")):
            director.run("sysctl", "-qw", f"{key}={value}")
        client = lab.add_node("client", ["198.19.0.10/24", "198.18.0.10/24"])
        web = {}
        for ip, name in NAMES.items():
            web[ip] = WebServer(_real_server_node(lab, name, ip), name)
            web[ip].start()
            lab.on_close(web[ip].stop)
        t0 = time.monotonic()
        router = start_vipdeck(director, conf(), extra_args=("--metrics", f"127.0.0.1:{METRICS_PORT}"))
        d = Director(lab, director, client, web, router)
        d.wait(lambda: director.has_address(VIP_DR) and director.has_address(VIP_NAT), 30,
               "the director to become MASTER and hold both VIPs")
        d.wait(lambda: d.table() == CONFIGURED, 30, "the configured table in the kernel")
        d.ready_seconds = time.monotonic() - t0
        yield d
        print(f"\nLVS director timings: ready {d.ready_seconds:.1f}s, "
              + ", ".join(f"{k} {v:.2f}s" for k, v in d.timings.items()))


@pytest.fixture
def lab_clean(lvs):
    """Every test starts and ends with all servers up and the configured table."""
    yield lvs
    for server in lvs.web.values():
        if not server.running:
            server.start()
    lvs.wait(lvs.configured, 15, "the configured table again after the test")


# ------------------------------------------------------------------ tests

def test_ipvsadm_shows_the_config_and_vipdeck_ipvs_prints_the_same(lab_clean, capsys):
    lvs = lab_clean
    snap = lvs.snapshot()
    assert [i["state"] for i in snap["instances"]] == ["MASTER"]
    assert snap["ipvs"] == {"available": True, "error": None}
    by_key = {v["key"]: v for v in snap["virtual_servers"]}
    assert (by_key[VS_DR]["forward"], by_key[VS_NAT]["forward"]) == ("DR", "NAT")
    for v in by_key.values():
        assert v["in_kernel"] and not v["sorry_active"]
        assert [(r["key"], r["state"], r["weight_kernel"]) for r in v["real_servers"]] == [
            (RS3, "UP", 1), (RS4, "UP", 1)]
    assert lvs.table() == CONFIGURED
    assert lvs.vipdeck("ipvs", "-ln", capsys=capsys) == CONFIGURED


def test_requests_alternate_between_the_real_servers(lab_clean, capsys):
    lvs = lab_clean
    for vip in (VIP_DR, VIP_NAT):
        # curl, as in the seed notes
        bodies = [lvs.client.run("curl", "-sS", "--max-time", "5", f"http://{vip}/").stdout.strip()
                  for _ in range(4)]
        bodies += [lvs.get(vip) for _ in range(4)]
        assert set(bodies) == {"node3", "node4"}, (vip, bodies)
        assert all(a != b for a, b in zip(bodies, bodies[1:])), f"wrr 1:1 must alternate on {vip}: {bodies}"

    # the kernel folds its per-CPU counters into what --stats shows every 2 s
    def counted() -> bool:
        return [line.split()[:3] for line in lvs.table("--stats").splitlines() if line.startswith("TCP")] == [
            ["TCP", f"{VIP_DR}:80", "8"], ["TCP", f"{VIP_NAT}:80", "8"]]

    lvs.wait(counted, 10, "8 connections counted on each service")

    # counters can move between two reads, so compare when two ipvsadm reads
    # around ours agree
    def same_stats() -> bool:
        before = lvs.table("--stats")
        ours = lvs.vipdeck("ipvs", "-ln", "--stats", capsys=capsys)
        if lvs.table("--stats") != before:
            return False
        assert ours == before, f"--stats differs:\n--- vipdeck\n{ours}--- ipvsadm\n{before}"
        return True

    lvs.wait(same_stats, 15, "a quiet moment to compare --stats")
    stats = lvs.table("--stats").splitlines()
    # the DR director sees only the client's half of each connection
    dr_out = next(line for line in stats if line.startswith(f"TCP  {VIP_DR}")).split()[4]
    assert dr_out == "0", stats

    # --checks: each destination line gains the daemon's checker state
    lvs.wait(lambda: all(c["ok"] for vs in lvs.snapshot()["virtual_servers"]
                         for r in vs["real_servers"] for c in r["checkers"]), 10, "every checker to have run")
    text = lvs.vipdeck("ipvs", "-ln", "--checks", capsys=capsys)
    plain = lvs.table().splitlines()
    lines = text.splitlines()
    assert len(lines) == len(plain) == 9
    for ours, theirs in zip(lines, plain):
        if theirs.startswith("  -> 198.18.0.21"):
            assert re.fullmatch(re.escape(theirs) + r"  UP  HTTP_GET ok \d+\.\dms", ours), ours
        elif theirs.startswith("  -> 198.18.0.22"):
            assert re.fullmatch(re.escape(theirs) + r"  UP  TCP_CHECK ok \d+\.\dms", ours), ours
        else:
            assert ours == theirs


def test_a_dead_real_server_leaves_and_the_sorry_server_stands_in(lab_clean):
    lvs = lab_clean
    web3, web4 = lvs.web[NODE3], lvs.web[NODE4]

    # "#停掉node3节点": node3's HTTP stops; both services drop it
    t0 = time.monotonic()
    web3.stop()
    lvs.wait(lambda: NODE3 not in lvs.dests(VIP_DR) and NODE3 not in lvs.dests(VIP_NAT),
             DETECT_BOUND + 5, "node3 to leave both services")
    lvs.timings["node3 out"] = took = time.monotonic() - t0
    assert took <= DETECT_BOUND + SLACK, f"node3 left after {took:.2f}s (bound {DETECT_BOUND}s + {SLACK}s)"
    assert lvs.dests(VIP_DR) == {NODE4: ("Route", 1)} and lvs.dests(VIP_NAT) == {NODE4: ("Masq", 1)}
    for vip in (VIP_DR, VIP_NAT):
        assert [lvs.get(vip) for _ in range(4)] == ["node4"] * 4
    assert lvs.real_server(VS_NAT, RS3)["state"] == "DOWN"

    # node3 back: in again on its first good check
    t0 = time.monotonic()
    web3.start()
    lvs.wait(lambda: NODE3 in lvs.dests(VIP_DR) and NODE3 in lvs.dests(VIP_NAT), RECOVER_BOUND + 5,
             "node3 back in both services")
    lvs.timings["node3 back"] = took = time.monotonic() - t0
    assert took <= RECOVER_BOUND + SLACK, f"node3 came back after {took:.2f}s (bound {RECOVER_BOUND}s + {SLACK}s)"
    assert lvs.dests(VIP_NAT) == {NODE3: ("Masq", 1), NODE4: ("Masq", 1)}

    # both down: quorum lost, the sorry server takes the traffic
    t0 = time.monotonic()
    web3.stop()
    web4.stop()
    lvs.wait(lambda: lvs.dests(VIP_DR) == {SORRY: ("Route", 1)} and lvs.dests(VIP_NAT) == {SORRY: ("Masq", 1)},
             DETECT_BOUND + 5, "the sorry server alone in both services")
    lvs.timings["sorry in"] = time.monotonic() - t0
    for vip in (VIP_DR, VIP_NAT):
        assert [lvs.get(vip) for _ in range(2)] == ["sorry"] * 2
    v = next(v for v in lvs.snapshot()["virtual_servers"] if v["key"] == VS_NAT)
    assert v["sorry_active"] and v["sorry_server"] == RS_SORRY and not v["quorum_ok"]

    # one back: the sorry server goes
    web4.start()
    lvs.wait(lambda: lvs.dests(VIP_DR) == {NODE4: ("Route", 1)} and lvs.dests(VIP_NAT) == {NODE4: ("Masq", 1)},
             RECOVER_BOUND + 5, "node4 in, the sorry server out")
    for vip in (VIP_DR, VIP_NAT):
        assert [lvs.get(vip) for _ in range(2)] == ["node4"] * 2
    web3.start()
    lvs.wait(lvs.configured, RECOVER_BOUND + 5, "node3 back too")


def test_operator_weight_keeps_the_forwarding_method(lab_clean):
    lvs = lab_clean
    lvs.vipdeck("weight", VS_NAT, RS3, "3", "--reason", "canary")
    lvs.vipdeck("weight", VS_DR, RS4, "5")
    lvs.wait(lambda: lvs.dests(VIP_NAT) == {NODE3: ("Masq", 3), NODE4: ("Masq", 1)} and
             lvs.dests(VIP_DR) == {NODE3: ("Route", 1), NODE4: ("Route", 5)}, 5, "the overridden weights")
    table = lvs.table()
    assert row(NODE3, "Masq", 3) in table and row(NODE4, "Route", 5) in table
    rs = lvs.real_server(VS_NAT, RS3)
    assert (rs["weight_config"], rs["weight_effective"], rs["override"]["weight"], rs["override"]["why"]) == \
        (1, 3, 3, "canary")
    lvs.wait(lambda: lvs.real_server(VS_NAT, RS3)["weight_kernel"] == 3, 5, "the snapshot to read weight 3 back")

    # wrr 3:1 on the NAT service: node3 three times in every four
    bodies = [lvs.get(VIP_NAT) for _ in range(8)]
    assert bodies.count("node3") == 6, bodies

    lvs.vipdeck("weight", VS_NAT, RS3, "--clear")
    lvs.vipdeck("weight", VS_DR, RS4, "--clear")
    lvs.wait(lvs.configured, 5, "the configured weights back")
    assert lvs.real_server(VS_NAT, RS3)["override"] is None


def test_rs_drain_is_draining_until_the_last_connection_closes(lab_clean):
    lvs = lab_clean
    held = Held(lvs.client, VIP_NAT)
    try:
        who = held.get()
        ip = next(ip for ip, name in NAMES.items() if name == who)
        other = NAMES[NODE4 if ip == NODE3 else NODE3]
        rs = f"{ip}:80"
        lvs.vipdeck("rs-drain", VS_NAT, rs, "--reason", "kernel upgrade")
        lvs.wait(lambda: lvs.dests(VIP_NAT)[ip] == ("Masq", 0), 5, f"{who} at weight 0, still NAT")
        state = lvs.wait(lambda: (r := lvs.real_server(VS_NAT, rs))["state"] == "DRAINING" and r, 5,
                         f"{who} DRAINING while a connection is open")
        assert state["active_conn"] == 1 and state["weight_effective"] == 0
        # new connections go elsewhere; the open one is still served by the drained server
        assert [lvs.get(VIP_NAT) for _ in range(4)] == [other] * 4
        assert held.get() == who
        assert lvs.real_server(VS_NAT, rs)["state"] == "DRAINING"
    finally:
        held.close()
    lvs.wait(lambda: lvs.real_server(VS_NAT, rs)["state"] == "DRAINED", 10, f"{who} DRAINED once idle")
    assert lvs.dests(VIP_NAT)[ip] == ("Masq", 0)

    lvs.vipdeck("rs-undrain", VS_NAT, rs)
    lvs.wait(lambda: lvs.dests(VIP_NAT)[ip] == ("Masq", 1), 5, f"{who} back at weight 1")
    assert lvs.real_server(VS_NAT, rs)["state"] == "UP"


def test_connections_survive_a_reload(lab_clean):
    lvs = lab_clean
    held = {vip: Held(lvs.client, vip) for vip in (VIP_DR, VIP_NAT)}
    try:
        first = {vip: h.get() for vip, h in held.items()}
        # the reload changes the weight of the server each connection is NOT on
        ip_of = {name: ip for ip, name in NAMES.items()}
        change = {}
        for vip, name in first.items():
            other = NODE4 if ip_of[name] == NODE3 else NODE3
            change[(f"{vip}:80", f"{other}:80")] = 2
        conns_before = {vip: lvs.wait(lambda vip=vip: _service_conns(lvs, vip), 10, f"{vip} conns counted")
                        for vip in held}

        seq = _last_event(lvs)
        _reload(lvs, conf(change))
        for (vs, rs), w in change.items():
            vip, rip = vs.split(":")[0], rs.split(":")[0]
            fwd = "Route" if vip == VIP_DR else "Masq"
            lvs.wait(lambda vip=vip, rip=rip, fwd=fwd, w=w: lvs.dests(vip)[rip] == (fwd, w), 15,
                     f"{rs} of {vs} at weight {w} after SIGHUP")
        for vip, h in held.items():
            assert h.get() == first[vip], f"the held connection to {vip} moved or broke"
            assert h.get() == first[vip]
        # the services were edited, not re-created: their counters go on
        for vip in held:
            assert _service_conns(lvs, vip) >= conns_before[vip] >= 1

        applied = _applied_after_reload(lvs, seq)
        assert sorted(applied) == sorted(
            f"edit dest {rs} of TCP {vs}: weight 1 -> 2" for (vs, rs) in change), applied
    finally:
        for h in held.values():
            h.close()
        _reload(lvs, conf())


def _service_conns(lvs: Director, vip: str) -> int:
    line = next(line for line in lvs.table("--stats").splitlines() if line.startswith(f"TCP  {vip}:80"))
    return int(line.split()[2])


def test_a_dead_server_stays_out_across_a_reload(lab_clean):
    """A reload must not forget what the checkers know (it once re-added dead servers)."""
    lvs = lab_clean
    lvs.web[NODE3].stop()
    lvs.wait(lambda: NODE3 not in lvs.dests(VIP_NAT) and NODE3 not in lvs.dests(VIP_DR), DETECT_BOUND + 5,
             "node3 out")
    seq = _last_event(lvs)
    try:
        _reload(lvs, conf({(VS_NAT, RS4): 2}))
        lvs.wait(lambda: lvs.dests(VIP_NAT) == {NODE4: ("Masq", 2)}, 15, "node4 at weight 2 after SIGHUP")
        # node3's checkers have run (and failed) under the new config, long
        # enough for a wrongly re-added node3 to have been added and removed
        lvs.wait(lambda: len([e for e in _events(lvs, seq) if e["kind"] == "check" and e.get("rs") == RS3
                              and e.get("ok") is False]) >= 4, 10, "node3's checks failing after the reload")
        assert _applied_after_reload(lvs, seq) == [f"edit dest {RS4} of TCP {VS_NAT}: weight 1 -> 2"]
        assert NODE3 not in lvs.dests(VIP_NAT) and NODE3 not in lvs.dests(VIP_DR)
        assert lvs.real_server(VS_NAT, RS3)["state"] == "DOWN"
    finally:
        _reload(lvs, conf())


def _last_event(lvs: Director) -> int:
    from vipdeck.engine.control.client import SocketClient

    return asyncio.run(SocketClient(lvs.router.socket_path).request("events", limit=1))["last"]


def _events(lvs: Director, since: int) -> list[dict]:
    from vipdeck.engine.control.client import SocketClient

    return asyncio.run(SocketClient(lvs.router.socket_path).events(since=since))


def _applied_after_reload(lvs: Director, since: int) -> list[str]:
    """The IPVS changes the daemon made after it accepted the reload."""
    events = _events(lvs, since)
    accepted = [i for i, e in enumerate(events) if e["kind"] == "config" and e.get("accepted")]
    assert accepted, f"no accepted reload among {events}"
    return [e["change"] for e in events[accepted[0]:] if e["kind"] == "ipvs" and "change" in e]


def _reload(lvs: Director, text: str) -> None:
    with open(lvs.router.conf_path, "w") as f:
        f.write(text)
    lvs.router.signal(signal.SIGHUP)


def _kernel_counters(stats: str, vs: str) -> dict[str, tuple[int, ...]]:
    """Per destination of one service in ``ipvsadm -ln --stats --exact``: conns, inpkts, outpkts, inbytes, outbytes."""
    out, inside = {}, False
    for line in stats.splitlines():
        if line.startswith(("TCP", "UDP", "FWM", "SCTP")):
            inside = line.split()[1] == vs
        elif inside and line.startswith("  ->"):
            words = line.split()
            out[words[1]] = tuple(int(w) for w in words[2:7])
    return out


def test_metrics_carry_the_kernel_counters_and_weights(lab_clean):
    """`--metrics` on a real kernel: IPVS weights and per-real-server counters, equal to ipvsadm's."""
    from tests.support.scrape import scrape

    lvs = lab_clean
    for _ in range(6):
        assert lvs.get(VIP_NAT) in ("node3", "node4")
    names = ("connections", "incoming_packets", "outgoing_packets", "incoming_bytes", "outgoing_bytes")

    # the kernel folds its per-CPU counters every 2 s and the daemon reads them every second:
    # compare when two ipvsadm reads around the scrape agree
    def agree():
        before = lvs.table("--stats", "--exact")
        s = scrape(lvs.director, METRICS_PORT)
        if lvs.table("--stats", "--exact") != before:
            return None
        kernel = _kernel_counters(before, VS_NAT)
        ours = {rs: tuple(int(s.value(f"vipdeck_real_server_{n}_total", vs=VS_NAT, rs=rs) or -1) for n in names)
                for rs in (RS3, RS4)}
        return s if ours == kernel and sum(c[0] for c in kernel.values()) >= 6 else None

    s = lvs.wait(agree, 20, "metrics equal to ipvsadm --stats --exact")
    assert s.value("vipdeck_ipvs_available") == 1
    for vs, rs in ((VS_NAT, RS3), (VS_NAT, RS4), (VS_DR, RS3)):
        labels = {"vs": vs, "protocol": "TCP", "rs": rs}
        assert s.value("vipdeck_virtual_server_in_kernel", vs=vs) == 1
        assert s.value("vipdeck_real_server_weight_configured", **labels) == 1
        assert s.value("vipdeck_real_server_weight_effective", **labels) == 1
        assert s.value("vipdeck_real_server_weight_kernel", **labels) == 1
        assert s.value("vipdeck_real_server_state", **labels, state="UP") == 1
    # NAT carries both directions through the director
    assert s.value("vipdeck_real_server_outgoing_bytes_total", vs=VS_NAT, rs=RS3) > 0
    assert s.value("keepalived_vrrp_state", iname="VI_1", ip_address=VIP_DR) == 2
