"""FILE_CHECK: the state of a real server follows a number in a file.

The file is the ``file`` of the named ``track_file`` block; its value is read
the way keepalived reads it (C ``strtol`` with base 0: leading blanks, an
optional sign, 0x/0 prefixes, anything after the digits ignored; a missing
or empty file reads as 0).  Then, with ``reverse`` negating the weight:

* weight 0 — the value is a status: non-zero means DOWN, zero UP
  (``reverse`` swaps the two);
* weight ≠ 0 — result = value × weight.  A result at or below -2147483648
  means DOWN (keepalived's fault level).  Otherwise the checker is UP and,
  with ``dynamic``, the result is added to the real server's weight
  (the man page semantics; the sum is clamped to 0-65535 by the runner).

There is nothing to time out: the runner re-reads the file every poll.
"""

from __future__ import annotations

import re
import time

from vipdeck.engine.config.model import FileCheck
from vipdeck.engine.check.result import CheckEnv, CheckFailure, CheckResult

FAULT = -(2 ** 31)
_NUMBER = re.compile(r"\s*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)")


def strtol0(text: str) -> int:
    """C strtol(text, NULL, 0): the leading number, 0 when there is none."""
    m = _NUMBER.match(text)
    if not m:
        return 0
    sign, digits = m.groups()
    if digits[:2].lower() == "0x":
        value = int(digits, 16)
    elif digits.startswith("0") and len(digits) > 1:
        value = int(digits, 8)
    else:
        value = int(digits)
    return -value if sign == "-" else value


def read_value(path: str) -> int:
    try:
        with open(path, "rb") as f:
            raw = f.read(127)
    except FileNotFoundError:
        return 0
    except OSError as exc:
        raise CheckFailure(f"cannot read {path}: {exc.strerror or exc}") from None
    value = strtol0(raw.decode("latin-1"))
    if not -(2 ** 31) <= value <= 2 ** 31:
        raise CheckFailure(f"{path}: value {value} is out of range")
    return value


def evaluate(value: int, weight: int, reverse: bool, dynamic: bool) -> tuple[bool, int, str | None]:
    """(up, weight delta, reason when down) for a value read from the file."""
    if weight == 0:
        down = (value == 0) if reverse else (value != 0)
        if down:
            return False, 0, f"value {value}{' (reverse)' if reverse else ''} means down (weight 0)"
        return True, 0, None
    result = value * weight * (-1 if reverse else 1)
    if result <= FAULT:
        return False, 0, f"value {value} × weight {weight} = {result}: fault"
    return True, (result if dynamic else 0), None


def file_path(checker: FileCheck, env: CheckEnv) -> str:
    tf = env.track_files.get(checker.track_file)
    if tf is None:
        raise CheckFailure(f"track_file {checker.track_file!r} is not defined")
    return tf.file


async def check_file(checker: FileCheck, env: CheckEnv | None = None) -> CheckResult:
    env = env or CheckEnv()
    t0 = time.monotonic()
    try:
        value = read_value(file_path(checker, env))
    except CheckFailure as exc:
        return CheckResult(False, time.monotonic() - t0, str(exc))
    up, delta, reason = evaluate(value, checker.weight, checker.reverse, checker.dynamic)
    return CheckResult(up, time.monotonic() - t0, reason, weight_delta=delta if up else None)
