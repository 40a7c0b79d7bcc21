"""engine.metrics without a network: snapshot -> exposition text, parsed back with prometheus_client.

The lab test (tests/lab/test_lab_metrics.py) scrapes real daemons; these pin
the mapping rules that a two-node lab does not reach: keepalived's VIP
spelling, STOP's number, excluded VIPs, the reject-reason mapping, a stalled
loop, and that free text (where a secret could hide) never reaches the text.
"""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from vipdeck.engine.metrics import (CATALOGUE, KEEPALIVED_ERRORS, NOT_EXPORTED, SPECS, EngineCollector,
                                    EngineCounters, families, parse_listen, vip_label)

SECRET = "hunter22"


def instance(name="VI_1", state="MASTER", vips=(("198.18.0.199/32", False),), rejects=None, **kw):
    return {
        "name": name, "vrid": kw.get("vrid", 51), "interface": "eth0", "family": 4, "version": 2,
        "state": state, "base_priority": 100, "effective_priority": 100,
        "trackers": [{"name": "chk", "kind": "script", "state": "failed", "contribution": -20,
                      "detail": f"exit 1: {SECRET}"}],
        "vips": [{"address": a, "dev": "eth0", "label": None, "present": True, "last_garp": None, "excluded": e}
                 for a, e in vips],
        "master": {"address": None, "priority": None, "interval": None, "last_advert_age": None, "mac": None},
        "counters": {"adverts_sent": 5, "adverts_received": 7, "transitions": 2, "rejects": rejects or {}},
        "last_transition": {"from": "BACKUP", "to": state, "reason": SECRET, "detail": SECRET, "time": 1.0},
        "operator": {"drained": False, "hold_until": None, "held": False, "takeover": False,
                     "who": SECRET, "when": None, "why": SECRET},
    }


def snapshot(*instances) -> dict:
    return {
        "schema": 1,
        "node": {"hostname": "n1", "router_id": "n1", "pid": 1, "version": "0.1.0", "config_file": f"/{SECRET}",
                 "started_at": 100.0, "now": 200.0, "mode": "daemon", "interfaces": []},
        "instances": list(instances),
        "virtual_servers": [{
            "key": "198.18.0.199:80", "protocol": "TCP", "quorum_ok": True, "sorry_active": False,
            "in_kernel": True,
            "real_servers": [{
                "key": "198.18.1.10:80", "weight_config": 1, "weight_effective": 3, "weight_kernel": 3,
                "override": {"weight": 3, "who": SECRET, "when": 1.0, "why": SECRET}, "state": "UP",
                "checkers": [{"kind": "HTTP_GET", "label": "HTTP_GET#1", "ok": True, "latency": 0.01,
                              "error": SECRET, "failures": 0, "runs": 9, "total_failures": 1},
                             {"kind": "HTTP_GET", "label": "HTTP_GET#2", "ok": False, "latency": 1.0,
                              "error": SECRET, "failures": 2, "runs": 9, "total_failures": 4}],
                "active_conn": 4, "inactive_conn": 1, "conns": 100, "inpkts": 1000, "outpkts": 900,
                "inbytes": 10**6, "outbytes": 10**9}]}],
        "ipvs": {"available": True, "error": None},
        "adverts": [{"vrid": 51, "interface": "eth0", "master": "198.18.0.2", "ours": True,
                     "sources": [{"address": "198.18.0.2", "priority": 100, "count": 12}],
                     "flags": [{"kind": "split_brain", "detail": SECRET}, {"kind": "auth_mismatch", "detail": SECRET}]}],
        "operator": {"drained": {"who": SECRET, "when": 1.0, "why": SECRET}, "audit_tail": [{"request": SECRET}]},
        "read_only": False,
    }


def text_of(snap: dict, counters: EngineCounters | None = None) -> str:
    reg = CollectorRegistry()

    class C:
        def collect(self):
            return families(snap, counters)

    reg.register(C())
    return generate_latest(reg).decode()


def parse(text: str) -> dict:
    return {f.name: f for f in text_string_to_metric_families(text)}


def value(fams: dict, metric: str, **labels) -> float | None:
    hits = [s.value for f in fams.values() for s in f.samples
            if s.name == metric and all(s.labels.get(k) == str(v) for k, v in labels.items())]
    assert len(hits) <= 1, (metric, labels, hits)
    return hits[0] if hits else None


def test_vip_spelling_is_keepalived_s():
    assert vip_label("198.18.0.199/32") == "198.18.0.199"
    assert vip_label("198.18.0.199/24") == "198.18.0.199/24"
    assert vip_label("2001:db8::1/128") == "2001:db8::1"
    assert vip_label("2001:db8::1/64") == "2001:db8::1/64"


def test_state_per_vip_excluded_and_none():
    f = parse(text_of(snapshot(
        instance("VI_1", "MASTER", vips=[("198.18.0.199/32", False), ("198.18.0.10/24", False),
                                         ("198.18.0.50/32", True)]),
        instance("VI_2", "STOP", vips=[], vrid=52),
        instance("VI_3", "FAULT", vips=[("2001:db8::5/128", False)], vrid=53))))
    base = {"iname": "VI_1", "intf": "eth0", "vrid": "51"}
    assert value(f, "keepalived_vrrp_state", **base, ip_address="198.18.0.199") == 2
    assert value(f, "keepalived_vrrp_state", **base, ip_address="198.18.0.10/24") == 2
    assert value(f, "keepalived_vrrp_state", **base, ip_address="198.18.0.50") is None
    assert value(f, "keepalived_vrrp_excluded_state", **base, ip_address="198.18.0.50") == 2
    assert value(f, "keepalived_vrrp_state", iname="VI_2", intf="eth0", vrid="52", ip_address="") == 98
    assert value(f, "keepalived_vrrp_state", iname="VI_3", ip_address="2001:db8::5") == 3


def test_reject_reasons_add_up_to_keepalived_s_counters():
    rejects = {"truncated": 1, "length": 2, "ttl": 3, "type": 4, "interval": 5, "interval_mismatch": 6,
               "addresses": 7, "auth_unsupported": 8, "auth_type": 9, "auth_mismatch": 10, "checksum": 11}
    f = parse(text_of(snapshot(instance(rejects=rejects))))
    lab = {"iname": "VI_1", "intf": "eth0", "vrid": "51"}
    assert value(f, "keepalived_packet_length_errors_total", **lab) == 3
    assert value(f, "keepalived_ip_ttl_errors_total", **lab) == 3
    assert value(f, "keepalived_invalid_type_received_total", **lab) == 4
    assert value(f, "keepalived_advertisements_interval_errors_total", **lab) == 11
    assert value(f, "keepalived_address_list_errors_total", **lab) == 7
    assert value(f, "keepalived_authentication_invalid_total", **lab) == 8
    assert value(f, "keepalived_authentication_mismatch_total", **lab) == 9
    assert value(f, "keepalived_authentication_failure_total", **lab) == 10
    # every reason, keepalived's or not, under its own name
    assert value(f, "vipdeck_vrrp_rejects_total", **lab, reason="checksum") == 11
    assert sum(len(r) for r in KEEPALIVED_ERRORS.values()) == 10


def test_transition_counters_are_the_engines_and_reloads_come_from_events():
    from vipdeck.engine.dumps.stats import TransitionCounters

    t = TransitionCounters()           # what Engine.vrrp_stats holds, driven as the engine drives it
    for old, new, reason in [("INIT", "BACKUP", "startup"), ("BACKUP", "MASTER", "master_down"),
                             ("MASTER", "BACKUP", "operator"), ("BACKUP", "MASTER", "master_down"),
                             ("MASTER", "FAULT", "interface")]:
        t.transition(old, new, reason)
    t.pri_zero_rcvd = 4
    c = EngineCounters(started_at=0, vrrp_stats={"VI_1": t})
    c.on_event({"kind": "config", "accepted": False, "time": 5.0})
    f = parse(text_of(snapshot(instance()), c.copy()))
    lab = {"iname": "VI_1", "intf": "eth0", "vrid": "51"}
    assert value(f, "keepalived_become_master_total", **lab) == 2
    assert value(f, "keepalived_release_master_total", **lab) == 2
    assert value(f, "keepalived_priority_zero_sent_total", **lab) == 1     # the operator resign, not the link loss
    assert value(f, "keepalived_priority_zero_received_total", **lab) == 4
    assert value(f, "vipdeck_config_last_reload_successful") == 0
    # a stats clear (SIGUSR2 "and clearing") resets the dump's view, never the metrics
    t.baseline = object()
    assert value(parse(text_of(snapshot(instance()), c.copy())), "keepalived_become_master_total", **lab) == 2
    c.on_event({"kind": "config", "accepted": True, "time": 9.0})
    f = parse(text_of(snapshot(instance()), c))
    assert value(f, "vipdeck_config_last_reload_successful") == 1
    assert value(f, "vipdeck_config_last_reload_success_timestamp_seconds") == 9.0


def test_interval_errors_skip_resignations_and_gaps():
    c = EngineCounters(started_at=0)
    for t in (0.0, 1.0003, 2.0018, 3.0418):      # errors 0.3 ms, 1.5 ms, 40 ms
        c.on_advert("VI_1", "198.18.0.2", 100, 1.0, t)
    c.on_advert("VI_1", "198.18.0.2", 0, 1.0, 3.6)       # resigns
    c.on_advert("VI_1", "198.18.0.2", 100, 1.0, 10.0)    # back later: no sample from the gap
    c.on_advert("VI_1", "198.18.0.3", 100, 1.0, 20.0)    # someone else, first advert: no sample
    f = parse(text_of(snapshot(instance()), c))
    lab = {"iname": "VI_1", "intf": "eth0", "vrid": "51"}
    assert value(f, "vipdeck_vrrp_advert_interval_error_seconds_count", **lab) == 3
    assert value(f, "vipdeck_vrrp_advert_interval_error_seconds_bucket", **lab, le="0.0005") == 1
    assert value(f, "vipdeck_vrrp_advert_interval_error_seconds_bucket", **lab, le="0.001") == 1
    assert value(f, "vipdeck_vrrp_advert_interval_error_seconds_bucket", **lab, le="0.002") == 2
    assert value(f, "vipdeck_vrrp_advert_interval_error_seconds_bucket", **lab, le="0.02") == 2
    assert value(f, "vipdeck_vrrp_advert_interval_error_seconds_bucket", **lab, le="0.05") == 3
    assert value(f, "vipdeck_vrrp_advert_interval_error_seconds_bucket", **lab, le="+Inf") == 3
    assert value(f, "vipdeck_vrrp_advert_interval_error_seconds_sum", **lab) == pytest.approx(0.0418)


def test_servers_weights_checkers_and_kernel_counters():
    f = parse(text_of(snapshot(instance())))
    rs = {"vs": "198.18.0.199:80", "protocol": "TCP", "rs": "198.18.1.10:80"}
    assert value(f, "vipdeck_real_server_weight_configured", **rs) == 1
    assert value(f, "vipdeck_real_server_weight_effective", **rs) == 3
    assert value(f, "vipdeck_real_server_weight_override", **rs) == 1
    assert value(f, "vipdeck_real_server_state", **rs, state="UP") == 1
    assert value(f, "vipdeck_real_server_state", **rs, state="DOWN") == 0
    assert value(f, "vipdeck_real_server_checker_up", **rs, checker="HTTP_GET#1") == 1
    assert value(f, "vipdeck_real_server_checker_up", **rs, checker="HTTP_GET#2") == 0
    assert value(f, "vipdeck_real_server_check_failures_total", **rs, checker="HTTP_GET#2") == 4
    assert value(f, "vipdeck_real_server_outgoing_bytes_total", **rs) == 10**9
    assert value(f, "vipdeck_real_server_active_connections", **rs) == 4
    assert value(f, "vipdeck_vrid_split_brain", vrid="51") == 1
    assert value(f, "vipdeck_vrid_anomaly", vrid="51", kind="auth_mismatch") == 1
    assert value(f, "vipdeck_operator_drained") == 1
    assert value(f, "keepalived_script_status", name="chk") == 0


def test_every_family_is_in_the_catalogue_with_its_type_and_labels_and_no_secret():
    text = text_of(snapshot(instance(rejects={"ttl": 1}), instance("VI_2", "BACKUP", vrid=52)),
                   EngineCounters(0))
    assert SECRET not in text
    fams = parse(text)
    for name, fam in fams.items():
        full = name + ("_total" if fam.type == "counter" else "")
        spec = SPECS[full]
        assert fam.type == spec.kind, name
        for s in fam.samples:
            assert set(s.labels) - {"le"} == set(spec.labels), (name, s.labels)
    assert not set(NOT_EXPORTED) & {f + "_total" if f in fams and fams[f].type == "counter" else f for f in fams}
    assert not set(NOT_EXPORTED) & set(SPECS)
    names = [s.name for s in CATALOGUE]
    assert len(names) == len(set(names))


def test_a_stalled_loop_gives_keepalived_up_0_and_never_blocks_the_scrape():
    loop = asyncio.new_event_loop()
    t = threading.Thread(target=loop.run_forever, daemon=True)
    t.start()
    release = threading.Event()
    try:
        collector = EngineCollector(lambda: snapshot(instance()), EngineCounters(0), loop, timeout=0.3)
        assert [f.name for f in collector.collect()][:1] == ["keepalived_up"]
        loop.call_soon_threadsafe(release.wait)          # the loop is stuck in a blocking call
        t0 = time.monotonic()
        fams = list(collector.collect())
        assert time.monotonic() - t0 < 2
        assert [(f.name, f.samples[0].value) for f in fams] == [("keepalived_up", 0)]
        release.set()
        fams = list(collector.collect())
        assert any(f.name == "keepalived_vrrp_state" for f in fams)
    finally:
        release.set()
        loop.call_soon_threadsafe(loop.stop)
        t.join()
        loop.close()


@pytest.mark.parametrize("text,want", [
    ("127.0.0.1:9650", ("127.0.0.1", 9650)), ("[::1]:9650", ("::1", 9650)), ("0.0.0.0:80", ("0.0.0.0", 80))])
def test_listen_address(text, want):
    assert parse_listen(text) == want


@pytest.mark.parametrize("text,why", [
    ("9650", "expected ADDR:PORT"), ("::1:9650", "brackets"), (":9650", "give the address"),
    ("127.0.0.1:http", "not a number"), ("127.0.0.1:70000", "out of range")])
def test_bad_listen_address_is_named(text, why):
    with pytest.raises(ValueError, match=why):
        parse_listen(text)


def test_daemon_refuses_a_bad_metrics_address_before_anything_starts(tmp_path):
    import subprocess
    import sys

    from tests.support.paths import ROOT

    r = subprocess.run([sys.executable, "-m", "vipdeck", "daemon", "-f", str(tmp_path / "none.conf"),
                        "--state-dir", str(tmp_path), "--metrics", "9650"],
                       capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert r.returncode != 0
    assert "vipdeck daemon: --metrics '9650': expected ADDR:PORT, e.g. 127.0.0.1:9650" in r.stderr
