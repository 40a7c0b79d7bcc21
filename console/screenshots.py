"""Save one SVG per console screen from a running engine.

``python -m console.screenshots --socket PATH --out screenshots/`` attaches
read-only to a daemon; ``take_screenshots(client, out)`` does the same with
any ``Client`` (the tests use a scripted one).  The drain preview is drawn
by opening the confirmation modal directly, so nothing is ever sent.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import time
from pathlib import Path
from typing import Any

from vipdeck.console.actions import NotApplicable, plan_drain
from vipdeck.console.app import TABS, ConsoleApp
from vipdeck.console.modals import ConfirmScreen
from vipdeck.engine.control.client import SocketClient
from vipdeck.engine.control.schema import ControlError

SIZE = (140, 40)
# what a reader's machine has: no font is fetched from the network to read a picture
MONOSPACE = '"Fira Code", "DejaVu Sans Mono", "Liberation Mono", Menlo, Consolas, monospace'
_FONT_FACE = re.compile(r"\s*@font-face\s*\{[^}]*\}")
_GENERATOR = re.compile(r"\s*<!--[^>]*https?://[^>]*-->")
_FAMILY = re.compile(r"font-family:\s*Fira Code,\s*monospace;")


def offline_svg(svg: str) -> str:
    """Textual's SVG export asks the browser for Fira Code from a CDN
    (``@font-face`` with ``url(https://...)``); a README read offline, or by a
    viewer that blocks remote fonts, then waits or falls back unpredictably.
    Drop the web fonts and name a local monospace stack instead."""
    svg = _FONT_FACE.sub("", svg)
    svg = _GENERATOR.sub("", svg)
    return _FAMILY.sub(f"font-family: {MONOSPACE};", svg)


def save_svg(app: ConsoleApp, name: str, out: Path) -> Path:
    path = Path(app.save_screenshot(name, str(out)))
    path.write_text(offline_svg(path.read_text()))
    return path


async def _until(pred, pilot, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        await pilot.pause(0.05)


async def take_screenshots(client: Any, out: str | Path, size: tuple[int, int] = SIZE,
                           timeout: float = 10.0, extras: bool = True,
                           app: ConsoleApp | None = None, adverts_vrid: int | None = None) -> list[Path]:
    """Write ``<n>-<screen>.svg`` for every screen (and help / drain preview);
    ``app``: a console made by the caller (the demo's), else a plain one;
    ``adverts_vrid``: the VRID whose timeline the adverts picture shows."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    app = app or ConsoleApp(client, frozen=True)
    paths: list[Path] = []
    async with app.run_test(size=size, headless=True) as pilot:
        await _until(lambda: app.version > 0, pilot, timeout, "the first snapshot")
        await _until(lambda: len(app.events_view.events) > 0 or app.feed.last_seq == 0, pilot, 2.0, "events")
        for n, (tab_id, _title, _cls) in enumerate(TABS, 1):
            await pilot.press(str(n))
            await _until(lambda t=tab_id: app.view(t).shown_version == app.version or tab_id == "events",
                         pilot, timeout, f"screen {tab_id}")
            if tab_id == "adverts" and adverts_vrid is not None:
                for _ in range(len(app.sv.adverts) * 2):
                    if app.view(tab_id).selected_vrid() == adverts_vrid:
                        break
                    await pilot.press("down")
            await pilot.pause()
            paths.append(save_svg(app, f"{n}-{tab_id}.svg", out))
        if extras:
            await pilot.press("1", "question_mark")
            await pilot.pause()
            paths.append(save_svg(app, "help.svg", out))
            await pilot.press("escape")
            try:
                plan = plan_drain(app.sv)
            except NotApplicable:
                plan = None
            if plan is not None:
                # preview only: never confirmed
                app.push_screen(ConfirmScreen(plan, frozen=True, focus_cancel=True, arm_delay=0))
                await pilot.pause()
                paths.append(save_svg(app, "drain-preview.svg", out))
                await pilot.press("escape")
        app.exit()
    return paths


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m console.screenshots", description=__doc__.splitlines()[0])
    p.add_argument("--socket", default="/run/vipdeck/control.sock", metavar="PATH")
    p.add_argument("--out", default="screenshots", metavar="DIR")
    p.add_argument("--size", default=f"{SIZE[0]}x{SIZE[1]}", help="terminal COLSxROWS (default 140x40)")
    p.add_argument("--no-extras", action="store_true", help="only the five screens")
    args = p.parse_args(argv)
    cols, rows = (int(x) for x in args.size.lower().split("x"))
    client = SocketClient(args.socket)
    try:
        asyncio.run(client.snapshot())        # fail fast and plainly when nobody answers
        paths = asyncio.run(take_screenshots(client, args.out, (cols, rows), extras=not args.no_extras))
    except ControlError as exc:
        print(f"screenshots: {exc.message}", file=sys.stderr)
        return 1
    except TimeoutError as exc:
        print(f"screenshots: {exc}", file=sys.stderr)
        return 1
    for path in paths:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
