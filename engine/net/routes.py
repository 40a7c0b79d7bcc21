"""virtual_routes and virtual_rules: added with the VIPs on MASTER, removed on leaving it.

keepalived's route and rule lines are iproute2's syntax with a few words
of its own, so each line becomes one ``ip route`` / ``ip rule`` command
rather than a hand-built netlink message: iproute2 already knows every
route type, table, metric and nexthop form an operator may write.  The
translation only rewrites keepalived's words (``gw`` is ``via``, ``or``
adds a nexthop, ``no_track`` is ours alone).  A line the kernel refuses is
reported with its config location and skipped; the other lines still apply.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from vipdeck.engine.config.model import RouteSpec

log = logging.getLogger(__name__)

OWN_WORDS = {"no_track"}


@dataclass(frozen=True)
class RouteResult:
    spec: RouteSpec
    argv: tuple[str, ...]
    ok: bool
    error: str = ""


def family_of(words: tuple[str, ...]) -> int:
    for w in words:
        if w == "inet6" or (":" in w and not w.startswith("[")):
            return 6
    return 4


def route_argv(spec: RouteSpec, add: bool) -> list[str]:
    """``ip`` arguments that add (replace) or delete one virtual_routes line."""
    words = [w for w in spec.words if w not in OWN_WORDS and w not in ("inet", "inet6")]
    out: list[str] = []
    i = 0
    while i < len(words):
        w = words[i]
        if w in ("via", "gw") and i + 1 < len(words):
            # keepalived's "via A or B" is an equal-cost route over both gateways
            multipath = i + 2 < len(words) and words[i + 2] == "or"
            out += ["nexthop", "via", words[i + 1]] if multipath else ["via", words[i + 1]]
            i += 2
        elif w == "or" and i + 1 < len(words):
            out += ["nexthop", "via", words[i + 1]]
            i += 2
        else:
            out.append(w)
            i += 1
    fam = ["-6"] if family_of(spec.words) == 6 else ["-4"]
    return ["ip", *fam, "route", "replace" if add else "del", *out]


def rule_argv(spec: RouteSpec, add: bool) -> list[str]:
    """``ip`` arguments that add or delete one virtual_rules line."""
    words = [w for w in spec.words if w not in OWN_WORDS and w not in ("inet", "inet6")]
    fam = ["-6"] if family_of(spec.words) == 6 else ["-4"]
    return ["ip", *fam, "rule", "add" if add else "del", *words]


async def _run(argv: list[str], timeout: float = 10.0) -> tuple[bool, str]:
    try:
        proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.DEVNULL,
                                                    stderr=asyncio.subprocess.PIPE)
    except OSError as exc:
        return False, f"{argv[0]}: {exc}"
    try:
        _out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        return False, f"timed out after {timeout:g}s"
    return proc.returncode == 0, err.decode(errors="replace").strip()


async def apply(routes: tuple[RouteSpec, ...], rules: tuple[RouteSpec, ...], add: bool) -> list[RouteResult]:
    """Add (routes, then rules) or remove (rules, then routes); never raises.

    Removing what is not there is not an error (a backup that never was
    master, or a link that went down and took its routes with it)."""
    jobs = ([(r, route_argv(r, add)) for r in routes] + [(r, rule_argv(r, add)) for r in rules]) if add else \
        ([(r, rule_argv(r, add)) for r in rules] + [(r, route_argv(r, add)) for r in routes])
    out = []
    for spec, argv in jobs:
        if add and argv[2] == "rule":
            await _run(rule_argv(spec, add=False))   # a rule added twice would be there twice
        ok, err = await _run(argv)
        if not ok and not add and ("No such process" in err or "No such file" in err or "Cannot find" in err):
            ok, err = True, ""
        if not ok:
            log.warning("%s: %s failed: %s", spec.loc, " ".join(argv), err)
        out.append(RouteResult(spec, tuple(argv), ok, err))
    return out
