"""The README's keepalived compatibility section, generated from ``keywords``.

``python -m vipdeck.engine.config.compat --markdown`` prints it;
``--update README.md`` rewrites the part between the markers.  A unit test
fails when the README and the table differ, so the documentation cannot
promise what the code does not do.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable

from vipdeck.engine.config.keywords import KEYWORDS, Keyword, Status

BEGIN = "<!-- keepalived-compat:begin (generated: python -m vipdeck.engine.config.compat --update README.md) -->"
END = "<!-- keepalived-compat:end -->"

# The headings of the table's blocks, in the order the man page describes them
# ("options" are words on an entry's line rather than keywords of a block).
BLOCKS = {
    "directives": "file directives (any level)",
    "top": "top level",
    "global_defs": "global_defs",
    "linkbeat_interfaces": "linkbeat_interfaces",
    "track_group": "track_group",
    "address": "address options (virtual_ipaddress, virtual_ipaddress_excluded, static_ipaddress)",
    "route": "route and rule options (virtual_routes/rules, static_routes/rules; ip(8) syntax otherwise)",
    "track_file": "track_file (vrrp_track_file)",
    "vrrp_track_process": "vrrp_track_process",
    "bfd_instance": "bfd_instance",
    "vrrp_script": "vrrp_script",
    "vrrp_sync_group": "vrrp_sync_group",
    "garp_group": "garp_group",
    "vrrp_instance": "vrrp_instance",
    "unicast_peer": "unicast_peer entries (options)",
    "authentication": "authentication",
    "auth_hmac": "auth_hmac",
    "interface_up_down_delays": "interface_up_down_delays",
    "virtual_server_group": "virtual_server_group",
    "virtual_server": "virtual_server",
    "lvs_method": "lvs_method TUN options",
    "real_server": "real_server",
    "checker": "every checker (options they share)",
    "HTTP_GET": "HTTP_GET and SSL_GET",
    "url": "url (HTTP_GET, SSL_GET)",
    "SMTP_CHECK": "SMTP_CHECK",
    "DNS_CHECK": "DNS_CHECK",
    "MISC_CHECK": "MISC_CHECK",
    "UDP_CHECK": "UDP_CHECK",
    "FILE_CHECK": "FILE_CHECK",
    "BFD_CHECK": "BFD_CHECK",
    "SSL": "SSL",
}

_ORIGIN = {"2.2.7": " (2.2.7 only)", "man": " (man page only)", "both": "", "vipdeck": ""}


def counts() -> dict[str, int]:
    """implemented / not implemented (refused ones included) / vipdeck extensions."""
    return {
        "implemented": sum(1 for r in KEYWORDS if r.implemented and r.origin != "vipdeck"),
        "not implemented": sum(1 for r in KEYWORDS if not r.implemented),
        "refused": sum(1 for r in KEYWORDS if r.status is Status.REFUSED),
        "extensions": sum(1 for r in KEYWORDS if r.origin == "vipdeck"),
    }


def _code(name: str) -> str:
    return f"`{name}`"


def _by_block(rows: Iterable[Keyword]) -> list[tuple[str, list[Keyword]]]:
    out: dict[str, list[Keyword]] = {}
    for r in rows:
        out.setdefault(r.block, []).append(r)
    return [(b, out[b]) for b in BLOCKS if b in out]


def markdown() -> str:
    c = counts()
    lines = [
        f"{c['implemented']} keywords implemented, {c['not implemented']} not implemented "
        f"({c['refused']} of them refused), {c['extensions']} vipdeck extensions: every keyword keepalived "
        "2.2.7's parser and the reference keepalived.conf(5) know, from `engine/config/keywords.py`. "
        "`vipdeck check` and the daemon's start-up warn with file:line for each not-implemented keyword a "
        "configuration uses, saying what keepalived would have done (`vipdeck check --strict` exits 1 on any); "
        "a refused one is an error, because doing something else silently would be dangerous.",
        "",
        "### Implemented",
        "",
        "| where | keywords |",
        "|---|---|",
    ]
    for block, rows in _by_block(r for r in KEYWORDS if r.implemented and r.origin != "vipdeck"):
        words = ", ".join(_code(r.name) + _ORIGIN[r.origin] + (f" ({r.note})" if r.note else "") for r in rows)
        lines.append(f"| {BLOCKS[block]} | {words} |")
    lines += ["", "### Not implemented", "",
              "| where | keyword | what vipdeck does | keepalived would |", "|---|---|---|---|"]
    for block, rows in _by_block(r for r in KEYWORDS if r.status is Status.NOT_IMPLEMENTED and not r.inside):
        for r in rows:
            lines.append(f"| {BLOCKS[block]} | {_code(r.name)}{_ORIGIN[r.origin]} | {r.why} | {r.keepalived} |")
    for block, rows in _by_block(r for r in KEYWORDS if r.inside):
        words = ", ".join(_code(r.name) + _ORIGIN[r.origin] for r in rows)
        lines.append(f"| {BLOCKS[block]} | {words} | the block is not implemented (see above) | |")
    lines += ["", "### Refused (an error)", "",
              "| where | keyword | what vipdeck would do | keepalived would |", "|---|---|---|---|"]
    for block, rows in _by_block(r for r in KEYWORDS if r.status is Status.REFUSED):
        for r in rows:
            lines.append(f"| {BLOCKS[block]} | {_code(r.name)}{_ORIGIN[r.origin]} | {r.why} | {r.keepalived} |")
    lines += ["", "### vipdeck extensions", "", "| where | keyword | |", "|---|---|---|"]
    for block, rows in _by_block(r for r in KEYWORDS if r.origin == "vipdeck"):
        for r in rows:
            lines.append(f"| {BLOCKS[block]} | {_code(r.name)} | {r.note} |")
    return "\n".join(lines) + "\n"


def section(text: str) -> str | None:
    """The generated part of a README (between the markers), or None."""
    if BEGIN not in text or END not in text:
        return None
    return text.split(BEGIN, 1)[1].split(END, 1)[0].strip("\n") + "\n"


def update(text: str) -> str:
    if section(text) is None:
        raise ValueError(f"no {BEGIN} ... {END} markers")
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    return f"{head}{BEGIN}\n{markdown()}{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m vipdeck.engine.config.compat", description=__doc__.splitlines()[0])
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--markdown", action="store_true", help="print the section")
    g.add_argument("--update", metavar="README", help="rewrite the section between the markers in README")
    args = p.parse_args(argv)
    if args.markdown:
        sys.stdout.write(markdown())
        return 0
    with open(args.update, encoding="utf-8") as f:
        text = f.read()
    with open(args.update, "w", encoding="utf-8") as f:
        f.write(update(text))
    return 0


if __name__ == "__main__":
    sys.exit(main())
