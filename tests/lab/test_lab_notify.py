"""keepalived's runtime notices from a real daemon in a namespace lab:

* the notify FIFOs, read by the test and by a notify_fifo_script, carrying
  an instance's, a sync group's and a real server's transitions in order,
  surviving a reader that goes away, rewritten at a reload
  (fifo_write_vrrp_states_on_reload), removed at exit;
* a real server's DOWN/UP mails, from a TCP_CHECK against a real listener
  that is closed and reopened, to a real SMTP server (aiosmtpd);
* startup_script / shutdown_script around everything, killed at their
  timeouts, a stop during the startup script;
* vrrp_startup_delay / vrrp_delay_after_boot measured on the wire.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from vipdeck.engine.lab import wait_until
from vipdeck.engine.lab.peers import instance, start_vipdeck, status, vrrp_conf
from tests.lab.test_lab_failover_effects import _messages, smtp_node  # noqa: F401  (aiosmtpd in a lab node)
from tests.unit.test_notify_checkers import FifoReader

pytestmark = pytest.mark.lab

VIP = "198.18.0.199"
RS, VS = "[198.18.0.2]:tcp:8080", "[198.18.0.100]:tcp:80"


class Listener:
    """A TCP service in lab node ``rs`` (the kernel answers; closing it refuses)."""

    def __init__(self, node, port: int = 8080):
        self.node, self.port, self.sock = node, port, None

    def up(self) -> None:
        s = self.node.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((self.node.ip, self.port))
        s.listen(64)
        self.sock = s

    def down(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


def lvs_block(*, smtp: bool = False) -> str:
    return f'''
virtual_server 198.18.0.100 80 {{
    delay_loop 0.3
    lvs_sched rr
    protocol TCP
    {"smtp_alert" if smtp else ""}
    real_server 198.18.0.2 8080 {{
        TCP_CHECK {{
            connect_timeout 1
            retry 0
        }}
    }}
}}
'''


def conf(global_extra: str, extra: str = "", group: bool = False, **inst) -> str:
    i = dict(name="VI_1", vrid=51, priority=100, state="BACKUP", advert_int=0.1, vips=[VIP])
    i.update(inst)
    sync = "vrrp_sync_group G1 {\n    group {\n        VI_1\n    }\n}\n" if group else ""
    return vrrp_conf(router_id="lb1", version=3, global_extra=global_extra, instances=[i], extra=sync + extra)


def test_fifos_carry_instance_group_and_real_server_changes_in_order(lab, tmp_path):
    n1 = lab.add_node("n1", "198.18.0.1/24")
    backend = Listener(lab.add_node("rs", "198.18.0.2/24"))
    backend.up()
    lab.on_close(backend.down)
    everything, vrrp_f, lvs_f = tmp_path / "ka.fifo", tmp_path / "vrrp.fifo", tmp_path / "lvs.fifo"
    seen = tmp_path / "script.log"
    reader = tmp_path / "reader.sh"
    reader.write_text(f'#!/bin/sh\nfor f; do :; done\necho "started with $f" > {seen}\n'
                      f'while read line; do echo "$line" >> {seen}; done < "$f"\necho EOF >> {seen}\n')
    reader.chmod(0o755)
    g = (f"notify_fifo {everything}\n    notify_fifo_script {reader}\n    vrrp_notify_fifo {vrrp_f}\n"
         f"    lvs_notify_fifo {lvs_f}\n    fifo_write_vrrp_states_on_reload")
    r = start_vipdeck(n1, conf(g, lvs_block(), group=True))

    def script_lines() -> list[str]:
        return seen.read_text().splitlines()[1:] if seen.exists() else []

    wait_until(lambda: 'GROUP "G1" MASTER 0' in script_lines(), 15, what="the group to become MASTER")
    assert seen.read_text().splitlines()[0] == f"started with {everything}"
    v = FifoReader(vrrp_f)                     # opened late: the lines wait in the pipe for it
    vrrp_lines = ['INSTANCE "VI_1" BACKUP 100', 'GROUP "G1" BACKUP 0',
                  'INSTANCE "VI_1" MASTER 100', 'GROUP "G1" MASTER 0']
    assert v.lines() == vrrp_lines
    v.close()                                  # the reader goes away ...
    lv = FifoReader(lvs_f)

    backend.down()
    wait_until(lambda: f"VS {VS} DOWN" in script_lines(), 15, what="the real server DOWN")
    backend.up()
    wait_until(lambda: f"VS {VS} UP" in script_lines(), 15, what="the real server UP")
    lvs_lines = [f"RS {RS} {VS} DOWN", f"VS {VS} DOWN", f"RS {RS} {VS} UP", f"VS {VS} UP"]
    assert lv.lines() == lvs_lines

    r.signal(signal.SIGHUP)                    # ... and lines written meanwhile wait for the next one
    reloaded = ['INSTANCE "VI_1" MASTER 100', 'GROUP "G1" MASTER 0']
    wait_until(lambda: script_lines()[-2:] == reloaded, 10, what="the states written after the reload")
    assert r.alive() and instance(r, "VI_1")["state"] == "MASTER"
    v = FifoReader(vrrp_f)
    assert v.lines() == reloaded

    assert r.stop() == 0
    stopped = ['INSTANCE "VI_1" STOP 100', 'GROUP "G1" STOP 0']
    wait_until(lambda: seen.read_text().splitlines()[-1] == "EOF", 5, what="the script to see end of file")
    assert script_lines() == vrrp_lines + lvs_lines + reloaded + stopped + ["EOF"]
    assert v.lines() == reloaded + stopped
    assert lv.lines() == lvs_lines             # no VRRP line on the LVS FIFO
    assert not everything.exists() and not vrrp_f.exists() and not lvs_f.exists()
    v.close()
    lv.close()


def test_a_fifo_nobody_reads_never_holds_the_daemon_up(lab, tmp_path):
    """No reader at all, ever: the daemon runs, fails over and stops as usual."""
    n1 = lab.add_node("n1", "198.18.0.1/24")
    path = tmp_path / "unread.fifo"
    r = start_vipdeck(n1, conf(f"notify_fifo {path}"))
    wait_until(lambda: n1.has_address(VIP), 10, what="MASTER")
    os.kill(r.proc.pid, 0)
    assert r.stop() == 0 and not n1.has_address(VIP) and not path.exists()


def test_a_real_server_down_and_up_is_mailed(lab, tmp_path, smtp_node):  # noqa: F811
    n1 = lab.add_node("n1", "198.18.0.1/24")
    backend = Listener(lab.add_node("rs", "198.18.0.2/24"))
    backend.up()
    lab.on_close(backend.down)
    # as in the seed: notification_email and smtp_server, no smtp_alert anywhere
    mail = ("notification_email {\n        ops@example.test\n    }\n    notification_email_from lb1@example.test\n"
            "    smtp_server 198.18.0.25 2525\n    smtp_connect_timeout 5")
    r = start_vipdeck(n1, conf(mail, lvs_block()))
    wait_until(lambda: status(r)["virtual_servers"][0]["real_servers"][0]["checkers"][0]["ok"], 15,
               what="a first TCP_CHECK success")
    backend.down()
    wait_until(lambda: len(_messages(smtp_node)) >= 1, 15, what="the DOWN mail")
    backend.up()
    wait_until(lambda: len(_messages(smtp_node)) >= 2, 15, what="the UP mail")
    assert r.stop() == 0
    msgs = sorted(_messages(smtp_node), key=lambda m: m["Date"])
    # a long Subject is folded on the wire (RFC 5322); unfolded it is keepalived's
    got = sorted((m["Subject"].replace("\n", ""), m.get_payload().strip()) for m in msgs)
    assert got == sorted([
        (f"[lb1] Realserver {RS} of virtual server {VS} - DOWN", "=> TCP CHECK failed on service <="),
        (f"[lb1] Realserver {RS} of virtual server {VS} - UP", "=> TCP CHECK succeed on service <="),
    ]), got
    assert all(m["From"] == "lb1@example.test" and m["To"] == "ops@example.test" for m in msgs)


# --------------------------------------------------------------------------- startup / shutdown scripts


def _recorder(tmp_path, name: str, extra: str = "") -> tuple:
    """A script that writes what it sees: the VIP, the control socket, the pid file."""
    log = tmp_path / f"{name}.log"
    script = tmp_path / f"{name}.sh"
    script.write_text("#!/bin/sh\n"
                      f'{{ echo "{name} $*"\n'
                      f'  ip -o addr show dev eth0 | grep -q " {VIP}/" && echo vip || echo novip\n'
                      '  [ -S "$TMPDIR/control.sock" ] && echo socket || echo nosocket\n'
                      '  [ -f "$TMPDIR/vipdeck.pid" ] && echo pidfile || echo nopidfile\n'
                      f'}} >> {log}\n{extra}')
    script.chmod(0o755)
    return script, log


def test_startup_script_runs_before_anything_and_shutdown_script_after_everything(lab, tmp_path):
    n1 = lab.add_node("n1", "198.18.0.1/24")
    start, start_log = _recorder(tmp_path, "start")
    stop, stop_log = _recorder(tmp_path, "stop")
    r = start_vipdeck(n1, conf(f'startup_script "{start} up"\n    shutdown_script "{stop} down"',
                               priority=255, state="MASTER"))
    assert start_log.read_text().split("\n")[:4] == ["start up", "novip", "nosocket", "pidfile"]
    wait_until(lambda: n1.has_address(VIP), 10, what="MASTER")
    assert not stop_log.exists()
    assert r.stop() == 0
    # masters resigned, VIP and control socket gone, the pid file still there
    assert stop_log.read_text().split("\n")[:4] == ["stop down", "novip", "nosocket", "pidfile"]
    assert not os.path.exists(os.path.join(r.workdir, "vipdeck.pid"))


def test_scripts_that_hang_are_killed_at_their_timeouts_and_the_daemon_goes_on(lab, tmp_path):
    n1 = lab.add_node("n1", "198.18.0.1/24")
    pids = tmp_path / "pids"
    hang = tmp_path / "hang.sh"
    hang.write_text(f"#!/bin/sh\necho $$ >> {pids}\nexec sleep 1000\n")
    hang.chmod(0o755)
    fail = tmp_path / "fail.sh"
    fail.write_text("#!/bin/sh\nexit 3\n")
    fail.chmod(0o755)
    g = f"startup_script {hang}\n    startup_script_timeout 1\n    shutdown_script {hang}\n    shutdown_script_timeout 1"
    t0 = time.monotonic()
    r = start_vipdeck(n1, conf(g, priority=255, state="MASTER"))
    assert time.monotonic() - t0 >= 1.0                   # it waited for the script ...
    first = int(pids.read_text().split()[0])
    wait_until(lambda: not _alive(first), 5, what="the hung startup script to be killed")
    wait_until(lambda: n1.has_address(VIP), 10, what="MASTER")     # ... and then started
    assert "startup_script " + str(hang) + " did not finish within its 1 s timeout: killed; starting anyway" \
        in r.log()
    t0 = time.monotonic()
    assert r.stop(timeout=20) == 0
    assert time.monotonic() - t0 < 15                     # 1 s, then SIGTERM (sleep dies at once)
    second = int(pids.read_text().split()[1])
    assert not _alive(second)
    assert "shutdown_script " + str(hang) + " did not finish within its 1 s timeout: killed; exiting anyway" \
        in r.log()

    r = start_vipdeck(n1, conf(f"startup_script {fail}", priority=255, state="MASTER"))
    wait_until(lambda: n1.has_address(VIP), 10, what="MASTER despite the failed startup script")
    assert f"startup_script {fail} failed (exited with status 3); starting anyway" in r.log()
    assert r.stop() == 0


def test_a_stop_during_the_startup_script_kills_it_and_starts_nothing(lab, tmp_path):
    n1 = lab.add_node("n1", "198.18.0.1/24")
    pids, after = tmp_path / "pids", tmp_path / "after.log"
    hang = tmp_path / "hang.sh"
    hang.write_text(f"#!/bin/sh\necho $$ >> {pids}\nexec sleep 1000\n")
    hang.chmod(0o755)
    cfg = tmp_path / "keepalived.conf"
    cfg.write_text(conf(f"startup_script {hang}\n    startup_script_timeout 100\n"
                        f"    shutdown_script \"/bin/sh -c 'echo ran >> {after}'\"", priority=255, state="MASTER"))
    sock = tmp_path / "control.sock"
    log = open(tmp_path / "daemon.log", "w")
    proc = n1.popen(sys.executable, "-m", "vipdeck", "daemon", "-D", "-l", "-f", str(cfg), "--socket", str(sock),
                    "--state-dir", str(tmp_path / "state"), "--pid-file", str(tmp_path / "vipdeck.pid"),
                    stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ, TMPDIR=str(tmp_path)))
    log.close()
    wait_until(lambda: pids.exists() and pids.read_text().strip(), 20, what="the startup script")
    script = int(pids.read_text().split()[0])
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0
    assert not _alive(script)
    text = (tmp_path / "daemon.log").read_text()
    assert "stop requested while the startup script ran: it was killed; not starting" in text
    assert not sock.exists() and not n1.has_address(VIP)
    assert after.read_text() == "ran\n"                  # the shutdown script still undoes what start did
    assert not (tmp_path / "vipdeck.pid").exists()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split()[2] != "Z"


# --------------------------------------------------------------------------- VRRP start delay


def _first_advert_after_start(lab, make_global, delay: float):
    """(the time the delay counts from, first advert seen, snapshot during the delay,
    router) for an address owner, which would advertise at once without a delay."""
    n1 = lab.add_node("n1", "198.18.0.1/24")
    sniff = lab.sniffer()
    t0, global_extra = make_global()
    r = start_vipdeck(n1, conf(global_extra, priority=255, state="MASTER"))
    during = instance(r, "VI_1") if time.time() < t0 + delay - 0.5 else None
    first = wait_until(lambda: sniff.snapshot(vrid=51, src=n1.ip), delay + 10, what="a first advert")[0]
    assert r.stop() == 0
    return t0, first, during, r


def _startup_delay(delay: float):
    return time.time(), f"vrrp_startup_delay {delay:g}"     # the daemon starts after this


def _after_boot(delay: float):
    with open("/proc/uptime") as f:              # "delay seconds from now", counted from boot
        up = float(f.read().split()[0])
    return time.time(), f"vrrp_delay_after_boot {up + delay:.3f}"


@pytest.mark.parametrize("how", [_startup_delay, _after_boot], ids=["vrrp_startup_delay", "vrrp_delay_after_boot"])
def test_no_advert_before_the_start_delay(lab, how):
    delay = 4.0
    t0, first, during, r = _first_advert_after_start(lab, lambda: how(delay), delay)
    assert first.time >= t0 + delay - 0.01, (first.time - t0)   # the owner kept quiet until then
    assert first.time <= t0 + delay + 5, (first.time - t0)     # ... and did start
    if during is not None:                      # the control socket answered within the delay
        assert during["state"] == "INIT" and during["counters"]["adverts_sent"] == 0
    assert "Delaying startup for " in r.log() and "Delayed start completed" in r.log()
