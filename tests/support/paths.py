"""Where things are, and the rule for a missing lab prerequisite.

Lab prerequisites (root, iproute2, keepalived, user-mode Linux, ../shared)
skip a test on a developer's machine but *fail* it when CI=true, so CI can
never pass by skipping the features it is meant to prove.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared"
FIXTURES = ROOT / "tests" / "fixtures"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require(condition: bool, why: str) -> None:
    """Skip (developer machine) or fail (CI) when a prerequisite is missing."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"lab prerequisite missing in CI: {why}")
    pytest.skip(why)


def require_root_netns() -> None:
    require(os.geteuid() == 0, "needs root for network namespaces")
    require(shutil.which("ip") is not None, "needs iproute2")
