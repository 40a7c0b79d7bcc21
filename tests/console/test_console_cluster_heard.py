"""Nodes that answer all along stay reachable in the cluster view.

The app keeps each node's last posted ``LinkState``, which is posted when
what it says changes, not on every reply (its ``last_heard`` is left out of
equality); reading the heard age from it made every node "unreachable
(last heard 17 s ago)" a few seconds after the console opened, in
``vipdeck demo`` and in ``vipdeck console --peer`` alike."""

from __future__ import annotations

import time

from vipdeck.console.app import ConsoleApp
from vipdeck.console.testing import ScriptedClient, settle, wait_for
from tests.support.paths import FIXTURES

FIX = FIXTURES / "console"


async def test_nodes_heard_all_along_are_never_stale():
    c1 = ScriptedClient.from_fixture(FIX / "node1.json")
    c2 = ScriptedClient.from_fixture(FIX / "node2.json")
    app = ConsoleApp(c1, peers=[("/run/vipdeck/node2.sock", c2)], localtime=time.gmtime, frozen=True,
                     system_probe=None, refresh_interval=0.25, coalesce=0.05)
    async with app.run_test(size=(140, 40)):
        await settle(app, c1)
        start, limit = time.monotonic(), app.stale_after
        # the condition is time itself: both nodes kept answering for longer than the stale limit
        calls = (c1.snapshot_calls, c2.snapshot_calls)
        await wait_for(lambda: time.monotonic() - start > limit + 1 and c1.snapshot_calls > calls[0] + 4
                       and c2.snapshot_calls > calls[1] + 4, limit + 10, "both nodes answering past the limit")
        views = app.cluster_nodes
        assert len(views) == 2
        assert all(not v.stale(limit) for v in views), [(v.name, v.heard_age) for v in views]
        assert "unreachable" not in str(app.nodes_text()) and "○" not in str(app.nodes_text())
