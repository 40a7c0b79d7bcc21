"""keepalived's rules for turning a tracked object's state into a priority effect.

Pure functions, no I/O, so the rules can be read (and tested) in one place.
They follow keepalived 2.2.x (``vrrp_track.c``, ``track_file.c``):

Up/down objects (vrrp_script, track_interface, track_process)::

    weight  reverse   object up        object down
    > 0     no        +weight          0
    < 0     no        0                weight (negative)
    > 0     yes       -weight          0
    < 0     yes       0                +|weight|
    0       no        0                FAULT
    0       yes       FAULT            0

track_file: the value read from the file (``strtol``, base 0)::

    weight 0:  value != 0 → FAULT (reverse: value == 0 → FAULT)
    otherwise: value × weight (× -1 when reverse), clamped to -254..253;
               -254 (i.e. anything ≤ -254) → FAULT

A reference's own weight (``track_script { chk weight -5 }``) replaces the
object's; the reference's ``reverse`` applies, and so does the object's own
``reverse`` (``TrackRef`` cannot say ``noreverse``).  Without a weight the
object's weight and reverse are used.  Interfaces have no object weight: a bare
``track_interface`` entry is weight 0, i.e. FAULT when down.
"""

from __future__ import annotations

from dataclasses import dataclass

from vipdeck.engine.config.model import TrackRef

FILE_FAULT = -254
FILE_MAX = 253


@dataclass(frozen=True)
class Weighting:
    weight: int = 0
    reverse: bool = False

    @property
    def multiplier(self) -> int:
        return -1 if self.reverse else 1


@dataclass(frozen=True)
class Effect:
    """What one tracked object does to one instance right now."""

    delta: int = 0
    fault: bool = False
    pending: bool = False     # no result yet: keepalived holds an unweighted tracker's instance in INIT


def resolve(ref: TrackRef | None, obj_weight: int = 0, obj_reverse: bool = False) -> Weighting:
    if ref is None or ref.weight is None:
        return Weighting(obj_weight, obj_reverse)
    return Weighting(ref.weight, bool(ref.reverse) or obj_reverse)


def binary_effect(up: bool | None, w: Weighting) -> Effect:
    if up is None:
        return Effect(pending=w.weight == 0)
    if w.weight == 0:
        return Effect(fault=up == w.reverse)
    if up and w.weight > 0:
        return Effect(delta=w.weight * w.multiplier)
    if not up and w.weight < 0:
        return Effect(delta=w.weight * w.multiplier)
    return Effect()


def file_effect(value: int, w: Weighting) -> Effect:
    if w.weight == 0:
        return Effect(fault=(value != 0) != w.reverse)
    status = max(FILE_FAULT, min(FILE_MAX, value * w.weight * w.multiplier))
    if status <= FILE_FAULT:
        return Effect(fault=True)
    return Effect(delta=status)


def parse_file_value(data: bytes | str) -> int | None:
    """The number in a track file the way keepalived reads it (``strtol(buf, NULL, 0)``).

    Leading blanks, an optional sign, ``0x`` hex or ``0`` octal; reading stops at
    the first character that is not a digit; no digits at all gives 0 (an empty
    or garbage file counts as 0).  A value outside the 32-bit range returns
    None: keepalived ignores that read and keeps the previous value.
    """
    text = data.decode("ascii", "replace") if isinstance(data, bytes) else data
    s = text.lstrip(" \t\n\r\f\v")
    sign = 1
    if s[:1] and s[0] in "+-":
        sign = -1 if s[0] == "-" else 1
        s = s[1:]
    base = 10
    if s[:2].lower() == "0x" and len(s) > 2 and s[2] in "0123456789abcdefABCDEF":
        base, s = 16, s[2:]
    elif s[:1] == "0":
        base = 8
    digits = "0123456789abcdef"[:base]
    n = 0
    for ch in s:
        d = digits.find(ch.lower())
        if d < 0:
            break
        n = n * base + d
    value = sign * n
    if value < -(2 ** 31) or value > 2 ** 31:
        return None
    return value


def fmt_delta(delta: int) -> str:
    return f"{delta:+d}" if delta else "0"
