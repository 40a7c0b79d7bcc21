"""`vipdeck status --json` and `vipdeck events --json` from real daemons, validated
against the published JSON Schema (docs/schema/vipdeck-control-v1.json) and,
strictly, against the TypedDicts it is generated from.

A pair in a namespace lab with a virtual server (a real web server behind
it, a real server that refuses), a tracker, a third router on a foreign
VRID and a forged TTL-64 advert, then a drain, a refused change and a
refused reload: the snapshot and the events of all of it must follow the
schema the docs promise (docs/json.md).
"""

from __future__ import annotations

import json
import signal

import jsonschema
import pytest

from vipdeck.engine.control import schema_export
from vipdeck.engine.lab import wait_until
from vipdeck.engine.lab.peers import instance, start_vipdeck, vrrp_conf
from vipdeck.engine.vrrp import packet
from vipdeck.demo_lab import web_server
from tests.support.labconf import CHK_OK, SEED_GROUP, VIP1, tcp_lvs
from tests.support.forge import Forger
from tests.support.paths import ROOT
from tests.support.vipdeck_cli import cli, events

pytestmark = pytest.mark.lab

RS_UP, RS_DOWN = "198.18.0.10", "198.18.0.11"
LVS = tcp_lvs(VIP1, RS_UP, RS_DOWN)
SCRIPTS = CHK_OK


def conf(router_id: str, priority: int, state: str, vrid: int = 51) -> str:
    return vrrp_conf(router_id=router_id, mcast_group=SEED_GROUP, scripts=SCRIPTS, extra=LVS,
                     instances=[dict(name="VI_1", vrid=vrid, priority=priority, state=state, advert_int=1,
                                     vips=[VIP1], track_script=["chk_ok"])])


def validators(name: str):
    published = json.loads((ROOT / schema_export.FILE).read_text())
    return [jsonschema.Draft202012Validator({"$ref": f"#/$defs/{name}", "$defs": published["$defs"]}),
            jsonschema.Draft202012Validator(schema_export.for_type(name, strict=True))]


def problems(name: str, value) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for v in validators(name) for e in v.iter_errors(value)]


FORGED = packet.encode(packet.Advert(2, 51, 250, 1.0, (VIP1,)))


def test_status_and_events_json_of_real_daemons_follow_the_schema(lab):
    n1 = lab.add_node("n1", "198.18.0.1/24")
    n2 = lab.add_node("n2", "198.18.0.2/24")
    n3 = lab.add_node("n3", "198.18.0.3/24")
    web = lab.add_node("web", f"{RS_UP}/24")
    web_server(web, "web")
    lab.add_node("gone", f"{RS_DOWN}/24")           # answers nothing on port 80: the checker fails
    r1 = start_vipdeck(n1, conf("node1", 100, "MASTER"))
    r2 = start_vipdeck(n2, conf("node2", 96, "BACKUP"))
    start_vipdeck(n3, conf("node3", 50, "BACKUP", vrid=60))        # a VRID node1 does not run
    wait_until(lambda: n1.has_address(VIP1) and instance(r2, "VI_1")["state"] == "BACKUP", 15, what="election")
    forger = Forger(n3, SEED_GROUP)

    def settled() -> bool:
        forger.send(FORGED, "198.18.0.77", ttl=64)          # routed from elsewhere, or forged
        snap = json.loads(cli(r1, "status", "--json").stdout)
        views = {a["vrid"]: a for a in snap["adverts"]}
        states = {rs["address"]: rs["state"] for vs in snap["virtual_servers"] for rs in vs["real_servers"]}
        return (60 in views and views[51]["rejected"].get("ttl") and states == {RS_UP: "UP", RS_DOWN: "DOWN"})

    wait_until(settled, 20, what="foreign VRID heard, forged advert rejected, checkers settled")
    assert cli(r1, "drain", "--reason", "schema test").returncode == 0
    assert cli(r1, "undrain", uid=65534).returncode != 0                     # refused: not root
    with open(r1.conf_path, "a") as f:
        f.write("vrrp_instance broken {\n")
    r1.proc.send_signal(signal.SIGHUP)                                       # refused: the config is broken
    wait_until(lambda: any(e["kind"] == "config" for e in events(r1)), 10, what="the refused reload")
    wait_until(lambda: instance(r2, "VI_1")["state"] == "MASTER", 10, what="node2 took over")

    for r in (r1, r2):
        out = cli(r, "status", "--json")
        assert out.returncode == 0, out.stderr
        snap = json.loads(out.stdout)
        assert problems("Snapshot", snap) == []
        out = cli(r, "events", "--json")
        assert out.returncode == 0, out.stderr
        evs = [json.loads(line) for line in out.stdout.splitlines()]
        bad = {e["seq"]: p for e in evs if (p := problems("Event", e))}
        assert bad == {}
    kinds = {e["kind"] for e in evs}
    assert {"daemon", "transition", "vip", "check", "rs_state", "ipvs"} <= kinds, kinds
    r1_kinds = {e["kind"] for e in (json.loads(x) for x in cli(r1, "events", "--json").stdout.splitlines())}
    assert {"advert", "operator", "config"} <= r1_kinds, r1_kinds
