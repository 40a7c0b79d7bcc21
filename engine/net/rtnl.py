"""Opening rtnetlink sockets, in this namespace or a named one.

pyroute2's ``IPRoute`` runs its own event loop and cannot be created inside a
running loop, so everything here is ``AsyncIPRoute``.  With ``netns`` the
socket is made inside that namespace (pyroute2 forks a helper for it); the
namespace is never created as a side effect, so a typo fails loudly instead of
leaving an empty namespace behind.
"""

from __future__ import annotations

import importlib
import logging
import sys
import types
from collections.abc import Mapping


def _import_async_iproute():
    """``pyroute2.iproute.linux.AsyncIPRoute`` without what only other uses
    of pyroute2 need: about 4 MB of the daemon's resident memory (issue 13).

    Importing that module pulls in ``unittest`` and ``unittest.mock`` (for
    one class attribute of a class nothing uses), the in-memory netlink mock
    ``pyroute2.iproute.ipmock`` (used only under ``config.mock_netlink``) and
    every traffic-control plugin (``tcmsg``; parsed only for tc messages,
    which this engine never asks for nor subscribes to).  During that one
    import those modules are stand-ins; afterwards they are gone from
    ``sys.modules``, so anything importing them later gets the real ones, and
    the names pyroute2 bound to the stand-ins load the real thing when used.
    A process that already has the real modules (the tests' own
    ``unittest.mock``) keeps them: nothing is replaced then.

    The stand-ins fit the pyroute2 they were written against; a later one
    that uses more of those modules at import fails under them.  Then what
    that attempt imported is dropped and pyroute2 is imported plainly (the
    memory is the price, said in the log), so an upgrade never keeps the
    daemon from starting.
    """
    if "pyroute2.iproute.linux" in sys.modules:
        return sys.modules["pyroute2.iproute.linux"].AsyncIPRoute
    before = set(sys.modules)
    try:
        return _import_with_stand_ins()
    except Exception as exc:     # a pyroute2 the stand-ins do not fit
        for name in set(sys.modules) - before:
            if name == "pyroute2" or name.startswith("pyroute2."):
                del sys.modules[name]
        logging.getLogger("vipdeck.rtnl").warning(
            "pyroute2 %s did not import with the start-up stand-ins (%s: %s); imported in full "
            "(about 4 MB more resident memory)", _pyroute2_version(), type(exc).__name__, exc)
        return importlib.import_module("pyroute2.iproute.linux").AsyncIPRoute


def _pyroute2_version() -> str:
    try:
        from importlib import metadata
        return metadata.version("pyroute2")
    except Exception:
        return "(version unknown)"


def _import_with_stand_ins():
    stubs: dict[str, types.ModuleType] = {}

    def stub(name: str, **attrs) -> None:
        if name not in sys.modules:
            mod = types.ModuleType(name, "vipdeck start-up stand-in (engine/net/rtnl.py)")
            mod.__dict__.update(attrs)
            stubs[name] = mod

    class _Mock:      # iprsocket's ``NotLocal.msg_queue = mock.Mock()``: dead code
        def __init__(self, *args, **kwargs) -> None:
            pass

    stub("unittest.mock", Mock=_Mock)
    if "unittest.mock" in stubs:
        stub("unittest", mock=stubs["unittest.mock"])
    stub("pyroute2.iproute.ipmock", IPEngine=_lazy_call("pyroute2.iproute.ipmock", "IPEngine"))
    stub("pyroute2.netlink.rtnl.tcmsg", tcmsg=_lazy_class("pyroute2.netlink.rtnl.tcmsg", "tcmsg"),
         plugins=_LazyMapping("pyroute2.netlink.rtnl.tcmsg", "plugins"))
    saved = {name: sys.modules.get(name) for name in stubs}
    sys.modules.update(stubs)
    try:
        return importlib.import_module("pyroute2.iproute.linux").AsyncIPRoute
    finally:
        for name, mod in stubs.items():
            if sys.modules.get(name) is mod:
                del sys.modules[name]


def _lazy_call(module: str, name: str):
    def call(*args, **kwargs):
        return getattr(importlib.import_module(module), name)(*args, **kwargs)

    return call


class _LazyMeta(type):
    def __getattr__(cls, attr: str):
        if attr.startswith("__"):
            raise AttributeError(attr)
        return getattr(cls._real(), attr)


def _lazy_class(module: str, name: str) -> type:
    """A class standing for ``module.name``: making one makes the real one."""

    def real(cls=None):
        return getattr(importlib.import_module(module), name)

    def new(cls, *args, **kwargs):
        return real()(*args, **kwargs)

    return _LazyMeta(name, (), {"__new__": new, "_real": staticmethod(real), "__module__": module})


class _LazyMapping(Mapping):
    """A mapping standing for ``module.name`` (tc's plugin table)."""

    def __init__(self, module: str, name: str) -> None:
        self._where = (module, name)

    def _real(self) -> Mapping:
        return getattr(importlib.import_module(self._where[0]), self._where[1])

    def __getitem__(self, key):
        return self._real()[key]

    def __iter__(self):
        return iter(self._real())

    def __len__(self) -> int:
        return len(self._real())


AsyncIPRoute = _import_async_iproute()

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
