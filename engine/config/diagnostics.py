"""Diagnostics and the result of loading a configuration.

Every message carries a file and line because an operator fixing a config
needs to know *where*; the ``FILE:LINE: severity: message`` shape is the one
compilers use, so editors and grep can jump to it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from vipdeck.engine.config.model import Config, Loc

Severity = Literal["error", "warning", "note"]
_RANK = {"error": 0, "warning": 1, "note": 2}

# codes for diagnostics a program may want to pick out (``check --strict``, CI)
NOT_IMPLEMENTED = "not-implemented"     # a keepalived keyword vipdeck accepts but does not act on
REFUSED = "refused"                     # one it refuses: doing something else would be dangerous
HOST = "host"                           # a fact of this host (a missing interface), not of the file


@dataclass(frozen=True)
class Diagnostic:
    severity: Severity
    file: str
    line: int
    message: str
    code: str = ""              # NOT_IMPLEMENTED, REFUSED, HOST or ""

    def as_dict(self) -> dict[str, str | int]:
        return {"file": self.file, "line": self.line, "severity": self.severity, "message": self.message,
                "code": self.code}

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.severity}: {self.message}"


@dataclass(frozen=True)
class ParseResult:
    """What ``load()`` returns.

    ``config`` is built even when there are errors (so a checker can show
    everything that is wrong, and a console can show what was understood);
    it is ``None`` only when the main file could not be read at all.  A
    daemon must refuse to run unless ``ok``.
    """

    config: Config | None
    diagnostics: tuple[Diagnostic, ...] = ()

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.severity == "error")

    @property
    def warnings(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.severity == "warning")

    @property
    def notes(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.severity == "note")

    @property
    def not_implemented(self) -> tuple[Diagnostic, ...]:
        """Uses of keepalived keywords vipdeck does not act on (``check --strict`` fails on them)."""
        return tuple(d for d in self.diagnostics if d.code == NOT_IMPLEMENTED)

    @property
    def ok(self) -> bool:
        return self.config is not None and not self.errors


Where = Loc | tuple[str, int] | object  # anything with .file/.line


@dataclass
class Diags:
    """Collector shared by the lexer and the parser."""

    items: list[Diagnostic] = field(default_factory=list)
    limit: int = 2000           # a hostile file must not produce gigabytes of output
    _dropped: int = 0
    _dropped_error: bool = False
    _seen: set[Diagnostic] = field(default_factory=set)

    def add(self, severity: Severity, where: Where, message: str, code: str = "") -> None:
        file, line = _where(where)
        diag = Diagnostic(severity, file, line, message, code)
        if diag in self._seen:          # one mistake expanded many times is reported once
            return
        self._seen.add(diag)
        if len(self.items) >= self.limit:
            self._dropped += 1
            self._dropped_error |= severity == "error"
            return
        self.items.append(diag)

    def error(self, where: Where, message: str, code: str = "") -> None:
        self.add("error", where, message, code)

    def warning(self, where: Where, message: str, code: str = "") -> None:
        self.add("warning", where, message, code)

    def note(self, where: Where, message: str, code: str = "") -> None:
        self.add("note", where, message, code)

    def finish(self, file_order: list[str]) -> tuple[Diagnostic, ...]:
        """Sorted by file (in reading order) then line."""
        order = {f: i for i, f in enumerate(file_order)}
        uniq = list(self.items)
        uniq.sort(key=lambda d: (order.get(d.file, len(order)), d.line))
        if self._dropped and uniq:
            last = uniq[-1]
            worst = "error" if self._dropped_error else "warning"
            uniq.append(Diagnostic(worst, last.file, last.line,
                                   f"{self._dropped} more diagnostics not shown"))
        return tuple(uniq)


def _where(where: Where) -> tuple[str, int]:
    if isinstance(where, tuple):
        return str(where[0]), int(where[1])
    return str(getattr(where, "file", "<unknown>")), int(getattr(where, "line", 0))
