"""One way to follow the event stream: the control socket's ``events`` with
``follow`` and the embedded client both read through ``EventBus.follow``, so
both give the backlog after ``since`` and then every new event once, in order."""

from __future__ import annotations

import asyncio
import json

from vipdeck.engine.control.client import EmbeddedClient, SocketClient
from vipdeck.engine.control.server import ControlServer
from vipdeck.engine.events import EventBus


class BusApi:
    def __init__(self):
        self.bus = EventBus()

    async def handle(self, op, args, uid):
        return {}


async def _take(agen, n: int) -> list[dict]:
    out = []
    async for ev in agen:
        out.append(ev)
        if len(out) == n:
            break
    await agen.aclose()
    return out


async def test_socket_and_embedded_followers_see_the_same_events(tmp_path):
    api = BusApi()
    for k in range(5):
        api.bus.emit("daemon", f"before {k}")
    server = ControlServer(str(tmp_path / "c.sock"), api)
    await server.start()
    try:
        via_socket = SocketClient(server.path).follow(since=2)
        embedded = EmbeddedClient(api).follow(since=2)
        first = [await anext(via_socket), await anext(embedded)]     # both subscribed now
        for k in range(3):
            api.bus.emit("daemon", f"after {k}")
        got_socket = [first[0], *await _take(via_socket, 5)]
        got_embedded = [first[1], *await _take(embedded, 5)]
    finally:
        await server.stop()
    seqs = [e["seq"] for e in got_socket]
    assert seqs == [3, 4, 5, 6, 7, 8]
    assert [json.loads(json.dumps(e)) for e in got_embedded] == got_socket


async def test_the_follow_reply_answers_the_request_id(tmp_path):
    api = BusApi()
    api.bus.emit("daemon", "one")
    server = ControlServer(str(tmp_path / "c.sock"), api)
    await server.start()
    try:
        r, w = await asyncio.open_unix_connection(server.path)
        w.write(b'{"id": 7, "op": "events", "since": 0, "follow": true}\n')
        reply = json.loads(await r.readline())
        api.bus.emit("daemon", "two")
        line = json.loads(await r.readline())
        w.close()
    finally:
        await server.stop()
    assert (reply["id"], reply["ok"], [e["message"] for e in reply["result"]["events"]]) == (7, True, ["one"])
    assert reply["result"]["last"] == 1 and line["event"]["message"] == "two"
