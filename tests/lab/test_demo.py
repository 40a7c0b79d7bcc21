"""The README's first command: the demo lab comes up, the real console draws
it, its fault keys cause real faults, and it leaves nothing behind however
it ends (q, Ctrl-C, SIGHUP during the teardown, kill -9 then --cleanup).

The interactive runs drive the real demo in a real terminal (tmux, on a
private server socket), as an operator would."""

import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from tests.support.paths import ROOT, require, require_root_netns
from tests.support.svg import remote_urls, svg_text
from vipdeck.engine.lab.wait import wait_until


def _netns() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def _assert_nothing_left(prefix: str, what: str) -> None:
    ns = {n for n in _netns() if n.startswith(prefix + "-")}
    assert not ns, f"{what} left namespaces behind: {ns}"
    procs = subprocess.run(["pgrep", "-af", prefix], capture_output=True, text=True).stdout
    assert not procs.strip(), f"{what} left processes behind: {procs}"
    dirs = [p for p in os.listdir(tempfile.gettempdir()) if p.startswith(prefix + "-")]
    assert not dirs, f"{what} left temporary directories behind: {dirs}"
    assert not os.path.exists(f"/run/vipdeck-demo/{prefix}.pid"), f"{what} left its claim behind"


def test_demo_builds_its_lab_and_the_console_shows_every_screen(tmp_path):
    require_root_netns()
    r = subprocess.run([sys.executable, "-m", "vipdeck", "demo", "--no-keepalived", "--screenshots", str(tmp_path)],
                       capture_output=True, text=True, timeout=150)
    assert r.returncode == 0, r.stderr[-2000:]
    shots = {p.name: p.read_text() for p in tmp_path.glob("*.svg")}
    assert {"1-overview.svg", "2-adverts.svg", "3-vips.svg", "4-ipvs.svg", "5-events.svg"} <= set(shots)
    # live data from the lab, not a fixture
    assert "198.18.0.198" in shots["3-vips.svg"] and "HTTP_GET" in shots["4-ipvs.svg"]
    assert "MASTER" in shots["1-overview.svg"]
    # each director is called by its own name (both were "vm", the machine's, before)
    assert "node1" in svg_text(shots["1-overview.svg"]).splitlines()[0]
    # the client's traffic is on the status line (no IPVS on this kernel: refused, and said so)
    assert "client .198" in svg_text(shots["1-overview.svg"])
    # the master change the demo staged is on the adverts timeline
    assert "no master change in the window" not in svg_text(shots["2-adverts.svg"])
    for name, svg in shots.items():
        assert not remote_urls(svg), f"{name} fetches {remote_urls(svg)}"
    prefix = re.search(r"in namespaces (vdemo[0-9a-f]{4})-\*", r.stderr).group(1)
    _assert_nothing_left(prefix, "--screenshots")


def test_a_killed_or_hung_up_demo_still_removes_its_lab(tmp_path):
    """Closing the terminal (SIGHUP) or a kill (SIGTERM) must not leave
    namespaces and daemons behind."""
    require_root_netns()
    for sig in (signal.SIGTERM, signal.SIGHUP):
        before = _netns()
        p = subprocess.Popen([sys.executable, "-m", "vipdeck", "demo", "--no-keepalived", "--screenshots",
                              str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            mine = wait_until(lambda: {n for n in _netns() - before if n.endswith("-node2")}, 30,
                              what="the demo lab built")
            prefix = next(iter(mine))[:-len("-node2")]
            if sig == signal.SIGHUP:     # this one once the daemons run (SIGTERM came during the build)
                wait_until(lambda: subprocess.run(["pgrep", "-f", f"{prefix}-node2-vd"]).returncode == 0, 30,
                           what="node2's daemon running")
            p.send_signal(sig)
            assert p.wait(timeout=30) == 128 + sig, p.stderr.read()[-2000:]
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        _assert_nothing_left(prefix, repr(sig))


# -- the interactive demo in a real terminal -------------------------------------------------

class Terminal:
    """``vipdeck demo`` in a detached tmux session on a private server."""

    def __init__(self, tmp_path: Path):
        require(shutil.which("tmux") is not None, "tmux is not installed (apt-get install tmux)")
        self.sock = f"vipdeck-demo-{uuid.uuid4().hex[:8]}"
        # (stderr stays on the terminal: Textual draws there)
        cmd = f"cd {ROOT} && exec env -u COLUMNS -u LINES PYTHONPATH={ROOT} TERM=xterm-256color {sys.executable} -m vipdeck demo --no-keepalived"
        self.tmux("new-session", "-d", "-s", "demo", "-x", "160", "-y", "60", cmd)
        try:
            self.pid = int(self.tmux("list-panes", "-t", "demo", "-F", "#{pane_pid}").strip())
            self.prefix = wait_until(lambda: _claimed_by(self.pid), 20, what="the demo claims its prefix")
        except BaseException:
            self.close()     # the hang-up ends the demo, which removes its lab
            raise

    def tmux(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.sock, "-f", "/dev/null", *args], capture_output=True, text=True, check=True).stdout

    def screen(self) -> str:
        try:
            return self.tmux("capture-pane", "-p", "-t", "demo")
        except subprocess.CalledProcessError:
            return ""

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", "demo", *keys)

    def wait_screen(self, pattern: str, timeout: float = 30) -> str:
        try:
            return wait_until(lambda: re.search(pattern, self.screen(), re.M) and self.screen(), timeout,
                              what=f"{pattern!r} on the demo's screen")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.screen()}") from None

    def alive(self) -> bool:
        try:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:   # not our child (tmux's): look at /proc
            return os.path.exists(f"/proc/{self.pid}") and "zombie" not in _proc_state(self.pid)
        return pid == 0

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.sock, "kill-server"], capture_output=True)


def _proc_state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/status") as f:
            return next((line for line in f if line.startswith("State:")), "").lower()
    except FileNotFoundError:
        return "gone"


def _claimed_by(pid: int) -> str | None:
    """The prefix the demo ``pid`` claimed (/run/vipdeck-demo/PREFIX.pid)."""
    for path in Path("/run/vipdeck-demo").glob("vdemo*.pid"):
        try:
            if int(path.read_text().strip()) == pid:
                return path.name[:-len(".pid")]
        except (OSError, ValueError):
            continue
    return None


def _daemon_pid(prefix: str, node: str) -> int | None:
    out = subprocess.run(["pgrep", "-f", f"{prefix}-{node}-vd-.*/keepalived.conf"], capture_output=True,
                         text=True).stdout.split()
    return int(out[0]) if out else None


@pytest.fixture
def terminal(tmp_path):
    require_root_netns()
    t = Terminal(tmp_path)
    try:
        yield t
    finally:
        if t.alive():
            os.kill(t.pid, signal.SIGKILL)
        t.close()
        subprocess.run([sys.executable, "-m", "vipdeck", "demo", "--cleanup"], capture_output=True, timeout=60)


def test_the_demo_faults_are_real_and_q_with_a_hang_up_during_teardown_leaves_nothing(terminal):
    t = terminal
    first = t.wait_screen(r"vipdeck\s+node1\s+● live", 90)
    assert "client .198" in first
    # the cluster view: node2 through the demo's peer, both heard
    t.wait_screen(r"nodes: ● node1 ● node2")
    t.wait_screen(r"51\s+VI_1\s+MASTER 100 VIPs\s+BACKUP 96")
    # help lists the faults
    t.keys("?")
    t.wait_screen(r"Demo faults\s+K\s+kill node1's daemon with SIGKILL")
    t.keys("Escape")
    # (and the help closed before the next key: an Esc followed at once by K would read as Alt+K)
    wait_until(lambda: "Demo faults" not in t.screen(), 10, what="the help closed")
    # K: node1's daemon is killed for real, and the console says the link went
    pid = wait_until(lambda: _daemon_pid(t.prefix, "node1"), 10, what="node1's daemon")
    t.keys("K")
    wait_until(lambda: "zombie" in _proc_state(pid) or _proc_state(pid) == "gone", 10, what="node1's daemon killed")
    t.wait_screen(r"○ ")
    # S: started again, the console is live again
    t.keys("S")
    wait_until(lambda: _daemon_pid(t.prefix, "node1") not in (None, pid), 20, what="node1's daemon restarted")
    t.wait_screen(r"node1\s+● live")
    # X: VRRP cut in node1 (nftables), both nodes become MASTER of VI_2 (split brain); X again heals it
    t.keys("X")
    wait_until(lambda: _nft_cut(t.prefix), 10, what="the VRRP cut in node1")
    wait_until(lambda: _state(t.prefix, "node1", "VI_2") == _state(t.prefix, "node2", "VI_2") == "MASTER", 20,
               what="both nodes MASTER of VI_2")
    t.keys("X")
    wait_until(lambda: not _nft_cut(t.prefix), 10, what="the cut healed")
    wait_until(lambda: _state(t.prefix, "node1", "VI_2") == "BACKUP", 20, what="node1 back to BACKUP of VI_2")
    # D: the seed's down file lowers node1's VI_1 by 20, node2 (96) takes it; D again gives it back
    t.keys("D")
    wait_until(lambda: _state(t.prefix, "node2", "VI_1") == "MASTER", 20, what="node2 MASTER of VI_1")
    t.keys("D")
    wait_until(lambda: _state(t.prefix, "node1", "VI_1") == "MASTER", 20, what="node1 MASTER of VI_1 again")
    # H: node3's web server stops for real, and node1's HTTP_GET check says so
    t.keys("H")
    wait_until(lambda: _rs_state(t.prefix, "198.18.0.202:80") == "DOWN", 30, what="node3 DOWN in node1's checks")
    # both nodes still heard (seconds after their last change)
    t.wait_screen(r"nodes: ● node1 ● node2")
    # q, then hang-ups all through the teardown (from when the console has given the terminal
    # back and says it removes the lab): the teardown still finishes
    t.keys("q")
    t.wait_screen(r"removing the demo lab")
    while t.alive():
        try:
            os.kill(t.pid, signal.SIGHUP)
        except ProcessLookupError:
            break
        time.sleep(0.02)    # a storm, not a synchronisation: some of these land during the teardown
    _assert_nothing_left(t.prefix, "q then SIGHUP during the teardown")


def _snapshot(prefix: str, node: str) -> dict:
    from vipdeck.engine.control.client import SocketClient

    (sock,) = Path(tempfile.gettempdir()).glob(f"{prefix}-{node}-vd-*/control.sock")
    return asyncio.run(SocketClient(str(sock)).snapshot())


def _state(prefix: str, node: str, instance: str) -> str:
    return next(i["state"] for i in _snapshot(prefix, node)["instances"] if i["name"] == instance)


def _rs_state(prefix: str, key: str) -> str:
    vs = _snapshot(prefix, "node1")["virtual_servers"][0]
    return next(rs["state"] for rs in vs["real_servers"] if rs["key"] == key)


def _nft_cut(prefix: str) -> bool:
    return subprocess.run(["ip", "netns", "exec", f"{prefix}-node1", "nft", "list", "table", "inet",
                           "vipdeck_demo_cut"], capture_output=True).returncode == 0


def test_ctrl_c_quits_the_demo_and_removes_its_lab(terminal):
    t = terminal
    t.wait_screen(r"node1\s+● live", 90)
    t.keys("C-c")
    wait_until(lambda: not t.alive(), 60, what="the demo to quit on Ctrl-C")
    _assert_nothing_left(t.prefix, "Ctrl-C")


def test_cleanup_removes_what_a_killed_demo_left_and_spares_a_running_one(terminal):
    t = terminal
    t.wait_screen(r"node1\s+● live", 90)
    # a running demo is left alone
    r = subprocess.run([sys.executable, "-m", "vipdeck", "demo", "--cleanup"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0 and f"{t.prefix}: the demo (pid {t.pid}) is still running" in r.stdout, r.stdout
    assert f"{t.prefix}-node1" in _netns()
    os.kill(t.pid, signal.SIGKILL)
    wait_until(lambda: not t.alive(), 10, what="the demo killed")
    assert f"{t.prefix}-node1" in _netns() and _daemon_pid(t.prefix, "node2"), "kill -9 left nothing to clean?"
    r = subprocess.run([sys.executable, "-m", "vipdeck", "demo", "--cleanup"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0 and f"{t.prefix}: removed" in r.stdout, r.stdout + r.stderr
    _assert_nothing_left(t.prefix, "kill -9 and --cleanup")


def test_closing_the_terminal_removes_the_lab(terminal):
    """tmux closing the pane hangs up the demo (SIGHUP) while the console
    runs on a terminal that is gone."""
    t = terminal
    t.wait_screen(r"node1\s+● live", 90)
    t.close()
    wait_until(lambda: not t.alive(), 60, what="the demo to end on the hang-up")  # a teardown on a loaded machine
    _assert_nothing_left(t.prefix, "a closed terminal")
