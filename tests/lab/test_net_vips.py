"""VIP add/remove over netlink, checked against what `ip -j addr` reports."""

from __future__ import annotations

import json

import pytest

from vipdeck.engine.net.vips import Vip, VipManager


def ip_addrs(node) -> dict[str, dict]:
    out = json.loads(node.run("ip", "-j", "addr", "show", "dev", node.ifname).stdout)
    return {a["local"]: a for link in out for a in link.get("addr_info", [])}


@pytest.mark.lab
async def test_add_remove_ipv4_vip_with_label_prefix_brd_scope(lab):
    a = lab.add_node("a", "198.18.0.1/24")
    # its own subnet: the kernel refuses a secondary whose scope differs from its primary's
    vip = Vip.parse("198.18.5.100/24", "eth0", label="eth0:0", broadcast="198.18.5.255", scope="link")
    async with VipManager(netns=a.netns) as vm:
        assert not await vm.present(vip)
        assert await vm.add(vip) is True
        info = ip_addrs(a)["198.18.5.100"]
        assert (info["prefixlen"], info["label"], info["broadcast"], info["scope"]) == (24, "eth0:0", "198.18.5.255", "link")
        assert await vm.add(vip) is False               # idempotent: already there
        assert await vm.present(vip)
        listed = {v.address: v for v in await vm.list_on("eth0")}
        assert listed["198.18.5.100"] == vip
        assert listed["198.18.0.1"].label == "eth0"     # the primary address is listed too

        assert await vm.remove(vip) is True
        assert not a.has_address("198.18.5.100")
        assert a.has_address("198.18.0.1")              # the primary address is untouched
        assert await vm.remove(vip) is False            # idempotent: already gone
        assert not await vm.present(vip)


@pytest.mark.lab
async def test_default_prefix_label_as_given_and_ipv6(lab):
    a = lab.add_node("a", ["198.18.0.1/24", "2001:db8::1/64"])
    v4 = Vip("198.18.0.101", None, "eth0", label="ens34:0")   # the seed's label, taken as written
    v6 = Vip("2001:db8:0:0::100", None, "eth0")
    assert (v4.prefixlen, v6.prefixlen, v6.address) == (32, 128, "2001:db8::100")
    async with VipManager(netns=a.netns) as vm:
        assert await vm.add(v4) and await vm.add(v6)
        addrs = ip_addrs(a)
        assert (addrs["198.18.0.101"]["prefixlen"], addrs["198.18.0.101"]["label"]) == (32, "ens34:0")
        six = addrs["2001:db8::100"]
        assert six["prefixlen"] == 128
        assert not six.get("tentative") and six.get("nodad")    # usable at once, no DAD wait
        assert await vm.present(v6)
        assert await vm.add(v6) is False
        assert await vm.remove(v6) is True and await vm.remove(v6) is False
        assert not a.has_address("2001:db8::100")


@pytest.mark.lab
@pytest.mark.parametrize("one_dump", [False, True], ids=["one by one", "one address dump"])
async def test_remove_stale_removes_only_what_is_there(lab, one_dump):
    a = lab.add_node("a", ["198.18.0.1/24", "2001:db8::1/64"])
    left = [Vip("198.18.0.110", None, "eth0"), Vip("198.18.0.111", 24, "eth0", label="eth0:1"),
            Vip("2001:db8:0::0110", None, "eth0")]
    for v in left:   # left behind by a "crashed" run
        a.run("ip", "addr", "add", f"{v.address}/{v.prefixlen}", "dev", "eth0")
    absent = Vip("198.18.0.112", None, "eth0")
    async with VipManager(netns=a.netns) as vm:
        present = await vm.addresses() if one_dump else None
        removed = await vm.remove_stale(left + [absent, Vip("198.18.0.113", None, "nosuchdev")], present=present)
    assert removed == left
    assert not any(a.has_address(v.address) for v in left)
    assert a.has_address("198.18.0.1")


@pytest.mark.lab
async def test_refusals_are_clear(lab):
    a = lab.add_node("a", "198.18.0.1/24")
    async with VipManager(netns=a.netns) as vm:
        with pytest.raises(LookupError, match="dev"):
            await vm.add(Vip("198.18.0.120", None, "eth9"))
        with pytest.raises(OSError, match="scope"):     # secondary in 198.18.0.0/24 with another scope
            await vm.add(Vip("198.18.0.121", 24, "eth0", scope="host"))
        assert not a.has_address("198.18.0.121")


@pytest.mark.parametrize("kw, field", [
    (dict(address="198.18.0.1/24", prefixlen=None), "address"),
    (dict(address="nonsense", prefixlen=None), "address"),
    (dict(address="198.18.0.1", prefixlen=33), "prefixlen"),
    (dict(address="2001:db8::1", prefixlen=129), "prefixlen"),
    (dict(address="198.18.0.1", prefixlen=None, label="a-label-of-16-ch"), "label"),
    (dict(address="2001:db8::1", prefixlen=None, label="eth0:0"), "label"),
    (dict(address="198.18.0.1", prefixlen=None, broadcast="x"), "broadcast"),
    (dict(address="198.18.0.1", prefixlen=None, scope="galaxy"), "scope"),
    (dict(address="198.18.0.1", prefixlen=None, dev=""), "dev"),
])
def test_vip_validation_names_the_field(kw, field):
    kw.setdefault("dev", "eth0")
    with pytest.raises(ValueError, match=f"^{field}:"):
        Vip(**kw)


def test_vip_parse():
    v = Vip.parse("198.18.0.100/24", "eth0", label="eth0:0", scope="host")
    assert (v.address, v.prefixlen, v.dev, v.label, v.scope_id) == ("198.18.0.100", 24, "eth0", "eth0:0", 254)
    assert Vip.parse("2001:db8::5", "eth1").prefixlen == 128
    with pytest.raises(ValueError, match="prefixlen"):
        Vip.parse("198.18.0.1/x", "eth0")
