"""What the daemon's start path imports (issue 13: a daemon's resident memory).

Every module a daemon imports stays in its memory for its whole life, and
255 instances at advert_int 0.1 had to fit in 40 MB.  These modules were
measured there and are not needed to run VRRP: each is imported where it is
used (a mail sent, a process tracker's scan, ``vipdeck --version``, the
console), or, for pyroute2's, stood in for while ``AsyncIPRoute`` is imported
(``engine/net/rtnl.py``).  A fresh interpreter does what ``vipdeck daemon``
does before its loop starts, so a module imported only by another test
cannot hide an eager import here.
"""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# module -> what brought it in when it was found in a daemon
NOT_AT_START = {
    "unittest": "pyroute2's iprsocket (from unittest import mock)",
    "unittest.mock": "pyroute2's iprsocket",
    "pyroute2.iproute.ipmock": "pyroute2's iprsocket (the netlink mock engine)",
    "pyroute2.netlink.rtnl.tcmsg": "pyroute2's iproute.linux and MarshalRtnl (tc plugins)",
    "importlib.metadata": "the version, in vipdeck/__init__ and engine/status (now engine/version, by hand)",
    "email": "importlib.metadata and engine/notify/smtp",
    "smtplib": "engine/notify/smtp",
    "psutil": "engine/track/process",
    "vipdeck.console": "vipdeck/cli/events (every command's module was imported to build the parser)",
    "vipdeck.cli.common": "the client commands' modules",
    "textual": "the console",
    "rich": "the console",
    "scapy": "the lab and demo",
    "hashlib": "engine/check/http (MD5 digests) and, through hmac, engine/vrrp/packet (PASS auth)",
    "hmac": "engine/vrrp/packet (PASS auth)",
    "fractions": "engine/vrrp/machine (the down interval)",
    "decimal": "fractions",
    "difflib": "engine/config/context (did-you-mean for a misspelt keyword)",
}

START = """
import json, sys
from vipdeck.cli import build_parser
args = build_parser("daemon").parse_args(["daemon", "-l", "-f", "/nonexistent/keepalived.conf"])
import vipdeck.cli.daemon
import vipdeck.engine.daemon, vipdeck.engine.logsetup
from vipdeck.engine.version import package_version
package_version()
print(json.dumps(sorted(sys.modules)))
"""


def _modules_at_start() -> set[str]:
    r = subprocess.run([sys.executable, "-c", START], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    return set(json.loads(r.stdout))


def test_daemon_start_path_imports_none_of_the_costly_modules():
    loaded = _modules_at_start()
    found = {m: why for m, why in NOT_AT_START.items() if m in loaded}
    assert not found, f"imported at the daemon's start (each costs resident memory for its life): {found}"


def test_the_daemon_main_builds_only_its_own_command():
    """``vipdeck daemon`` goes through main(): the first word picks the one
    command module that is imported."""
    code = ("import sys\nfrom vipdeck import cli\n"
            "cli.COMMANDS = {'daemon': cli.COMMANDS['daemon']} | {k: ('nosuchmodule', h) for k, (_, h) in cli.COMMANDS.items() if k != 'daemon'}\n"
            "p = cli.build_parser('daemon')\nprint(p.parse_args(['daemon']).config)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert r.returncode == 0 and r.stdout.strip() == "/etc/keepalived/keepalived.conf", r.stderr


def test_the_snapshot_version_is_the_installed_one():
    """engine/version reads the version without importlib.metadata; it must find what that finds."""
    from vipdeck.engine import status, version

    version._VERSION = None
    try:
        expected = metadata.version("vipdeck")
    except metadata.PackageNotFoundError:
        expected = version.UNKNOWN
    assert version.package_version() == expected
    assert status.package_version is version.package_version     # the snapshot's "version" comes from here


VERSION_IN_A_FRESH_INTERPRETER = """
import json, sys
import vipdeck
{patch}
v = vipdeck.__version__
print(json.dumps([v, "importlib.metadata" in sys.modules, "vipdeck.engine.status" in sys.modules]))
"""


def _fresh_version(patch: str = "") -> list:
    code = VERSION_IN_A_FRESH_INTERPRETER.format(patch=patch)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_the_package_version_is_the_snapshot_version_read_the_same_way():
    """``vipdeck.__version__`` (what ``vipdeck --version`` prints) is engine/version's reading: the
    installed one, found without importlib.metadata and without the engine's status module."""
    try:
        expected = metadata.version("vipdeck")
    except metadata.PackageNotFoundError:
        expected = "0+unknown"
    assert _fresh_version() == [expected, False, False]


def test_an_uninstalled_tree_is_0_unknown_in_the_package_version():
    """The snapshot's "0" for no distribution found is "0+unknown" for ``vipdeck --version``, as it always was."""
    patch = "import vipdeck.engine.version as ev; ev._VERSION = None; ev._find_version = lambda: None"
    assert _fresh_version(patch)[0] == "0+unknown"


def test_pyroute2_names_behind_the_stand_ins_still_work():
    """The stand-ins are gone after the import, and what pyroute2 bound to
    them loads the real thing: a tc message class, the plugin table, the mock engine."""
    code = """
import sys
import vipdeck.engine.net.rtnl
assert "unittest" not in sys.modules and "pyroute2.netlink.rtnl.tcmsg" not in sys.modules, "stand-in left"
from pyroute2.iproute import linux
from pyroute2.netlink.rtnl import iprsocket
from pyroute2.netlink.rtnl.marshal import MarshalRtnl
msg = linux.tcmsg()
from pyroute2.netlink.rtnl.tcmsg import tcmsg as real
assert type(msg) is real and linux.tcmsg.prefix == "TCA_"
assert "htb" in linux.tc_plugins and len(linux.tc_plugins) == len(sys.modules["pyroute2.netlink.rtnl.tcmsg"].plugins)
from pyroute2.iproute.ipmock import IPEngine
assert type(iprsocket.IPEngine()) is IPEngine
from unittest import mock
assert mock.Mock is not None and sys.modules["unittest.mock"] is mock
print("ok")
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr


def test_a_pyroute2_the_stand_ins_do_not_fit_is_imported_in_full_with_a_warning():
    """A later pyroute2 that uses more of unittest.mock at import (simulated by an
    import hook that fails while the stand-in is in place) must not keep the
    daemon from starting: pyroute2 is imported plainly, and the log says why."""
    code = """
import importlib.abc, sys

class NewerPyroute2(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        mock = sys.modules.get("unittest.mock")
        if name == "pyroute2.iproute.linux" and mock is not None and not hasattr(mock, "MagicMock"):
            raise AttributeError("module 'unittest.mock' has no attribute 'MagicMock'")
        return None

sys.meta_path.insert(0, NewerPyroute2())
from vipdeck.engine.net import rtnl
from pyroute2.iproute.linux import AsyncIPRoute
assert rtnl.AsyncIPRoute is AsyncIPRoute
assert sys.modules["unittest.mock"].MagicMock is not None      # the real one, imported by pyroute2
print("ok")
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr
    assert "did not import with the start-up stand-ins (AttributeError: module 'unittest.mock' has no " \
           "attribute 'MagicMock'); imported in full" in r.stderr, r.stderr
