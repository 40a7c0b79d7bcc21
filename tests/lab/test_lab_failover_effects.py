"""What a failover does around it: GARP reaching clients, notify scripts, mail.

A client namespace must reach the VIP at the new master's MAC right after a
takeover (its ARP entry updated by our gratuitous ARP), and every
transition must run the configured notify scripts in order and send one
SMTP alert to a real SMTP server (aiosmtpd, in its own lab node).
"""

from __future__ import annotations

import mailbox
import subprocess
import sys
import time

import pytest

from vipdeck.engine.lab import wait_until
from vipdeck.engine.lab.peers import instance, start_vipdeck
from tests.support.labconf import VIP1, seed_pair

pytestmark = pytest.mark.lab


def _neigh_mac(node, ip: str) -> str | None:
    out = node.run("ip", "neigh", "show", ip).stdout.split()
    return out[out.index("lladdr") + 1] if "lladdr" in out else None


def test_client_follows_the_vip_to_the_new_master_within_half_a_second(lab):
    n1 = lab.add_node("n1", "198.18.0.1/24")
    n2 = lab.add_node("n2", "198.18.0.2/24")
    client = lab.add_node("client", "198.18.0.50/24")
    sn = lab.sniffer()
    conf = dict(version=3, advert_int=0.1)
    r1 = start_vipdeck(n1, seed_pair("node1", 100, "MASTER", **conf))
    start_vipdeck(n2, seed_pair("node2", 96, "BACKUP", **conf))
    wait_until(lambda: n1.has_address(VIP1), 10)
    ping = client.run("ping", "-c1", "-W1", VIP1, check=False)
    assert ping.returncode == 0, ping.stdout
    assert _neigh_mac(client, VIP1) == n1.mac

    r1.crash()
    # poll the client's neighbour table, stamping each change with the wall clock
    changed_at = None
    deadline = time.time() + 5
    while time.time() < deadline:
        if _neigh_mac(client, VIP1) == n2.mac:
            changed_at = time.time()
            break
    assert changed_at is not None, "the client's ARP entry never moved to node2"
    first = next(p for p in sn.snapshot(vrid=51, src=n2.ip) if p.priority > 0)
    delay = changed_at - first.time
    assert delay <= 0.5, delay
    ping = client.run("ping", "-c1", "-W1", VIP1, check=False)
    assert ping.returncode == 0, ping.stdout
    assert _neigh_mac(client, VIP1) == n2.mac
    print(f"FIGURE client ARP entry moved {delay:.4f} s after node2's first master advert")


@pytest.fixture
def smtp_node(lab, tmp_path):
    mail = lab.add_node("mail", "198.18.0.25/24")
    box = tmp_path / "mbox"
    proc = mail.popen(sys.executable, "-m", "aiosmtpd", "-n", "-l", "198.18.0.25:2525",
                      "-c", "aiosmtpd.handlers.Mailbox", str(box),
                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def listening() -> bool:
        return ":2525" in mail.run("ss", "-ltn").stdout

    wait_until(listening, 10, what="SMTP server listening")
    assert proc.poll() is None
    return box


def _messages(box) -> list:
    try:
        return [m for m in mailbox.Maildir(str(box), create=False)]
    except (FileNotFoundError, mailbox.NoSuchMailboxError):
        return []


def _notify_script(tmp_path, name: str):
    log = tmp_path / f"{name}.log"
    script = tmp_path / f"{name}.sh"
    script.write_text(f"#!/bin/sh\necho \"$@\" >> {log}\n")
    script.chmod(0o755)
    notify = {"master": f"{script} master", "backup": f"{script} backup", "fault": f"{script} fault",
              "stop": f"{script} stop", "any": str(script)}
    return log, notify


def test_notify_scripts_in_order_and_an_smtp_alert_per_transition(lab, tmp_path, smtp_node):
    n1 = lab.add_node("n1", "198.18.0.1/24")
    n2 = lab.add_node("n2", "198.18.0.2/24")
    log1, notify1 = _notify_script(tmp_path, "node1")
    log2, notify2 = _notify_script(tmp_path, "node2")
    mail = ("notification_email {\n        ops@example.test\n    }\n"
            "    notification_email_from vipdeck@example.test\n"
            "    smtp_server 198.18.0.25 2525\n    smtp_connect_timeout 5")
    common = dict(version=3, advert_int=0.1, more=["smtp_alert"], global_extra=mail)
    r2 = start_vipdeck(n2, seed_pair("node2", 96, "BACKUP", notify=notify2, **common))
    wait_until(lambda: instance(r2, "VI_1")["state"] == "MASTER", 10)
    r1 = start_vipdeck(n1, seed_pair("node1", 100, "MASTER", notify=notify1, **common))
    wait_until(lambda: instance(r1, "VI_1")["state"] == "MASTER" and instance(r2, "VI_1")["state"] == "BACKUP", 10)
    assert r1.stop() == 0
    wait_until(lambda: instance(r2, "VI_1")["state"] == "MASTER", 5)
    assert r2.stop() == 0

    def lines(log):
        return log.read_text().splitlines() if log.exists() else []

    # specific script first, then the generic one with keepalived's appended arguments
    want2 = ["backup", "INSTANCE VI_1 BACKUP 96", "master", "INSTANCE VI_1 MASTER 96",
             "backup", "INSTANCE VI_1 BACKUP 96", "master", "INSTANCE VI_1 MASTER 96",
             "stop", "INSTANCE VI_1 STOP 96"]
    want1 = ["backup", "INSTANCE VI_1 BACKUP 100", "master", "INSTANCE VI_1 MASTER 100",
             "stop", "INSTANCE VI_1 STOP 100"]
    assert lines(log2) == want2
    assert lines(log1) == want1

    # an alert per MASTER/BACKUP transition (node2 4, node1 2) and, like
    # keepalived, a "Stopping" alert from each when it shuts down
    msgs = wait_until(lambda: len(_messages(smtp_node)) >= 8 and _messages(smtp_node), 15, what="8 alerts")
    subjects = sorted(m["Subject"] for m in msgs)
    assert len(msgs) == 8, subjects
    assert subjects.count("[node2] VRRP Instance VI_1 - Stopping") == 1, subjects
    assert subjects.count("[node1] VRRP Instance VI_1 - Stopping") == 1, subjects
    assert all(m["From"] == "vipdeck@example.test" and m["To"] == "ops@example.test" for m in msgs)
    assert subjects.count("[node2] VRRP Instance VI_1 - Entering MASTER state") == 2, subjects
    assert subjects.count("[node2] VRRP Instance VI_1 - Entering BACKUP state") == 2, subjects
    assert subjects.count("[node1] VRRP Instance VI_1 - Entering MASTER state") == 1, subjects
    assert subjects.count("[node1] VRRP Instance VI_1 - Entering BACKUP state") == 1, subjects
