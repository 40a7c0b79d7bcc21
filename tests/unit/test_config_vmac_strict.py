"""use_vmac and its forms, unicast safety, strict mode and the advert knobs,
as keepalived 2.2.7's parser and vrrp_complete_instance resolve them."""

from __future__ import annotations

from vipdeck.engine.config import loads
from vipdeck.engine.config.hostcheck import check as host_check
from vipdeck.engine.config.model import Vmac


def load(text: str):
    return loads(text, path="v.conf", config_id="main")


def inst(body: str, name: str = "V", vrid: int = 51, vips: str = "198.18.0.199", iface: str = "eth0") -> str:
    return (f"vrrp_instance {name} {{\n interface {iface}\n virtual_router_id {vrid}\n"
            f" virtual_ipaddress {{\n  {vips}\n }}\n{body}\n}}\n")


def messages(r) -> list[str]:
    return [f"{d.line}: {d.severity}: {d.message}" for d in r.diagnostics]


# ---- use_vmac -------------------------------------------------------------------------------

def test_use_vmac_names_the_macvlan_vrrp_vrid_and_moves_the_vips_onto_it():
    r = load(inst(" use_vmac", vips="198.18.0.199\n  198.18.5.1/24 dev eth1"))
    assert r.ok and not r.diagnostics, messages(r)
    i = r.config.instance("V")
    assert i.vmacs == (Vmac(name="vrrp.51", base="eth0", mac="00:00:5e:00:01:33", family=4, adverts=True),)
    assert i.use_vmac == "vrrp.51" and i.vmac == i.vmacs[0] and not i.vmac_xmit_base
    # the instance's VIPs go on the VMAC; one on another interface stays where it is
    assert [(str(v), v.dev) for v in i.virtual_ipaddresses] == [("198.18.0.199/32", "vrrp.51"),
                                                              ("198.18.5.1/24", "eth1")]


def test_ipv6_instances_get_the_ipv6_virtual_mac_and_names_do_not_collide():
    text = (inst(" use_vmac", vips="fe80::51\n  2001:db8::199", name="V6")
            + inst(" use_vmac", name="V4", vrid=51, iface="eth1"))
    i6, i4 = load(text).config.vrrp_instances
    assert (i6.vmac.name, i6.vmac.mac, i6.vmac.family) == ("vrrp.51", "00:00:5e:00:02:33", 6)
    # keepalived's create_vmac_name: the next free one (PREFIX1.VRID for IPv4, PREFIX6.VRID first for IPv6)
    assert (i4.vmac.name, i4.vmac.base, i4.vmac.mac) == ("vrrp1.51", "eth1", "00:00:5e:00:01:33")


def test_an_explicit_name_and_mac_and_the_vmac_prefix():
    r = load("global_defs {\n vmac_prefix vd\n}\n" + inst(" use_vmac vip51 02:00:5e:aa:bb", name="A")
             + inst(" use_vmac", name="B", vrid=52, vips="198.18.0.200") + inst(" use_vmac vip51", name="C", vrid=53,
                                                                                vips="198.18.0.201"))
    a, b, c = r.config.vrrp_instances
    assert (a.vmac.name, a.vmac.mac) == ("vip51", "02:00:5e:aa:bb:33")      # five octets: the VRID is the sixth
    assert b.vmac.name == "vd.52"
    assert c.vmac.name == "vd.53"                                              # vip51 is A's
    assert any("VMAC name vip51 is already used" in m for m in messages(r))


def test_bad_vmac_macs_and_names_are_refused_with_their_line():
    r = load(inst(" use_vmac 01:00:5e:00:00:01"))
    assert r.ok and "multicast" in messages(r)[0] and r.config.instance("V").vmac.mac == "00:00:5e:00:01:33"
    r = load(inst(" use_vmac 00:00:5e:00:01:07"))
    assert "RFC 5798 virtual router MAC" in messages(r)[0]
    r = load(inst(" use_vmac this-name-is-far-too-long"))
    assert not r.ok and messages(r) == ["7: error: use_vmac interface name 'this-name-is-far-too-long' is not a valid "
                                        "interface name (at most 15 characters, no '/', ':' or spaces)"]


def test_use_vmac_addr_and_the_per_address_form_make_vmacs_on_other_interfaces():
    text = inst(" use_vmac\n use_vmac_addr\n virtual_ipaddress_excluded {\n  198.18.6.1/24 dev eth2\n"
                "  2001:db8::9\n }", vips="198.18.0.199\n  198.18.5.1/24 dev eth1")
    i = load(text).config.instance("V")
    assert [(v.name, v.base, v.mac, v.family, v.adverts) for v in i.vmacs] == [
        ("vrrp.51", "eth0", "00:00:5e:00:01:33", 4, True),
        ("vrrp1.51", "eth1", "00:00:5e:00:01:33", 4, False),
        ("vrrp2.51", "eth2", "00:00:5e:00:01:33", 4, False),
        ("vrrp6.51", "eth0", "00:00:5e:00:02:33", 6, False),      # the other family, on the instance's interface
    ]
    assert [v.dev for v in i.held_vips] == ["vrrp.51", "vrrp1.51", "vrrp2.51", "vrrp6.51"]
    # per address, without use_vmac on the instance
    i = load(inst("", vips="198.18.0.199\n  198.18.5.1/24 dev eth1 use_vmac")).config.instance("V")
    assert [(v.name, v.base, v.adverts) for v in i.vmacs] == [("vrrp.51", "eth1", False)]
    assert [v.dev for v in i.held_vips] == [None, "vrrp.51"] and i.vmac is None


def test_unicast_with_use_vmac_sends_from_the_base_and_xmit_base_needs_use_vmac():
    r = load(inst(" use_vmac\n unicast_peer {\n  198.18.0.2\n }"))
    assert r.config.instance("V").vmac_xmit_base
    assert "unicast with use_vmac requires vmac_xmit_base; setting it" in messages(r)[0]
    r = load(inst(" vmac_xmit_base"))
    assert not r.config.instance("V").vmac_xmit_base and "only valid with use_vmac" in messages(r)[0]
    assert load(inst(" use_vmac\n vmac_xmit_base")).config.instance("V").vmac_xmit_base


def test_host_checks_skip_the_vmacs_vipdeck_makes_but_not_their_base():
    c = load(inst(" use_vmac", vips="198.18.0.199\n  198.18.5.1/24 dev eth1 use_vmac")).config
    assert [d.message.split(":")[0] for d in host_check(c, ["lo", "eth0"], nft=True)] == [
        "interface 'eth1' of VMAC vrrp1.51 of vrrp_instance V does not exist on this host"]
    assert host_check(c, ["lo", "eth0", "eth1"], nft=True) == []


def test_host_checks_say_when_nft_is_missing_for_no_accept_or_a_vmac():
    c = load(inst(" use_vmac", name="A") + inst(" strict_mode", name="B", vrid=52, vips="198.18.0.200")
             + inst("", name="C", vrid=53, vips="198.18.0.201")).config
    said = [d.message for d in host_check(c, ["lo", "eth0"], nft=False)]
    assert len(said) == 2 and "A has use_vmac, which needs nft(8)" in said[0]
    assert "B has no_accept (strict mode), which needs nft(8)" in said[1] and "would accept traffic" in said[1]
    assert host_check(c, ["lo", "eth0"], nft=True) == []


# ---- unicast safety -------------------------------------------------------------------------

def test_check_unicast_src_is_on_by_keyword_global_or_a_peers_ttl_range():
    peers = " unicast_peer {\n  198.18.0.2 min_ttl 200\n  198.18.0.3\n }"
    i = load(inst(peers)).config.instance("V")
    assert i.check_unicast_src
    assert i.unicast_peer_ttl == (("198.18.0.2", 200, 255), ("198.18.0.3", 0, 255))
    plain = " unicast_peer {\n  198.18.0.2\n }"
    assert not load(inst(plain)).config.instance("V").check_unicast_src
    assert load(inst(plain + "\n check_unicast_src")).config.instance("V").check_unicast_src
    assert load("global_defs {\n vrrp_check_unicast_src\n}\n" + inst(plain)).config.instance("V").check_unicast_src
    r = load(inst(" unicast_peer {\n  198.18.0.2 min_ttl 250 max_ttl 200\n }"))
    assert "min_ttl 250 > max_ttl 200: every advert from it is discarded" in messages(r)[0]


def test_unicast_fault_no_peer_and_the_deprecated_default_to_multicast():
    i = load(inst(" unicast_fault_no_peer\n unicast_peer {\n }")).config.instance("V")
    assert i.unicast_fault_no_peer and i.unicast_no_peer and not i.unicast_peers
    i = load(inst(" unicast_fault_no_peer\n unicast_peer {\n  198.18.0.2\n }")).config.instance("V")
    assert not i.unicast_no_peer
    r = load(inst(" unicast_src_ip 198.18.0.1"))
    assert not r.config.instance("V").unicast_no_peer
    assert "a unicast keyword without any unicast_peer: multicast is used" in messages(r)[0]


# ---- strict mode ---------------------------------------------------------------------------

def test_strict_mode_refuses_what_keepalived_refuses():
    r = load("global_defs {\n vrrp_strict\n}\n" + inst(" unicast_peer {\n  198.18.0.2\n }"))
    assert not r.ok and "strict mode does not allow unicast peers" in " ".join(messages(r))
    r = load("vrrp_instance V {\n interface eth0\n virtual_router_id 51\n strict_mode\n}\n")
    assert not r.ok and "strict mode requires at least one virtual_ipaddress" in " ".join(messages(r))


def test_strict_mode_resets_what_keepalived_resets():
    body = (" strict_mode\n state MASTER\n priority 100\n preempt_delay 5\n version 2\n accept\n"
            " lower_prio_no_advert false\n higher_prio_send_advert\n use_vmac 02:00:00:00:00:01\n vmac_xmit_base")
    r = load(inst(body))
    assert r.ok, messages(r)
    i = r.config.instance("V")
    assert (i.state, i.preempt_delay, i.accept, i.no_accept) == ("BACKUP", 0.0, False, True)
    assert (i.lower_prio_no_advert, i.higher_prio_send_advert, i.vmac_xmit_base) == (True, False, False)
    assert i.vmac.mac == "00:00:5e:00:01:33"
    text = " ".join(messages(r))
    for said in ("state BACKUP is used", "preempt_delay; resetting", "strict mode resets it (no_accept)",
                 "requires lower_prio_no_advert", "higher_prio_send_advert to be clear",
                 "vmac_xmit_base is incompatible", "cannot be given in strict mode"):
        assert said in text, said


def test_strict_mode_accepts_only_for_the_owner_and_no_accept_alone_is_kept():
    owner = load(inst(" strict_mode\n priority 255\n state MASTER")).config.instance("V")
    assert owner.accept is True and not owner.no_accept
    other = load(inst(" strict_mode\n version 3")).config.instance("V")
    assert other.accept is False and other.no_accept and other.lower_prio_no_advert
    plain = load(inst(" no_accept")).config.instance("V")
    assert plain.no_accept and not plain.strict_mode and not plain.lower_prio_no_advert
    assert not load(inst(" no_accept\n priority 255")).config.instance("V").no_accept   # the owner accepts
    assert not load(inst("")).config.instance("V").no_accept


def test_strict_ipv6_wants_a_link_local_first_vip():
    r = load(inst(" strict_mode", vips="2001:db8::199"))
    assert any("first IPv6 virtual_ipaddress must be link-local" in m for m in messages(r))
    assert not any("link-local" in m for m in messages(load(inst(" strict_mode", vips="fe80::51\n  2001:db8::1"))))


# ---- the advert knobs ----------------------------------------------------------------------

def test_the_advert_knobs_default_to_the_global_ones():
    g = "global_defs {\n vrrp_higher_prio_send_advert\n vrrp_lower_prio_no_advert true\n}\n"
    i = load(g + inst("")).config.instance("V")
    assert (i.higher_prio_send_advert, i.lower_prio_no_advert) == (True, True)
    i = load(g + inst(" higher_prio_send_advert off\n lower_prio_no_advert no")).config.instance("V")
    assert (i.higher_prio_send_advert, i.lower_prio_no_advert) == (False, False)
    i = load(inst("")).config.instance("V")
    assert (i.higher_prio_send_advert, i.lower_prio_no_advert) == (False, False)


def test_nftables_settings():
    gd = load("global_defs {\n nftables mytable\n nftables_priority -5\n nftables_counters\n}\n").config.global_defs
    assert (gd.nftables, gd.nftables_priority, gd.nftables_counters) == ("mytable", -5, True)
    assert load("global_defs {\n nftables\n}\n").config.global_defs.nftables == ""
    r = load("global_defs {\n vrrp_iptables\n}\n")
    assert r.config.global_defs.nftables == "" and "nftables is used instead" in messages(r)[0]
    assert load("").config.global_defs.nftables is None
