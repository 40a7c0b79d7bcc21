"""What the block parsers share: the diagnostics, drafts, and the block walker.

Blocks are parsed into *drafts* (what was explicitly written, and where),
and turned into the frozen model only at the end, because keepalived lets
``global_defs`` come after the instances that inherit from it and lets a
virtual server's ``delay_loop`` come after its real servers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from vipdeck.engine.config import keywords
from vipdeck.engine.config.diagnostics import NOT_IMPLEMENTED, REFUSED, Diags
from vipdeck.engine.config.lexer import Token, show
from vipdeck.engine.config.model import Loc
from vipdeck.engine.config.tree import Stmt

BLOCK, LINE, ANY = "block", "line", "any"

Handler = tuple[str, Callable[[Stmt], None]]


def loc(x: Token | Stmt) -> Loc:
    return Loc(x.file, x.line)


@dataclass
class Draft:
    """Explicit settings of one block, with the token that set each."""

    kw: str
    name: str
    loc: Loc
    values: dict[str, Any] = field(default_factory=dict)
    where: dict[str, Token] = field(default_factory=dict)
    lists: dict[str, list[Any]] = field(default_factory=dict)
    other: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)
    tried: set[str] = field(default_factory=set)     # keys written, even with an invalid value

    def set(self, d: Diags, key: str, value: Any, tok: Token) -> None:
        self.tried.add(key)
        if value is None:
            return
        if key in self.where and self.where[key].line != tok.line:
            first = self.where[key]
            d.warning(tok, f"'{tok.text}' is set again in {self.kw} {self.name} (first at "
                      f"{first.file}:{first.line}); the last value is used")
        self.values[key] = value
        self.where[key] = tok

    def add(self, key: str, *items: Any) -> None:
        self.lists.setdefault(key, []).extend(items)

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def has(self, key: str) -> bool:
        return key in self.values

    def items(self, key: str) -> list[Any]:
        return self.lists.get(key, [])


class ParseContext:
    """Everything collected while walking the statement tree."""

    def __init__(self, diags: Diags) -> None:
        self.d = diags
        self.globals = Draft("global_defs", "", Loc("<default>", 0))
        self.global_seen = False
        self.scripts: list[Any] = []
        self.track_files: list[Any] = []
        self.track_processes: list[Any] = []
        self.defined: dict[str, dict[str, Loc]] = {"script": {}, "file": {}, "process": {}, "bfd": {}, "vsg": {}}
        self.instances: list[Draft] = []
        self.sync_groups: list[Draft] = []
        self.static_ips: list[Any] = []
        self.static_routes: list[Any] = []
        self.static_rules: list[Any] = []
        self.vs_groups: list[Any] = []
        self.virtual_servers: list[Draft] = []
        self.ssl: Any = None
        self.other: list[tuple[str, tuple[str, ...]]] = []

    # ------------------------------------------------------------------ walking

    def walk(self, block: Iterable[Stmt], table: dict[str, Handler], where: str, *, kind: str,
             aliases: dict[str, str | tuple[str, str]] | None = None,
             deprecated: dict[str, str] | None = None,
             other: list[tuple[str, tuple[str, ...]]] | None = None) -> None:
        """Dispatch each statement of a block to its handler.

        ``kind`` names the block in the keyword table (``keywords.BLOCKS``):
        a keyword the table marks not implemented is a warning (refused: an
        error) at its line, whether or not it has a handler; a known keyword
        without a handler is kept in ``other``.  ``aliases`` are old names,
        accepted with a note (a (new, remark) pair adds a remark to it);
        ``deprecated`` keywords are accepted with the given note.
        """
        for st in block:
            kw = st.keyword
            row = self.check_keyword(kind, st)
            if aliases and kw in aliases:
                new, remark = (aliases[kw], "") if isinstance(aliases[kw], str) else aliases[kw]  # type: ignore[misc]
                self.d.note(st.words[0], f"'{kw}' is the old name of '{new}'; it is read as '{new}'{remark}")
                kw = new
            if deprecated and kw in deprecated:
                self.d.note(st.words[0], deprecated[kw])
            entry = table.get(kw)
            if entry is not None:
                kind_, fn = entry
                if kind_ == BLOCK and st.block is None:
                    self.d.error(st.words[0], f"'{kw}' needs a {{ }} block")
                    continue
                if kind_ == LINE and st.block is not None:
                    self.d.error(st.words[0], f"'{kw}' does not take a {{ }} block; the block is ignored")
                fn(st)
                continue
            if row is not None and not row.implemented:
                if other is not None:
                    other.append((kw, tuple(t.text for t in st.args)))
                continue
            self.unknown(st, where, list(table) + sorted(keywords.names(kind)))

    def check_keyword(self, kind: str, st: Stmt) -> keywords.Keyword | None:
        """Look ``st``'s keyword up in the keyword table and say so if vipdeck
        does not implement it (its first word decides rows about one value)."""
        row = keywords.lookup(kind, st.keyword, st.args[0].text if st.args else None)
        if row is not None:
            self.report(row, st.words[0])
        return row

    def option(self, kind: str, tok: Token) -> keywords.Keyword | None:
        """The same for a word on an entry's line (address options, unicast peer TTLs ...)."""
        row = keywords.lookup(kind, tok.text)
        if row is not None:
            self.report(row, tok)
        return row

    def report(self, row: keywords.Keyword, tok: Token) -> None:
        if row.implemented or row.inside:
            return
        if row.status is keywords.Status.REFUSED:
            self.d.error(tok, row.message(), code=REFUSED)
        else:
            self.d.warning(tok, row.message(), code=NOT_IMPLEMENTED)

    def unknown(self, st: Stmt, where: str, candidates: list[str] = ()) -> None:  # type: ignore[assignment]
        msg = f"unknown keyword '{show(st.keyword)}' in {where}"
        import difflib     # only for a misspelt keyword: not kept by every daemon (issue 13)

        close = difflib.get_close_matches(st.keyword, candidates, n=1, cutoff=0.8) if candidates else []
        if close:
            msg += f" (did you mean '{close[0]}'?)"
        msg += "; its block is skipped" if st.block is not None else "; ignored"
        self.d.warning(st.words[0], msg)

    def name_arg(self, st: Stmt, what: str) -> str | None:
        """The NAME of ``keyword NAME { … }`` blocks."""
        if not st.args:
            self.d.error(st.words[0], f"'{st.keyword}' needs a name; block ignored")
            return None
        if len(st.args) > 1:
            extra = " ".join(show(t.text, 30) for t in st.args[1:])
            self.d.warning(st.args[1], f"{what} name is one word; extra words ignored: {extra}")
        return st.args[0].text

    def define(self, kind: str, name: str, where: Loc, what: str) -> bool:
        """Register a named object; a second definition is an error."""
        seen = self.defined[kind]
        if name in seen:
            first = seen[name]
            self.d.error(where, f"{what} '{show(name)}' is defined twice (first at {first}); this one is ignored")
            return False
        seen[name] = where
        return True
