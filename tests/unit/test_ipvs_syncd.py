"""The sync daemons' pure half: which daemons a VRRP state asks for, the
smallest set of stops and starts, and the netlink messages that carry them
(the kernel half runs in UML: tests/uml/guest/guest_lvs_syncd.py)."""

from __future__ import annotations

import pytest

from vipdeck.engine.config.model import LvsSyncDaemon
from vipdeck.engine.ipvs.model import Dest, ModelError, SyncDaemon
from vipdeck.engine.ipvs.syncd import StartDaemon, StopDaemon, plan, satisfies, wanted

FOLLOW = LvsSyncDaemon(interface="eth1", instance="VI_1", syncid=51, maxlen=1400, group="224.0.0.82")
BOTH = LvsSyncDaemon(interface="eth1", syncid=0)
MASTER = SyncDaemon("master", "eth1", 51, 1400, "224.0.0.82")
BACKUP = SyncDaemon("backup", "eth1", 51, 1400, "224.0.0.82")


@pytest.mark.parametrize("state,expect", [
    ("MASTER", ("master",)), ("BACKUP", ("backup",)), ("FAULT", ("backup",)), ("INIT", ("backup",)),
    ("STOP", ("backup",)), (None, ("backup",)),
])
def test_the_master_daemon_only_while_the_instance_is_master(state, expect):
    assert tuple(d.state for d in wanted(FOLLOW, state)) == expect
    assert wanted(FOLLOW, state)[0] == (MASTER if state == "MASTER" else BACKUP)


def test_without_an_instance_both_run_whatever_the_state():
    assert [(d.state, d.interface, d.syncid) for d in wanted(BOTH, "BACKUP")] == [
        ("master", "eth1", 0), ("backup", "eth1", 0)]
    assert wanted(None, "MASTER") == ()


def test_becoming_master_stops_the_backup_then_starts_the_master():
    assert plan(wanted(FOLLOW, "MASTER"), [BACKUP]) == [StopDaemon("backup", "not wanted"), StartDaemon(MASTER)]
    assert plan(wanted(FOLLOW, "BACKUP"), [MASTER]) == [StopDaemon("master", "not wanted"), StartDaemon(BACKUP)]
    assert plan(wanted(FOLLOW, "BACKUP"), []) == [StartDaemon(BACKUP)]
    assert plan((), [MASTER, BACKUP]) == [StopDaemon("master", "not wanted"), StopDaemon("backup", "not wanted")]


def test_what_the_kernel_fills_in_is_no_change():
    # asked for the defaults; the kernel reports them filled in
    want = wanted(BOTH, None)
    have = [SyncDaemon("master", "eth1", 0, 1472, "224.0.0.81", 8848, 1),
            SyncDaemon("backup", "eth1", 0, 1472, "224.0.0.81", 8848, 1)]
    assert plan(want, have) == []
    assert plan(wanted(FOLLOW, "MASTER"), [SyncDaemon("master", "eth1", 51, 1400, "224.0.0.82", 8848, 1)]) == []


def test_other_settings_are_replaced():
    other = SyncDaemon("master", "eth1", 52, 1400, "224.0.0.82", 8848, 1)
    assert plan(wanted(FOLLOW, "MASTER"), [other]) == [
        StopDaemon("master", "running with other settings: mcast=eth1, syncid=52, maxlen=1400, "
                             "group=224.0.0.82, port=8848, ttl=1"), StartDaemon(MASTER)]
    for changed in (SyncDaemon("master", "eth2", 51, 1400, "224.0.0.82"),
                    SyncDaemon("master", "eth1", 51, 1200, "224.0.0.82"),
                    SyncDaemon("master", "eth1", 51, 1400, "224.0.0.81"),
                    SyncDaemon("master", "eth1", 51, 1400, "224.0.0.82", 9000),
                    SyncDaemon("master", "eth1", 51, 1400, "224.0.0.82", 0, 3)):
        assert not satisfies(changed, MASTER), changed


def test_a_daemon_we_started_matches_as_the_kernel_read_it_back():
    """The kernel may clamp maxlen (to the MTU): that is not a reason to restart it."""
    clamped = SyncDaemon("master", "eth1", 51, 1472, "224.0.0.82", 8848, 1)
    want = SyncDaemon("master", "eth1", 51, 9000, "224.0.0.82")
    assert plan([want], [clamped]) != []
    assert plan([want], [clamped], {"master": (want, clamped)}) == []
    # ... but only for that very request
    assert plan([MASTER], [clamped], {"master": (want, clamped)}) != []


def test_sync_daemon_values_are_checked():
    for kw, text in ((dict(state="primary"), "state"), (dict(interface=""), "interface"),
                     (dict(interface="x" * 16), "interface"), (dict(syncid=256), "syncid"),
                     (dict(group="198.18.0.1"), "group"), (dict(ttl=256), "ttl"), (dict(port=70000), "port")):
        args = dict(state="master", interface="eth0") | kw
        with pytest.raises(ModelError, match=text):
            SyncDaemon(**args)


# --------------------------------------------------------------------------- the wire


def _roundtrip(cmd: int, attrs):
    from vipdeck.engine.ipvs.kernel import _ctl_msg_class

    cls = _ctl_msg_class()
    msg = cls()
    msg["cmd"], msg["version"], msg["attrs"] = cmd, 1, attrs
    msg.encode()
    back = cls(msg.data)
    back.decode()
    return bytes(msg.data), back


def test_a_daemon_goes_out_in_the_kernels_byte_orders_and_comes_back():
    from vipdeck.engine.ipvs.kernel import IPVS_CMD_NEW_DAEMON, daemon_attrs, daemon_from_nla

    d = SyncDaemon("master", "eth0", 7, 1200, "224.0.0.90", 9000, 3)
    data, back = _roundtrip(IPVS_CMD_NEW_DAEMON, [("IPVS_CMD_ATTR_DAEMON", {"attrs": daemon_attrs(d)})])
    assert daemon_from_nla(back.get("IPVS_CMD_ATTR_DAEMON")) == d
    assert bytes([224, 0, 0, 90]) in data                         # the group: network order (nla_get_in_addr)
    assert (9000).to_bytes(2, "little") in data                   # the port: host order (nla_get_u16)
    assert b"eth0\x00" in data
    # the kernel's defaults are not sent at all
    names = [n for n, _ in daemon_attrs(SyncDaemon("backup", "eth0"))]
    assert names == ["IPVS_DAEMON_ATTR_STATE", "IPVS_DAEMON_ATTR_MCAST_IFN", "IPVS_DAEMON_ATTR_SYNC_ID"]
    v6 = dict(daemon_attrs(SyncDaemon("backup", "eth0", group="ff02::8850")))
    assert v6["IPVS_DAEMON_ATTR_MCAST_GROUP6"] == "ff02::8850"


def test_timeouts_travel_as_u32():
    from vipdeck.engine.ipvs.kernel import IPVS_CMD_SET_CONFIG

    _, back = _roundtrip(IPVS_CMD_SET_CONFIG, [("IPVS_CMD_ATTR_TIMEOUT_TCP", 600),
                                               ("IPVS_CMD_ATTR_TIMEOUT_UDP", 60)])
    assert (back.get("IPVS_CMD_ATTR_TIMEOUT_TCP"), back.get("IPVS_CMD_ATTR_TIMEOUT_UDP")) == (600, 60)


def test_the_gue_port_is_big_endian_on_the_wire():
    """pyroute2 types IPVS_DEST_ATTR_TUN_PORT as a host-order u16; the kernel
    reads nla_get_be16 (an ipvsadm -S in the guest showed 49175 for 6080)."""
    from pyroute2 import IPVSDest
    from pyroute2.netlink.generic.ipvs import ipvsmsg

    from vipdeck.engine.ipvs.kernel import dest_fields, dest_from_nla

    dest = Dest("198.18.0.31", 80, 1, "tunnel", tunnel_type="gue", tunnel_port=6080, tunnel_flags=1)
    msg = ipvsmsg()
    msg["cmd"], msg["version"] = 5, 1
    msg["attrs"] = [("IPVS_CMD_ATTR_DEST", IPVSDest(**dest_fields(dest)).dump_nla())]
    msg.encode()
    tun_port = bytes([6, 0, 14, 0]) + (6080).to_bytes(2, "big")   # nla len 6, type 14 (TUN_PORT), be16
    assert tun_port in bytes(msg.data)
    back = ipvsmsg(msg.data)
    back.decode()
    assert dest_from_nla(back.get("IPVS_CMD_ATTR_DEST")).dest == dest
