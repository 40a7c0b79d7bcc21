"""track_file: keepalived's value × weight with a real file, inotify and polling."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from vipdeck.engine.config.model import TrackFile
from vipdeck.engine.lab.wait import async_wait_until
from vipdeck.engine.track.file import FileTracker
from vipdeck.engine.track.weights import Weighting, file_effect, parse_file_value


@pytest.mark.parametrize("text,value", [
    ("5", 5), ("  -7\n", -7), ("+3", 3), ("0x1f", 31), ("010", 8), ("12abc", 12),
    ("", 0), ("garbage", 0), ("0", 0), ("99999999999", None), ("-2147483648", -2147483648),
])
def test_value_parsing_is_strtol_base_0(text, value):
    assert parse_file_value(text) == value


def test_file_effect_rules():
    assert file_effect(2, Weighting(-5)).delta == -10
    assert file_effect(2, Weighting(-5, reverse=True)).delta == 10
    assert file_effect(300, Weighting(1)).delta == 253                 # clamped
    assert file_effect(-254, Weighting(1)).fault                       # ≤ -254 is FAULT
    assert not file_effect(-253, Weighting(1)).fault
    assert file_effect(3, Weighting(0)).fault                          # weight 0: non-zero = FAULT
    assert not file_effect(0, Weighting(0)).fault
    assert file_effect(0, Weighting(0, reverse=True)).fault            # reversed: zero = FAULT
    assert not file_effect(3, Weighting(0, reverse=True)).fault


def write(path: Path, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


async def test_value_times_weight_follows_writes_via_inotify(tmp_path: Path):
    f = tmp_path / "prio"
    write(f, "1")
    w = Weighting(-5)
    changes = []
    t = FileTracker(TrackFile(name="tf", file=str(f), weight=-5), changes.append, poll_interval=60)
    await t.start()
    try:
        assert t.mode == "inotify"                   # polling every 60 s could not pass this test
        assert t.effect(w).delta == -5
        t0 = time.monotonic()
        write(f, "4\n")
        await async_wait_until(lambda: t.value == 4, timeout=2, what="value 4")
        assert time.monotonic() - t0 < 1.0
        assert t.effect(w).delta == -20
        assert t.detail(w) == "tf -20 (value 4 × -5)"
        write(f, "not a number")
        await async_wait_until(lambda: t.value == 0, timeout=2, what="garbage reads as 0")
        write(f, "3")
        await async_wait_until(lambda: t.value == 3, timeout=2)
        f.unlink()
        await async_wait_until(lambda: t.value == 0, timeout=2, what="deleted file reads as 0")
        assert t.detail(w) == "tf 0 (value 0 × -5, missing)"
        tmp = tmp_path / ".prio.new"
        write(tmp, "2")
        os.rename(tmp, f)                             # atomic replace, as tools do
        await async_wait_until(lambda: t.value == 2, timeout=2, what="renamed-in file read")
        write(f, "99999999999")                       # out of range: ignored, value stays
        write(f, "6")
        await async_wait_until(lambda: t.value == 6, timeout=2)
    finally:
        await t.stop()
    assert changes == ["tf"] * 6                      # 4, 0, 3, 0, 2, 6


async def test_weight_zero_faults_on_non_zero(tmp_path: Path):
    f = tmp_path / "maint"
    t = FileTracker(TrackFile(name="maint", file=str(f), weight=0), poll_interval=60)
    await t.start()
    try:
        assert t.value == 0 and not t.effect(Weighting(0)).fault       # missing = 0 = OK
        write(f, "1")
        await async_wait_until(lambda: t.effect(Weighting(0)).fault, timeout=2, what="fault")
        assert t.detail(Weighting(0)) == "maint FAULT (value 1)"
        write(f, "0")
        await async_wait_until(lambda: not t.effect(Weighting(0)).fault, timeout=2, what="fault cleared")
    finally:
        await t.stop()


async def test_init_file_creates_and_overwrites(tmp_path: Path):
    f = tmp_path / "init"
    t = FileTracker(TrackFile(name="i", file=str(f), init_file=7))
    await t.start()
    await t.stop()
    assert f.read_text().strip() == "7" and t.value == 7
    write(f, "3")
    t = FileTracker(TrackFile(name="i", file=str(f), init_file=7))
    await t.start()
    await t.stop()
    assert t.value == 3                                   # existing file kept
    t = FileTracker(TrackFile(name="i", file=str(f), init_file=9, init_file_overwrite=True))
    await t.start()
    await t.stop()
    assert t.value == 9 and f.read_text().strip() == "9"


async def test_polling_fallback_and_switch_to_inotify(tmp_path: Path):
    d = tmp_path / "later"
    f = d / "value"
    t = FileTracker(TrackFile(name="p", file=str(f), weight=2), poll_interval=0.05)
    await t.start()
    try:
        assert t.mode == "polling" and t.value == 0        # directory missing: poll
        d.mkdir()
        write(f, "5")
        await async_wait_until(lambda: t.value == 5, timeout=3, what="value seen by polling")
        await async_wait_until(lambda: t.mode == "inotify", timeout=3, what="switch to inotify")
        write(f, "6")
        await async_wait_until(lambda: t.value == 6, timeout=2)
    finally:
        await t.stop()


async def test_polling_only(tmp_path: Path):
    f = tmp_path / "v"
    write(f, "1")
    t = FileTracker(TrackFile(name="p", file=str(f)), poll_interval=0.05, use_inotify=False)
    await t.start()
    try:
        assert t.mode == "polling"
        write(f, "22")
        await async_wait_until(lambda: t.value == 22, timeout=3)
    finally:
        await t.stop()
