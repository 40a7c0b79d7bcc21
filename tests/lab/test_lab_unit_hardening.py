"""The unit's CapabilityBoundingSet leaves a real daemon working.

systemd is not PID 1 here, so the test applies the same bounding set with
setpriv (read from the unit vipdeck install-unit writes) and runs a real
daemon under it in a namespace lab: it becomes master and adds its VIP
(CAP_NET_ADMIN), sends adverts and gratuitous ARP (CAP_NET_RAW), hands its
control socket to a group (CAP_CHOWN), runs a notify script as another user
(CAP_SETUID/SETGID) and kills a track script of that user that runs past its
timeout (CAP_KILL).  ProtectSystem and friends are not applied here.
"""

from __future__ import annotations

import configparser
import grp
import os
import shutil
import stat
import tempfile

import psutil
import pytest

from vipdeck.cli.install_unit import render
from vipdeck.engine.lab import wait_until
from vipdeck.engine.lab.peers import instance, start_vipdeck, vrrp_conf
from tests.support.labconf import SEED_GROUP, VIP1
from tests.support.paths import require

pytestmark = pytest.mark.lab


def bounding_set() -> list[str]:
    c = configparser.ConfigParser(strict=False, interpolation=None)
    c.optionxform = str
    c.read_string(render("/usr/local/sbin/vipdeck"))
    return c["Service"]["CapabilityBoundingSet"].split()


def test_daemon_works_inside_the_units_capability_bounding_set(lab):
    require(shutil.which("setpriv") is not None, "setpriv (util-linux) is not installed")
    nogroup = grp.getgrgid(65534).gr_name
    n1 = lab.add_node("n1", "198.18.0.1/24")
    sn = lab.sniffer()
    out = tempfile.mkdtemp(prefix=f"{n1.netns}-out-")
    lab.on_close(lambda: shutil.rmtree(out, ignore_errors=True))
    os.chmod(out, 0o777)                     # the scripts run as nobody
    scripts = """
vrrp_script chk_slow {
    script "/bin/sleep 30"
    interval 2
    timeout 1
    user nobody
}
"""
    conf = vrrp_conf(router_id="node1", mcast_group=SEED_GROUP, scripts=scripts, instances=[dict(
        name="VI_1", vrid=51, priority=100, state="MASTER", advert_int=0.1, version=3, vips=[VIP1],
        track_script=["chk_slow weight -10"],
        more=[f"notify_master \"/bin/sh -c 'id -u > {out}/uid'\" nobody"])])
    caps = ",".join(["-all", *("+" + c.lower().removeprefix("cap_") for c in bounding_set())])
    r = start_vipdeck(n1, conf, extra_args=("-D", "--socket-group", nogroup),
                      prefix=("setpriv", f"--bounding-set={caps}"))

    # the daemon really runs with that bounding set, and nothing more
    with open(f"/proc/{r.proc.pid}/status") as f:
        bnd = int(next(line for line in f if line.startswith("CapBnd:")).split()[1], 16)
    numbers = {"CAP_CHOWN": 0, "CAP_KILL": 5, "CAP_SETGID": 6, "CAP_SETUID": 7, "CAP_NET_BIND_SERVICE": 10,
               "CAP_NET_ADMIN": 12, "CAP_NET_RAW": 13}
    assert bnd == sum(1 << numbers[c] for c in bounding_set())

    wait_until(lambda: n1.has_address(VIP1), 10, what="VIP added (CAP_NET_ADMIN)")
    wait_until(lambda: len(sn.snapshot(vrid=51, src=n1.ip)) >= 3, 5, what="adverts (CAP_NET_RAW)")
    assert grp.getgrgid(os.stat(r.socket_path).st_gid).gr_name == nogroup          # CAP_CHOWN
    assert stat.S_IMODE(os.stat(r.socket_path).st_mode) == 0o660
    wait_until(lambda: os.path.exists(f"{out}/uid"), 5, what="notify_master ran")
    assert open(f"{out}/uid").read().strip() == "65534"                          # CAP_SETUID/SETGID

    # the track script (nobody's) times out and is killed (CAP_KILL), the tracker says so
    def timed_out():
        t = next(t for t in instance(r, "VI_1")["trackers"] if t["name"] == "chk_slow")
        return t if t["state"] in ("failed", "fault") else None

    wait_until(timed_out, 10, what="chk_slow timed out")

    def sleepers():
        return [p for p in psutil.process_iter(["cmdline", "uids"])
                if p.info["cmdline"] == ["/bin/sleep", "30"] and p.info["uids"] and p.info["uids"].real == 65534]

    wait_until(lambda: not sleepers() or None, 5, what="the timed-out script killed")
    assert instance(r, "VI_1")["state"] == "MASTER"
    assert r.stop() == 0
