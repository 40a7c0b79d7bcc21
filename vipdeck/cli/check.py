"""``vipdeck check``: validate a keepalived.conf like ``keepalived -t``.

Exit 0 when the configuration is usable (warnings and notes may still be
printed), 1 when it has errors or cannot be read; with ``--strict`` also 1
when it uses a keepalived keyword vipdeck does not implement.  Diagnostics
go to stderr as ``FILE:LINE: severity: message``, including this host's
(an interface the file names that does not exist here).  stdout carries
only the result, so scripts can pipe it: a one-line summary, or with
``--json`` one JSON document for CI: the verdict, every diagnostic as
file/line/severity/message/code, and the parsed model with secrets masked
under ``config``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

DEFAULT_CONFIG = "/etc/keepalived/keepalived.conf"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-f", "--use-file", dest="file", default=DEFAULT_CONFIG, metavar="FILE",
                        help=f"configuration file to check (default {DEFAULT_CONFIG})")
    parser.add_argument("-i", "--config-id", dest="config_id", default=None, metavar="ID",
                        help="config id for @ID conditional lines (default: first part of the host name)")
    parser.add_argument("--strict", action="store_true",
                        help="exit 1 when a keepalived keyword vipdeck does not implement is used")
    parser.add_argument("--json", action="store_true",
                        help="print the verdict, the diagnostics and the model (secrets masked) as JSON")


def run(args: argparse.Namespace) -> int:
    from vipdeck.engine.config import load
    from vipdeck.engine.config.model import to_jsonable

    result = load(args.file, config_id=args.config_id, host=True)
    for diag in result.diagnostics:
        print(diag, file=sys.stderr)
    unimplemented = result.not_implemented
    rc = 0 if result.ok and not (args.strict and unimplemented) else 1
    n_err, n_warn = len(result.errors), len(result.warnings)
    if result.config is None:
        summary = f"{args.file}: cannot be read"
    else:
        verdict = "OK" if result.ok else f"{n_err} error(s)"
        strict = f" ({len(unimplemented)} not implemented: --strict fails)" if args.strict and unimplemented else ""
        summary = f"{args.file}: {verdict}, {n_warn} warning(s){strict}: {result.config.summary()}"
    if args.json:
        doc = {
            "file": args.file, "ok": rc == 0, "exit_status": rc, "strict": args.strict, "summary": summary,
            "counts": {"errors": n_err, "warnings": n_warn, "notes": len(result.notes),
                       "not_implemented": len(unimplemented)},
            "diagnostics": [d.as_dict() for d in result.diagnostics],
            "config": None if result.config is None else to_jsonable(result.config),
        }
        _write(json.dumps(doc, indent=2) + "\n")
        print(summary, file=sys.stderr)
    elif result.config is not None:
        _write(summary + "\n")
    return rc


def _write(text: str) -> None:
    """stdout that may be a pipe closed early (``vipdeck check --json | head``):
    the reader has what it wanted, so stop quietly instead of a traceback."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        # later flushes (at exit) must not fail again on the closed pipe
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
