"""The console's frame cap (console/__init__.py): 120 frames a second unless
the operator's TEXTUAL_FPS says otherwise, in every entry point that opens a
console.  Textual reads the setting once, when it is first imported, so an
entry point that imports Textual before ``vipdeck.console`` would quietly
keep Textual's 60 (a key press waiting up to 16.7 ms more for its frame)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

ENTRY_POINTS = ["vipdeck.console.app", "vipdeck.cli.demo_console", "vipdeck.cli.console"]


def max_fps(module: str, env_fps: str | None) -> int:
    env = {k: v for k, v in os.environ.items() if k != "TEXTUAL_FPS"}
    if env_fps is not None:
        env["TEXTUAL_FPS"] = env_fps
    # the module first, then what opens the console, then the value Textual took
    code = (f"import {module}; import vipdeck.console.app; "
            "import textual.constants as c; print(c.MAX_FPS)")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, timeout=60, check=True)
    return int(out.stdout.strip())


@pytest.mark.parametrize("module", ENTRY_POINTS)
def test_console_frames_at_120_by_default(module):
    assert max_fps(module, None) == 120


def test_operator_setting_wins():
    assert max_fps("vipdeck.cli.demo_console", "30") == 30
