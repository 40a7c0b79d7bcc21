"""The README's first two lines are the install and the test command, and CI runs the second verbatim.

CI (`.ci/run`, a fresh Debian 12 machine as root) is the proof that the test
command works from a fresh clone; this keeps the README and CI from drifting
apart, and checks that install.sh is plain POSIX sh (Debian's /bin/sh is dash).
"""

from __future__ import annotations

import re
import shutil
import subprocess

from tests.support.paths import ROOT


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = re.search(r"```sh\n(.*?)```", text, re.S)
    assert block and text.index(block.group(0)) < 200, "the README opens with its command block"
    return [line.split("  #")[0].strip() for line in block.group(1).splitlines() if line.strip()]


def test_two_commands_install_and_test():
    install, test = readme_commands()
    assert install == "sh install.sh && vipdeck demo"
    assert test.startswith("sh install.sh --test && ") and test.endswith("-m pytest -q")


def test_ci_runs_the_readme_test_command_verbatim():
    _, test = readme_commands()
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test in [line.strip() for line in ci], f".ci/run does not run {test!r}"


def test_install_sh_is_posix_sh():
    for sh in ("dash", "sh"):
        path = shutil.which(sh)
        if path:
            r = subprocess.run([path, "-n", str(ROOT / "install.sh")], capture_output=True, text=True)
            assert r.returncode == 0, r.stderr
    r = subprocess.run(["sh", str(ROOT / "install.sh"), "--bogus"], capture_output=True, text=True)
    assert r.returncode == 2 and "usage:" in r.stderr
