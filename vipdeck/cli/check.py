"""``vipdeck check``: validate a keepalived.conf like ``keepalived -t``.

Exit 0 when the configuration is usable (warnings and notes may still be
printed), 1 when it has errors or cannot be read.  Diagnostics go to
stderr as ``FILE:LINE: severity: message``; stdout carries only the result
(a one-line summary, or with ``--json`` the model with secrets masked), so
scripts can pipe it.
"""

from __future__ import annotations

import argparse
import sys

DEFAULT_CONFIG = "/etc/keepalived/keepalived.conf"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-f", "--use-file", dest="file", default=DEFAULT_CONFIG, metavar="FILE",
                        help=f"configuration file to check (default {DEFAULT_CONFIG})")
    parser.add_argument("-i", "--config-id", dest="config_id", default=None, metavar="ID",
                        help="config id for @ID conditional lines (default: first part of the host name)")
    parser.add_argument("--json", action="store_true", help="print the parsed model as JSON (secrets masked)")


def run(args: argparse.Namespace) -> int:
    import json

    from vipdeck.engine.config import load
    from vipdeck.engine.config.model import to_jsonable

    result = load(args.file, config_id=args.config_id)
    for diag in result.diagnostics:
        print(diag, file=sys.stderr)
    if result.config is None:
        return 1
    n_err, n_warn = len(result.errors), len(result.warnings)
    verdict = "OK" if result.ok else f"{n_err} error(s)"
    summary = f"{args.file}: {verdict}, {n_warn} warning(s): {result.config.summary()}"
    if args.json:
        json.dump(to_jsonable(result.config), sys.stdout, indent=2, sort_keys=False)
        sys.stdout.write("\n")
        print(summary, file=sys.stderr)
    else:
        print(summary)
    return 0 if result.ok else 1
