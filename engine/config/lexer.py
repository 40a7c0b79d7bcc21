"""keepalived.conf text → tokens that each know their file and line.

keepalived processes its configuration line by line before it looks at the
grammar: comments are cut, ``@id`` conditional lines are kept or dropped,
``$NAME=value`` definitions are recorded and ``$NAME`` / ``${NAME}`` are
substituted (recursively, at use time), ``~SEQ`` / ``~LST`` lines are
repeated, and ``include`` pulls other files in.  Doing all of that here keeps
the parser a pure grammar walk, and lets every later diagnostic point at the
line the operator wrote (for substituted text: the line that used it).

Nothing in here may loop forever or blow up on hostile input: include
loops, include depth, expansion depth, line length and generated-line counts
are all bounded and reported as diagnostics.
"""

from __future__ import annotations

import glob
import os
import random
import re
import socket
from dataclasses import dataclass

from vipdeck.engine.config.diagnostics import Diags

WORD, LBRACE, RBRACE, EOL = "word", "{", "}", "eol"

INCLUDE_WORDS = frozenset({"include", "includer", "includem", "includew", "includeb", "includea"})
MAX_INCLUDE_DEPTH = 32
MAX_EXPANSION_DEPTH = 64
MAX_LINE = 65536
MAX_GENERATED = 100_000
MAX_FILE_BYTES = 16 * 1024 * 1024
MAX_FILES_READ = 4096          # includes of includes can multiply without looping
MAX_BRACE_RESULTS = 1024


def read_limited(fh, limit: int) -> bytes:
    """At most ``limit`` bytes of a binary file, read in pieces sized from
    its length: ``read(limit)`` allocates all ``limit`` bytes before it
    shrinks the result, so a 48 KB keepalived.conf once cost the daemon a
    16 MiB peak at every start and reload (issue 13)."""
    try:
        piece = max(os.fstat(fh.fileno()).st_size + 1, 65536)
    except (OSError, AttributeError, ValueError):
        piece = 65536
    parts: list[bytes] = []
    total = 0
    while total < limit:
        part = fh.read(min(piece, limit - total))
        if not part:
            break
        parts.append(part)
        total += len(part)
    return parts[0] if len(parts) == 1 else b"".join(parts)


_DEF = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)=(.*)\Z", re.S)
_SUBST = re.compile(r"\$\{([^{}]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)(?=\s|\Z)")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_SEQ = re.compile(r"~(SEQx?|LST)\(")


@dataclass(frozen=True, slots=True)
class Token:
    kind: str           # WORD, LBRACE, RBRACE or EOL
    text: str
    file: str
    line: int
    quoted: bool = False


def default_config_id() -> str:
    """keepalived's default: the first part of the host name."""
    return socket.gethostname().split(".")[0]


def show(text: str, limit: int = 60) -> str:
    """A word as it can safely appear in a message (no control characters)."""
    out = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return out if len(out) <= limit else out[: limit - 3] + "..."


# --------------------------------------------------------------------------- text helpers


_PLAIN = re.compile(r"[{}]|[^\s{}\0]+")
_COMMENT = re.compile(r"[#!]")


def strip_comment(line: str) -> str:
    """Cut a ``#`` or ``!`` comment that is not inside quotes."""
    if '"' not in line and "'" not in line:
        m = _COMMENT.search(line)
        return (line[:m.start()] if m else line).rstrip()
    quote = None
    i, n = 0, len(line)
    while i < n:
        c = line[i]
        if quote:
            if c == "\\" and i + 1 < n:
                i += 2
                continue
            if c == quote:
                quote = None
        elif c == '"' or c == "'":
            quote = c
        elif c == "#" or c == "!":
            return line[:i].rstrip()
        i += 1
    return line.rstrip()


_ESCAPES = {"a": "\a", "b": "\b", "E": "\x1b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}


def _escape(s: str, i: int) -> tuple[str, int]:
    """Decode the backslash escape at s[i]; returns (text, next index)."""
    c = s[i + 1]
    if c in _ESCAPES:
        return _ESCAPES[c], i + 2
    if c in "01234567":
        j = i + 1
        while j < len(s) and j < i + 4 and s[j] in "01234567":
            j += 1
        return chr(int(s[i + 1:j], 8) & 0xFF), j
    if c == "x":
        j = i + 2
        while j < len(s) and j < i + 4 and s[j] in "0123456789abcdefABCDEF":
            j += 1
        if j == i + 2:
            return "x", i + 2
        return chr(int(s[i + 2:j], 16)), j
    if c == "c" and i + 2 < len(s):
        return chr(ord(s[i + 2].upper()) ^ 0x40), i + 3
    return c, i + 2


def tokenize(s: str, file: str, line: int, diags: Diags, *, braces: bool = True) -> list[Token]:
    """Split one logical line into words and braces.

    Quotes protect whitespace, braces and comment characters and are removed
    (``a"b c"d`` is one word ``ab cd``); ``{`` and ``}`` are tokens of their
    own even when glued to a word (``80{``); an undefined ``${NAME}`` stays
    one word instead of being torn apart at its braces.
    """
    if braces and '"' not in s and "'" not in s and "${" not in s:
        # fast path for the common line: no quotes, no ${...}
        return [Token(w, w, file, line) if w in "{}" else Token(WORD, w, file, line) for w in _PLAIN.findall(s)]
    toks: list[Token] = []
    i, n = 0, len(s)
    while i < n:
        c = s[i]
        if c.isspace() or c == "\0":
            i += 1
            continue
        if braces and (c == "{" or c == "}"):
            toks.append(Token(c, c, file, line))
            i += 1
            continue
        buf: list[str] = []
        quoted = False
        while i < n:
            c = s[i]
            if c.isspace() or c == "\0" or (braces and (c == "{" or c == "}")):
                break
            if c == "$" and i + 1 < n and s[i + 1] == "{":
                j = s.find("}", i + 2)
                if j != -1 and "{" not in s[i + 2:j]:
                    buf.append(s[i:j + 1])
                    i = j + 1
                    continue
            if c == '"' or c == "'":
                quoted = True
                q = c
                i += 1
                while i < n and s[i] != q:
                    if s[i] == "\\" and i + 1 < n:
                        text, i = _escape(s, i)
                        buf.append(text)
                        continue
                    buf.append(s[i])
                    i += 1
                if i >= n:
                    diags.warning((file, line), f"unterminated {q} quote: the string runs to the end of the line")
                else:
                    i += 1
                continue
            buf.append(c)
            i += 1
        toks.append(Token(WORD, "".join(buf), file, line, quoted))
    return toks


def brace_expand(pattern: str) -> list[str]:
    """csh-style ``{a,b}`` expansion for include patterns (glob() lacks it)."""
    depth = 0
    start = -1
    for i, c in enumerate(pattern):
        if c == "{":
            if depth == 0:
                start = i
            depth += 1
        elif c == "}" and depth:
            depth -= 1
            if depth == 0:
                inner = pattern[start + 1:i]
                parts = _split_top(inner, ",")
                if len(parts) < 2:
                    continue
                out: list[str] = []
                for part in parts:
                    for tail in brace_expand(pattern[:start] + part + pattern[i + 1:]):
                        out.append(tail)
                        if len(out) >= MAX_BRACE_RESULTS:
                            return out
                return out
    return [pattern]


def _split_top(text: str, sep: str) -> list[str]:
    """Split at ``sep`` outside of {...} groups."""
    parts, depth, cur = [], 0, []
    for c in text:
        if c == "{":
            depth += 1
        elif c == "}" and depth:
            depth -= 1
        if c == sep and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(c)
    parts.append("".join(cur))
    return parts


# --------------------------------------------------------------------------- the lexer


class Lexer:
    """Reads a main file and its includes into one token list."""

    def __init__(self, diags: Diags, config_id: str | None = None, *, seed: int | None = None) -> None:
        self.diags = diags
        self.config_id = default_config_id() if config_id is None else config_id
        self.tokens: list[Token] = []
        self.files: list[str] = []
        self._defs: dict[str, str] = {}
        self._stack: list[str] = []            # realpaths being read (include loop detection)
        self._collect: tuple[str, list[str], str, int] | None = None   # multi-line $NAME= \
        self._generated = 0
        self._rng = random.Random(seed)

    # ------------------------------------------------------------------ entry points

    def lex_file(self, path: str) -> bool:
        """Read the main file; False when it cannot be read at all."""
        return self._read_file(path, None)

    def lex_text(self, text: str, path: str) -> None:
        """Lex text as if it were the file ``path`` (includes resolve beside it)."""
        self.files.append(path)
        self._stack.append(os.path.realpath(path))
        self._lex_lines(text, path)
        self._stack.pop()

    # ------------------------------------------------------------------ files

    def _read_file(self, path: str, origin: tuple[str, int] | None) -> bool:
        where = origin if origin is not None else (path, 0)
        real = os.path.realpath(path)
        if real in self._stack:
            chain = " -> ".join(os.path.basename(p) for p in self._stack + [real])
            self.diags.error(where, f"include loop: {path} is already being read ({chain}); not included again")
            return False
        if len(self.files) >= MAX_FILES_READ:
            self.diags.error(where, f"more than {MAX_FILES_READ} files included; {path} not read")
            return False
        if len(self._stack) >= MAX_INCLUDE_DEPTH:
            self.diags.error(where, f"includes nested more than {MAX_INCLUDE_DEPTH} deep; {path} not read")
            return False
        try:
            if not os.path.isfile(path):
                what = "is a directory" if os.path.isdir(path) else (
                    "does not exist" if not os.path.exists(path) else "is not a regular file")
                self.diags.error(where, f"cannot read configuration file {path}: it {what}")
                return False
            with open(path, "rb") as fh:
                data = read_limited(fh, MAX_FILE_BYTES + 1)
        except OSError as exc:
            self.diags.error(where, f"cannot read configuration file {path}: {exc.strerror or exc}")
            return False
        if len(data) > MAX_FILE_BYTES:
            self.diags.error(where, f"{path} is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB; not read")
            return False
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start) + 1
            self.diags.warning((path, line),
                               f"invalid UTF-8 (byte 0x{data[exc.start]:02x}); undecodable bytes are replaced")
            text = data.decode("utf-8", errors="replace")
        self.files.append(path)
        self._stack.append(real)
        try:
            self._lex_lines(text, path)
        finally:
            self._stack.pop()
        return True

    def _lex_lines(self, text: str, path: str) -> None:
        for number, raw in enumerate(text.split("\n"), 1):
            if raw.endswith("\r"):
                raw = raw[:-1]
            self._logical(strip_comment(raw), path, number, 0)
        if self._collect is not None and self._collect[2] == path:
            name, lines, file, line = self._collect
            self.diags.warning((file, line), f"multi-line definition of ${name} is not finished at the end of the file")
            self._defs[name] = "\n".join(lines)
            self._collect = None

    # ------------------------------------------------------------------ lines

    def _logical(self, text: str, file: str, line: int, depth: int) -> None:
        if self._collect is not None:
            self._continue_definition(text)
            return
        if depth > MAX_EXPANSION_DEPTH:
            self.diags.error((file, line), "parameter substitution nested too deeply "
                             "(a definition that refers to itself?); line ignored")
            return
        s = text.strip()
        if not s:
            return
        if s[0] == "~" and _SEQ.match(s):
            self._sequence(s, file, line, depth)
            return
        if s[0] == "@":
            s = self._conditional(s)
            if not s:
                return
        m = _DEF.match(s)
        if m:
            self._define(m.group(1), m.group(2), file, line)
            return
        new = self._substitute(s, file, line)
        if new is None:
            return
        if new != s:
            parts = new.split("\n")
            if len(parts) > 1:
                self._generated += len(parts)
                if self._generated > MAX_GENERATED:
                    self.diags.error((file, line), f"parameter expansion produces more than {MAX_GENERATED} lines "
                                     "(a multi-line definition that uses itself?); line ignored")
                    return
            for part in parts:
                self._logical(part, file, line, depth + 1)
            return
        self._emit(s, file, line)

    def _conditional(self, s: str) -> str:
        """``@id rest`` keeps rest when id is ours; ``@^id rest`` when it is not."""
        negate = s.startswith("@^")
        body = s[2:] if negate else s[1:]
        if not body or body[0].isspace():
            name, rest = "", body
        else:
            parts = body.split(None, 1)
            name, rest = parts[0], (parts[1] if len(parts) > 1 else "")
        match = name == self.config_id
        return rest.strip() if match != negate else ""

    def _define(self, name: str, value: str, file: str, line: int) -> None:
        value = value.strip()
        if value.endswith("\\"):
            first = value[:-1].strip()
            self._collect = (name, [first] if first else [], file, line)
            return
        self._defs[name] = value

    def _continue_definition(self, text: str) -> None:
        assert self._collect is not None
        name, lines, file, line = self._collect
        s = text.rstrip()
        more = s.endswith("\\")
        if more:
            s = s[:-1].rstrip()
        if s.strip():
            lines.append(s)
        if not more:
            self._defs[name] = "\n".join(lines)
            self._collect = None

    def _substitute(self, s: str, file: str, line: int) -> str | None:
        if "$" not in s:
            return s

        def repl(m: re.Match[str]) -> str:
            if m.group(2) is not None:
                value = self._defs.get(m.group(2))
                return m.group(0) if value is None else value
            parts = m.group(1).split()
            if not parts:
                return m.group(0)
            name, args = parts[0], parts[1:]
            if name in self._defs and not args:
                return self._defs[name]
            builtin = self._builtin(name, args, file, line)
            return m.group(0) if builtin is None else builtin

        out = _SUBST.sub(repl, s)
        if len(out) > MAX_LINE:
            self.diags.error((file, line), f"line grows beyond {MAX_LINE} characters during parameter "
                             "substitution (recursive definition?); line ignored")
            return None
        return out

    def _builtin(self, name: str, args: list[str], file: str, line: int) -> str | None:
        if name == "_PWD":
            return os.path.dirname(os.path.abspath(file))
        if name == "_INSTANCE":
            return self.config_id
        if name == "_HASH":
            return "#"
        if name == "_BANG":
            return "!"
        if name == "_ENV":
            if len(args) != 1:
                self.diags.warning((file, line), "${_ENV NAME} needs exactly one variable name")
                return ""
            return os.environ.get(args[0], "")
        if name == "_RANDOM":
            try:
                lo = int(args[0]) if args else 0
                hi = int(args[1]) if len(args) > 1 else 32767
                if lo < 0 or hi < lo:
                    raise ValueError
            except ValueError:
                self.diags.warning((file, line), "${_RANDOM [MIN [MAX]]} needs 0 <= MIN <= MAX; using 0-32767")
                lo, hi = 0, 32767
            return str(self._rng.randint(lo, hi))
        return None

    # ------------------------------------------------------------------ ~SEQ / ~LST

    def _sequence(self, s: str, file: str, line: int, depth: int) -> None:
        m = _SEQ.match(s)
        assert m is not None
        kind = m.group(1)
        start = m.end()
        level, end = 1, -1
        for i in range(start, len(s)):
            if s[i] == "(":
                level += 1
            elif s[i] == ")":
                level -= 1
                if level == 0:
                    end = i
                    break
        if end < 0:
            self.diags.error((file, line), f"~{kind}( has no closing ')'; line ignored")
            return
        inner, rest = s[start:end], s[end + 1:]
        runs = self._seq_values(kind, inner, file, line) if kind != "LST" else self._lst_values(inner, file, line)
        if runs is None:
            return
        if self._generated + len(runs) > MAX_GENERATED:
            self.diags.error((file, line), f"~{kind} would generate more than {MAX_GENERATED} lines; line ignored")
            return
        self._generated += len(runs)
        for assignment in runs:
            for var, value in assignment:
                self._defs[var] = value
            self._logical(rest, file, line, depth + 1)

    def _seq_values(self, kind: str, inner: str, file: str, line: int) -> list[list[tuple[str, str]]] | None:
        args = [a.strip() for a in inner.split(",")]
        bad = f"~{kind}({show(inner)}) must be (VAR, [START, [STEP,]] END) with integers; line ignored"
        if len(args) < 2 or len(args) > 4 or not _NAME.match(args[0]):
            self.diags.error((file, line), bad)
            return None
        try:
            nums = [int(a, 0) for a in args[1:]]
        except ValueError:
            self.diags.error((file, line), bad)
            return None
        if len(nums) == 1:
            stop = nums[0]
            first = 1 if stop > 0 else -1
            step = 1 if stop >= first else -1
        elif len(nums) == 2:
            first, stop = nums
            step = 1 if stop >= first else -1
        else:
            first, step, stop = nums
        if step == 0:
            self.diags.error((file, line), f"~{kind} step is 0; line ignored")
            return None
        count = (stop - first) // step + 1 if (stop - first) * step >= 0 else 0
        if count > MAX_GENERATED:
            self.diags.error((file, line), f"~{kind} would generate {count} lines (limit {MAX_GENERATED}); line ignored")
            return None
        fmt = "{:x}" if kind == "SEQx" else "{}"
        return [[(args[0], fmt.format(first + k * step))] for k in range(count)]

    def _lst_values(self, inner: str, file: str, line: int) -> list[list[tuple[str, str]]] | None:
        parts = [p.strip() for p in _split_top(inner, ",")]
        bad = f"~LST({show(inner)}) must be (VAR, VALUE, ...) or ({{VAR, ...}}, {{VALUE, ...}}, ...); line ignored"
        if len(parts) < 2:
            self.diags.error((file, line), bad)
            return None

        def group(p: str) -> list[str]:
            if p.startswith("{") and p.endswith("}"):
                return [x.strip() for x in p[1:-1].split(",")]
            return [p]

        names = group(parts[0])
        if not all(_NAME.match(n) for n in names):
            self.diags.error((file, line), bad)
            return None
        runs = []
        for p in parts[1:]:
            values = group(p)
            if len(values) != len(names):
                self.diags.error((file, line), f"~LST value {show(p)} has {len(values)} item(s) for "
                                 f"{len(names)} variable(s); line ignored")
                return None
            runs.append(list(zip(names, values)))
        return runs

    # ------------------------------------------------------------------ tokens and includes

    def _emit(self, s: str, file: str, line: int) -> None:
        head = s.split(None, 1)
        if head and head[0] in INCLUDE_WORDS:
            # include patterns may hold csh braces ({a,b}): not block braces
            toks = tokenize(head[1] if len(head) > 1 else "", file, line, self.diags, braces=False)
            self._include(head[0], toks, file, line)
            return
        toks = tokenize(s, file, line, self.diags)
        if not toks:
            return
        self.tokens.extend(toks)
        self.tokens.append(Token(EOL, "", file, line))

    def _include(self, kw: str, args: list[Token], file: str, line: int) -> None:
        if not args:
            self.diags.error((file, line), f"'{kw}' needs a file name")
            return
        strict = kw != "include"        # plain include never fails (keepalived: backward compatibility)
        base = os.path.dirname(file)
        for arg in args:
            found: list[str] = []
            for pat in brace_expand(arg.text):
                full = pat if os.path.isabs(pat) else os.path.join(base, pat)
                full = os.path.normpath(full) if full else full
                if glob.has_magic(full):
                    matches = sorted(glob.glob(full))
                    matches = [m for m in matches if not os.path.isdir(m)]
                else:
                    matches = [full] if os.path.exists(full) else []
                if not matches:
                    msg = f"{kw} {show(arg.text)}: no file matches {show(full)}"
                    (self.diags.error if strict else self.diags.warning)((file, line), msg)
                found.extend(matches)
            for path in found:
                self._read_file(path, (file, line))
