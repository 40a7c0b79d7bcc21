"""The snapshot and event contract (``engine.control.schema``), checked against
everything that claims to follow it: the console's fixtures, the synthetic
snapshots of console/testing.py, and a real in-process ``Engine.snapshot()``
(on fake sockets) with the events it emitted.  So a console test cannot pass
on a fixture the engine would never send, and a producer cannot add or
change a field without the schema (and docs/json.md) saying so.

The JSON Schema is generated from the TypedDicts (``control.schema_export``);
``strict`` closes every object, so an undeclared field fails here.
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from vipdeck.console.testing import synthetic_snapshot
from vipdeck.engine import advert_view
from vipdeck.engine.config import loads
from vipdeck.engine.control import schema, schema_export
from vipdeck.engine.events import EventBus
from vipdeck.engine.runtime import Engine
from vipdeck.engine.state import StateStore
from vipdeck.engine.vrrp import machine, packet

from tests.support.fake_net import FakeNet, advert_rx
from tests.support.labconf import backups
from tests.support.virtual_loop import run

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = sorted((ROOT / "tests" / "fixtures" / "console").glob("*.json"))


def validator(name: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(schema_export.for_type(name, strict=True))


def problems(name: str, value) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator(name).iter_errors(json.loads(json.dumps(value)))]


def test_the_schema_is_a_valid_json_schema():
    jsonschema.Draft202012Validator.check_schema(schema_export.json_schema())
    jsonschema.Draft202012Validator.check_schema(schema_export.json_schema(strict=True))


def test_the_vocabularies_are_the_engines():
    assert set(schema.VrrpState.__args__) == {s.value for s in machine.State}
    assert set(schema.TransitionReason.__args__) == set(machine.REASONS)
    assert set(schema.RejectReason.__args__) == {r.value for r in packet.RejectReason}
    flags = {v for lit in schema.FlagKind.__args__ for v in lit.__args__}
    assert set(advert_view.REJECT_FLAGS.values()) <= flags
    assert schema.EVENT_KINDS == set(schema.EventKind.__args__)
    assert schema.ALL_OPS == set(schema.Op.__args__)


@pytest.mark.parametrize("path", FIXTURES, ids=[p.stem for p in FIXTURES])
def test_console_fixtures_are_what_the_engine_sends(path):
    data = json.loads(path.read_text())
    assert problems("Snapshot", data["snapshot"]) == []
    bad = {e["seq"]: problems("Event", e) for e in data["events"]}
    assert {k: v for k, v in bad.items() if v} == {}


@pytest.mark.parametrize("vrids,sources,tick", [(3, 2, 0), (255, 2, 7)])
def test_synthetic_snapshots_are_what_the_engine_sends(vrids, sources, tick):
    assert problems("Snapshot", synthetic_snapshot(vrids=vrids, sources=sources, tick=tick)) == []


CONF = backups(("VI_1", 51, 100), ("VI_2", 52, 100), ("VI_3", 53, 90), extra="""
vrrp_sync_group G {
    group {
        VI_1
        VI_2
    }
}
""").replace("198.18.0.152/32\n    }", "198.18.0.152/32\n    }\n    virtual_ipaddress_excluded {\n        198.18.0.196/32\n    }")


def test_a_real_engine_snapshot_and_its_events_follow_the_schema(tmp_path):
    """An engine elects, hears a peer, a foreign VRID, a forged advert and a runt,
    and is drained: the snapshot and every event it emitted validate."""
    from vipdeck.engine.control.api import EngineApi

    fake = FakeNet()
    cfg = loads(CONF).config
    engine = Engine(cfg, config_path=str(tmp_path / "keepalived.conf"), state=StateStore(str(tmp_path)),
                    bus=EventBus(), net=fake.net())

    async def main():
        import asyncio

        await engine.start()
        sock = fake.sock()
        await asyncio.sleep(4)                               # VI_1..3 master (no peer yet)
        peer = "198.18.0.2"
        sock.deliver(advert_rx(packet.Advert(2, 53, 120, 1.0, ("198.18.0.153",)), peer))   # VI_3 goes BACKUP
        sock.deliver(advert_rx(packet.Advert(3, 60, 150, 1.0, ("198.18.0.60",)), "198.18.0.9"))   # foreign
        sock.deliver(advert_rx(packet.Advert(2, 51, 200, 1.0, ("198.18.0.151",)), "198.18.0.77", ttl=64))
        sock.deliver(advert_rx(packet.Advert(2, 52, 10, 1.0, ("198.18.0.1",)), peer))      # vip mismatch
        runt = advert_rx(packet.Advert(2, 51, 100, 1.0, ()), peer)
        sock.deliver(runt._replace(packet=runt.packet[:22]))
        await asyncio.sleep(1)
        api = EngineApi(engine)
        await api.handle("drain", {"who": "ops", "reason": "test"}, 0)
        await api.handle("undrain", {"who": "ops"}, 1000)           # refused: not root
        await asyncio.sleep(2)
        snap = await api.handle("snapshot", {}, 0)
        await engine.stop()
        return snap

    snap = run(main)
    assert problems("Snapshot", snap) == []
    assert snap["schema"] == schema.SCHEMA_VERSION
    events = engine.bus.since(0)
    kinds = {e["kind"] for e in events}
    assert {"transition", "advert", "vip", "operator", "daemon"} <= kinds
    bad = {e["seq"]: problems("Event", e) for e in events}
    assert {k: v for k, v in bad.items() if v} == {}
    # what the scenario made the engine say is in the snapshot
    by_vrid = {a["vrid"]: a for a in snap["adverts"]}
    assert by_vrid[60]["ours"] is False and by_vrid[51]["rejected"] == {"ttl": 1}
    assert snap["node"]["interfaces"][0]["vrrp"]["dropped"] == {"truncated": 1}


def test_the_published_schema_is_this_one_and_docs_name_every_kind():
    """docs/schema/ is what generate-docs writes (test_cli_docs checks it is current);
    docs/json.md's table of event kinds names every kind the schema has."""
    from vipdeck.cli.docgen import PAGES

    assert schema_export.FILE.as_posix() in PAGES
    published = json.loads((ROOT / schema_export.FILE).read_text())
    assert published == schema_export.json_schema()
    page = (ROOT / "docs" / "json.md").read_text()
    assert [k for k in sorted(schema.EVENT_KINDS) if f"| `{k}` |" not in page] == []
    assert [c for c in sorted(schema.ERROR_CODES) if f"`{c}`" not in page] == []
    assert [op for op in sorted(schema.ALL_OPS) if f"| `{op}` |" not in page] == []
