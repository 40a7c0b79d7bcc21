"""Tokens → a tree of statements, with brace problems diagnosed.

A statement is a keyword, its words up to the end of the line, and an
optional ``{ … }`` block (the ``{`` may be glued to the last word or sit on
the next line).  Building this generic tree first means brace errors are
found in one place, with both ends of the problem named, before any keyword
is interpreted.

keepalived itself says nothing about a missing ``}``: the following blocks
silently become children of the unclosed one.  A block that can only exist
at the top level (``vrrp_instance``, ``virtual_server`` …) appearing inside
another block is therefore taken as proof of a missing ``}``: it is
reported, and the open blocks are closed so the rest of the file still
parses as the operator meant it.

Built iteratively, so 500 nested ``{`` cost memory, not the Python stack.
"""

from __future__ import annotations

from dataclasses import dataclass

from vipdeck.engine.config.diagnostics import Diags
from vipdeck.engine.config.lexer import EOL, LBRACE, RBRACE, WORD, Token, show

# blocks that only ever appear at the top level of a configuration
TOP_ONLY_BLOCKS = frozenset({
    "global_defs", "vrrp_instance", "vrrp_script", "vrrp_sync_group", "vrrp_track_process",
    "vrrp_track_file", "virtual_server", "virtual_server_group", "static_ipaddress", "static_routes",
    "static_rules", "bfd_instance", "linkbeat_interfaces", "garp_group", "interface_up_down_delays",
    "track_group", "SSL",
})


@dataclass
class Stmt:
    words: list[Token]
    block: list[Stmt] | None = None
    closed: bool = True

    @property
    def keyword(self) -> str:
        return self.words[0].text

    @property
    def args(self) -> list[Token]:
        return self.words[1:]

    @property
    def file(self) -> str:
        return self.words[0].file

    @property
    def line(self) -> int:
        return self.words[0].line

    def describe(self) -> str:
        """How a message names this block: keyword plus its first words."""
        words = [show(w.text, 40) for w in self.words[:3]]
        return " ".join(words)


def _is_top_only(st: Stmt) -> bool:
    kw = st.keyword
    return kw in TOP_ONLY_BLOCKS or (kw == "track_file" and bool(st.args))


def build_tree(tokens: list[Token], diags: Diags) -> list[Stmt]:
    root: list[Stmt] = []
    stack: list[Stmt] = []
    words: list[Token] = []

    def current() -> list[Stmt]:
        return stack[-1].block if stack else root  # type: ignore[return-value]

    def flush() -> None:
        if words:
            current().append(Stmt(list(words)))
            words.clear()

    i, n = 0, len(tokens)
    while i < n:
        t = tokens[i]
        kind = t.kind
        if kind == WORD:
            words.append(t)
        elif kind == EOL:
            if words:
                j = i + 1
                while j < n and tokens[j].kind == EOL:
                    j += 1
                if j < n and tokens[j].kind == LBRACE:
                    i = j               # "keyword args" then "{" on a following line
                    continue
                flush()
        elif kind == LBRACE:
            if not words:
                diags.error(t, "'{' without a keyword before it; its block is ignored")
                words.append(Token(WORD, "{", t.file, t.line))
            st = Stmt(list(words), block=[], closed=False)
            words.clear()
            if stack and _is_top_only(st):
                outer, inner = stack[0], stack[-1]
                extra = "" if inner is outer else (
                    f"; the innermost open block is '{inner.describe()}' from line {inner.line}")
                diags.error(outer.words[0], f"block '{outer.describe()}' opened here is not closed before "
                            f"'{st.describe()}' at {st.file}:{st.line} (missing '}}'){extra}")
                stack.clear()
            current().append(st)
            stack.append(st)
        elif kind == RBRACE:
            flush()
            if not stack:
                diags.error(t, "unexpected '}': no block is open here (one '}' too many)")
            else:
                stack.pop().closed = True
        i += 1
    flush()
    if stack:
        outer, inner = stack[0], stack[-1]
        extra = "" if inner is outer else (
            f"; {len(stack) - 1} block(s) inside it are open too, the innermost "
            f"'{inner.describe()}' from {inner.file}:{inner.line}")
        diags.error(outer.words[0], f"block '{outer.describe()}' opened here is never closed "
                    f"(missing '}}' before the end of the configuration){extra}")
    return root
