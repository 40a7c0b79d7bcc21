"""The installed distribution's version, the one source for both the
engine's snapshots and ``vipdeck --version`` (``vipdeck.__version__``).

A leaf module (os and sys only): ``vipdeck --version`` reaches it without
importing the engine's status and VRRP modules, and the daemon without
importlib.metadata.
"""

from __future__ import annotations

import os
import sys

UNKNOWN = "0"      # what a snapshot carries when no distribution is installed

_VERSION: str | None = None


def package_version() -> str:
    """The installed distribution's version, as ``importlib.metadata.version``
    finds it (the first ``vipdeck-*.dist-info`` or ``vipdeck.egg-info`` on
    ``sys.path``), "0" when there is none, read once.  Read by hand: importlib.metadata
    brings the email package with it, about 1.5 MB of a daemon's resident
    memory for one line of a file (issue 13)."""
    global _VERSION
    if _VERSION is None:
        _VERSION = _find_version() or UNKNOWN
    return _VERSION


def _find_version() -> str | None:
    for entry in sys.path:
        try:
            names = sorted(os.listdir(entry or "."))
        except OSError:
            continue
        for name in names:
            low = name.lower()
            if low.startswith("vipdeck-") and low.endswith(".dist-info"):
                meta = os.path.join(entry, name, "METADATA")
            elif low == "vipdeck.egg-info" or (low.startswith("vipdeck-") and low.endswith(".egg-info")):
                meta = os.path.join(entry, name, "PKG-INFO")
            else:
                continue
            try:
                with open(meta, encoding="utf-8") as f:
                    for line in f:
                        if line.startswith("Version:"):
                            return line.split(":", 1)[1].strip()
                        if not line.strip():        # the headers end at the first blank line
                            break
            except OSError:
                continue
    return None
