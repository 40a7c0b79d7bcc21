"""Reading the console's SVG pictures (Rich/Textual exports) in tests."""

from __future__ import annotations

import html
import re


def svg_text(svg: str) -> str:
    """The terminal's text, row by row."""
    rows: dict[float, list[tuple[float, str]]] = {}
    for m in re.finditer(r'<text class="[^"]*" x="([\d.]+)" y="([\d.]+)"[^>]*>([^<]*)</text>', svg):
        rows.setdefault(float(m.group(2)), []).append((float(m.group(1)), html.unescape(m.group(3))))
    return "\n".join("".join(t for _, t in sorted(cells)).replace("\xa0", " ") for _, cells in sorted(rows.items()))


def remote_urls(svg: str) -> list[str]:
    """http(s) URLs other than XML namespace names (which nothing fetches)."""
    urls = re.findall(r"https?://[^\s\"')<>]+", svg)
    return [u for u in urls if not u.startswith("http://www.w3.org/")]
