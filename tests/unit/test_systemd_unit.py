"""vipdeck.service: what `vipdeck install-unit` writes passes `systemd-analyze verify`.

The daemon's side of Type=notify is tested against a stand-in notify socket
(tests/unit/test_sdnotify.py, tests/lab/test_lab_systemd_notify.py); that
its capability bounding set leaves VRRP, VIPs and scripts working is
tests/lab/test_lab_unit_hardening.py.
"""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from vipdeck.cli.docgen import SHARE
from vipdeck.cli.install_unit import DEFAULTS, render
from tests.support.paths import ROOT, require


def _install(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vipdeck", "install-unit", "--no-reload", *args],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)


def unit(exe: str = "/usr/local/sbin/vipdeck") -> configparser.ConfigParser:
    c = configparser.ConfigParser(strict=False, interpolation=None)
    c.optionxform = str
    c.read_string(render(exe))
    return c


def test_unit_shape():
    s = unit()["Service"]
    assert s["Type"] == "notify" and s["NotifyAccess"] == "main"
    assert s["ExecStart"].startswith("/usr/local/sbin/vipdeck daemon ")
    assert s["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert s["Restart"] == "on-failure"
    assert s["RuntimeDirectory"] == "vipdeck" and s["StateDirectory"] == "vipdeck"
    assert "--socket /run/vipdeck/control.sock --state-dir /var/lib/vipdeck" in s["ExecStart"]
    caps = set(s["CapabilityBoundingSet"].split())
    assert {"CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_NET_BIND_SERVICE"} <= caps
    assert "CAP_SYS_ADMIN" not in caps
    assert s["ProtectSystem"] == "full"


def test_systemd_analyze_verify(tmp_path):
    sa = shutil.which("systemd-analyze")
    require(sa is not None, "systemd-analyze is not installed (apt-get install systemd)")
    # a real executable in ExecStart (verify checks it), and our man page where `man` finds it
    # (verify runs `man vipdeck(8)` for Documentation=)
    exe = tmp_path / "bin" / "vipdeck"
    exe.parent.mkdir()
    exe.write_text("#!/bin/sh\nexit 0\n")
    exe.chmod(0o755)
    r = _install("--dest", str(tmp_path / "units"), "--exec", str(exe), "--defaults", str(tmp_path / "default"))
    assert r.returncode == 0, r.stderr
    (tmp_path / "man" / "man8").mkdir(parents=True)
    shutil.copy(SHARE / "man" / "vipdeck.8", tmp_path / "man" / "man8")
    r = subprocess.run([sa, "verify", str(tmp_path / "units" / "vipdeck.service")], capture_output=True, text=True,
                       timeout=60, env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "MANPATH": f"{tmp_path / 'man'}:"})
    assert r.returncode == 0, r.stdout + r.stderr
    # unknown keys or a bad value are only warnings to systemd: none may be ours
    assert "vipdeck.service" not in r.stdout + r.stderr, r.stdout + r.stderr


def test_install_unit_writes_the_unit_and_keeps_existing_defaults(tmp_path):
    dest, defaults = tmp_path / "units", tmp_path / "default" / "vipdeck"
    r = _install("--dest", str(dest), "--exec", "/opt/vipdeck/bin/vipdeck", "--defaults", str(defaults))
    assert r.returncode == 0, r.stderr
    text = (dest / "vipdeck.service").read_text()
    assert "ExecStart=/opt/vipdeck/bin/vipdeck daemon" in text and "@VIPDECK@" not in text
    assert (dest / "vipdeck.service").stat().st_mode & 0o777 == 0o644
    assert defaults.read_text() == DEFAULTS
    defaults.write_text('VIPDECK_OPTIONS="-D"\n')             # the operator's: never overwritten
    assert _install("--dest", str(dest), "--exec", "/opt/vipdeck/bin/vipdeck",
                    "--defaults", str(defaults)).returncode == 0
    assert defaults.read_text() == 'VIPDECK_OPTIONS="-D"\n'


def test_install_unit_print_and_bad_exec():
    r = _install("--print", "--exec", "/usr/local/sbin/vipdeck")
    assert r.returncode == 0 and "ExecStart=/usr/local/sbin/vipdeck daemon" in r.stdout
    r = _install("--print", "--exec", "vipdeck")
    assert r.returncode == 2 and "absolute path" in r.stderr


def test_unit_is_in_the_package():
    assert (SHARE / "systemd" / "vipdeck.service").is_file()
    assert Path(SHARE).parent.name == "vipdeck"
