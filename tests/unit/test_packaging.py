"""The wheel: built from the tracked files, installed into a fresh venv, run from outside the checkout.

Checks that it holds one top-level package (``vipdeck``; no ``engine`` or
``console`` at the top of site-packages), every module of engine/, console/
and vipdeck/, the data files the code opens at run time (the UML ptrace
shim's C source, the systemd unit, the man page, completions, the Grafana
dashboard), and that the installed command runs without the checkout.
The venv gets the wheel alone (``--no-deps``: no network at test time);
the wheel's dependencies are checked in its metadata.  Building uses pip's
build isolation, which fetches the build backend (setuptools) from the index.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from tests.support.paths import ROOT

DATA = ["vipdeck/engine/lab/uml_xstate.c", "vipdeck/share/systemd/vipdeck.service", "vipdeck/share/man/vipdeck.8",
        "vipdeck/share/bash-completion/vipdeck", "vipdeck/share/zsh/_vipdeck", "vipdeck/share/grafana/vipdeck.json"]


def _tracked_copy(dest: Path) -> None:
    """The files git tracks (what a clone has), without build leftovers of this checkout."""
    try:
        files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
        names = [n for n in files.decode().split("\0") if n]
    except (OSError, subprocess.CalledProcessError):
        names = [str(p.relative_to(ROOT)) for p in ROOT.rglob("*")
                 if p.is_file() and not any(part in (".git", "__pycache__", "build", "dist") or part.endswith(".egg-info")
                                            for part in p.relative_to(ROOT).parts)]
    for n in names:
        src = ROOT / n
        if src.is_file():
            (dest / n).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / n)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    _tracked_copy(src)
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp / "dist"), str(src)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    (whl,) = (tmp / "dist").glob("vipdeck-*.whl")
    return whl


def test_wheel_contents(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert {n.split("/")[0] for n in names} == {"vipdeck", f"vipdeck-{version}.dist-info"}
    for d in DATA:
        assert d in names, f"{d} is not in the wheel"
    # every module of the three source trees, at its installed name
    for tree, installed in (("engine", "vipdeck/engine"), ("console", "vipdeck/console"), ("vipdeck", "vipdeck")):
        for py in (ROOT / tree).rglob("*.py"):
            rel = py.relative_to(ROOT / tree).as_posix()
            assert f"{installed}/{rel}" in names, f"{tree}/{rel} is not in the wheel"
    meta = zipfile.ZipFile(wheel).read(f"vipdeck-{version}.dist-info/METADATA").decode()
    assert "Requires-Python: >=3.11" in meta
    for dep in ("textual", "pyroute2", "scapy", "psutil", "prometheus-client"):
        assert f"Requires-Dist: {dep}" in meta, dep
    assert not any("egg-info" in n or n.startswith(("tests/", "engine/", "console/")) for n in names)


def test_wheel_installs_into_a_fresh_venv_and_runs_without_the_checkout(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    py = venv / "bin" / "python"
    # nothing of the checkout may be visible (a PYTHONPATH to it would even make pip skip the install)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    run = dict(capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env)
    r = subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)], **run)
    assert r.returncode == 0, r.stderr

    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          **run).stdout.strip()
    fresh = {"_distutils_hack", "distutils-precedence.pth", "pip", "setuptools", "pkg_resources"}   # venv's own
    top = sorted(p.name for p in Path(site).iterdir()
                 if p.name not in fresh and not p.name.startswith(("pip-", "setuptools-")) and p.name != "__pycache__")
    assert top == ["vipdeck", f"vipdeck-{tomllib.loads((ROOT / 'pyproject.toml').read_text())['project']['version']}"
                   ".dist-info"], top

    probe = ("import importlib.util, vipdeck, vipdeck.engine.lab.uml_xstate as u\n"
             "print(vipdeck.__path__, u.SOURCE.is_file(), vipdeck.__version__)\n"
             "print(importlib.util.find_spec('engine'), importlib.util.find_spec('console'))\n")
    r = subprocess.run([str(py), "-c", probe], **run)
    assert r.returncode == 0, r.stderr
    paths, found, version = r.stdout.splitlines()[0].rsplit(" ", 2)
    assert paths == f"['{site}/vipdeck']" and found == "True" and version != "0+unknown"
    assert r.stdout.splitlines()[1] == "None None"          # no top-level engine or console

    exe = venv / "bin" / "vipdeck"
    r = subprocess.run([str(exe), "--version"], **run)
    assert r.returncode == 0 and r.stdout.strip() == f"vipdeck {version}"
    r = subprocess.run([str(exe), "install-unit", "--print", "--exec", "/usr/local/sbin/vipdeck"], **run)
    assert r.returncode == 0 and "Type=notify" in r.stdout, r.stderr
