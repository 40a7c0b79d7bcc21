"""Operator intent that survives restarts and reloads, and the audit trail.

Drain, holds, takeovers, weight overrides and real-server drains are the
operator's decisions, not the config's: they are written atomically (temp
file + rename + fsync) to ``<state_dir>/state.json`` before they take
effect, re-applied on start and after a reload, and cleared only
explicitly.  Each change request (granted or refused) is appended to
``<state_dir>/audit.log`` as one JSON line.
"""

from __future__ import annotations

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


class StateStore:
    def __init__(self, state_dir: str):
        self.dir = state_dir
        self.path = os.path.join(state_dir, "state.json")
        self.audit_path = os.path.join(state_dir, "audit.log")
        os.makedirs(state_dir, mode=0o750, exist_ok=True)
        self.state = self._load()

    def _load(self) -> OperatorState:
        try:
            with open(self.path) as f:
                return OperatorState.from_dict(json.load(f))
        except FileNotFoundError:
            return OperatorState()
        except (ValueError, TypeError, KeyError) as exc:
            # A damaged state file must not stop the daemon; keep it for a human.
            bad = f"{self.path}.bad-{int(time.time())}"
            os.replace(self.path, bad)
            log.error("state file %s unreadable (%s); moved to %s, starting without operator overrides",
                      self.path, exc, bad)
            return OperatorState()

    def save(self) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.dir, prefix=".state-")
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(self.state.to_dict(), f, indent=1, sort_keys=True)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise

    def audit(self, *, uid: int, who: str, op: str, args: dict[str, Any], ok: bool, result: str) -> dict:
        entry = {"time": time.time(), "uid": uid, "who": who, "op": op,
                 "args": {k: v for k, v in args.items() if k not in ("who", "id")},
                 "ok": ok, "result": result}
        with open(self.audit_path, "a") as f:
            f.write(json.dumps(entry, sort_keys=True) + "\n")
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
