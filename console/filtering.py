"""What the `/` filter and `vipdeck events` keep, decided without a terminal.

The `/` text is words, all of which must appear in a row (case-insensitive,
in any of its fields); ``!word`` excludes rows where the word appears.  On
the events screen two more kinds of word pick events by their fields:
``kind:transition,operator`` (one of these kinds; ``!kind:check`` none of
them) and ``sev:warning`` (at least this severity).  ``vipdeck events`` takes
the same choices as options, and both can hide passing checks.  The engine
reports a passing run only when it is news (the first success after a
failure); daemons before issue 13 reported every run, and a healthy pool's
``check … ok`` lines buried everything else (662 of them in five minutes of
the demo).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

SEVERITIES = ("info", "warning", "error")


def severity_rank(severity: object) -> int:
    try:
        return SEVERITIES.index(str(severity))
    except ValueError:
        return 0


def is_passing_check(ev: dict) -> bool:
    """A checker run that succeeded: routine news (an UP/DOWN change is its own
    ``rs_state`` event, and a failed run is a warning)."""
    return ev.get("kind") == "check" and ev.get("ok") is True and ev.get("severity", "info") == "info"


@dataclass(frozen=True)
class EventChoice:
    """Which events to keep by their fields."""

    kinds: frozenset[str] = frozenset()          # empty: every kind
    not_kinds: frozenset[str] = frozenset()
    min_severity: str = "info"
    hide_passing: bool = False

    def keeps(self, ev: dict) -> bool:
        kind = ev.get("kind")
        if self.kinds and kind not in self.kinds:
            return False
        if kind in self.not_kinds:
            return False
        if severity_rank(ev.get("severity", "info")) < severity_rank(self.min_severity):
            return False
        return not (self.hide_passing and is_passing_check(ev))


def split_kinds(values: Iterable[str]) -> frozenset[str]:
    """``["transition,operator", "check"]`` -> the three kinds."""
    return frozenset(k.strip() for v in values for k in v.split(",") if k.strip())


@dataclass(frozen=True)
class TextFilter:
    """A parsed `/` text.  ``fields``: whether ``kind:`` and ``sev:`` words mean
    fields (the events screen) or are words like any other."""

    words: tuple[str, ...] = ()
    not_words: tuple[str, ...] = ()
    choice: EventChoice = field(default_factory=EventChoice)
    text: str = ""

    @classmethod
    def parse(cls, text: str, fields: bool = False) -> "TextFilter":
        words, not_words = [], []
        kinds: set[str] = set()
        not_kinds: set[str] = set()
        sev = "info"
        for token in text.split():
            negate = token.startswith("!")
            body = token[1:] if negate else token
            name, sep, value = body.partition(":")
            if fields and sep and name.lower() == "kind" and value:
                (not_kinds if negate else kinds).update(split_kinds([value.lower()]))
            elif fields and sep and name.lower() in ("sev", "severity") and value.lower() in SEVERITIES \
                    and not negate:
                sev = value.lower()
            elif body:
                (not_words if negate else words).append(body.lower())
        return cls(tuple(words), tuple(not_words),
                   EventChoice(frozenset(kinds), frozenset(not_kinds), sev), text.strip())

    def __bool__(self) -> bool:
        return bool(self.words or self.not_words or self.choice != EventChoice())

    def matches(self, *hay: object) -> bool:
        """Every word in one of ``hay``, no excluded word in any."""
        if not self.words and not self.not_words:
            return True
        texts = [str(h).lower() for h in hay if h is not None]
        if any(w in t for w in self.not_words for t in texts):
            return False
        return all(any(w in t for t in texts) for w in self.words)

    def matches_event(self, ev: dict, *hay: object) -> bool:
        return self.choice.keeps(ev) and self.matches(*hay)
