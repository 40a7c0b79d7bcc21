"""Pictures of every console screen in representative states.

Nothing in them depends on the clock: ages come from the snapshot's
``node.now``, event times are formatted in UTC, load/memory/disk come from
the fixture's ``node.system`` and the cursor does not blink.  Update with
``pytest tests/console/test_console_snapshots.py --snapshot-update`` and look at the
SVGs before committing them.
"""

from __future__ import annotations

import time

from vipdeck.console.app import ConsoleApp
from vipdeck.console.testing import ScriptedClient, settle, wait_for
from tests.support.paths import FIXTURES

SIZE = (140, 40)


def make(name: str) -> ConsoleApp:
    client = ScriptedClient.from_fixture(FIXTURES / "console" / f"{name}.json")
    return ConsoleApp(client, localtime=time.gmtime, frozen=True, system_probe=None, coalesce=0.05,
                      confirm_delay=0)


async def ready(pilot) -> None:
    await settle(pilot.app, pilot.app.client)


def test_overview(snap_compare):
    assert snap_compare(make("node1"), terminal_size=SIZE, run_before=ready)


def test_overview_drained(snap_compare):
    assert snap_compare(make("node1-drained"), terminal_size=SIZE, run_before=ready)


def test_adverts_split_brain(snap_compare):
    assert snap_compare(make("node1-split-brain"), press=["2"], terminal_size=SIZE, run_before=ready)


def test_vips_split_brain(snap_compare):
    assert snap_compare(make("node1-split-brain"), press=["3"], terminal_size=SIZE, run_before=ready)


def test_ipvs(snap_compare):
    assert snap_compare(make("node1"), press=["4", "down"], terminal_size=SIZE, run_before=ready)


def test_ipvs_unavailable(snap_compare):
    assert snap_compare(make("node1-ipvs-unavailable"), press=["4"], terminal_size=SIZE, run_before=ready)


def test_events(snap_compare):
    assert snap_compare(make("node1"), press=["5"], terminal_size=SIZE, run_before=ready)


def test_drain_confirmation(snap_compare):
    assert snap_compare(make("node1"), press=["d"], terminal_size=SIZE, run_before=ready)


def test_drain_without_peer_warns(snap_compare):
    assert snap_compare(make("node1-peer-down"), press=["d"], terminal_size=SIZE, run_before=ready)


def test_drain_names_a_backup_silent_on_the_vrid(snap_compare):
    assert snap_compare(make("node1-alone"), press=["d"], terminal_size=SIZE, run_before=ready)


def test_adverts_failover_timeline(snap_compare):
    """VI_2 took over from a crashed node2: its steps on one axis, the total against the bound."""
    assert snap_compare(make("node1-peer-down"), press=["2", "down", "down"], terminal_size=SIZE,
                        run_before=ready)


def test_help(snap_compare):
    assert snap_compare(make("node1"), press=["question_mark"], terminal_size=SIZE, run_before=ready)


def make_pair(peer: str) -> ConsoleApp:
    """node1 attached, node2 as a peer over its own (scripted) connection."""
    client = ScriptedClient.from_fixture(FIXTURES / "console" / "node1.json")
    node2 = ScriptedClient.from_fixture(FIXTURES / "console" / f"{peer}.json")
    return ConsoleApp(client, localtime=time.gmtime, frozen=True, system_probe=None, coalesce=0.05,
                      confirm_delay=0, peers=[("ssh://root@node2", node2)])


async def pair_ready(pilot) -> None:
    await settle(pilot.app, pilot.app.client)
    await wait_for(lambda: pilot.app.peer_links[0].sv is not None and pilot.app.cluster, 5, "node2's snapshot")
    await pilot.pause()


def test_overview_cluster(snap_compare):
    assert snap_compare(make_pair("node2"), terminal_size=SIZE, run_before=pair_ready)


def test_overview_cluster_split_brain(snap_compare):
    assert snap_compare(make_pair("node2-split-brain"), terminal_size=SIZE, run_before=pair_ready)


def test_drain_confirmation_on_a_peer(snap_compare):
    async def target_node2(pilot) -> None:
        await pair_ready(pilot)
        await pilot.press("n", "o")
    assert snap_compare(make_pair("node2"), press=["d"], terminal_size=SIZE, run_before=target_node2)
