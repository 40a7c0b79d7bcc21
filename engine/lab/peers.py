"""Start VRRP routers in lab nodes: a real keepalived, FRR vrrpd, or a vipdeck daemon.

Both get their own config file, pid files, socket and state directory in
a per-run directory, so several can run side by side and a leftover from
an earlier run never gets in the way (keepalived refuses to start when its
pid file names a live process).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field

from vipdeck.engine.control.client import SocketClient
from vipdeck.engine.lab.wait import Timeout, wait_until


def vrrp_conf(*, router_id: str, instances: list[dict], mcast_group: str | None = None,
              version: int | None = None, global_extra: str = "", scripts: str = "",
              extra: str = "") -> str:
    """A keepalived.conf for lab nodes.

    Each instance dict: name, vrid, priority, state, interface (eth0),
    advert_int, vips (list), auth_pass (None for no auth), nopreempt,
    notify (dict state->command), track_script (list), more (raw lines).
    """
    g = [f"router_id {router_id}"]
    if mcast_group:
        g.append(f"vrrp_mcast_group4 {mcast_group}")
    if version:
        g.append(f"vrrp_version {version}")
    if global_extra:
        g.append(global_extra)
    out = ["global_defs {", *("    " + x for x in g), "}", scripts]
    for i in instances:
        body = [
            f"state {i.get('state', 'BACKUP')}",
            f"interface {i.get('interface', 'eth0')}",
            f"virtual_router_id {i['vrid']}",
            f"priority {i['priority']}",
            f"advert_int {i.get('advert_int', 1)}",
        ]
        if i.get("version"):
            body.append(f"version {i['version']}")
        if i.get("nopreempt"):
            body.append("nopreempt")
        if i.get("auth_pass"):
            body += ["authentication {", "    auth_type PASS", f"    auth_pass {i['auth_pass']}", "}"]
        body += ["virtual_ipaddress {", *("    " + v for v in i.get("vips", [])), "}"]
        if i.get("track_script"):
            body += ["track_script {", *("    " + s for s in i["track_script"]), "}"]
        for state, cmd in (i.get("notify") or {}).items():
            key = "notify" if state == "any" else f"notify_{state}"
            body.append(f'{key} "{cmd}"')
        body += i.get("more", [])
        out += [f"vrrp_instance {i['name']} {{", *("    " + b for b in body), "}"]
    out.append(extra)
    return "\n".join(out) + "\n"


def read_log(path: str) -> str:
    """What a lab process has logged so far (empty before it wrote anything),
    for assertions and for the failure message when it died."""
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


@dataclass
class Router:
    """A VRRP router process running in a lab node."""

    node: object
    kind: str                       # "keepalived" | "vipdeck" | "frr"
    conf_path: str
    workdir: str
    log_path: str
    proc: subprocess.Popen | None = None
    pidfiles: dict[str, str] = field(default_factory=dict)
    socket_path: str = ""
    state_dir: str = ""

    def log(self) -> str:
        return read_log(self.log_path)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _child_pids(self) -> list[int]:
        if self.kind != "keepalived":
            return []
        pids = []
        for key in ("vrrp", "check"):
            try:
                with open(self.pidfiles[key]) as f:
                    pids.append(int(f.read().strip()))
            except (FileNotFoundError, ValueError, KeyError):
                pass
        return pids

    def crash(self) -> None:
        """SIGKILL, children first: no priority-0 advert goes out."""
        for pid in self._child_pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.proc and self.proc.poll() is None:
            # vipdeck runs under `ip netns exec` which execs, so proc.pid is the daemon
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self, timeout: float = 10) -> int | None:
        """SIGTERM and wait: a clean resign."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.crash()
        # keepalived's children may outlive the parent briefly
        for pid in self._child_pids():
            wait_until(lambda p=pid: not _pid_alive(p), 10, what=f"keepalived child {pid} exit")
        return self.proc.returncode if self.proc else None

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def _workdir(node, kind: str) -> str:
    wd = tempfile.mkdtemp(prefix=f"{node.netns}-{kind}-")
    node.lab.on_close(lambda: shutil.rmtree(wd, ignore_errors=True))
    return wd


def start_keepalived(node, conf: str, binary: str = "keepalived", extra_args: tuple[str, ...] = ()) -> Router:
    wd = _workdir(node, "ka")
    conf_path = os.path.join(wd, "keepalived.conf")
    with open(conf_path, "w") as f:
        f.write(conf)
    pids = {k: os.path.join(wd, f"{k}.pid") for k in ("main", "vrrp", "check")}
    log_path = os.path.join(wd, "keepalived.log")
    logf = open(log_path, "w")
    # -n foreground, -l log to stdout, -D detailed, -G no syslog (these machines have no
    # /dev/log: glibc's syslog falls back to a 9600-baud /dev/console and a burst of
    # keepalived's own lines stalls its adverts past Master_Down_Interval);
    # --vrrp only: no checker process
    proc = node.popen(binary, "-n", "-l", "-G", "-D", "-f", conf_path, "-p", pids["main"], "-r", pids["vrrp"],
                      "-c", pids["check"], "--vrrp", *extra_args, stdout=logf, stderr=subprocess.STDOUT)
    logf.close()
    r = Router(node, "keepalived", conf_path, wd, log_path, proc, pids)
    wait_until(lambda: os.path.exists(pids["vrrp"]) or proc.poll() is not None, 10, what="keepalived VRRP child")
    if proc.poll() is not None:
        raise RuntimeError(f"keepalived exited at start:\n{r.log()}")
    node.lab.on_close(r.crash)
    return r


def start_vipdeck(node, conf: str, extra_args: tuple[str, ...] = ("-D",), env: dict | None = None,
                  state_dir: str | None = None, prefix: tuple[str, ...] = ()) -> Router:
    """A vipdeck daemon in ``node``; ``state_dir`` puts its state elsewhere
    than the per-run directory (e.g. on a tiny tmpfs for disk-full tests);
    ``prefix`` goes before the interpreter (e.g. setpriv with a capability bounding set)."""
    wd = _workdir(node, "vd")
    conf_path = os.path.join(wd, "keepalived.conf")
    with open(conf_path, "w") as f:
        f.write(conf)
    sock = os.path.join(wd, "control.sock")
    state = state_dir or os.path.join(wd, "state")
    log_path = os.path.join(wd, "vipdeck.log")
    logf = open(log_path, "w")
    # TMPDIR: keepalived's dump signals write there (the per-run directory, removed with the lab)
    e = dict(os.environ, PYTHONUNBUFFERED="1", TMPDIR=wd, **(env or {}))
    # -l: the log on stdout for r.log() even where a /dev/log exists (syslog is the default)
    proc = node.popen(*prefix, sys.executable, "-m", "vipdeck", "daemon", "-l", "-f", conf_path, "--socket", sock,
                      "--state-dir", state, "--pid-file", os.path.join(wd, "vipdeck.pid"), *extra_args,
                      stdout=logf, stderr=subprocess.STDOUT, env=e)
    logf.close()
    r = Router(node, "vipdeck", conf_path, wd, log_path, proc, {}, sock, state)
    # the UML guest's one CPU is slowed by whatever the host runs: a start there gets longer
    limit = 60 if os.environ.get("VIPDECK_IN_UML") == "1" else 20
    try:
        wait_until(lambda: listening(sock) or proc.poll() is not None, limit, what="vipdeck control socket")
    except Timeout as exc:
        # what the daemon was doing: its own log says which start-up step it is in
        raise Timeout(f"{exc}; its log so far:\n{r.log()[-4000:]}\n{_busiest()}") from None
    if proc.poll() is not None:
        raise RuntimeError(f"vipdeck daemon exited at start:\n{r.log()}")
    node.lab.on_close(r.crash)
    return r


def _busiest(n: int = 8) -> str:
    """The processes with the most CPU time (a slow start on a busy machine
    or a guest CPU taken by something a previous test left running)."""
    try:
        out = subprocess.run(["ps", "-eo", "pid,stat,etime,time,args", "--sort=-time"], capture_output=True,
                             text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        return f"(ps: {exc})"
    return "busiest processes:\n" + "\n".join(line[:160] for line in out.splitlines()[:n + 1])


def listening(path: str) -> bool:
    """The daemon accepts on its control socket.  Not just "the file exists":
    bind() makes the file before listen(), and a status read in between was
    refused (seen once in CI on a loaded machine)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()


def status(router: Router) -> dict:
    """The daemon's snapshot, read through its control socket."""
    return asyncio.run(SocketClient(router.socket_path).snapshot())


def instance(router: Router, name: str) -> dict:
    return next(i for i in status(router)["instances"] if i["name"] == name)



FRR_DIR = "/usr/lib/frr"


def frr_missing() -> str | None:
    """Why FRR's vrrpd cannot be started here, or None."""
    for d in ("zebra", "vrrpd"):
        if not os.access(os.path.join(FRR_DIR, d), os.X_OK):
            return f"{FRR_DIR}/{d} is not installed (Debian package frr)"
    if shutil.which("vtysh") is None:
        return "vtysh is not installed (Debian package frr)"
    return None


def frr_vrrp_conf(vrid: int, *, priority: int, interval_ms: int = 1000, ipv4: list[str] = (),
                  ipv6: list[str] = (), interface: str = "eth0", version: int = 3, preempt: bool = True) -> str:
    """vrrpd's configuration of one virtual router (both families share the VRID,
    FRR's usual dual-stack setup)."""
    lines = [f"interface {interface}", f" vrrp {vrid} version {version}", f" vrrp {vrid} priority {priority}",
             f" vrrp {vrid} advertisement-interval {interval_ms}"]
    if not preempt:
        lines.append(f" no vrrp {vrid} preempt")
    lines += [f" vrrp {vrid} ip {a}" for a in ipv4] + [f" vrrp {vrid} ipv6 {a}" for a in ipv6]
    return "\n".join(lines) + "\n"


def frr_macvlans(node, vrid: int, *, ipv4: list[str] = (), ipv6: list[str] = (), parent: str = "eth0") -> None:
    """vrrpd needs one macvlan per VRID and family carrying the virtual MAC
    (00:00:5e:00:01:VRID, 00:00:5e:00:02:VRID for IPv6) and the VIPs; it keeps
    the macvlan down (protodown) while backup."""
    for fam, addrs in (("4", ipv4), ("6", ipv6)):
        if not addrs:
            continue
        dev = f"vrrp{fam}-{vrid}"
        mac = f"00:00:5e:00:0{1 if fam == '4' else 2}:{vrid:02x}"
        node.run("ip", "link", "add", dev, "link", parent, "type", "macvlan", "mode", "bridge")
        node.run("ip", "link", "set", dev, "address", mac)
        node.run("ip", "link", "set", dev, "addrgenmode", "random")     # a link-local address for IPv6
        for a in addrs:
            node.run("ip", "addr", "add", a if "/" in a else a + ("/32" if fam == "4" else "/128"), "dev", dev)
        node.run("ip", "link", "set", dev, "up")


def start_frr(node, conf: str) -> Router:
    """zebra + vrrpd in ``node``, with their own pid files, sockets and logs.
    Query it with ``vtysh(router, "show vrrp")``."""
    import pwd

    wd = _workdir(node, "frr")
    frr = pwd.getpwnam("frr")
    os.chown(wd, frr.pw_uid, frr.pw_gid)       # the daemons run as frr and write here
    os.chmod(wd, 0o755)
    conf_path = os.path.join(wd, "vrrpd.conf")
    with open(conf_path, "w") as f:
        f.write(conf)
    os.chown(conf_path, frr.pw_uid, frr.pw_gid)
    common = ["-N", node.netns, "-z", os.path.join(wd, "zserv.api"), "--vty_socket", wd,
              "-A", "127.0.0.1", "-P", "0"]
    zlog = os.path.join(wd, "zebra.log")
    zebra = node.popen(os.path.join(FRR_DIR, "zebra"), *common, "-i", os.path.join(wd, "zebra.pid"),
                       "-f", "/dev/null", "--log", f"file:{zlog}",
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_until(lambda: os.path.exists(os.path.join(wd, "zserv.api")) or zebra.poll() is not None, 10,
               what="zebra's zserv socket")
    if zebra.poll() is not None:
        raise RuntimeError(f"zebra exited at start (log {zlog})")
    log_path = os.path.join(wd, "vrrpd.log")
    proc = node.popen(os.path.join(FRR_DIR, "vrrpd"), *common, "-i", os.path.join(wd, "vrrpd.pid"),
                      "-f", conf_path, "--log", f"file:{log_path}",
                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    r = Router(node, "frr", conf_path, wd, log_path, proc, {"zebra": os.path.join(wd, "zebra.pid")})
    node.lab.on_close(r.crash)
    node.lab.on_close(lambda: _kill(zebra))
    wait_until(lambda: os.path.exists(os.path.join(wd, "vrrpd.vty")) or proc.poll() is not None, 10,
               what="vrrpd's vty socket")
    if proc.poll() is not None:
        raise RuntimeError(f"vrrpd exited at start:\n{r.log()}")
    return r


def vtysh(router: Router, command: str) -> str:
    return router.node.run("vtysh", "--vty_socket", router.workdir, "-c", command, check=False).stdout


def _kill(p: subprocess.Popen) -> None:
    if p.poll() is None:
        p.kill()
        p.wait(timeout=10)
