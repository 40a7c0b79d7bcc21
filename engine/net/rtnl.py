"""Opening rtnetlink sockets, in this namespace or a named one.

pyroute2's ``IPRoute`` runs its own event loop and cannot be created inside a
running loop, so everything here is ``AsyncIPRoute``.  With ``netns`` the
socket is made inside that namespace (pyroute2 forks a helper for it); the
namespace is never created as a side effect, so a typo fails loudly instead of
leaving an empty namespace behind.
"""

from __future__ import annotations

from pyroute2.iproute.linux import AsyncIPRoute

RTM_NEWLINK = 16
RTM_DELLINK = 17
RTM_NEWADDR = 20
RTM_DELADDR = 21

IFF_UP = 0x1
IFF_RUNNING = 0x40
IFF_LOWER_UP = 0x10000

IFA_F_SECONDARY = 0x01
IFA_F_NODAD = 0x02
IFA_F_DADFAILED = 0x08
IFA_F_TENTATIVE = 0x40


def iproute(netns: str | None = None, **kw) -> AsyncIPRoute:
    if netns is None:
        return AsyncIPRoute(**kw)
    return AsyncIPRoute(netns=netns, flags=0, **kw)


async def ifindex_of(ipr: AsyncIPRoute, ifname: str) -> int | None:
    found = await ipr.link_lookup(ifname=ifname)
    return found[0] if found else None


def addr_of(msg) -> str | None:
    """The address of an RTM_*ADDR message (IFA_LOCAL is the address itself
    on IPv4; IFA_ADDRESS is the peer on point-to-point links)."""
    return msg.get("local") or msg.get("address")
