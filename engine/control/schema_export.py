"""``control.schema``'s TypedDicts as a JSON Schema (draft 2020-12).

One source, two readers: Python code is checked against the TypedDicts,
anything else (a monitoring script, another language) against the JSON
Schema written from them into docs/schema/ (``write`` does it; ``vipdeck
generate-docs`` calls it, and a unit test fails when the file is stale).

``strict`` closes every object (``additionalProperties: false``): the
contract tests use it, so a producer that adds a field without declaring it
fails there.  The published file is open, as the compatibility rule says a
consumer must be: a later daemon of the same schema version may add fields.

An event is a union of one TypedDict per kind; it is written as
``if kind == K then EVENT_K`` so a validator names the kind's own problem
instead of "matches none of twelve".
"""

from __future__ import annotations

import json
import types
import typing
from pathlib import Path
from typing import Any, Literal, NotRequired, Required, Union, get_args, get_origin, get_type_hints

from vipdeck.engine.control import schema

DRAFT = "https://json-schema.org/draft/2020-12/schema"
TOP = ("Snapshot", "Event", "Request", "Reply", "StreamLine")
FILE = Path("docs") / "schema" / f"vipdeck-control-v{schema.SCHEMA_VERSION}.json"


def _is_typeddict(tp: Any) -> bool:
    return isinstance(tp, type) and typing.is_typeddict(tp)


class _Builder:
    def __init__(self, strict: bool):
        self.strict = strict
        self.defs: dict[str, dict] = {}

    def ref(self, tp: Any) -> dict:
        name = tp.__name__
        if name not in self.defs:
            self.defs[name] = {}              # placeholder: recursion and repeats stop here
            self.defs[name] = self.object(tp)
        return {"$ref": f"#/$defs/{name}"}

    def object(self, td: Any) -> dict:
        hints = get_type_hints(td, include_extras=True)
        props = {}
        for key, tp in hints.items():
            while get_origin(tp) in (NotRequired, Required):
                tp = get_args(tp)[0]
            props[key] = self.type(tp)
        out: dict[str, Any] = {"type": "object", "properties": props,
                               "required": sorted(td.__required_keys__)}
        if self.strict:
            out["additionalProperties"] = False
        doc = td.__doc__
        if doc and not doc.startswith(td.__name__ + "("):     # not the generated constructor text
            out["description"] = " ".join(doc.split())
        return out

    def type(self, tp: Any) -> dict:
        if tp is Any:
            return {}
        if tp is None or tp is type(None):
            return {"type": "null"}
        if tp is bool:
            return {"type": "boolean"}
        if tp is int:
            return {"type": "integer"}
        if tp is float:
            return {"type": "number"}
        if tp is str:
            return {"type": "string"}
        if _is_typeddict(tp):
            return self.ref(tp)
        origin, args = get_origin(tp), get_args(tp)
        if origin is Literal:
            return {"enum": list(args)}
        if origin in (Union, types.UnionType):
            return self.union(args)
        if origin is list:
            return {"type": "array", "items": self.type(args[0])}
        if origin is tuple:
            return {"type": "array", "prefixItems": [self.type(a) for a in args], "items": False,
                    "minItems": len(args)}
        if origin is dict:
            return {"type": "object", "additionalProperties": self.type(args[1])}
        raise TypeError(f"no JSON Schema for {tp!r}")

    def union(self, args: tuple) -> dict:
        if args and all(_is_typeddict(a) and _kind_of(a) for a in args):
            return self.tagged(args)
        literals = [a for a in args if get_origin(a) is Literal]
        if len(literals) == len(args):                  # Literal | Literal: one enum
            return {"enum": [v for a in literals for v in get_args(a)]}
        return {"anyOf": [self.type(a) for a in args]}

    def tagged(self, args: tuple) -> dict:
        kinds = [_kind_of(a) for a in args]
        return {"type": "object", "required": ["kind"], "properties": {"kind": {"enum": kinds}},
                "allOf": [{"if": {"properties": {"kind": {"const": k}}}, "then": self.ref(a)}
                          for k, a in zip(kinds, args)]}


def _kind_of(td: Any) -> str | None:
    tp = get_type_hints(td, include_extras=True).get("kind")
    args = get_args(tp) if get_origin(tp) is Literal else ()
    return args[0] if len(args) == 1 else None


_NAMED = {"Snapshot": schema.Snapshot, "Event": schema.Event, "Request": schema.Request,
          "Reply": schema.Reply, "StreamLine": schema.StreamLine}


def json_schema(strict: bool = False) -> dict:
    """Every top-level message (``TOP``) under ``$defs``; the root accepts any of them."""
    b = _Builder(strict)
    for name, tp in _NAMED.items():
        b.defs[name] = b.type(tp) if name in ("Event", "Request") else b.object(tp)
    return {
        "$schema": DRAFT,
        "$id": f"urn:vipdeck:control:v{schema.SCHEMA_VERSION}",
        "title": f"vipdeck control API, schema version {schema.SCHEMA_VERSION}",
        "description": "Snapshots (vipdeck status --json), events (vipdeck events --json, one per line) and "
                       "the control socket's requests and replies; see docs/json.md. Validate one message "
                       "with #/$defs/<Snapshot|Event|Request|Reply|StreamLine>.",
        "anyOf": [{"$ref": f"#/$defs/{n}"} for n in TOP],
        "$defs": dict(sorted(b.defs.items())),
    }


def for_type(name: str, strict: bool = False) -> dict:
    """A schema that validates one ``TOP`` message (or any other definition)."""
    full = json_schema(strict)
    return {"$schema": DRAFT, "$ref": f"#/$defs/{name}", "$defs": full["$defs"]}


def text() -> str:
    return json.dumps(json_schema(), indent=1, sort_keys=False) + "\n"


def write(root: Path) -> Path:
    path = root / FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text())
    return path
