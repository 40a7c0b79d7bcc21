"""keepalived.conf → the typed model in ``engine.config.model``.

``load(path, config_id=None, host=False)`` returns a ``ParseResult``: the
``Config`` (built even when there are errors, ``None`` only if the main file
cannot be read) and every ``Diagnostic`` (``FILE:LINE: severity: message``),
among them a warning for each keepalived keyword vipdeck does not implement
(``keywords``) and, with ``host``, for what this host lacks (``hostcheck``).
Consumers must check ``result.ok`` before running a configuration.
"""

from vipdeck.engine.config.diagnostics import Diagnostic, ParseResult
from vipdeck.engine.config.parser import load, loads

__all__ = ["Diagnostic", "ParseResult", "load", "loads"]
