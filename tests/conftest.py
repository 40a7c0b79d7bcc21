"""Shared fixtures, and the test tiers.

Each directory is a tier and gets its marker here, so ``pytest -m unit`` and
``pytest tests/unit`` mean the same thing:

- ``unit``: no root, no network; runs anywhere in seconds.
- ``console``: the Textual app under its Pilot, snapshot tests.
- ``lab``: root, network namespaces, real packets, real keepalived/FRR peers.
- ``uml``: kernel IPVS inside user-mode Linux.

Helpers that tests import live in ``tests/support/``, never here.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.support.paths import SHARED, require, require_root_netns

TIERS = ("unit", "console", "lab", "uml")


def pytest_collection_modifyitems(config, items):
    for item in items:
        parts = Path(str(item.fspath)).parts
        if "tests" in parts:
            below = parts[parts.index("tests") + 1:]
            if below and below[0] in TIERS:
                item.add_marker(getattr(pytest.mark, below[0]))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    require(SHARED.is_dir(), f"{SHARED} is not present")
    return SHARED


@pytest.fixture(scope="session")
def corpus_dir(shared_dir: Path) -> Path:
    return shared_dir / "corpus" / "keepalived-samples"


@pytest.fixture
def lab():
    """A fresh namespace lab, torn down even when the test fails."""
    require_root_netns()
    from tests.support.sniffer import SniffingLab

    with SniffingLab() as lab_:
        yield lab_


@pytest.fixture
def keepalived_bin() -> str:
    path = shutil.which("keepalived") or ("/usr/sbin/keepalived" if os.path.exists("/usr/sbin/keepalived") else None)
    require(path is not None, "keepalived is not installed")
    return path
