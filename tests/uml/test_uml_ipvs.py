"""Kernel IPVS tests, run inside one user-mode Linux boot.

The host kernel has no ip_vs, so ``tests/uml/guest/guest_*.py`` run inside a
UML guest.  One session-scoped boot runs all of them; each guest test then
appears here as its own host test (collected by reading the guest files, so
a new ``guest_*.py`` shows up without touching this file), plus one test
that the guest session as a whole completed.
"""

from __future__ import annotations

import ast
import os
import platform
from pathlib import Path

import pytest

from tests.support.paths import ROOT, require

GUEST_TESTS = Path(__file__).resolve().parent / "guest"


def guest_test_ids() -> list[str]:
    """'guest_file.py::test_name' (or ::Class::test_name) for every guest test."""
    ids = []
    for path in sorted(GUEST_TESTS.glob("guest_*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test"):
                ids.append(f"{path.name}::{node.name}")
            elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
                ids += [f"{path.name}::{node.name}::{m.name}" for m in node.body
                        if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef)) and m.name.startswith("test")]
    return ids


def _matches(nodeid: str, test_id: str) -> bool:
    tail = nodeid.rsplit("/", 1)[-1]
    return tail == test_id or tail.startswith(test_id + "[")


@pytest.fixture(scope="session")
def guest_run():
    from vipdeck.engine.lab.uml import run_pytest_in_uml, uml_missing

    require(os.geteuid() == 0, "user-mode Linux lab needs root")
    missing = uml_missing()
    require(missing is None, missing or "")
    run = run_pytest_in_uml([str(GUEST_TESTS.relative_to(ROOT))], root=ROOT, timeout=240,
                            env={"CI": os.environ.get("CI", "")})
    print(f"\nUML guest: boot {run.result.boot_seconds:.1f}s, tests {run.result.command_seconds or 0:.1f}s, "
          f"total {run.result.total_seconds:.1f}s")
    return run


@pytest.mark.uml
@pytest.mark.parametrize("test_id", guest_test_ids())
def test_guest(guest_run, test_id):
    cases = [c for nodeid, c in guest_run.cases.items() if _matches(nodeid, test_id)]
    assert cases, f"{test_id} did not run in the guest\n{guest_run.summary()}"
    for case in cases:
        if case.outcome == "skipped":
            require(False, f"guest skipped {case.nodeid}: {case.message}")
        assert case.outcome == "passed", f"{case.nodeid} {case.outcome} in the guest:\n{case.message}"


@pytest.mark.uml
def test_guest_session_completed(guest_run):
    r = guest_run.result
    assert not r.timed_out, guest_run.summary()
    assert not r.failed_modules, f"modules that did not load: {r.failed_modules}"
    assert not guest_run.report_missing, guest_run.summary()
    known = guest_test_ids()
    stray = [n for n in guest_run.cases if not any(_matches(n, t) for t in known)]
    assert not stray, f"guest results no host test reports (collection errors?): {stray}\n{guest_run.summary()}"
    assert r.exit_code == 0 or any(c.outcome != "passed" for c in guest_run.cases.values()), \
        guest_run.summary()
    # one boot should stay well under a minute for this suite
    assert r.boot_seconds is not None and r.boot_seconds < 30, guest_run.summary()


def _host_may_have_ipvs() -> bool:
    if Path("/proc/net/ip_vs").exists():
        return True
    moddir = Path("/lib/modules") / platform.release()
    return moddir.is_dir() and any(moddir.rglob("ip_vs.ko*"))


async def test_ipvs_unavailable_on_the_host_kernel(capsys):
    """Without ip_vs: a clear IpvsUnavailable, and the CLI says so and exits 1."""
    from vipdeck.cli import main
    from vipdeck.engine.ipvs.kernel import IpvsKernel, IpvsUnavailable

    if _host_may_have_ipvs():
        # a kernel with ip_vs: the same call must simply work
        async with IpvsKernel() as k:
            version, _ = await k.info()
        assert version.count(".") == 2
        return
    with pytest.raises(IpvsUnavailable, match="IPVS unavailable"):
        async with IpvsKernel():
            pass
    import asyncio

    code = await asyncio.to_thread(main, ["ipvs", "-n"])
    err = capsys.readouterr().err
    assert code == 1
    assert "IPVS unavailable" in err and "ip_vs" in err
