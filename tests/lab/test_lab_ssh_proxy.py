"""`vipdeck proxy` through a real sshd: the ssh:// peers of the console.

node2 runs a vipdeck daemon and Debian's sshd (own config, own port, a
throwaway host key and user key: tests/support/sshd.py); an operator node
runs the ssh client (OpenSSH as it is, reaching 198.18.0.2 in the lab only).
The client connects as ssh://root@198.18.0.2:PORT/path/to/control.sock,
gets a snapshot and follows events over it, and a change sent that way is
applied by node2's daemon; a key sshd does not know is a clear error.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest

from vipdeck.console.app import ConsoleApp
from vipdeck.console.testing import wait_for
from vipdeck.console.widgets.keyed_table import KeyedTable
from vipdeck.engine.control.client import SocketClient, SshClient
from vipdeck.engine.control.schema import ControlError
from vipdeck.engine.lab.peers import instance, start_vipdeck
from vipdeck.engine.lab.wait import wait_until
from tests.support.labconf import VIP_VI2, dual_master
from tests.support.paths import ROOT
from tests.support.sshd import start_sshd

pytestmark = pytest.mark.lab

PORT = 2722
# the vipdeck under test on the peer (sshd's shell has its own PATH and environment)
REMOTE = f"env PYTHONPATH={ROOT} {sys.executable} -m vipdeck"


def test_ssh_peer_through_vipdeck_proxy(lab):
    ops = lab.add_node("ops", "198.18.0.10/24")
    n1 = lab.add_node("n1", "198.18.0.1/24")
    n2 = lab.add_node("n2", "198.18.0.2/24")
    r1 = start_vipdeck(n1, dual_master("node1", True))
    r2 = start_vipdeck(n2, dual_master("node2", False))
    sshd = start_sshd(n2, PORT)
    wait_until(lambda: n2.has_address(VIP_VI2) and instance(r1, "VI_2")["state"] == "BACKUP", 15,
               what="node2 master of VI_2")
    address = f"ssh://root@{n2.ip}:{PORT}{r2.socket_path}"
    ssh = ("ip", "netns", "exec", ops.netns, "ssh")           # the client runs in the operator's node

    def peer(key: str | None = None) -> SshClient:
        return SshClient(address, who="ssh-test", ssh=ssh, options=sshd.client_options(key),
                         remote_command=REMOTE)

    async def go() -> None:
        c = peer()
        try:
            snap = await c.snapshot()
            assert [i["name"] for i in snap["instances"]] == ["VI_1", "VI_2"]
            assert snap["node"]["router_id"] == "node2" and not snap.get("read_only")
            again = await c.snapshot()                          # the same ssh connection, reused
            assert again["node"]["pid"] == snap["node"]["pid"] and len(c._procs) == 1
            events = c.follow(0)
            first = await asyncio.wait_for(events.__anext__(), 10)
            assert first["seq"] >= 1
            await events.aclose()
            reply = await c.request("failover", instance="VI_2", reason="over ssh")
            assert "VI_2" in str(reply.get("message"))
        finally:
            await c.close()
        wait_until(lambda: n1.has_address(VIP_VI2) and not n2.has_address(VIP_VI2), 10,
                   what="VI_2's VIP moved to node1 after the failover sent over ssh")
        audit = (await SocketClient(r2.socket_path).snapshot())["operator"]["audit_tail"]
        assert audit[-1]["op"] == "failover" and audit[-1]["who"] == "ssh-test" and audit[-1]["uid"] == 0

        # the console, attached to node1, with node2 as an ssh:// peer
        app = ConsoleApp(SocketClient(r1.socket_path, who="ssh-test"), frozen=True, system_probe=None,
                         peers=[(address, peer())])
        async with app.run_test(size=(140, 40)):
            def row() -> list[str]:
                cells = app.query_one("#cluster", KeyedTable).row_cells("IPv4 VRID 52") or ()
                return [getattr(x, "plain", str(x)) for x in cells]
            await wait_for(lambda: row()[2:3] and row()[2].startswith("MASTER") and row()[3].startswith("BACKUP"),
                           15, "node1 MASTER and node2 BACKUP of VRID 52, node2's word over ssh")
            assert "● node2" in app.status_text().plain

        # a key sshd does not know: ssh's own words, not a hang or a traceback
        stranger = os.path.join(sshd.dir, "stranger")
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", stranger], check=True)
        bad = peer(stranger)
        try:
            with pytest.raises(ControlError) as err:
                await bad.snapshot()
            assert err.value.code == "unavailable" and "Permission denied" in err.value.message
        finally:
            await bad.close()

    asyncio.run(go())
    assert "Accepted publickey for root" in sshd.log()
