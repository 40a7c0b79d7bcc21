"""A self-built demo: the seed's dual-master LVS pair in namespaces.

Two vipdeck daemons (node1, node2) run the seed's dual-master config on lab
addresses, each in its own UTS namespace with its own host name, with two
real web servers behind the seed's virtual servers (direct routing: the VIPs
on their loopback, as the seed's notes set them up), a client that keeps
requesting both VIPs, and a real keepalived (when installed) advertising a
third VRID beside them, so every console screen has something live to show.
The faults an operator fears are methods of ``Demo`` (the demo's console
binds them to keys).  Used by ``vipdeck demo`` and by the screenshot run.

Beside the command line, not in the engine: it composes the engine's lab
harness (``engine.lab``: namespaces, peers) with a demo's configuration, and
the engine never imports it (tests/unit/test_layers.py).

Everything the demo creates carries its prefix (``vdemo`` + 4 hex digits,
never a prefix of the other labs, whose are ``vd`` + 4 hex digits): its
namespaces ``PREFIX-node1``..., its temporary directories ``/tmp/PREFIX-*``,
and a claim file naming the demo's pid, so ``cleanup()`` can remove what a
kill -9 of the demo left behind without touching anyone else's lab.
"""

from __future__ import annotations

import collections
import glob
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field

from vipdeck.engine.lab.netns import Lab, Node
from vipdeck.engine.lab.peers import Router, start_keepalived, start_vipdeck, vrrp_conf
from vipdeck.engine.lab.wait import wait_until

GROUP = "224.1.101.33"
VIP1, VIP2, VIP3 = "198.18.0.198", "198.18.0.197", "198.18.0.196"
RS = ("198.18.0.202", "198.18.0.203")
SORRY = "198.18.0.200"
CLIENT = "198.18.0.10"

PREFIX_RE = re.compile(r"^(vdemo[0-9a-f]{4})-")
CLAIMS = "/run/vipdeck-demo"          # PREFIX.pid: the demo process that owns the prefix
NFT_TABLE = "vipdeck_demo_cut"


def demo_prefix() -> str:
    return "vdemo" + secrets.token_hex(2)


def node_conf(router_id: str, first: bool, advert_int: float = 1, down_script: str | None = None) -> str:
    lvs = "".join(f"""
virtual_server {vip} 80 {{
    delay_loop 2
    lb_algo wrr
    lb_kind DR
    protocol TCP
    sorry_server {SORRY} 80
    real_server {RS[0]} 80 {{
        weight 1
        HTTP_GET {{
            url {{
                path /index.html
                status_code 200
            }}
            retry 2
            delay_before_retry 1
            connect_timeout 1
        }}
    }}
    real_server {RS[1]} 80 {{
        weight 1
        TCP_CHECK {{
            retry 2
            delay_before_retry 1
            connect_timeout 1
        }}
    }}
}}
""" for vip in (VIP1, VIP2))
    # the seed's manual off switch: a `down` file beside down.sh lowers VI_1 by 20 (node1 100 → 80 < 96)
    scripts = f"""vrrp_script chk_down {{
    script "{down_script}"
    interval 1
    weight -20
    fall 1
    rise 1
}}
""" if down_script else ""
    return vrrp_conf(router_id=router_id, mcast_group=GROUP, scripts=scripts, instances=[
        dict(name="VI_1", vrid=51, priority=100 if first else 96, state="MASTER" if first else "BACKUP",
             advert_int=advert_int, vips=[f"{VIP1} dev eth0 label eth0:0"], auth_pass="1111",
             track_script=["chk_down"] if down_script else []),
        dict(name="VI_2", vrid=52, priority=96 if first else 98, state="BACKUP" if first else "MASTER",
             advert_int=advert_int, vips=[VIP2], auth_pass="2222"),
    ], extra=lvs)


# -- the client ---------------------------------------------------------------------------

@dataclass
class VipTraffic:
    vip: str
    results: collections.deque = field(default_factory=lambda: collections.deque(maxlen=200))
    backend: str = ""          # who answered last
    error: str = ""            # why the last failure failed

    def rate(self, now: float, window: float) -> tuple[int, int]:
        """(answered, sent) over the last ``window`` seconds."""
        recent = [ok for t, ok in self.results if now - t <= window]
        return sum(recent), len(recent)


class Client:
    """A steady stream of HTTP requests to both VIPs from the client
    namespace: a new TCP connection per request (so IPVS counts connections
    and rates), a short timeout (so a failover's gap shows as failures)."""

    def __init__(self, netns: str, vips: tuple[str, ...] = (VIP1, VIP2), interval: float = 0.2,
                 timeout: float = 0.5, window: float = 10.0):
        self.netns = netns
        self.traffic = {v: VipTraffic(v) for v in vips}
        self.interval = interval
        self.timeout = timeout
        self.window = window
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"demo-client-{netns}", daemon=True)

    def start(self) -> "Client":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=2)

    def _run(self) -> None:
        from vipdeck.engine.lab.netns import _setns

        # this thread alone moves into the client's namespace: its sockets are the client's
        try:
            with open(f"/run/netns/{self.netns}") as f:
                _setns(f.fileno())
        except OSError:
            return
        while not self._stop.is_set():
            for t in self.traffic.values():
                self._request(t)
            self._stop.wait(self.interval)

    def _request(self, t: VipTraffic) -> None:
        now = time.monotonic()
        try:
            with socket.create_connection((t.vip, 80), timeout=self.timeout) as s:
                s.sendall(f"GET /index.html HTTP/1.0\r\nHost: {t.vip}\r\n\r\n".encode())
                data = b""
                while chunk := s.recv(4096):
                    data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1") or b" 200 " not in head.split(b"\r\n")[0] + b" ":
                raise OSError(head.split(b"\r\n")[0].decode(errors="replace") or "no HTTP answer")
            t.backend = body.decode(errors="replace").strip()
            t.results.append((now, True))
        except OSError as exc:
            t.error = "timeout" if isinstance(exc, socket.timeout) else (exc.strerror or str(exc))
            t.results.append((now, False))

    def summary(self) -> list[tuple[str, int, int, str]]:
        """Per VIP: (vip, answered, sent, who answered last or why it failed)."""
        now = time.monotonic()
        out = []
        for t in self.traffic.values():
            ok, sent = t.rate(now, self.window)
            last_ok = bool(t.results) and t.results[-1][1]
            out.append((t.vip, ok, sent, t.backend if last_ok else (t.error or "…")))
        return out


# -- the lab ------------------------------------------------------------------------------

@dataclass
class WebServer:
    node: Node
    root: str
    proc: subprocess.Popen | None = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        if self.running:
            return
        # all addresses: the checks reach the real address, the clients the VIPs on lo (direct routing)
        self.proc = self.node.popen(sys.executable, "-m", "http.server", "80", "--bind", "0.0.0.0",
                                    "--directory", self.root, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
        wait_until(lambda: self._listening() or self.proc.poll() is not None, 10,
                   what=f"{self.node.name}'s web server")

    def _listening(self) -> bool:
        return ":80 " in self.node.run("ss", "-Hltn", check=False).stdout

    def stop(self) -> None:
        if self.running:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)


def web_server(node: Node, name: str, vips: tuple[str, ...] = ()) -> WebServer:
    """A real server answering ``name`` on port 80; ``vips``: the direct
    routing set-up of the seed's notes (the VIPs on lo, answered but never
    announced)."""
    root = tempfile.mkdtemp(prefix=f"{node.netns}-www-")
    node.lab.on_close(lambda: shutil.rmtree(root, ignore_errors=True))
    with open(os.path.join(root, "index.html"), "w") as f:
        f.write(f"{name}\n")
    for vip in vips:
        node.run("ip", "addr", "add", f"{vip}/32", "dev", "lo")
    for key, value in (("arp_ignore", 1), ("arp_announce", 2)) if vips else ():
        for dev in ("all", node.ifname):
            node.run("sysctl", "-qw", f"net.ipv4.conf.{dev}.{key}={value}")
    ws = WebServer(node, root)
    ws.start()
    return ws


@dataclass
class Demo:
    lab: Lab
    nodes: dict[str, Node]
    routers: dict[str, Router]
    web: dict[str, WebServer] = field(default_factory=dict)
    client: Client | None = None
    down_file: str = ""

    @property
    def prefix(self) -> str:
        return self.lab.prefix

    @property
    def socket(self) -> str:
        return self.routers["node1"].socket_path

    @property
    def peer_sockets(self) -> list[str]:
        return [self.routers["node2"].socket_path]

    # -- the faults operators fear (each returns what it did, for a notice) --

    def crash(self, name: str = "node1") -> str:
        r = self.routers[name]
        if not r.alive():
            return f"{name}'s daemon is not running"
        r.crash()
        return f"{name}'s daemon killed (SIGKILL): no priority-0 advert, its VIPs stay in its kernel"

    def restart(self, name: str = "node1") -> str:
        r = self.routers[name]
        if r.alive():
            return f"{name}'s daemon is running (pid {r.proc.pid})"
        for path in (r.socket_path, os.path.join(r.workdir, "vipdeck.pid")):
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        with open(r.log_path, "a") as log:
            p = subprocess.Popen(r.proc.args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                 env=dict(os.environ, PYTHONUNBUFFERED="1", TMPDIR=r.workdir))
        r.node.procs.append(p)
        r.proc = p
        return f"{name}'s daemon restarted (pid {p.pid})"

    @property
    def cut(self) -> bool:
        n1 = self.nodes["node1"]
        return n1.run("nft", "list", "table", "inet", NFT_TABLE, check=False).returncode == 0

    def cut_vrrp(self) -> str:
        """Drop VRRP in and out of node1: each side hears nobody and both become MASTER."""
        if self.cut:
            return "VRRP between the nodes is already cut"
        rules = (f"table inet {NFT_TABLE} {{\n"
                 "  chain in { type filter hook input priority -10; meta l4proto vrrp drop; }\n"
                 "  chain out { type filter hook output priority -10; meta l4proto vrrp drop; }\n"
                 "}\n")
        self.nodes["node1"].run("nft", "-f", "-", input=rules)
        return "VRRP cut between node1 and the others (nftables in node1): split brain ahead"

    def heal_vrrp(self) -> str:
        if not self.cut:
            return "VRRP is not cut"
        self.nodes["node1"].run("nft", "delete", "table", "inet", NFT_TABLE)
        return "VRRP healed: node1 hears and is heard again"

    def toggle_http(self, name: str = "node3") -> str:
        ws = self.web[name]
        if ws.running:
            ws.stop()
            return f"{name}'s HTTP server stopped: its HTTP_GET check fails next"
        ws.start()
        return f"{name}'s HTTP server started again"

    def toggle_down(self) -> str:
        if os.path.exists(self.down_file):
            os.unlink(self.down_file)
            return f"removed {self.down_file}: node1's VI_1 priority comes back to 100"
        open(self.down_file, "w").close()
        return f"touched {self.down_file}: chk_down fails, node1's VI_1 priority 100 - 20 = 80 < node2's 96"

    def close(self) -> None:
        if self.client is not None:
            self.client.stop()
        self.lab.close()
        release(self.prefix)


# -- claims and the clean-up of a killed demo -----------------------------------------------

def claim(prefix: str) -> None:
    os.makedirs(CLAIMS, exist_ok=True)
    with open(os.path.join(CLAIMS, f"{prefix}.pid"), "w") as f:
        f.write(f"{os.getpid()}\n")


def release(prefix: str) -> None:
    for path in glob.glob(os.path.join(tempfile.gettempdir(), f"{prefix}-*")):
        shutil.rmtree(path, ignore_errors=True)
    try:
        os.unlink(os.path.join(CLAIMS, f"{prefix}.pid"))
    except FileNotFoundError:
        pass


def owner(prefix: str) -> int | None:
    """The live demo process that claims ``prefix``, or None."""
    try:
        with open(os.path.join(CLAIMS, f"{prefix}.pid")) as f:
            pid = int(f.read().strip())
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read().split(b"\0")
    except (OSError, ValueError):
        return None
    return pid if b"demo" in cmd and b"--cleanup" not in cmd else None


def namespaces() -> list[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def leftovers() -> dict[str, list[str]]:
    """Prefix → its namespaces, for every demo prefix on this machine (live or not)."""
    found: dict[str, list[str]] = {}
    for ns in namespaces():
        m = PREFIX_RE.match(ns)
        if m:
            found.setdefault(m.group(1), []).append(ns)
    for path in glob.glob(os.path.join(CLAIMS, "vdemo*.pid")) + glob.glob(os.path.join(tempfile.gettempdir(), "vdemo*-*")):
        m = PREFIX_RE.match(os.path.basename(path).replace(".pid", "-"))
        if m:
            found.setdefault(m.group(1), [])
    return found


def remove(prefix: str, nss: list[str] | None = None) -> int:
    """Remove the lab of ``prefix`` whatever state it is in (half built, its
    demo killed): every process in its namespaces, the namespaces, its
    temporary directories and claim.  Returns how many processes it killed."""
    if nss is None:
        nss = [ns for ns in namespaces() if ns.startswith(prefix + "-")]
    killed = 0
    for ns in nss:
        pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout.split()
        for p in pids:
            try:
                os.kill(int(p), signal.SIGKILL)
                killed += 1
            except (ProcessLookupError, ValueError):
                pass
    for ns in nss:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
    release(prefix)
    return killed


def cleanup(report=print) -> int:
    """Remove every demo lab whose demo is gone: its processes (everything
    running in its namespaces), namespaces, temporary directories and claim.
    A running demo's lab is left alone.  Returns how many labs were removed."""
    removed = 0
    for prefix, nss in sorted(leftovers().items()):
        pid = owner(prefix)
        if pid is not None:
            report(f"{prefix}: the demo (pid {pid}) is still running; left alone (quit it with q)")
            continue
        killed = remove(prefix, nss)
        report(f"{prefix}: removed {len(nss)} namespaces, {killed} processes and its temporary files")
        removed += 1
    if not removed:
        report("nothing of a demo left behind")
    return removed


def _uts_hostname(name: str) -> tuple[str, ...]:
    """Run the daemon in its own UTS namespace whose host name is ``name``
    (each exec in turn, so the daemon keeps the pid the lab killed)."""
    return ("unshare", "--uts", "--", "sh", "-c", 'hostname "$0" && exec "$@"', name)


def build(with_keepalived: bool = True, advert_int: float = 1, prefix: str | None = None,
          client: bool = True) -> Demo:
    """The demo lab; its namespaces are named ``PREFIX-node1`` ... (a fresh prefix when None)."""
    prefix = prefix or demo_prefix()
    claim(prefix)
    lab = Lab(prefix)
    try:
        n1 = lab.add_node("node1", "198.18.0.1/24")
        n2 = lab.add_node("node2", "198.18.0.2/24")
        rs3 = lab.add_node("node3", f"{RS[0]}/24")
        rs4 = lab.add_node("node4", f"{RS[1]}/24")
        web = {"node3": web_server(rs3, "node3", (VIP1, VIP2)), "node4": web_server(rs4, "node4", (VIP1, VIP2))}
        wd = tempfile.mkdtemp(prefix=f"{prefix}-seed-")
        down_script = os.path.join(wd, "down.sh")
        with open(down_script, "w") as f:
            f.write(f"#!/bin/sh\n[ -f {wd}/down ] && exit 1 || exit 0\n")
        os.chmod(down_script, 0o755)
        routers = {
            "node1": start_vipdeck(n1, node_conf("node1", True, advert_int, down_script), extra_args=(),
                                   prefix=_uts_hostname("node1")),
            "node2": start_vipdeck(n2, node_conf("node2", False, advert_int), extra_args=(),
                                   prefix=_uts_hostname("node2")),
        }
        nodes = {"node1": n1, "node2": n2, "node3": rs3, "node4": rs4}
        if with_keepalived and shutil.which("keepalived"):
            ka = lab.add_node("ka", "198.18.0.5/24")
            routers["keepalived"] = start_keepalived(ka, vrrp_conf(
                router_id="ka", mcast_group=GROUP, instances=[dict(
                    name="VI_3", vrid=53, priority=150, state="MASTER", advert_int=advert_int,
                    vips=[VIP3], auth_pass="3333")]))
            nodes["ka"] = ka
        demo = Demo(lab, nodes, routers, web, down_file=os.path.join(wd, "down"))
        if client:
            nodes["client"] = lab.add_node("client", f"{CLIENT}/24")
            demo.client = Client(nodes["client"].netns)
        wait_until(lambda: n1.has_address(VIP1) and n2.has_address(VIP2), 15, what="demo VIPs up")
        if demo.client is not None:
            demo.client.start()
        return demo
    except BaseException:
        lab.close()
        release(prefix)
        raise
