"""vrrp_strict at run time: no_accept by nftables in our own table, as keepalived.

RFC 5798's Accept_Mode false: a master that is not the address owner does
not accept packets addressed to its VIPs.  keepalived (vrrp_nftables.c) drops
them in its table; ours is ``vipdeck`` (ip and ip6), with keepalived's chains,
set and priority.  The table is made when first needed, holds a VIP only
while its instance is master, is removed at exit, and a crash's leftover is
removed at the next start (its drops would otherwise stay).
"""

from __future__ import annotations

import asyncio
import json

import pytest

from vipdeck.engine.lab import wait_until
from vipdeck.engine.lab.peers import instance, start_vipdeck, vrrp_conf
from tests.support.paths import require

pytestmark = pytest.mark.lab

VIP, VIP_OWNER, VIP6 = "198.18.0.199", "198.18.0.198", "2001:db8::198"


def vips_set(node) -> list[str] | None:
    """The elements of our IPv4 table's set 'vips' (None: no table)."""
    out = node.run("nft", "-j", "list", "set", "ip", "vipdeck", "vips", check=False)
    if out.returncode != 0:
        return None
    for item in json.loads(out.stdout)["nftables"]:
        if "set" in item:
            return sorted(item["set"].get("elem", []))
    return []


def events(router) -> list[dict]:
    from vipdeck.engine.control.client import SocketClient

    return asyncio.run(SocketClient(router.socket_path).events())


def test_strict_mode_drops_traffic_to_a_non_owner_masters_vips_in_our_nftables_table(lab):
    import shutil

    require(shutil.which("nft") is not None, "nftables (nft) is needed for no_accept")
    n1 = lab.add_node("n1", ["198.18.0.1/24", "2001:db8::1/64"])
    client = lab.add_node("client", ["198.18.0.50/24", "2001:db8::50/64"])
    conf = vrrp_conf(router_id="node1", global_extra="vrrp_strict", instances=[
        dict(name="VI_1", vrid=51, priority=100, version=3, advert_int=0.1, vips=[VIP]),
        dict(name="VI_O", vrid=52, priority=255, state="MASTER", version=3, advert_int=0.1, vips=[VIP_OWNER]),
        dict(name="VI_6", vrid=53, priority=100, version=3, advert_int=0.1, vips=["fe80::53", VIP6]),
    ])
    r1 = start_vipdeck(n1, conf)
    wait_until(lambda: instance(r1, "VI_1")["state"] == "MASTER" and n1.has_address(VIP)
               and n1.has_address(VIP_OWNER) and n1.has_address(VIP6), 10)
    assert vips_set(n1) == [VIP]                     # the owner accepts: its VIP is not there
    table = n1.run("nft", "list", "table", "ip", "vipdeck").stdout
    assert "type filter hook input priority filter - 1; policy accept;" in table
    assert "ip daddr @vips drop" in table and "ip saddr @vips drop" in table
    assert client.run("ping", "-c1", "-W1", VIP, check=False).returncode != 0       # dropped
    assert client.run("ping", "-c1", "-W1", VIP_OWNER, check=False).returncode == 0
    # IPv6: dropped too, but neighbour discovery still answers for it (keepalived's rule order)
    six = n1.run("nft", "list", "table", "ip6", "vipdeck").stdout
    assert "elements = { 2001:db8::198 }" in six and 'fe80::53 . "eth0"' in six
    assert client.run("ping", "-6", "-c1", "-W1", VIP6, check=False).returncode != 0
    assert json.loads(client.run("ip", "-j", "neigh", "show", VIP6).stdout)[0]["lladdr"] == n1.mac

    # a crash leaves the table, drops and all; the next start removes it and makes its own
    r1.crash()
    assert vips_set(n1) == [VIP]
    r1 = start_vipdeck(n1, conf)
    assert any("left by an earlier run" in e["message"] for e in events(r1))
    wait_until(lambda: instance(r1, "VI_1")["state"] == "MASTER" and vips_set(n1) == [VIP], 10)

    # a clean stop: the master resigns, its VIP leaves the set, the tables go
    r1.stop()
    assert n1.run("nft", "list", "tables").stdout.strip() == ""
    assert not n1.has_address(VIP)
