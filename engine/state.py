"""Operator intent that survives restarts and reloads, and the audit trail.

Drain, holds, takeovers, weight overrides and real-server drains are the
operator's decisions, not the config's: they are written atomically (temp
file + fsync + rename + fsync of the directory) to ``<state_dir>/state.json``
before they take effect, re-applied on start and after a reload, and
cleared only explicitly.  Each change request (granted or refused) is
appended to ``<state_dir>/audit.log`` as one JSON line.

A change is a transaction: the caller takes a copy (``proposal()``), edits
it and hands it to ``commit()``, which writes it to disk and only then
makes it the current state.  When the disk says no (full, read-only,
permissions) ``commit`` raises ``StateWriteError`` naming the file and the
reason, and the current state is the one before the change, so memory and
disk never disagree.  ``audit`` raises the same error; its callers report
it and go on (a daemon must not stop because its audit log cannot grow).
"""

from __future__ import annotations

import copy
import errno
import json
import logging
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from typing import Any

log = logging.getLogger("vipdeck.state")


@dataclass
class Stamp:
    who: str
    when: float
    why: str = ""


@dataclass
class Override:
    weight: int
    who: str
    when: float
    why: str = ""


@dataclass
class OperatorState:
    drained: Stamp | None = None
    holds: dict[str, dict] = field(default_factory=dict)        # instance -> {until, who, when, why}
    takeovers: dict[str, dict] = field(default_factory=dict)    # instance -> {who, when, why}
    weights: dict[str, Override] = field(default_factory=dict)  # "vs|rs" -> override
    rs_drains: dict[str, Stamp] = field(default_factory=dict)   # "vs|rs" -> stamp

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "OperatorState":
        return cls(
            drained=Stamp(**d["drained"]) if d.get("drained") else None,
            holds=dict(d.get("holds") or {}),
            takeovers=dict(d.get("takeovers") or {}),
            weights={k: Override(**v) for k, v in (d.get("weights") or {}).items()},
            rs_drains={k: Stamp(**v) for k, v in (d.get("rs_drains") or {}).items()},
        )


def rs_key(vs: str, rs: str) -> str:
    return f"{vs}|{rs}"


class StateWriteError(Exception):
    """The state file or the audit log could not be written; names which and why."""

    def __init__(self, path: str, exc: OSError, what: str = "operator state"):
        self.path = path
        self.errno = exc.errno
        self.reason = exc.strerror or str(exc)
        code = errno.errorcode.get(exc.errno or 0, "")
        super().__init__(f"cannot write the {what} to {path}: {self.reason}" + (f" ({code})" if code else ""))


class StateReadError(Exception):
    """The state file exists but cannot be read (not a parse error: I/O, permissions)."""


class StateStore:
    def __init__(self, state_dir: str):
        self.dir = state_dir
        self.path = os.path.join(state_dir, "state.json")
        self.audit_path = os.path.join(state_dir, "audit.log")
        self.problem: str | None = None     # why changes will fail, found at start (shown as an event)
        try:
            os.makedirs(state_dir, mode=0o750, exist_ok=True)
        except OSError as exc:
            # No directory means no intent to restore: run, and refuse changes with the reason.
            self.problem = f"state directory {state_dir} cannot be created: {exc.strerror or exc}"
            log.error("%s; operator changes will be refused until it exists", self.problem)
        self.state = self._load()

    def _load(self) -> OperatorState:
        try:
            with open(self.path) as f:
                return OperatorState.from_dict(json.load(f))
        except (FileNotFoundError, NotADirectoryError):
            return OperatorState()
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            # A damaged state file must not stop the daemon; keep it for a human.
            bad = f"{self.path}.bad-{int(time.time())}"
            try:
                os.replace(self.path, bad)
                where = f"moved to {bad}"
            except OSError as mv:
                where = f"left in place ({bad} could not be made: {mv.strerror or mv})"
            log.error("state file %s unreadable (%s); %s, starting without operator overrides",
                      self.path, exc, where)
            return OperatorState()
        except OSError as exc:
            # Present but unreadable: starting without it could silently undo a drain.
            raise StateReadError(f"state file {self.path} cannot be read: {exc.strerror or exc}") from None

    def proposal(self) -> OperatorState:
        """A private copy of the current state for a change to edit before ``commit``."""
        return copy.deepcopy(self.state)

    def commit(self, new: OperatorState) -> None:
        """Persist ``new``, then make it current; on failure nothing changes."""
        self._write(new)
        self.state = new

    def save(self) -> None:
        """Write the current state again (it is already current)."""
        self._write(self.state)

    def _write(self, st: OperatorState) -> None:
        tmp = None
        try:
            fd, tmp = tempfile.mkstemp(dir=self.dir, prefix=".state-")
            with os.fdopen(fd, "w") as f:
                json.dump(st.to_dict(), f, indent=1, sort_keys=True)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
            tmp = None
        except OSError as exc:
            raise StateWriteError(self.path, exc) from None
        finally:
            if tmp is not None:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
        # the rename is durable once the directory is synced; the new file is
        # in place either way, so a failure here is worth a warning only
        try:
            dfd = os.open(self.dir, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        except OSError as exc:
            log.warning("state directory %s could not be synced after writing %s: %s",
                        self.dir, self.path, exc.strerror or exc)

    def audit(self, *, uid: int, who: str, op: str, args: dict[str, Any], ok: bool, result: str,
              **extra: Any) -> dict:
        """Append one entry; raises ``StateWriteError`` (with ``.entry``) when it cannot."""
        entry = {"time": time.time(), "uid": uid, "who": who, "op": op,
                 "args": {k: v for k, v in args.items() if k not in ("who", "id")},
                 "ok": ok, "result": result, **extra}
        line = json.dumps(entry, sort_keys=True, default=str) + "\n"
        try:
            # one write(2) on an O_APPEND descriptor: a line is never interleaved or half there
            fd = os.open(self.audit_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
            try:
                data = line.encode()
                start = os.fstat(fd).st_size
                if os.write(fd, data) != len(data):
                    os.ftruncate(fd, start)      # a partial line would spoil the next one too
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            finally:
                os.close(fd)
        except OSError as exc:
            err = StateWriteError(self.audit_path, exc, what="audit entry")
            err.entry = entry
            raise err from None
        return entry

    def audit_tail(self, n: int = 20) -> list[dict]:
        try:
            with open(self.audit_path) as f:
                lines = f.readlines()[-n:]
        except FileNotFoundError:
            return []
        out = []
        for line in lines:
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out
