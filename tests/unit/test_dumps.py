"""The SIGUSR1 / SIGUSR2 / SIGJSON dumps against keepalived 2.2.7's own output.

tests/fixtures/keepalived-2.2.7/ holds what keepalived 2.2.7 wrote for a
one-instance config (copies of ../shared/reference, checked equal when
shared/ is there).  For that config and the same state our JSON and stats
are keepalived's byte for byte, except the password, and our data dump has
every line keepalived's has, with values of the same shape, except the
few keepalived internals listed in OMITTED.  Then the parsing rules of
mehdy/keepalived-exporter (its Go decoder's types for ``--ka.json``, its
line parsers for the text files) are applied to richer configs.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from vipdeck.engine.config import load
from vipdeck.engine.config.model import MASK
from vipdeck.engine.dumps import data, jsondump, stats
from vipdeck.engine.dumps.facts import (CheckerFacts, Facts, InstanceFacts, InterfaceFacts, RealServerFacts,
                                        ScriptFacts, SocketFacts, TrackFileFacts, VirtualServerFacts)
from vipdeck.engine.dumps.stats import VrrpStats
from tests.support.paths import FIXTURES, SHARED

REF = FIXTURES / "keepalived-2.2.7"

SAMPLE_CONF = """
global_defs {
    router_id node1
    vrrp_mcast_group4 224.1.101.33
}
vrrp_instance VI_1 {
    state MASTER
    interface eth0
    virtual_router_id 51
    priority 100
    advert_int 1
    authentication {
        auth_type PASS
        auth_pass 1111
    }
    virtual_ipaddress {
        198.18.77.199
    }
}
"""

# lines of keepalived's data dump about its internals, which vipdeck does not have
OMITTED = {
    "Global definitions": {"libnftnl version N.N.N"},
    "Interfaces": {"Seen up", "Delayed state change running", "Up debounce timer", "Down debounce timer",
                   "NIC netlink status update", "Reset ARP config counter N", "Original arp_ignore N",
                   "Original arp_filter N", "Original promote_secondaries N", "Reset promote_secondaries counter N"},
}


def load_text(tmp_path: Path, text: str, name: str = "keepalived.conf"):
    p = tmp_path / name
    p.write_text(text)
    r = load(str(p))
    assert r.ok, [str(d) for d in r.diagnostics]
    return r.config


def sample_facts(config) -> Facts:
    """The state keepalived was in when it wrote the reference files."""
    inst = InstanceFacts(name="VI_1", state="MASTER", wantstate="MASTER", effective_priority=100,
                         total_priority=100, master_adver_int=1.0, last_transition=1796158577.709752,
                         read_timeout=1796158579.709927, master_down_timer=3.609375, src_ip="198.18.77.1",
                         vips_set={"198.18.77.199/32": True}, fd=13, ifindex=2,
                         stats=VrrpStats(advert_sent=2, become_master=1))
    return Facts(now=1796158580.0, pid=4242, umask=0o177, instances={"VI_1": inst},
                 sockets=(SocketFacts(13, "eth0", 4, False, (("VI_1", 51),)),),
                 interfaces=(InterfaceFacts("lo", 1, ("127.0.0.1",), (), None, None, True, True, 0x49, 65536, 772),
                             InterfaceFacts("eth0", 2, ("198.18.77.1",), ("fe80::582d:dcff:fe62:772f",),
                                            "5a:2d:dc:62:77:2f", "ff:ff:ff:ff:ff:ff", True, True, 0x1043, 1500, 1)))


@pytest.fixture
def sample(tmp_path):
    config = load_text(tmp_path, SAMPLE_CONF)
    return config, sample_facts(config)


def test_fixtures_are_the_shared_reference():
    if not (SHARED / "reference").is_dir():
        pytest.skip("../shared is not beside this checkout")
    for f in REF.iterdir():
        assert f.read_bytes() == (SHARED / "reference" / f.name).read_bytes(), f.name


# --------------------------------------------------------------------------- JSON


def test_json_is_keepalived_s_byte_for_byte_but_the_password(sample):
    config, facts = sample
    ours = jsondump.render(config, facts)
    ref = (REF / "keepalived-2.2.7-SIGJSON.json").read_text()
    assert '"auth_data":"1111"' in ref
    assert ours == ref.replace('"auth_data":"1111"', f'"auth_data":"{MASK}"')


def _shape(v):
    """JSON value -> type, as a Go decoder sees it (5 and 5.0 differ)."""
    if isinstance(v, dict):
        return {k: _shape(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_shape(x) for x in v]
    return type(v).__name__


def test_json_keys_order_and_types_match_keepalived(sample):
    config, facts = sample
    ours = json.loads(jsondump.render(config, facts))
    ref = json.loads((REF / "keepalived-2.2.7-SIGJSON.json").read_text())
    assert [list(o["data"]) for o in ours] == [list(o["data"]) for o in ref]
    assert [list(o["stats"]) for o in ours] == [list(o["stats"]) for o in ref]
    assert _shape(ours) == _shape(ref)


# --------------------------------------------------------------------------- stats


def test_stats_are_keepalived_s_byte_for_byte(sample):
    config, facts = sample
    assert stats.render(config, facts) == (REF / "keepalived-2.2.7-SIGUSR2.stats").read_text()


# --------------------------------------------------------------------------- data


_NUM = re.compile(r"\d+")


def sections(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    cur = None
    for line in text.splitlines():
        m = re.match(r"^------< (.+) >------$", line)
        if m:
            cur = m.group(1)
            out[cur] = []
        elif cur is not None:
            out[cur].append(line)
    return out


def key_and_shape(line: str) -> tuple[str, str]:
    """'   Priority = 100' -> ('Priority', 'int'); lines without '=' are keys by themselves."""
    body = line.strip()
    for sep in (" = ", " : "):
        if sep in body:
            k, v = body.split(sep, 1)
            return k, value_shape(v)
    if body.endswith((":", "=")):
        return body.rstrip(" :="), "none"
    return _NUM.sub("N", body), "none"


def value_shape(v: str) -> str:
    if re.fullmatch(r"-?\d+", v):
        return "int"
    if re.fullmatch(r"-?\d+\.\d+", v):
        return "float"
    if re.fullmatch(r"\d+\.\d{6} \(\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d\.\d{6} \d{4}\)", v):
        return "timestamp"
    if v in ("true", "false", "yes", "no", "enabled", "disabled", "on", "off", "unset"):
        return "flag"
    if re.fullmatch(r"\d+ (sec|usecs|milli-sec|us)", v):
        return "int+unit"
    return "text"


def test_data_dump_has_every_line_keepalived_has_with_the_same_shape(sample):
    config, facts = sample
    ours = sections(data.render_vrrp(config, facts))
    ref = sections((REF / "keepalived-2.2.7-SIGUSR1.data").read_text())
    assert list(ours) == list(ref)
    for name, lines in ref.items():
        mine = dict(key_and_shape(x) for x in ours[name])
        theirs = [key_and_shape(x) for x in lines]
        missing = [k for k, _ in theirs if k not in mine and k not in OMITTED.get(name, ())]
        assert not missing, f"{name}: keepalived has {missing}"
        wrong = [(k, s, mine[k]) for k, s in theirs if k in mine and mine[k] != s and k != "Password"]
        assert not wrong, f"{name}: shapes differ (key, keepalived, ours): {wrong}"
        assert not OMITTED.get(name, set()) & set(mine), "a line listed as omitted is there after all"


def test_data_dump_topology_lines_are_keepalived_s(sample):
    """The instance block, line for line, but the password and the second fd."""
    config, facts = sample
    ours = sections(data.render_vrrp(config, facts))["VRRP Topology"]
    ref = sections((REF / "keepalived-2.2.7-SIGUSR1.data").read_text())["VRRP Topology"]
    ref = [f"   Password = {MASK}" if x == "   Password = 1111" else x for x in ref]
    ref = ["   fd_in 13, fd_out 13" if x == "   fd_in 13, fd_out 14" else x for x in ref]
    assert ours == ref


def test_global_definitions_follow_keepalived_s_order(sample):
    config, facts = sample
    ours = [key_and_shape(x)[0] for x in sections(data.render_vrrp(config, facts))["Global definitions"]]
    ref = [key_and_shape(x)[0] for x in sections((REF / "keepalived-2.2.7-SIGUSR1.data").read_text())
           ["Global definitions"] if key_and_shape(x)[0] not in OMITTED["Global definitions"]]
    assert ours == ref


# --------------------------------------------------------------------------- secrets


RICH = """
global_defs {
    router_id lb1
    notification_email { ops@example.org }
    notification_email_from lb1@example.org
    smtp_server 198.18.0.25
    vrrp_version 2
}
vrrp_script chk_nginx {
    script "pidof nginx"
    interval 2
    weight -3
    fall 2
    rise 2
}
track_file down {
    file /run/lb-down
    weight -20
}
vrrp_sync_group G1 {
    group { VI_1 VI_2 }
    notify_master "/etc/keepalived/notify.sh group master"
}
vrrp_instance VI_1 {
    state MASTER
    interface eth0
    virtual_router_id 51
    priority 100
    authentication {
        auth_type PASS
        auth_pass s3cr3tpw
    }
    virtual_ipaddress { 198.18.0.199/24 dev eth0 label eth0:1 }
    virtual_ipaddress_excluded { 2001:db8::199 }
    track_script { chk_nginx }
    track_file { down }
    notify_master "/etc/keepalived/notify.sh master"
}
vrrp_instance VI_2 {
    state BACKUP
    interface eth1
    virtual_router_id 52
    priority 96
    version 3
    advert_int 0.1
    virtual_ipaddress { 198.18.1.199 }
    unicast_src_ip 198.18.1.2
    unicast_peer { 198.18.1.1 }
}
SSL {
    password k3ypassw0rd
    certificate /etc/keepalived/lb.pem
}
virtual_server 198.18.0.100 80 {
    delay_loop 6
    lb_algo rr
    lb_kind NAT
    protocol TCP
    sorry_server 198.18.0.250 80
    real_server 198.18.0.203 80 {
        weight 2
        TCP_CHECK {
            connect_timeout 3
            retry 2
            delay_before_retry 1
        }
    }
    real_server 198.18.0.204 80 {
        weight 1
        HTTP_GET {
            url {
                path /health
                status_code 200
            }
            connect_timeout 2
        }
    }
}
"""


def rich_facts(config) -> Facts:
    f = Facts.for_config(config, ipvs_version="1.2.1")
    insts = dict(f.instances)
    insts["VI_2"] = InstanceFacts(name="VI_2", state="BACKUP", wantstate="BACKUP", effective_priority=96,
                                  total_priority=96, master_priority=100, master_address="198.18.1.1",
                                  master_adver_int=0.1, last_transition=f.now, read_timeout=f.now + 0.3,
                                  master_down_timer=0.3625, src_ip="198.18.1.2",
                                  stats=VrrpStats(advert_rcvd=120, ip_ttl_err=3, pri_zero_rcvd=1))
    vs = VirtualServerFacts(quorum_up=True, reals=(
        RealServerFacts(alive=False, weight=2, set=False, failed_checkers=1,
                        checkers=(CheckerFacts("TCP_CHECK", up=False, has_run=True, failures=3),)),
        RealServerFacts(alive=True, weight=1, checkers=(CheckerFacts("HTTP_GET", has_run=True),))))
    return Facts(**{**f.__dict__, "instances": insts, "virtual_servers": (vs,),
                    "scripts": {"chk_nginx": ScriptFacts("chk_nginx", result=3, good=True, init_state="unknown")},
                    "sync_groups": {"G1": "MASTER"}, "track_files": {"down": TrackFileFacts("down", 0)}})


@pytest.fixture
def rich(tmp_path):
    config = load_text(tmp_path, RICH)
    return config, rich_facts(config)


def test_no_secret_in_any_dump(rich):
    config, facts = rich
    texts = {"data": data.render_vrrp(config, facts), "check": data.render_check(config, facts),
             "parent": data.render_parent(config, facts), "json": jsondump.render(config, facts),
             "stats": stats.render(config, facts)}
    for name, text in texts.items():
        assert "s3cr3tpw" not in text and "k3ypassw0rd" not in text, name
    assert f"   Password = {MASK}" in texts["data"]
    assert f" Password : {MASK}" in texts["check"]
    assert json.loads(texts["json"])[0]["data"]["auth_data"] == MASK


# --------------------------------------------------------------------------- the exporter's parsers


def go_decode_vrrp(text: str) -> list[dict]:
    """What keepalived-exporter's ParseJSON accepts: a list of {data, stats}
    with these Go types (an int field rejects 5.0; unknown keys are ignored;
    a missing key stays zero)."""
    ints = ("state", "wantstate", "garp_delay", "vrid")
    out = []
    for item in json.loads(text):
        d, s = item["data"], item["stats"]
        assert isinstance(d["iname"], str) and isinstance(d["ifp_ifname"], str)
        for k in ints:
            assert type(d[k]) is int, (k, d[k])
        for k in ("vips", "evips"):
            assert k not in d or (isinstance(d[k], list) and all(isinstance(x, str) for x in d[k])), k
        for k in ("advert_rcvd", "advert_sent", "become_master", "release_master", "packet_len_err",
                  "advert_interval_err", "ip_ttl_err", "invalid_type_rcvd", "addr_list_err", "invalid_authtype",
                  "authtype_mismatch", "auth_failure", "pri_zero_rcvd", "pri_zero_sent"):
            assert type(s[k]) is int, (k, s[k])
        out.append(item)
    return out


def parse_vip(vip: str) -> tuple[str, str]:
    """The exporter's ParseVIP: address is word 0, interface word 2."""
    words = vip.split(" ")
    assert len(words) >= 3, vip
    return words[0], words[2]


def exporter_parse_data(text: str) -> dict[str, dict]:
    """keepalived-exporter's ParseVRRPData rules (collector/parser.go), in Python."""
    states = ["INIT", "BACKUP", "MASTER", "FAULT"]
    out: dict[str, dict] = {}
    instance = key = ""
    for line in text.splitlines():
        if line.startswith(" VRRP Instance") and "=" in line:
            instance = line.split("=")[1].strip()
            out[instance] = {"vips": [], "evips": []}
        elif line.startswith("   ") and instance:
            if line.startswith("     "):
                val = line.strip()
            else:
                if "=" in line:
                    args = line.strip().split("=")
                elif ":" in line:
                    args = line.strip().split(":")
                else:
                    continue
                key = args[0].strip()
                if key == "Virtual IP":
                    continue
                val = args[1].strip()
            if (key.startswith("Virtual IP (") or key == "Virtual IP") and val:
                out[instance]["vips"].append(val)
            if key.startswith("Virtual IP Excluded") and val:
                out[instance]["evips"].append(val)
            if key in ("State", "Wantstate"):
                out[instance][key] = states.index(val)         # the exporter errors on anything else
            elif key in ("Interface", "Listening device"):
                out[instance]["intf"] = val
            elif key in ("Gratuitous ARP delay", "Virtual Router ID"):
                out[instance][key] = int(val)                   # strconv.Atoi
        elif line.startswith(" VRRP Version") or line.startswith(" VRRP Script"):
            continue
        else:
            instance = ""
    return out


def exporter_parse_scripts(text: str) -> list[dict]:
    out, cur = [], None
    for line in text.splitlines():
        if line.startswith(" VRRP Script") and "=" in line:
            if cur:
                out.append(cur)
            cur = {"name": line.split("=")[1].strip()}
        elif line.startswith("   ") and cur:
            if "=" in line:
                k, v = (x.strip() for x in line.strip().split("=", 1))
                if k in ("Status", "State"):
                    cur[k] = v
        elif not line.startswith("    "):
            if cur:
                out.append(cur)
            cur = None
    if cur:
        out.append(cur)
    return out


def exporter_parse_stats(text: str) -> dict[str, dict]:
    out: dict[str, dict] = {}
    instance = section = ""
    for line in text.splitlines():
        if line.startswith("VRRP Instance") and ":" in line:
            instance = line.split(":")[1].strip()
            out[instance] = {}
        elif line.startswith("  ") and line.endswith(":"):
            section = line.strip().split(":")[0].strip()
        elif line.startswith("    ") and section:
            k, v = (x.strip() for x in line.strip().split(":"))
            out[instance][f"{section}/{k}"] = int(v)            # strconv.Atoi: an error stops the scrape
        elif line.startswith("  ") and not line.endswith(":") and not line.startswith("    "):
            k, v = (x.strip() for x in line.strip().split(":"))
            section = ""
            out[instance][k] = int(v)
    return out


def test_exporter_reads_our_json_as_it_reads_keepalived_s(rich):
    config, facts = rich
    vrrps = go_decode_vrrp(jsondump.render(config, facts))
    assert [v["data"]["iname"] for v in vrrps] == ["VI_1", "VI_2"]
    v1, v2 = (v["data"] for v in vrrps)
    assert (v1["state"], v1["vrid"], v1["ifp_ifname"], v1["garp_delay"]) == (2, 51, "eth0", 5)
    assert (v2["state"], v2["vrid"], v2["ifp_ifname"]) == (1, 52, "eth1")
    assert [parse_vip(x) for x in v1["vips"]] == [("198.18.0.199/24", "eth0")]
    assert [parse_vip(x) for x in v1["evips"]] == [("2001:db8::199", "eth0")]
    assert vrrps[1]["stats"]["advert_rcvd"] == 120 and vrrps[1]["stats"]["pri_zero_rcvd"] == 1
    assert v2["adver_int"] == 0.1 and '"adver_int":0.1,' in jsondump.render(config, facts)
    assert v1["script_master"] == "'/etc/keepalived/notify.sh' 'master'"
    assert v1["track_script"] == ["'pidof' 'nginx'"]


def test_exporter_reads_our_text_dumps(rich):
    config, facts = rich
    text = data.render_vrrp(config, facts)
    d = exporter_parse_data(text)
    st = exporter_parse_stats(stats.render(config, facts))
    assert set(d) == set(st) == {"VI_1", "VI_2"}             # "data and stats are not synced" otherwise
    assert d["VI_1"]["State"] == 2 and d["VI_1"]["Wantstate"] == 2 and d["VI_2"]["State"] == 1
    assert d["VI_1"]["intf"] == "eth0" and d["VI_2"]["intf"] == "eth1"
    assert d["VI_1"]["Virtual Router ID"] == 51 and d["VI_1"]["Gratuitous ARP delay"] == 5
    assert d["VI_1"]["vips"] == ["198.18.0.199/24 dev eth0 scope global label eth0:1 set"]
    assert d["VI_1"]["evips"] == ["2001:db8::199 dev eth0 scope global preferred_lft forever set"]
    assert d["VI_2"]["vips"] == ["198.18.1.199 dev eth1 scope global"]
    assert exporter_parse_scripts(text) == [{"name": "chk_nginx", "Status": "GOOD", "State": "idle"}]
    assert st["VI_2"]["Advertisements/Received"] == 120 and st["VI_2"]["Packet Errors/TTL"] == 3
    assert st["VI_1"]["Became master"] == 0


def test_rich_data_dump_sections_and_lines(rich):
    config, facts = rich
    s = sections(data.render_vrrp(config, facts))
    assert list(s) == ["Global definitions", "VRRP Topology", "VRRP Sync groups", "VRRP Scripts",
                       "VRRP Track files"]
    topo = s["VRRP Topology"]
    assert "   Sync group = G1" in topo and "   Master router = 198.18.1.1" in topo
    assert "   Master priority = 100" in topo and "   Advert interval = 100 milli-sec" in topo
    assert "   Using src_ip = 198.18.1.2 (from configuration)" in topo
    assert ["   Unicast Peer :", "     198.18.1.1 min_ttl 0 max_ttl 255"] == topo[topo.index("   Unicast Peer :"):][:2]
    assert "   Master state transition script = '/etc/keepalived/notify.sh' 'master', uid:gid 0:0" in topo
    assert ["   Tracked scripts :", "     chk_nginx weight -3"] == topo[topo.index("   Tracked scripts :"):][:2]
    assert s["VRRP Sync groups"][:4] == [" VRRP Sync Group = G1, MASTER", "   Num member fault 0, num member init 0",
                                          "   VRRP member instances :", "     VI_1"]
    assert "   Tracking instances :" in s["VRRP Scripts"] and "     VI_1, weight -3" in s["VRRP Scripts"]
    assert s["VRRP Track files"] == [" Track file = down", "   File = /run/lb-down", "   Status = 0",
                                     "   Weight = -20", "   Tracking instances :", "     VI_1, weight -20"]


def test_check_data_dump(rich):
    config, facts = rich
    s = sections(data.render_check(config, facts))
    assert list(s) == ["Global definitions", "SSL definitions", "LVS Topology", "Health checkers"]
    lvs = s["LVS Topology"]
    assert lvs[:3] == [" System is compiled with LVS v1.2.1", " ------< Virtual server >------",
                       " VS VIP = 198.18.0.100, VPORT = 80"]
    assert "   lvs_sched = rr" in lvs and "   protocol = TCP" in lvs
    assert "   sorry server = [198.18.0.250]:tcp:80" in lvs
    assert "   RIP = 198.18.0.203, RPORT = 80, WEIGHT = 2 EFF WEIGHT = 2" in lvs
    i = lvs.index("   RIP = 198.18.0.203, RPORT = 80, WEIGHT = 2 EFF WEIGHT = 2")
    assert "   alive = 0" in lvs[i:] and "   num failed checkers = 1" in lvs[i:]
    hc = s["Health checkers"]
    assert hc[0] == " [198.18.0.100]:tcp:80 -> [198.18.0.203]:tcp:80"
    assert "   Up = no" in hc and "   Keepalive method = TCP_CHECK" in hc
    assert "   Keepalive method = HTTP_GET, http protocol 1.0" in hc and "   Checked url = /health" in hc


def test_no_instance_no_json_and_facts_for_missing_instances(tmp_path):
    config = load_text(tmp_path, "global_defs { router_id x }\n")
    f = Facts()
    assert jsondump.render(config, f) == "[]\n"
    assert stats.render(config, f) == ""
    assert "------< VRRP Topology >------" not in data.render_vrrp(config, f)
