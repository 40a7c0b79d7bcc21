"""The console attached to real daemons in a namespace lab.

A drain confirmed in the console travels over the real control socket,
the VIP moves to the peer on the wire, and the console shows the new state
from the real event stream and snapshots; undrain brings it back.
"""

from __future__ import annotations

import asyncio

import pytest

from vipdeck.console.app import ConsoleApp
from vipdeck.console.modals import ConfirmScreen
from vipdeck.console.testing import wait_for
from vipdeck.console.widgets.keyed_table import KeyedTable
from vipdeck.engine.control.client import SocketClient
from vipdeck.engine.lab.peers import instance, start_vipdeck, status
from vipdeck.engine.lab.wait import wait_until
from tests.support.labconf import VIP_VI1, VIP_VI2, dual_master, dual_master_pair

pytestmark = pytest.mark.lab


def cells(app: ConsoleApp, key: str) -> list[str]:
    return [getattr(c, "plain", str(c)) for c in app.query_one("#instances", KeyedTable).row_cells(key) or []]


def test_console_drains_and_undrains_a_real_daemon(lab):
    n1 = lab.add_node("n1", "198.18.0.1/24")
    n2 = lab.add_node("n2", "198.18.0.2/24")
    r1 = start_vipdeck(n1, dual_master("node1", True))
    start_vipdeck(n2, dual_master("node2", False))
    wait_until(lambda: n1.has_address(VIP_VI1) and instance(r1, "VI_2")["state"] == "BACKUP", 15,
               what="node1 master of VI_1, backup of VI_2")
    asyncio.run(drive(r1.socket_path, n1, n2))


async def drive(socket_path: str, n1, n2) -> None:
    client = SocketClient(socket_path, who="console-test")
    app = ConsoleApp(client, frozen=True, system_probe=None)
    async with app.run_test(size=(140, 40)) as pilot:
        await wait_for(lambda: cells(app, "VI_1")[2:3] == ["MASTER"], 10, "VI_1 MASTER in the console")
        assert cells(app, "VI_2")[2] == "BACKUP" and cells(app, "VI_2")[5].startswith("198.18.0.2")
        await pilot.press("d")
        await wait_for(lambda: isinstance(app.screen, ConfirmScreen) and app.screen.armed, 3, "the drain modal")
        modal = app.screen
        modal.query_one("#field-reason").value = "lab test"
        # node2 never advertised VRID 51 here (we are its master), but it is master of VRID 52:
        # a silent backup, named, and no false alarm
        body = modal.query_one("#body").render().plain
        assert not modal.plan.typed and not modal.plan.danger, body
        assert "198.18.0.198/32 → 198.18.0.2" in body and "VRID 52" in body
        await pilot.press("tab", "enter")   # a node-wide change opens with Cancel focused
        await wait_for(lambda: n2.has_address(VIP_VI1) and not n1.has_address(VIP_VI1), 10,
                       "VI_1's VIP moved to node2")
        # the console follows the drain to its end, from the events and the advert view
        await wait_for(lambda: any(n[1] == "drain: followed" for n in app.notices), 15, "the follow-up")
        said = next(n for n in app.notices if n[1] == "drain: followed")
        assert said[2].startswith("VI_1: 198.18.0.2 MASTER after "), said
        await wait_for(lambda: cells(app, "VI_1")[2] == "BACKUP" and cells(app, "VI_1")[-1] == "drained", 5,
                       "the console showing the drain")
        assert app.sv.drained["who"] == "console-test" and app.sv.drained["why"] == "lab test"
        await wait_for(lambda: any(e.get("kind") == "operator" for e in app.events_view.events), 5,
                       "the operator event from the stream")
        await pilot.press("u")
        await wait_for(lambda: isinstance(app.screen, ConfirmScreen) and app.screen.armed, 3, "the undrain modal")
        await pilot.press("tab", "enter")
        await wait_for(lambda: n1.has_address(VIP_VI1) and not n2.has_address(VIP_VI1), 10,
                       "VI_1's VIP back on node1")
        await wait_for(lambda: cells(app, "VI_1")[2] == "MASTER", 5, "the console showing MASTER again")
        assert [n for n in app.notices if n[0] == "error"] == []


# -- the cluster view: node2 as a peer of node1's console -------------------------------------

def cluster_cells(app: ConsoleApp, key: str) -> list[str]:
    row = app.query_one("#cluster", KeyedTable).row_cells(key)
    return [getattr(c, "plain", str(c)) for c in row] if row else []


async def accept(pilot, app: ConsoleApp) -> None:
    await wait_for(lambda: isinstance(app.screen, ConfirmScreen) and app.screen.armed, 3, "the confirmation")
    modal = app.screen
    if modal.plan.typed:
        modal.query_one("#typed").value = modal.plan.typed[0]
    await pilot.click("#confirm")


def test_console_on_node1_sees_node2_and_drains_it(lab):
    n1, n2, r1, r2 = dual_master_pair(lab)

    async def drive() -> None:
        app = ConsoleApp(SocketClient(r1.socket_path, who="console-test"), frozen=True, system_probe=None,
                         peers=[r2.socket_path])      # an address, as --peer gives it
        async with app.run_test(size=(140, 40)) as pilot:
            await wait_for(lambda: cluster_cells(app, "IPv4 VRID 52")[2:4] == [
                "BACKUP 96 no VIPs → node2", "MASTER 98 VIPs"], 10, "both nodes' word on VRID 52")
            assert cluster_cells(app, "IPv4 VRID 51")[2].startswith("MASTER")
            assert cluster_cells(app, "IPv4 VRID 51")[3].startswith("BACKUP")
            assert cluster_cells(app, "IPv4 VRID 51")[-1] == "agree"
            await pilot.press("n", "d")                   # drain node2, from node1's console
            await wait_for(lambda: isinstance(app.screen, ConfirmScreen) and app.screen.armed, 3, "the modal")
            body = app.screen.query_one("#body").render().plain
            assert "198.18.0.197/32 → " in body and f"({n1.ip})\n      priority 96, BACKUP, live over the " \
                "control connection" in body, body
            assert not app.screen.plan.typed, body           # node1 is silent on VRID 52 but answers
            await accept(pilot, app)
            await wait_for(lambda: n1.has_address(VIP_VI2) and not n2.has_address(VIP_VI2), 10,
                           "VI_2's VIP moved to node1")
            # followed on node2's own snapshot and events, node1's events giving its side
            await wait_for(lambda: any(n[1].endswith("): followed") for n in app.notices), 15, "the follow-up")
            said = next(n for n in app.notices if n[1].endswith("): followed"))[2]
            assert said.startswith("VI_2: ") and f"({n1.ip}) MASTER after " in said, said
            assert "VIPs added on " in said and "GARP/NA sent on " in said, said
            await wait_for(lambda: cluster_cells(app, "IPv4 VRID 52")[2].startswith("MASTER")
                           and cluster_cells(app, "IPv4 VRID 52")[-1] == "agree", 10, "the cluster row after")
            assert [n for n in app.notices if n[0] == "error"] == []

    asyncio.run(drive())
    # node2's own daemon took the request and recorded it (its audit trail, not node1's)
    s2 = status(r2)
    assert s2["operator"]["drained"]["who"] == "console-test"
    assert status(r1)["operator"]["drained"] is None
