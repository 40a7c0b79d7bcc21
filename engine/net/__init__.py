"""The engine's host I/O (sockets, netlink, links).

pyroute2's package ``__init__`` imports every part of the library (NDB with
sqlite, IPDB, conntrack, nl80211, wireguard, ss2 with psutil...): about 21 MB
of a daemon's resident memory, for the few modules this engine uses.  Before
any of our modules imports pyroute2, the package is registered without running
its ``__init__`` (``_lean_pyroute2``), so ``import pyroute2.iproute.linux``
loads that module and what it needs, nothing else.  A name only the full
package defines (``from pyroute2 import IPRoute`` elsewhere in the process)
still works: the first such look-up runs the real ``__init__`` then.
"""

from __future__ import annotations

import importlib.util
import sys


def _lean_pyroute2() -> None:
    if "pyroute2" in sys.modules:
        return
    spec = importlib.util.find_spec("pyroute2")
    if spec is None or spec.loader is None or not spec.submodule_search_locations:
        return
    mod = importlib.util.module_from_spec(spec)

    def __getattr__(name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        # a submodule (``from pyroute2 import config``) is imported as such
        if importlib.util.find_spec(f"pyroute2.{name}") is not None:
            return importlib.import_module(f"pyroute2.{name}")
        del mod.__dict__["__getattr__"]     # anything else: the whole package, once
        spec.loader.exec_module(mod)
        return getattr(mod, name)

    mod.__getattr__ = __getattr__
    sys.modules["pyroute2"] = mod


_lean_pyroute2()
