"""The command line documents itself: --version, an example in every --help, and the
man page and completions generated from the same parser (checked in, kept up to date)."""

from __future__ import annotations

import argparse
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from vipdeck.cli import COMMANDS, EXAMPLES, build_parser
from vipdeck.cli.docgen import SHARE, generate
from tests.support.paths import ROOT, require


def _run(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vipdeck", *args], capture_output=True, text=True,
                          timeout=60, cwd=ROOT, **kw)


def test_version():
    from vipdeck import __version__

    r = _run("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"vipdeck {__version__}"


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    p = build_parser()
    return next(a for a in p._actions if isinstance(a, argparse._SubParsersAction)).choices


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_help_has_an_example_that_parses(name):
    text = _subparsers()[name].format_help()
    assert "example" in text and f"  vipdeck {name}" in text, text
    assert EXAMPLES[name]
    parser = build_parser()
    for cmd, _what in EXAMPLES[name]:
        for part in cmd.split("&&"):       # `vipdeck x && systemctl ...`: the vipdeck part
            words = shlex.split(part)
            if words[0] != "vipdeck":
                continue
            args = parser.parse_args(words[1:])
            assert args.command == name


def test_generated_files_are_up_to_date():
    from vipdeck.cli.docgen import PAGES

    stale = [rel for rel, text in generate().items()
             if not (SHARE / rel).is_file() or (SHARE / rel).read_text() != text]
    stale += [rel for rel, make in PAGES.items()
              if not (ROOT / rel).is_file() or (ROOT / rel).read_text() != make()]
    assert not stale, f"run `vipdeck generate-docs` and commit: {stale} are out of date"


def test_generate_docs_check_says_which_file_is_stale(tmp_path):
    out = tmp_path / "share"
    assert _run("generate-docs", "--out", str(out)).returncode == 0
    assert _run("generate-docs", "--check", "--out", str(out)).returncode == 0
    (out / "man" / "vipdeck.8").write_text("old\n")
    r = _run("generate-docs", "--check", "--out", str(out))
    assert r.returncode == 1 and "vipdeck.8: out of date" in r.stderr


def test_hidden_command_stays_out_of_help_and_man():
    r = _run("--help")
    assert "generate-docs" not in r.stdout
    body = [line for line in (SHARE / "man" / "vipdeck.8").read_text().splitlines() if not line.startswith('.\\"')]
    assert body and not any("generate" in line for line in body)


def test_man_page_renders_without_warnings():
    groff = shutil.which("groff")
    require(groff is not None, "groff is not installed (apt-get install groff-base)")
    page = SHARE / "man" / "vipdeck.8"
    r = subprocess.run([groff, "-man", "-Tutf8", "-ww", "-z", str(page)], capture_output=True, text=True)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    text = subprocess.run([groff, "-man", "-Tutf8", str(page)], capture_output=True, text=True).stdout
    text = re.sub(".\b", "", text).replace("\u2010", "-").replace("\u2212", "-")   # bold overstrike, dashes
    for name in COMMANDS:
        assert f"vipdeck {name}" in text
    assert "--metrics ADDR:PORT" in text
    assert "SUPPRESS" not in text          # options hidden from --help are named, not dumped


def _bash_complete(words: list[str]) -> list[str]:
    script = SHARE / "bash-completion" / "vipdeck"
    cmd = (f"source {shlex.quote(str(script))}; COMP_WORDS=({' '.join(shlex.quote(w) for w in words)}); "
           f"COMP_CWORD={len(words) - 1}; _vipdeck; printf '%s\\n' \"${{COMPREPLY[@]}}\"")
    r = subprocess.run(["bash", "--norc", "-c", cmd], capture_output=True, text=True, timeout=30, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    return [w for w in r.stdout.splitlines() if w]


def test_bash_completion():
    assert _bash_complete(["vipdeck", "dr"]) == ["drain"]
    assert "install-unit" in _bash_complete(["vipdeck", ""])
    assert _bash_complete(["vipdeck", "daemon", "--met"]) == ["--metrics"]
    assert _bash_complete(["vipdeck", "daemon", "--metrics", ""]) == []          # a value, not a file
    assert _bash_complete(["vipdeck", "check", "-f", "pyproj"]) == ["pyproject.toml"]
    assert _bash_complete(["vipdeck", "ipvs", "-ln", "--st"]) == ["--stats"]


ZSH_DRIVER = r"""
zmodload zsh/zpty
zpty z zsh -f -i
zpty -w z "PS1='%% '; fpath=($1 \$fpath); autoload -Uz compinit; compinit -u -D; vipdeck() { :; }"
zpty -w z 'print -- $((6*7))-ready'
zpty -r z out '*42-ready*'
zpty -w -n z "$2"$'\t'
zpty -r z out "*$3*"
print -r -- "$out"
zpty -d z
"""


@pytest.mark.parametrize("typed,expect", [("vipdeck dr", "vipdeck drain"),
                                          ("vipdeck daemon --met", "vipdeck daemon --metrics"),
                                          ("vipdeck ipvs --chec", "vipdeck ipvs --checks")])
def test_zsh_completion(tmp_path, typed, expect):
    zsh = shutil.which("zsh")
    require(zsh is not None, "zsh is not installed (apt-get install zsh)")
    driver = tmp_path / "drive.zsh"
    driver.write_text(ZSH_DRIVER)
    # zpty -r blocks until the completed line shows up: the timeout is the deadline
    r = subprocess.run([zsh, "-f", str(driver), str(SHARE / "zsh"), typed, expect], capture_output=True,
                       text=True, timeout=30)
    assert expect in r.stdout, (r.stdout, r.stderr)
