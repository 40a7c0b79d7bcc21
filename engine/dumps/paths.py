"""Where the dumps go: keepalived's file names, in its temporary directory.

keepalived 2.2.7 writes to ``$TMPDIR`` (when it is an absolute path) or
``/tmp``: ``keepalived.data`` (VRRP process), ``keepalived_check.data``
(checker process), ``keepalived_parent.data``, ``keepalived.stats`` and
``keepalived.json``.  ``data_use_instance`` puts the network namespace and
the ``instance`` name into the ``.data`` names as 2.2.7's open_dump_file
does (``keepalived.NS_INSTANCE.data``); like 2.2.7 it leaves the stats and
JSON names alone.

``state_file_location``, ``stats_file_location`` and ``json_file_location``
are documented in keepalived.conf(5) (a path ending in ``/`` is a directory
for the usual names, anything else the file itself; the state file is a
template that gets ``_checker`` / ``_parent`` for those processes) but no
keepalived release reads them; vipdeck does, as documented.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping

from vipdeck.engine.config.model import Config

RUN_DIR = "/run"

KA_TMP_DIR = "/tmp"


@dataclass(frozen=True)
class DumpPaths:
    data: str            # SIGUSR1, VRRP
    check_data: str      # SIGUSR1, virtual servers and checkers
    parent_data: str     # SIGUSR1, global definitions
    stats: str           # SIGUSR2 / SIGSTATS_CLEAR
    json: str            # SIGJSON


def other_args(config: Config, keyword: str) -> tuple[str, ...] | None:
    """The arguments of a keyword vipdeck keeps in ``other`` (global_defs or top level)."""
    for kw, args in (*config.global_defs.other, *config.other):
        if kw == keyword:
            return args
    return None


def _truthy(args: tuple[str, ...] | None) -> bool:
    if args is None:
        return False
    return not args or args[0].lower() in ("true", "yes", "on", "1")


def default_pid_file(config: Config) -> str:
    """keepalived's main pid file for this config (use_pid_dir, instance NAME)."""
    instance = (other_args(config, "instance") or (None,))[0]
    if instance:
        return os.path.join(RUN_DIR, "keepalived", f"keepalived_{instance}.pid")
    if other_args(config, "use_pid_dir") is not None:
        return os.path.join(RUN_DIR, "keepalived", "keepalived.pid")
    return os.path.join(RUN_DIR, "keepalived.pid")


def tmp_dir(env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    d = env.get("TMPDIR", "")
    return d if d.startswith("/") else KA_TMP_DIR


def _split(name: str) -> tuple[str, str]:
    head, tail = os.path.split(name)
    dot = tail.rfind(".")
    if dot <= 0:
        return name, ""
    return os.path.join(head, tail[:dot]), tail[dot:]


def _located(location: tuple[str, ...] | None, default_name: str, tmp: str) -> str:
    if location and location[0]:
        loc = location[0]
        if loc.endswith("/"):
            return os.path.join(loc, default_name)
        return loc if loc.startswith("/") else os.path.join(tmp, loc)
    return os.path.join(tmp, default_name)


def dump_paths(config: Config, env: Mapping[str, str] | None = None) -> DumpPaths:
    tmp = tmp_dir(env)
    state = other_args(config, "state_file_location")
    ns = (other_args(config, "net_namespace") or (None,))[0]
    instance = (other_args(config, "instance") or (None,))[0]
    use_instance = _truthy(other_args(config, "data_use_instance")) and bool(ns or instance)

    def data(default_name: str, suffix: str) -> str:
        if state and state[0] and not state[0].endswith("/"):
            stem, ext = _split(_located(state, default_name, tmp))
            path = stem + suffix + ext          # the template gets _checker / _parent
        else:
            path = _located(state, default_name, tmp)
        if use_instance:
            stem, ext = _split(path)
            tag = "_".join(x for x in (ns, instance) if x)
            path = f"{stem}.{tag}{ext}"
        return path

    return DumpPaths(
        data=data("keepalived.data", ""),
        check_data=data("keepalived_check.data", "_checker"),
        parent_data=data("keepalived_parent.data", "_parent"),
        stats=_located(other_args(config, "stats_file_location"), "keepalived.stats", tmp),
        json=_located(other_args(config, "json_file_location"), "keepalived.json", tmp),
    )
