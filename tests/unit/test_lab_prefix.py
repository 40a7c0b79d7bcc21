"""The lab's per-run name prefix (engine/lab/netns.run_prefix)."""

from __future__ import annotations

import re

import pytest

from vipdeck.engine.lab.netns import run_prefix


def test_default_prefix_is_vd_and_four_hex(monkeypatch):
    monkeypatch.delenv("VIPDECK_LAB_PREFIX", raising=False)
    assert re.fullmatch(r"vd[0-9a-f]{4}", run_prefix())


def test_a_stem_from_the_environment_names_the_run(monkeypatch):
    monkeypatch.setenv("VIPDECK_LAB_PREFIX", "snd")
    assert re.fullmatch(r"snd[0-9a-f]{2}", run_prefix())


@pytest.mark.parametrize("stem", ["bad-stem", "toolongstem", "a b"])
def test_a_stem_that_would_make_bad_names_is_refused(monkeypatch, stem):
    monkeypatch.setenv("VIPDECK_LAB_PREFIX", stem)
    with pytest.raises(ValueError, match="VIPDECK_LAB_PREFIX"):
        run_prefix()
