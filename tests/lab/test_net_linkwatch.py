"""Link and address events from a real namespace's netlink."""

from __future__ import annotations

import socket

import pytest

from vipdeck.engine.lab.wait import async_wait_until
from vipdeck.engine.net.linkwatch import (AddressChanged, LinkChanged, LinkWatch, Resynced, link_state,
                                  primary_address)

pytestmark = pytest.mark.lab


def link_events(events, ifname="eth0"):
    return [e for e in events if isinstance(e, LinkChanged) and e.ifname == ifname]


async def test_link_down_and_up_events_within_a_deadline(lab):
    a = lab.add_node("a", "198.18.0.1/24")
    events: list = []
    async with LinkWatch(events.append, netns=a.netns) as watch:
        initial = link_events(events)
        assert initial and initial[-1].up and watch.is_up("eth0")
        assert await link_state("eth0", netns=a.netns) is True
        events.clear()

        a.link_set("down")
        down = await async_wait_until(lambda: [e for e in link_events(events) if not e.up], 2,
                                      what="link down event")
        assert down[0].admin_up is False and not watch.is_up("eth0")
        assert await link_state("eth0", netns=a.netns) is False

        events.clear()
        a.link_set("up")
        up = await async_wait_until(lambda: [e for e in link_events(events) if e.up], 2, what="link up event")
        assert up[-1].carrier and up[-1].admin_up
        assert await link_state("eth0", netns=a.netns) is True
        # each state is delivered once, however many RTM_NEWLINK the kernel sends
        # (admin up without carrier may come first: that is a different state)
        seen = link_events(events)
        assert all(x != y for x, y in zip(seen, seen[1:])) and [e.up for e in seen][-1:] == [True]


async def test_carrier_loss_is_down(lab):
    """The peer end of the veth going down takes the carrier away: the node's
    eth0 stays administratively up but is not usable."""
    a = lab.add_node("a", "198.18.0.1/24")
    events: list = []
    async with LinkWatch(events.append, netns=a.netns):
        events.clear()
        lab_port = "p1"
        import subprocess

        subprocess.run(["ip", "-n", lab.bridge_ns, "link", "set", lab_port, "down"], check=True)
        ev = await async_wait_until(lambda: [e for e in link_events(events) if not e.up], 2,
                                    what="carrier loss")
        assert ev[0].admin_up and not ev[0].carrier


async def test_address_events_and_local_address_cache(lab):
    a = lab.add_node("a", "198.18.0.1/24")
    events: list = []
    async with LinkWatch(events.append, netns=a.netns) as watch:
        assert "198.18.0.1" in watch.addresses
        a.run("ip", "addr", "add", "198.18.0.77/32", "dev", "eth0", "label", "eth0:7")
        added = await async_wait_until(
            lambda: [e for e in events if isinstance(e, AddressChanged) and e.address == "198.18.0.77"], 2,
            what="address added event")
        assert (added[0].added, added[0].ifname, added[0].prefixlen, added[0].label) == (True, "eth0", 32, "eth0:7")
        assert "198.18.0.77" in watch.addresses
        a.run("ip", "addr", "del", "198.18.0.77/32", "dev", "eth0")
        await async_wait_until(lambda: "198.18.0.77" not in watch.addresses, 2, what="address removed")
        gone = [e for e in events if isinstance(e, AddressChanged) and e.address == "198.18.0.77"]
        assert [e.added for e in gone] == [True, False]


async def test_overflow_resyncs_to_current_state(lab):
    """A tiny receive buffer and a burst of changes while the loop is busy:
    the event socket overflows (ENOBUFS), and the watch re-dumps and
    re-delivers the current state instead of silently missing changes."""
    a = lab.add_node("a", "198.18.0.1/24")
    events: list = []
    async with LinkWatch(events.append, netns=a.netns, rcvbuf=2048) as watch:
        batch = "\n".join(f"addr add 198.18.1.{i}/32 dev eth0" for i in range(1, 201))
        a.run("ip", "-batch", "-", input=batch)    # blocks the loop: nothing is read meanwhile
        await async_wait_until(lambda: watch.resyncs >= 1, 5, what="a resync after ENOBUFS")
        await async_wait_until(lambda: all(f"198.18.1.{i}" in watch.addresses for i in range(1, 201)), 5,
                               what="all 200 addresses known after the resync")
        marker = next(i for i, e in enumerate(events) if isinstance(e, Resynced))
        assert events[marker].reason.startswith("ENOBUFS")
        after = events[marker + 1:]
        assert any(isinstance(e, LinkChanged) and e.ifname == "eth0" and e.up for e in after)
        # and the watch keeps working on its fresh socket
        a.link_set("down")
        await async_wait_until(lambda: not watch.is_up("eth0"), 2, what="link down after the resync")


async def test_primary_address_skips_labelled_vips(lab):
    a = lab.add_node("a", ["198.18.0.1/24", "2001:db8::1/64"])
    # a /32 VIP may be listed before the primary address; its label gives it away
    a.run("ip", "addr", "add", "198.18.0.100/32", "dev", "eth0", "label", "eth0:0", "scope", "link")
    assert await primary_address("eth0", socket.AF_INET, netns=a.netns) == "198.18.0.1"
    ll = await primary_address("eth0", socket.AF_INET6, netns=a.netns)
    assert ll and ll.startswith("fe80:")
    assert await primary_address("eth0", socket.AF_INET, netns=a.netns, exclude=["198.18.0.1"]) == "198.18.0.100"
    assert await primary_address("nosuch0", socket.AF_INET, netns=a.netns) is None
    assert await link_state("nosuch0", netns=a.netns) is False
