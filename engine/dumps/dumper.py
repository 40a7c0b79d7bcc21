"""What a dump signal does: gather, render, write, report — and never fail.

``write(engine, kind)`` with kind ``data`` (SIGUSR1), ``stats`` (SIGUSR2),
``stats_clear`` (keepalived's SIGSTATS_CLEAR: write, then start the
counters again from zero) or ``json`` (SIGJSON).  It logs keepalived's
line for the signal ("Printing VRRP data for process(PID) on signal"),
writes the files keepalived would (a half that does not run, or has
nothing configured, writes nothing, as keepalived has no such child), and
reports each file written or failed as a ``daemon`` event.  A write error
(disk full, permission) is an error event and a log line naming the file;
the daemon carries on.
"""

from __future__ import annotations

import logging
import os

from vipdeck.engine.dumps import data, jsondump, stats
from vipdeck.engine.dumps.facts import collect
from vipdeck.engine.dumps.paths import dump_paths
from vipdeck.engine.dumps.writer import DumpError, write_atomic

KINDS = ("data", "stats", "stats_clear", "json")

vrrp_log = logging.getLogger("vipdeck.vrrp.dump")
check_log = logging.getLogger("vipdeck.check.dump")
parent_log = logging.getLogger("vipdeck.daemon.dump")


def _files(engine, kind: str, facts) -> list[tuple[str, str, logging.Logger]]:
    """(path, text, logger) for what this signal writes."""
    config = engine.config
    paths = dump_paths(config)
    vrrp = facts.run_vrrp and bool(config.vrrp_instances)
    checkers = facts.run_checkers and bool(config.virtual_servers)
    pid = facts.pid
    out = []
    if kind == "data":
        parent_log.info("Printing parent data for process(%d) on signal", pid)
        out.append((paths.parent_data, data.render_parent(config, facts), parent_log))
        if vrrp:
            vrrp_log.info("Printing VRRP data for process(%d) on signal", pid)
            out.append((paths.data, data.render_vrrp(config, facts), vrrp_log))
        if checkers:
            check_log.info("Printing checker data for process(%d) on signal", pid)
            out.append((paths.check_data, data.render_check(config, facts), check_log))
    elif kind in ("stats", "stats_clear"):
        if vrrp:
            vrrp_log.info("Printing %sVRRP stats for process(%d) on signal",
                          "and clearing " if kind == "stats_clear" else "", pid)
            out.append((paths.stats, stats.render(config, facts), vrrp_log))
    elif kind == "json":
        if vrrp:
            vrrp_log.info("Printing VRRP as json for process(%d) on signal", pid)
            out.append((paths.json, jsondump.render(config, facts), vrrp_log))
    else:
        raise ValueError(f"unknown dump {kind!r} (one of {', '.join(KINDS)})")
    return out


def write(engine, kind: str) -> list[str]:
    """Write the files of one dump signal; returns the paths written."""
    written: list[str] = []
    try:
        facts = collect(engine)
        files = _files(engine, kind, facts)
    except Exception as exc:      # a bug here must not take the daemon down
        parent_log.exception("%s dump failed", kind)
        engine.emit("daemon", f"{kind} dump failed: {exc!r}", "error", dump=kind)
        return written
    for path, text, log in files:
        try:
            write_atomic(path, text)
        except DumpError as exc:
            log.error("%s", exc)
            engine.emit("daemon", f"{kind} dump: {exc}", "error", dump=kind, path=path,
                        error=os.strerror(exc.cause.errno) if exc.cause.errno else str(exc.cause))
            continue
        written.append(path)
        engine.emit("daemon", f"{kind} dump written to {path}", dump=kind, path=path)
    if kind == "stats_clear" and engine.config.vrrp_instances:
        engine.clear_vrrp_stats()
    return written
