"""Shared fixtures.

Lab prerequisites (root, iproute2, keepalived, user-mode Linux, ../shared)
skip a test on a developer's machine but *fail* it when CI=true, so CI can
never pass by skipping the features it is meant to prove.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require(condition: bool, why: str) -> None:
    """Skip (developer machine) or fail (CI) when a prerequisite is missing."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"lab prerequisite missing in CI: {why}")
    pytest.skip(why)


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    require(SHARED.is_dir(), f"{SHARED} is not present")
    return SHARED


@pytest.fixture(scope="session")
def corpus_dir(shared_dir: Path) -> Path:
    return shared_dir / "corpus" / "keepalived-samples"


def require_root_netns() -> None:
    require(os.geteuid() == 0, "needs root for network namespaces")
    require(shutil.which("ip") is not None, "needs iproute2")


@pytest.fixture
def lab():
    """A fresh namespace lab, torn down even when the test fails."""
    require_root_netns()
    from engine.lab import Lab

    with Lab() as lab_:
        yield lab_


@pytest.fixture
def keepalived_bin() -> str:
    path = shutil.which("keepalived") or ("/usr/sbin/keepalived" if os.path.exists("/usr/sbin/keepalived") else None)
    require(path is not None, "keepalived is not installed")
    return path
