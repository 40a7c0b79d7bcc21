"""vrrp_sync_group: members move together, and group notify scripts run.

node1 masters VI_1 and VI_2 (one sync group); a track_file with weight 0
faults VI_1 only, and VI_2 must follow it to FAULT so both VIPs move to
node2 together; clearing the file brings both back.
"""

from __future__ import annotations

import pytest

from vipdeck.engine.lab import wait_until
from vipdeck.engine.lab.peers import instance, start_vipdeck, vrrp_conf

pytestmark = pytest.mark.lab

VIPS = ("198.18.0.151", "198.18.0.152")


def conf(router_id: str, prio: int, fault_file: str, group_log: str) -> str:
    tf = f'vrrp_track_file fault_file {{\n    file "{fault_file}"\n}}\n'
    group = (f"vrrp_sync_group G {{\n    group {{\n        VI_1\n        VI_2\n    }}\n"
             f'    notify "/bin/sh -c \'echo $@ >> {group_log}\' notify"\n}}\n')
    return vrrp_conf(router_id=router_id, mcast_group="224.1.101.33", version=3, scripts=tf, extra=group, instances=[
        dict(name="VI_1", vrid=61, priority=prio, advert_int=0.1, vips=[VIPS[0]],
             more=["track_file {", "    fault_file weight 0", "}"] if router_id == "node1" else []),
        dict(name="VI_2", vrid=62, priority=prio, advert_int=0.1, vips=[VIPS[1]]),
    ])


def test_sync_group_members_fail_over_together(lab, tmp_path):
    n1 = lab.add_node("n1", "198.18.0.1/24")
    n2 = lab.add_node("n2", "198.18.0.2/24")
    fault = tmp_path / "fault"
    fault.write_text("0\n")
    log1 = tmp_path / "group1.log"
    r1 = start_vipdeck(n1, conf("node1", 100, str(fault), str(log1)))
    r2 = start_vipdeck(n2, conf("node2", 96, str(tmp_path / "none"), str(tmp_path / "group2.log")))
    wait_until(lambda: all(n1.has_address(v) for v in VIPS), 10, what="node1 masters both")

    fault.write_text("1\n")   # faults VI_1 only; VI_2 must follow
    wait_until(lambda: all(n2.has_address(v) for v in VIPS) and not any(n1.has_address(v) for v in VIPS),
               5, what="both VIPs on node2")
    assert instance(r1, "VI_1")["state"] == "FAULT"
    assert instance(r1, "VI_2")["state"] == "FAULT"
    assert {instance(r2, n)["state"] for n in ("VI_1", "VI_2")} == {"MASTER"}

    fault.write_text("0\n")
    wait_until(lambda: all(n1.has_address(v) for v in VIPS) and not any(n2.has_address(v) for v in VIPS),
               5, what="both VIPs back on node1")
    lines = wait_until(lambda: log1.exists() and "GROUP G FAULT 0" in log1.read_text()
                       and log1.read_text().splitlines(), 5, what="group notify lines")
    assert lines[0] == "GROUP G BACKUP 0" and "GROUP G MASTER 0" in lines
    i = lines.index("GROUP G FAULT 0")
    assert "GROUP G MASTER 0" in lines[i + 1:], lines
