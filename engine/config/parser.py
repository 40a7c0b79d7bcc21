"""Statement tree → the frozen model of ``engine.config.model``.

The top level lives here; each block has its module, along the sections of
keepalived.conf(5): ``global_defs``, ``trackers``, ``addresses`` (addresses,
routes, rules), ``instances``, ``auth``, ``sync_groups``, ``virtual_servers``,
``checkers``.  Unknown keywords are warnings (with a
"did you mean" when one is close) and parsing carries on.  Nothing is
accepted silently: a keyword keepalived knows but vipdeck does not act on is
a warning at its line saying what keepalived would have done (the table in
``keywords``), kept in the model's ``other`` fields; one where acting
otherwise would be dangerous (``auth_type AH``, ``auth_hmac``) is an error.
"""

from __future__ import annotations

import os
import traceback

from vipdeck.engine.config import (addresses, global_defs, hostcheck, instances, keywords, sync_groups, trackers,
                                   virtual_servers)
from vipdeck.engine.config import model as m
from vipdeck.engine.config.context import BLOCK, LINE, ParseContext, loc
from vipdeck.engine.config.diagnostics import Diags, ParseResult
from vipdeck.engine.config.lexer import Lexer, show
from vipdeck.engine.config.tree import Stmt, build_tree
from vipdeck.engine.config.values import int_arg, need, to_ip

# --------------------------------------------------------------------------- other top-level blocks


def parse_bfd_instance(s: ParseContext, st: Stmt) -> None:
    """Accepted (vipdeck has no BFD) but checked, so BFD_CHECK / track_bfd names resolve."""
    name = s.name_arg(st, "bfd_instance")
    if name is None or not s.define("bfd", name, loc(st), "bfd_instance"):
        return
    d = s.d
    seen_neighbor = False
    for x in st.block or []:
        kw = x.keyword
        if kw in ("neighbor_ip", "neighbour_ip", "source_ip"):
            if need(d, x, 1, 1, "an address"):
                to_ip(d, x.args[0], f"bfd_instance {show(name)} {kw}")
            seen_neighbor |= kw != "source_ip"
        elif kw not in keywords.names("bfd_instance"):
            s.unknown(x, f"bfd_instance {show(name)}", sorted(keywords.names("bfd_instance")))
    if not seen_neighbor:
        d.error(st.words[0], f"bfd_instance {show(name)} has no neighbor_ip; keepalived disables it")
    s.other.append(("bfd_instance", (name,)))


def _record(s: ParseContext):  # type: ignore[no-untyped-def]
    def fn(st: Stmt) -> None:
        s.other.append((st.keyword, tuple(t.text for t in st.args)))
    return fn


def _top_table(s: ParseContext) -> dict:
    d = s.d
    return {
        "global_defs": (BLOCK, lambda st: global_defs.parse_global_defs(s, st)),
        "vrrp_script": (BLOCK, lambda st: trackers.parse_vrrp_script(s, st)),
        "track_file": (BLOCK, lambda st: trackers.parse_track_file(s, st)),
        "vrrp_track_file": (BLOCK, lambda st: trackers.parse_track_file(s, st)),
        "vrrp_track_process": (BLOCK, lambda st: trackers.parse_track_process(s, st)),
        "vrrp_instance": (BLOCK, lambda st: instances.parse_vrrp_instance(s, st)),
        "vrrp_sync_group": (BLOCK, lambda st: sync_groups.parse_sync_group(s, st)),
        "static_ipaddress": (BLOCK, lambda st: s.static_ips.extend(
            addresses.parse_vips(s, st, "static_ipaddress", static=True))),
        "static_routes": (BLOCK, lambda st: s.static_routes.extend(
            addresses.parse_routes(s, st, "static_routes", False))),
        "static_rules": (BLOCK, lambda st: s.static_rules.extend(addresses.parse_routes(s, st, "static_rules", True))),
        "virtual_server_group": (BLOCK, lambda st: virtual_servers.parse_vs_group(s, st)),
        "virtual_server": (BLOCK, lambda st: virtual_servers.parse_virtual_server(s, st)),
        "SSL": (BLOCK, lambda st: virtual_servers.parse_ssl(s, st)),
        "bfd_instance": (BLOCK, lambda st: parse_bfd_instance(s, st)),
        "linkbeat_interfaces": (BLOCK, _record(s)),
        "interface_up_down_delays": (BLOCK, _record(s)),
        "track_group": (BLOCK, _record(s)),
        "garp_group": (BLOCK, _record(s)),
        "child_wait_time": (LINE, lambda st: (int_arg(d, st, 0), _record(s)(st))),
        # read from ``other`` by the pid file and dump names (engine/dumps/paths.py)
        "instance": (LINE, lambda st: (need(d, st, 1, 1), _record(s)(st))),
        "use_pid_dir": (LINE, lambda st: (need(d, st, 0, 0), _record(s)(st))),
    }


# --------------------------------------------------------------------------- entry points


def parse_tokens(lexer: Lexer, diags: Diags) -> m.Config:
    tree = build_tree(lexer.tokens, diags)
    s = ParseContext(diags)
    s.walk(tree, _top_table(s), "the top level of the configuration", kind="top", other=s.other)
    g, log_all = global_defs.finish_globals(s)
    insts, broken = instances.finish_instances(s, g)
    g = global_defs.finish_sync_daemon(s, g, insts)
    groups = sync_groups.finish_sync_groups(s, g, insts, broken)
    servers = virtual_servers.finish_lvs(s, g, log_all)
    return m.Config(
        global_defs=g, vrrp_scripts=tuple(s.scripts), track_files=tuple(s.track_files),
        track_processes=tuple(s.track_processes), vrrp_instances=tuple(insts), sync_groups=tuple(groups),
        static_ipaddresses=tuple(addresses.finish_static(s, g)), static_routes=tuple(s.static_routes),
        static_rules=tuple(s.static_rules), virtual_server_groups=tuple(s.vs_groups),
        virtual_servers=tuple(servers), ssl=s.ssl, files=tuple(lexer.files), other=tuple(s.other))


def _run(lexer: Lexer, diags: Diags, main: str, read) -> ParseResult:  # type: ignore[no-untyped-def]
    """Lex and parse; an unexpected exception becomes a diagnostic, never a crash."""
    try:
        if not read():
            return ParseResult(None, diags.finish([main]))
        config = parse_tokens(lexer, diags)
    except Exception as exc:  # noqa: BLE001 - a parser bug must not take the daemon down
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        diags.error((main, 0), f"internal parser error (please report): {type(exc).__name__}: {exc} "
                    f"at {frame.filename.rsplit('/', 1)[-1]}:{frame.lineno}")
        return ParseResult(None, diags.finish(lexer.files or [main]))
    return ParseResult(config, diags.finish(lexer.files))


def load(path: str | os.PathLike[str], config_id: str | None = None, *, host: bool = False) -> ParseResult:
    """Read and check a keepalived.conf (and its includes).

    ``config_id`` selects ``@id`` conditional lines; keepalived's default
    is the first part of the host name.  ``host`` adds the checks against
    this host (interfaces that do not exist, see ``hostcheck``): for the
    host the configuration is to run on, not for a file checked elsewhere.
    """
    path = os.fspath(path)
    diags = Diags()
    lexer = Lexer(diags, config_id)
    result = _run(lexer, diags, path, lambda: lexer.lex_file(path))
    return hostcheck.with_host_checks(result) if host else result


def loads(text: str, path: str = "<string>", config_id: str | None = None) -> ParseResult:
    """Like ``load`` for text in memory; includes resolve relative to ``path``."""
    diags = Diags()
    lexer = Lexer(diags, config_id)

    def read() -> bool:
        lexer.lex_text(text, path)
        return True

    return _run(lexer, diags, path, read)
