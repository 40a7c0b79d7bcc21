"""`vipdeck daemon --metrics`: a real daemon pair scraped over HTTP in its namespaces.

The text is parsed with prometheus_client's own parser.  Checks: the
keepalived-exporter names, labels and types; values that follow the state
(a drain moves ``keepalived_vrrp_state``, the become/release and priority-0 counters,
a refused reload shows in ``vipdeck_config_last_reload_successful``);
checker metrics of a real server; no secret anywhere in the text; a port in
use stops the daemon before it touches a VIP.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys

import pytest

from vipdeck.engine.lab import wait_until
from vipdeck.demo_lab import web_server
from vipdeck.engine.lab.peers import instance, start_vipdeck, vrrp_conf
from vipdeck.engine.metrics import CATALOGUE, KEEPALIVED_STATE, NOT_EXPORTED, SPECS
from tests.support.labconf import CHK_OK, SEED_GROUP, VIP1, tcp_lvs
from tests.support.scrape import scrape

pytestmark = pytest.mark.lab

PORT = 9650
SECRET = "Zq8sEcr7"            # auth_pass: must never show up in the metrics
RS = "198.18.0.10"
VRRP_LABELS = {"iname": "VI_1", "intf": "eth0", "vrid": "51"}
STATE = {**VRRP_LABELS, "ip_address": VIP1}

LVS = tcp_lvs(VIP1, RS, weight=3)
SCRIPTS = CHK_OK


def conf(router_id: str, priority: int, state: str, *, track: bool = False) -> str:
    return vrrp_conf(router_id=router_id, mcast_group=SEED_GROUP, scripts=SCRIPTS if track else "", extra=LVS,
                     instances=[dict(name="VI_1", vrid=51, priority=priority, state=state, advert_int=1,
                                     vips=[VIP1], auth_pass=SECRET, track_script=["chk_ok"] if track else [])])


def _types(s) -> dict[str, str]:
    return {name: f.type for name, f in s.families.items()}


def test_scrape_follows_a_takeover(lab):
    n1 = lab.add_node("n1", "198.18.0.1/24")
    n2 = lab.add_node("n2", "198.18.0.2/24")
    n3 = lab.add_node("n3", f"{RS}/24")
    web_server(n3, "n3")
    metrics = ("-D", "--metrics", f"127.0.0.1:{PORT}")
    r1 = start_vipdeck(n1, conf("node1", 100, "MASTER"), extra_args=metrics)
    r2 = start_vipdeck(n2, conf("node2", 96, "BACKUP", track=True), extra_args=metrics)
    wait_until(lambda: n1.has_address(VIP1) and instance(r2, "VI_1")["state"] == "BACKUP", 10, what="election")

    # a few adverts heard, the checker has run, the tracker has reported
    def settled():
        s = scrape(n2, PORT)
        return s if ((s.value("keepalived_advertisements_received_total", **VRRP_LABELS) or 0) >= 3
                     and s.value("vipdeck_real_server_checker_up", rs=f"{RS}:80") == 1
                     and s.value("keepalived_script_status", name="chk_ok") == 1) else None

    s2 = wait_until(settled, 15, what="backup's metrics settle")
    s1 = scrape(n1, PORT)
    assert "text/plain" in s2.content_type

    # keepalived-exporter's names, labels and types
    assert s2.value("keepalived_up") == 1
    assert s2.value("keepalived_vrrp_state", **STATE) == KEEPALIVED_STATE["BACKUP"]
    assert s1.value("keepalived_vrrp_state", **STATE) == KEEPALIVED_STATE["MASTER"]
    assert s1.value("keepalived_become_master_total", **VRRP_LABELS) == 1
    assert s1.value("keepalived_advertisements_sent_total", **VRRP_LABELS) >= 3
    assert s2.value("keepalived_advertisements_sent_total", **VRRP_LABELS) == 0
    assert s2.value("keepalived_become_master_total", **VRRP_LABELS) == 0
    for spec in CATALOGUE:
        if spec.name.startswith("keepalived_") and spec.name != "keepalived_vrrp_excluded_state":
            samples = s2.samples(spec.name)
            assert samples, f"{spec.name} missing"
            assert {k for k in samples[0].labels} == set(spec.labels), spec.name
    for name, kind in _types(s2).items():
        full = name + ("_total" if kind == "counter" else "")
        if full in SPECS:
            assert kind == SPECS[full].kind, name
        else:   # prometheus_client's own process/platform/GC collectors, nothing else
            assert name.startswith(("process_", "python_")), f"{name} is not in the catalogue"
    assert not any(n in s2.text for n in NOT_EXPORTED), "a metric without a source was exported"

    # vipdeck's own
    assert s2.value("vipdeck_vrrp_base_priority", **VRRP_LABELS) == 96
    assert s2.value("vipdeck_vrrp_effective_priority", **VRRP_LABELS) == 98
    assert s2.value("vipdeck_vrrp_tracker_contribution", **VRRP_LABELS, tracker="chk_ok", kind="script") == 2
    assert s2.value("vipdeck_vrrp_tracker_state", **VRRP_LABELS, tracker="chk_ok", state="ok") == 1
    assert s2.value("vipdeck_vrrp_master_priority", **VRRP_LABELS) == 100
    assert s2.value("vipdeck_vrid_split_brain", intf="eth0", vrid="51") == 0
    assert s2.value("vipdeck_vrid_source_priority", vrid="51", source=n1.ip) == 100
    hist = s2.value("vipdeck_vrrp_advert_interval_error_seconds_count", **VRRP_LABELS)
    assert hist >= 2
    # the master advertises every second; as heard here the error is far below a second
    assert s2.value("vipdeck_vrrp_advert_interval_error_seconds_bucket", **VRRP_LABELS, le="0.1") == hist
    rs = {"vs": f"{VIP1}:80", "protocol": "TCP", "rs": f"{RS}:80"}
    assert s2.value("vipdeck_real_server_state", **rs, state="UP") == 1
    assert s2.value("vipdeck_real_server_weight_configured", **rs) == 3
    assert s2.value("vipdeck_real_server_checks_total", **rs, checker="TCP_CHECK") >= 1
    assert s2.value("vipdeck_real_server_checker_latency_seconds", **rs, checker="TCP_CHECK") < 1
    for s in (s1, s2):
        assert SECRET not in s.text

    # the master is drained (it resigns with priority 0): the backup takes over, and both say so
    r = subprocess.run([sys.executable, "-m", "vipdeck", "drain", "--reason", "metrics test",
                        "--socket", r1.socket_path], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    wait_until(lambda: n2.has_address(VIP1), 5, what="takeover")
    s2 = wait_until(lambda: (s := scrape(n2, PORT)).value("keepalived_vrrp_state", **STATE) == 2 and s, 5,
                    what="keepalived_vrrp_state moves to MASTER")
    assert s2.value("keepalived_become_master_total", **VRRP_LABELS) == 1
    assert s2.value("keepalived_priority_zero_received_total", **VRRP_LABELS) == 1
    s1 = scrape(n1, PORT)
    assert s1.value("keepalived_vrrp_state", **STATE) == KEEPALIVED_STATE["BACKUP"]
    assert s1.value("keepalived_release_master_total", **VRRP_LABELS) == 1
    assert s1.value("keepalived_priority_zero_sent_total", **VRRP_LABELS) == 1
    assert s1.value("vipdeck_operator_drained") == 1
    assert s1.value("vipdeck_vrrp_master_priority", **VRRP_LABELS) == 98      # node2 now, with its tracker
    assert r1.stop() == 0

    # a refused reload keeps the running config and says so
    assert s2.value("vipdeck_config_last_reload_successful") == 1
    with open(r2.conf_path, "a") as f:
        f.write("vrrp_instance broken {\n")
    os.kill(r2.proc.pid, signal.SIGHUP)
    wait_until(lambda: scrape(n2, PORT).value("vipdeck_config_last_reload_successful") == 0, 5,
               what="refused reload in the metrics")
    assert scrape(n2, PORT).value("keepalived_vrrp_state", **STATE) == 2


def test_metrics_port_in_use_stops_the_daemon_before_it_takes_a_vip(lab):
    n1 = lab.add_node("n1", "198.18.0.1/24")
    busy = n1.socket(socket.AF_INET, socket.SOCK_STREAM)
    busy.bind(("127.0.0.1", PORT))
    busy.listen()
    try:
        with pytest.raises(RuntimeError) as exc:
            start_vipdeck(n1, conf("node1", 100, "MASTER"), extra_args=("--metrics", f"127.0.0.1:{PORT}"))
        assert f"--metrics 127.0.0.1:{PORT}: Address already in use; not starting" in str(exc.value)
        assert not n1.has_address(VIP1)
    finally:
        busy.close()
