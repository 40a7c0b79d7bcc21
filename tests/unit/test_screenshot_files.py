"""The README's pictures (screenshots/*.svg): readable offline, and taken
where they show what the tool is for (``vipdeck demo --uml --screenshots
screenshots``: the demo inside a user-mode Linux guest with kernel IPVS)."""

import re

from tests.support.paths import ROOT
from tests.support.svg import remote_urls, svg_text
from vipdeck.console.screenshots import MONOSPACE, offline_svg

SHOTS = {p.name: p.read_text() for p in (ROOT / "screenshots").glob("*.svg")}
# the head of a Textual SVG export, as Textual 8 writes it
EXPORT = """<svg class="rich-terminal" viewBox="0 0 10 10" xmlns="http://www.w3.org/2000/svg">
    <!-- Generated with Rich https://www.textualize.io -->
    <style>
    @font-face {
        font-family: "Fira Code";
        src: local("FiraCode-Regular"),
                url("https://cdnjs.cloudflare.com/ajax/libs/firacode/6.2.0/woff2/FiraCode-Regular.woff2") format("woff2");
        font-style: normal;
        font-weight: 400;
    }
    .terminal-1-matrix {
        font-family: Fira Code, monospace;
        font-size: 20px;
    }
    </style>
"""


def test_offline_svg_drops_the_web_fonts_for_a_local_monospace_stack():
    out = offline_svg(EXPORT)
    assert remote_urls(EXPORT) and not remote_urls(out)
    assert "@font-face" not in out and f"font-family: {MONOSPACE};" in out
    assert 'xmlns="http://www.w3.org/2000/svg"' in out and "font-size: 20px;" in out


def test_no_screenshot_fetches_anything_from_the_network():
    assert {"1-overview.svg", "2-adverts.svg", "3-vips.svg", "4-ipvs.svg", "5-events.svg", "help.svg",
            "drain-preview.svg"} <= set(SHOTS)
    for name, svg in SHOTS.items():
        assert not remote_urls(svg), f"{name} fetches {remote_urls(svg)}"
        assert "@font-face" not in svg, name


def test_the_screenshots_show_real_ipvs_the_clients_traffic_and_a_master_change():
    for name, svg in SHOTS.items():
        assert "IPVS unavailable" not in svg_text(svg), f"{name} was taken without kernel IPVS"
    overview = svg_text(SHOTS["1-overview.svg"])
    assert re.search(r"vipdeck\s+node1", overview.splitlines()[0]), overview.splitlines()[0]
    assert re.search(r"client \.198 \d+% node[34]", overview), overview.splitlines()[0]
    ipvs = svg_text(SHOTS["4-ipvs.svg"])
    # a real server of the VIP node1 holds, with connections counted by the kernel (ActConn, InActConn)
    assert re.search(r"-> 198\.18\.0\.20[23]:80DR1\d*[1-9]\d*UP", ipvs), ipvs
    adverts = svg_text(SHOTS["2-adverts.svg"])
    assert "no master change in the window" not in adverts and re.search(r"\d+s ago: .+ → .+", adverts), adverts
    # the drain preview names the successor
    assert re.search(r"198\.18\.0\.198/32 → (node2|198\.18\.0\.2)", svg_text(SHOTS["drain-preview.svg"]))
