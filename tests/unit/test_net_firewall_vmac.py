"""Our nftables scripts and the VMAC sysctl bookkeeping, without root: the
firewall writes to a recording runner, the VMAC manager to a sysctl tree in a
temporary directory.  (The lab tests run both for real.)"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from vipdeck.engine.net.firewall import Blocked, Firewall, NftError
from vipdeck.engine.net.vmac import VmacManager, eui64_link_local


class Recorder:
    def __init__(self, fail: str | None = None):
        self.scripts: list[str] = []
        self.fail = fail

    async def __call__(self, script: str) -> None:
        if self.fail and self.fail in script:
            raise NftError(1, "Error: No such file or directory")
        self.scripts.append(script)


def run(coro):
    return asyncio.run(coro)


def test_no_accept_makes_keepalived_s_layout_once_then_only_adds_and_removes_elements():
    rec = Recorder()
    fw = Firewall(priority=-5, counters=True, runner=rec)

    async def go():
        await fw.block("VI_1", [Blocked("198.18.0.199", "eth0")])
        await fw.block("VI_2", [Blocked("198.18.0.199", "eth0"), Blocked("198.18.0.198", "eth0")])
        await fw.unblock("VI_1")          # VI_2 still holds .199: it stays dropped
        await fw.unblock("VI_2")
        await fw.close()

    run(go())
    first = rec.scripts[0].splitlines()
    assert first[:3] == ["add table ip vipdeck",
                         "add chain ip vipdeck in { type filter hook input priority -5; policy accept; }",
                         "add chain ip vipdeck out { type filter hook output priority -5; policy accept; }"]
    assert "add rule ip vipdeck in ip daddr @vips counter drop" in first
    assert "add rule ip vipdeck out ip saddr @vips counter drop" in first
    assert first[-1] == "add element ip vipdeck vips { 198.18.0.199 }"
    assert rec.scripts[1:] == ["add element ip vipdeck vips { 198.18.0.198 }\n",
                               "delete element ip vipdeck vips { 198.18.0.199 }\ndelete element ip vipdeck vips "
                               "{ 198.18.0.198 }\n",
                               "delete table ip vipdeck\n"]
    assert "add table" not in "".join(rec.scripts[1:])


def test_ipv6_keeps_neighbour_discovery_and_matches_link_local_vips_with_their_interface():
    rec = Recorder()
    fw = Firewall("mytable", runner=rec)
    run(fw.block("VI_6", [Blocked("fe80::52", "vrrp.52"), Blocked("2001:db8::199", "vrrp.52")]))
    script = rec.scripts[0]
    lines = script.splitlines()
    nd = lines.index("add rule ip6 mytable in icmpv6 type @neighbor-discovery accept")
    assert nd < lines.index("add rule ip6 mytable in ip6 daddr @vips drop")
    assert "add rule ip6 mytable in_link_local ip6 daddr . iif @vips_link_local drop" in lines
    assert 'add element ip6 mytable vips_link_local { fe80::52 . "vrrp.52" }' in lines
    assert "add element ip6 mytable vips { 2001:db8::199 }" in lines
    assert "table ip " not in script                 # no IPv4 table without an IPv4 VIP


def test_vmac_elements_are_rewritten_whole_and_their_rules_come_first():
    rec = Recorder()
    fw = Firewall(runner=rec)

    async def go():
        await fw.add_vmac("vrrp.51", "eth0", 4)
        await fw.add_vmac("vrrp.52", "eth0", 6, "fe80::1")
        await fw.add_vmac("vrrp1.51", "eth1", 4)
        await fw.remove_vmac("vrrp.51")

    run(go())
    v4 = rec.scripts[0].splitlines()
    assert 'add rule ip vipdeck out ip protocol igmp meta oifkind "macvlan" dup to ip daddr device oif map ' \
           '@vmac_map drop' in v4
    assert v4[-2:] == ["flush map ip vipdeck vmac_map", 'add element ip vipdeck vmac_map { "vrrp.51" : "eth0" }']
    v6 = rec.scripts[1].splitlines()
    out_rules = [x for x in v6 if x.startswith("add rule ip6 vipdeck out ")]
    assert "mld2-listener-report" in out_rules[0] and "nd-router-solicit" in out_rules[1]
    assert "nd-neighbor-advert ip6 saddr . oif @vmac_link_local drop" in out_rules[2]
    assert 'add element ip6 vipdeck vmac_link_local { fe80::1 . "vrrp.52" }' in v6
    # a re-made VMAC has a new index, so the family's map is written afresh (no stale names)
    assert rec.scripts[2].splitlines()[-1] == ('add element ip vipdeck vmac_map { "vrrp.51" : "eth0", '
                                                '"vrrp1.51" : "eth1" }')
    assert rec.scripts[3].splitlines() == ["flush map ip vipdeck vmac_map",
                                           'add element ip vipdeck vmac_map { "vrrp1.51" : "eth1" }']


def test_a_refused_change_changes_nothing_we_track_and_leftovers_are_looked_for_by_name():
    rec = Recorder(fail="vips { 198.18.0.7 }")
    fw = Firewall(runner=rec)
    with pytest.raises(NftError):
        run(fw.block("VI_1", [Blocked("198.18.0.7", "eth0")]))
    assert fw.blocked("VI_1") == [] and not fw.made
    rec = Recorder(fail="ip6")
    assert run(Firewall("kd", runner=rec).clean_leftovers()) == ["ip", "arp"]      # ip6 kd: none there
    assert rec.scripts == ["delete table ip kd\n", "delete table arp kd\n"]


def test_an_ipv4_vmac_never_answers_arp_to_its_own_virtual_mac():
    """The new master's gratuitous ARP reaches us while we still hold the VIP; our
    kernel's reply would come from the virtual MAC and pull the switches back."""
    rec = Recorder()
    fw = Firewall(runner=rec)
    run(fw.add_vmac("vrrp.51", "eth0", 4, mac="00:00:5e:00:01:33"))
    lines = rec.scripts[0].splitlines()
    assert "add rule arp vipdeck out arp operation reply oif . arp daddr ether @vmac_self drop" in lines
    assert lines[-1] == 'add element arp vipdeck vmac_self { "vrrp.51" . 00:00:5e:00:01:33 }'
    run(fw.remove_vmac("vrrp.51"))
    assert rec.scripts[1].splitlines() == ["flush map ip vipdeck vmac_map", "flush set arp vipdeck vmac_self"]


# ---- VMAC sysctls --------------------------------------------------------------------------

def tree(tmp_path: Path, values: dict[str, str]) -> Path:
    for rel, v in values.items():
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(v + "\n")
    return tmp_path


def read(root: Path, rel: str) -> str:
    return (root / rel).read_text().strip()


def test_the_base_gets_its_arp_settings_back_when_its_last_vmac_goes(tmp_path):
    root = tree(tmp_path, {"ipv4/conf/eth0/arp_ignore": "0", "ipv4/conf/eth0/arp_filter": "0",
                           "ipv4/conf/eth0/arp_announce": "1"})
    vm = VmacManager(ipr=object(), sysctl_root=str(root))
    vm._base_acquire("eth0")
    vm._base_acquire("eth0")                       # two VMACs on eth0
    assert [read(root, f"ipv4/conf/eth0/{k}") for k in ("arp_ignore", "arp_filter", "arp_announce")] == [
        "1", "1", "2"]
    vm._base_release("eth0")
    assert read(root, "ipv4/conf/eth0/arp_ignore") == "1"      # one is left
    vm._base_release("eth0")
    assert [read(root, f"ipv4/conf/eth0/{k}") for k in ("arp_ignore", "arp_filter", "arp_announce")] == [
        "0", "0", "1"]


def test_a_non_zero_all_rp_filter_is_moved_onto_the_interfaces_and_put_back(tmp_path):
    root = tree(tmp_path, {"ipv4/conf/all/rp_filter": "2", "ipv4/conf/default/rp_filter": "0",
                           "ipv4/conf/eth0/rp_filter": "1", "ipv4/conf/eth1/rp_filter": "2",
                           "ipv4/conf/lo/rp_filter": "0"})
    vm = VmacManager(ipr=object(), sysctl_root=str(root))
    vm._clear_rp_filter()
    assert [read(root, f"ipv4/conf/{i}/rp_filter") for i in ("all", "default", "eth0", "eth1", "lo")] == [
        "0", "2", "2", "2", "2"]
    (root / "ipv4/conf/lo/rp_filter").write_text("0\n")          # changed meanwhile: left alone
    vm._restore_rp_filter()
    assert [read(root, f"ipv4/conf/{i}/rp_filter") for i in ("all", "default", "eth0", "eth1", "lo")] == [
        "2", "0", "1", "2", "0"]


def test_a_link_local_address_from_a_mac_is_keepalived_s_eui64():
    assert eui64_link_local("52:54:00:12:34:56") == "fe80::5054:ff:fe12:3456"
