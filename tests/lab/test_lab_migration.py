"""docs/migration.md, step by step: a running keepalived pair becomes a vipdeck pair, one node at a time.

Same keepalived.conf files, same VRIDs, auth and priorities (the seed's
node1-master / node2-backup shape, VRRPv2 with a password at 1 s).  The
backup is replaced first: the VIP never moves while it is, and neither side
rejects the other's adverts.  Then the master: its clean stop (priority 0)
hands the VIP to the vipdeck backup after the skew time, and the new vipdeck
master preempts back as keepalived would.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from vipdeck.engine.lab import wait_until
from vipdeck.engine.lab.peers import instance, start_keepalived, start_vipdeck
from tests.lab.test_lab_keepalived import _complaints
from tests.support.labconf import VIP1, seed_pair

pytestmark = [pytest.mark.lab, pytest.mark.keepalived]


def test_rolling_replacement_of_a_keepalived_pair(lab, keepalived_bin):
    n1 = lab.add_node("n1", "198.18.0.1/24")
    n2 = lab.add_node("n2", "198.18.0.2/24")
    sn = lab.sniffer()
    conf1, conf2 = seed_pair("node1", 100, "MASTER"), seed_pair("node2", 96, "BACKUP")
    ka1 = start_keepalived(n1, conf1, binary=keepalived_bin)
    wait_until(lambda: n1.has_address(VIP1), 10, what="keepalived node1 master")
    ka2 = start_keepalived(n2, conf2, binary=keepalived_bin)
    wait_until(lambda: "Entering BACKUP STATE" in ka2.log(), 10)

    # step 1: `vipdeck check` accepts the node's keepalived.conf as it is
    r = subprocess.run([sys.executable, "-m", "vipdeck", "check", "-f", ka2.conf_path],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and ": OK" in r.stdout, r.stdout + r.stderr

    # step 2: replace the backup (keepalived stops cleanly as a backup: it sends nothing)
    ka2.stop()
    vd2 = start_vipdeck(n2, open(ka2.conf_path).read())
    wait_until(lambda: instance(vd2, "VI_1")["counters"]["adverts_received"] >= 3, 10, what="vipdeck hears keepalived")
    i = instance(vd2, "VI_1")
    assert i["state"] == "BACKUP" and i["master"]["address"] == n1.ip and i["counters"]["rejects"] == {}
    assert n1.has_address(VIP1) and not n2.has_address(VIP1)
    assert not [p for p in sn.snapshot(vrid=51, src=n2.ip) if p.priority > 0], "the new backup never advertised"

    # step 3: replace the master: its clean stop hands over within the skew time, no 3-interval gap
    mark = sn.last(vrid=51, src=n1.ip).time
    ka1.stop()
    zero = wait_until(lambda: next((p for p in sn.snapshot(vrid=51, src=n1.ip)
                                    if p.priority == 0 and p.time >= mark), None), 5, what="keepalived's priority 0")
    wait_until(lambda: n2.has_address(VIP1), 5, what="vipdeck node2 takes over")
    first = next(p for p in sn.snapshot(vrid=51, src=n2.ip) if p.priority > 0 and p.time > zero.time)
    assert first.time - zero.time <= (256 - 96) / 256 + 0.2
    assert _complaints(ka1.log()) == []

    vd1 = start_vipdeck(n1, open(ka1.conf_path).read())
    wait_until(lambda: n1.has_address(VIP1) and not n2.has_address(VIP1), 10, what="vipdeck node1 preempts")
    wait_until(lambda: instance(vd2, "VI_1")["state"] == "BACKUP", 5)
    assert instance(vd1, "VI_1")["state"] == "MASTER"
    assert instance(vd1, "VI_1")["counters"]["rejects"] == {} and instance(vd2, "VI_1")["counters"]["rejects"] == {}
