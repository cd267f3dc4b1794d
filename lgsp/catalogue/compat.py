"""The diff of two contracts exports (:mod:`lgsp.catalogue.export`): every
change from one to the other, and whether it breaks the clients built against
the old one.

Compatibility rules. Whether a change breaks depends on who holds the old
schema. Every schema change is first classified by what it does to the set
of documents the schema allows:

- *wider*: every old document is still valid, and more (a field became
  optional or nullable, an enum gained a value, a minimum was lowered, a
  pattern or format was dropped, a type was widened, e.g. integer -> number);
- *narrower*: only some old documents are still valid (a new required field,
  a field became required, an enum lost a value, a bound tightened, a pattern
  or format appeared);
- *changed*: neither (a field removed, a field retyped, a pattern, format or
  ``multipleOf`` changed, an enum both lost and gained values): breaks both
  directions;
- *extended*: a new optional field;
- *annotation*: descriptions, titles, defaults, examples: no effect on what
  is valid.

Then, by direction:

- a **request** schema is what clients send: a *narrower* or *changed*
  request breaks (clients sending what used to be valid get 422; contracts
  forbid unknown fields, so a removed field breaks too); *wider* and
  *extended* do not.
- a **response** schema is what clients receive: a *wider* or *changed*
  response breaks (a field clients relied on may now be absent or null, or
  hold a value or type they do not know); *narrower* does not, and neither
  does *extended*, on the tolerant-reader rule: clients ignore fields they do
  not know (a strict parser should not, so such changes are still listed).
  The declared domain errors are part of the response: a new error code or a
  changed status breaks, a dropped one does not.
- a **topic payload** is sent by publishers and received by subscribers:
  both rules apply, so anything but *extended* and *annotation* breaks.
- a removed service, topic or version breaks; a new one does not. Owner,
  description and example changes never break, but are listed.

``$ref``s are resolved into the ``$defs`` of the document that holds them,
so nested models are compared field by field (``diaChi.maXa``,
``danhSach[].soThuTuThua``).
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from lgsp.catalogue.documents import Document
from lgsp.catalogue.export import INDEX


class Direction(enum.Enum):
    """Who sends a schema's documents to whom."""

    REQUEST = "request"
    RESPONSE = "response"
    PAYLOAD = "payload"


class Effect(enum.Enum):
    """What a schema change does to the set of documents the schema allows
    (the module docstring defines each)."""

    WIDER = "wider"
    NARROWER = "narrower"
    CHANGED = "changed"
    EXTENDED = "extended"
    ANNOTATION = "annotation"


def _breaks(effect: Effect, direction: Direction) -> bool:
    if effect is Effect.CHANGED:
        return True
    if effect is Effect.WIDER:
        return direction is not Direction.REQUEST
    if effect is Effect.NARROWER:
        return direction is not Direction.RESPONSE
    return False


@dataclass(frozen=True)
class Change:
    """One difference between two exports."""

    kind: str  # "service" or "topic"
    name: str
    version: int
    part: str  # "request", "response", "payload", "errors" or "" (the version itself)
    message: str
    breaking: bool

    def __str__(self) -> str:
        label = "BREAKING" if self.breaking else "NON-BREAKING"
        part = f" {self.part}" if self.part else ""
        return f"{label} {self.name} v{self.version}{part}: {self.message}"

    def as_json(self) -> Document:
        return {
            "breaking": self.breaking,
            "kind": self.kind,
            "name": self.name,
            "version": self.version,
            "part": self.part,
            "message": self.message,
        }


def diff_exports(old: Mapping[str, Document], new: Mapping[str, Document]) -> list[Change]:
    """Every change from the ``old`` export to the ``new`` one (as
    :func:`~lgsp.catalogue.export.load_export` or
    :func:`~lgsp.catalogue.export.export_documents` give them), by contract
    then version."""
    old_by_key = _by_key(old)
    new_by_key = _by_key(new)
    old_names = {(kind, name) for kind, name, _ in old_by_key}
    new_names = {(kind, name) for kind, name, _ in new_by_key}
    changes: list[Change] = []
    for key in sorted(old_by_key.keys() | new_by_key.keys()):
        kind, name, version = key
        before, after = old_by_key.get(key), new_by_key.get(key)
        if after is None:
            gone = "the whole " + kind if (kind, name) not in new_names else "version"
            changes.append(Change(kind, name, version, "", f"{gone} removed", True))
        elif before is None:
            what = "new version" if (kind, name) in old_names else f"new {kind}"
            changes.append(Change(kind, name, version, "", what, False))
        else:
            changes += _diff_version(kind, name, version, before, after)
    return changes


def _by_key(documents: Mapping[str, Document]) -> dict[tuple[str, str, int], Document]:
    keyed: dict[tuple[str, str, int], Document] = {}
    for path, document in documents.items():
        if path == INDEX:
            continue
        kind = "service" if "service" in document else "topic"
        keyed[(kind, str(document[kind]), int(document["version"]))] = document
    return keyed


def _diff_version(kind: str, name: str, version: int, old: Document, new: Document) -> list[Change]:
    changes: list[Change] = []

    def note(part: str, message: str, breaking: bool = False) -> None:
        changes.append(Change(kind, name, version, part, message, breaking))

    for key in ("owner", "description"):
        if old.get(key) != new.get(key):
            note("", f"{key} changed")
    parts = (
        [("request_schema", Direction.REQUEST), ("response_schema", Direction.RESPONSE)]
        if kind == "service"
        else [("payload_schema", Direction.PAYLOAD)]
    )
    for key, direction in parts:
        for path, message, effect in compare_schemas(old.get(key, {}), new.get(key, {})):
            where = f"field '{path}'" if path else "schema"
            note(direction.value, f"{where} {message}", _breaks(effect, direction))
    if kind == "service":
        changes += [
            Change(kind, name, version, "errors", message, breaking)
            for message, breaking in _diff_errors(old.get("errors", []), new.get("errors", []))
        ]
    if old.get("examples") != new.get("examples"):
        note("", "examples changed")
    return changes


def _diff_errors(old: list[Document], new: list[Document]) -> Iterator[tuple[str, bool]]:
    before = {str(e["code"]): e for e in old}
    after = {str(e["code"]): e for e in new}
    for code in sorted(before.keys() | after.keys()):
        b, a = before.get(code), after.get(code)
        if a is None:
            yield f"error '{code}' no longer declared", False
        elif b is None:
            yield f"new error '{code}' ({a['status']}): clients may not handle it", True
        elif b["status"] != a["status"]:
            yield f"error '{code}' status changed {b['status']} -> {a['status']}", True
        elif b.get("title") != a.get("title"):
            yield f"error '{code}' title changed", False


# --- schema comparison ------------------------------------------------------

_ANNOTATIONS = ("title", "description", "default", "examples", "deprecated")
_LOWER_BOUNDS = ("minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties")
_UPPER_BOUNDS = ("maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties")
_RULES = ("pattern", "format", "multipleOf")
_HANDLED = frozenset(
    {
        *_ANNOTATIONS,
        *_LOWER_BOUNDS,
        *_UPPER_BOUNDS,
        *_RULES,
        "type",
        "enum",
        "const",
        "properties",
        "required",
        "additionalProperties",
        "items",
        "uniqueItems",
        "anyOf",
        "oneOf",
        "allOf",
        "$ref",
        "$defs",
        "definitions",
    }
)


@dataclass
class _Context:
    old_root: Document
    new_root: Document
    findings: list[tuple[str, str, Effect]] = field(default_factory=list)
    # (old $ref, new $ref) pairs being compared: a recursive model stops here.
    active: set[tuple[str, str]] = field(default_factory=set)

    def add(self, path: str, message: str, effect: Effect) -> None:
        self.findings.append((path, message, effect))


def compare_schemas(old: Document, new: Document) -> list[tuple[str, str, Effect]]:
    """What changed from ``old`` to ``new`` (two whole JSON Schemas, each with
    its own ``$defs``), as (field path, message, effect) findings."""
    ctx = _Context(old, new)
    _compare(old, new, "", ctx)
    return ctx.findings


def _compare(old: Document, new: Document, path: str, ctx: _Context) -> None:
    refs = (_refs(old), _refs(new))
    if any(refs):
        if refs in ctx.active:
            return
        ctx.active.add(refs)
    try:
        _compare_resolved(_resolve(old, ctx.old_root), _resolve(new, ctx.new_root), path, ctx)
    finally:
        ctx.active.discard(refs)


def _compare_resolved(old: Document, new: Document, path: str, ctx: _Context) -> None:
    old_nullable, old_branches = _split_null(old, ctx.old_root)
    new_nullable, new_branches = _split_null(new, ctx.new_root)
    if old_nullable != new_nullable:
        if new_nullable:
            ctx.add(path, "became nullable", Effect.WIDER)
        else:
            ctx.add(path, "no longer nullable", Effect.NARROWER)
    if len(old_branches) != 1 or len(new_branches) != 1:
        _compare_unions(old_branches, new_branches, path, ctx)
        return
    old, new = old_branches[0], new_branches[0]

    for key in _ANNOTATIONS:
        if (key in old, old.get(key)) != (key in new, new.get(key)):
            ctx.add(path, f"{key} changed", Effect.ANNOTATION)

    if not _compare_types(old, new, path, ctx):
        return  # a retyped value: what follows would only be noise
    _compare_values(old, new, path, ctx)
    for key in _LOWER_BOUNDS:
        _compare_bound(key, old.get(key), new.get(key), +1, path, ctx)
    for key in _UPPER_BOUNDS:
        _compare_bound(key, old.get(key), new.get(key), -1, path, ctx)
    for key in _RULES:
        before, after = old.get(key), new.get(key)
        if before == after:
            continue
        if before is None:
            ctx.add(path, f"{key} {after!r} added", Effect.NARROWER)
        elif after is None:
            ctx.add(path, f"{key} {before!r} removed", Effect.WIDER)
        else:
            ctx.add(path, f"{key} changed {before!r} -> {after!r}", Effect.CHANGED)
    if bool(old.get("uniqueItems")) != bool(new.get("uniqueItems")):
        effect = Effect.NARROWER if new.get("uniqueItems") else Effect.WIDER
        ctx.add(path, "uniqueItems changed", effect)
    _compare_object(old, new, path, ctx)
    if "items" in old or "items" in new:
        _compare(old.get("items", {}), new.get("items", {}), f"{path}[]", ctx)
    for key in sorted((old.keys() | new.keys()) - _HANDLED):
        if old.get(key) != new.get(key):
            # A keyword this diff does not understand: assume the worst.
            ctx.add(path, f"{key} changed", Effect.CHANGED)


def _refs(schema: Document) -> str:
    """The definitions ``schema`` points to, directly or as an alternative
    (``Node | None``): what a recursive model comes back through."""
    union = schema.get("anyOf", schema.get("oneOf", schema.get("allOf", [])))
    branches = [schema, *union] if isinstance(union, list) else [schema]
    return " ".join(str(b["$ref"]) for b in branches if isinstance(b, dict) and "$ref" in b)


def _resolve(schema: Document, root: Document) -> Document:
    """``schema`` with its ``$ref`` (or a one-element ``allOf``) replaced by
    the definition it points to; sibling keywords (a field's description)
    win over the definition's."""
    seen: set[str] = set()
    while True:
        if "$ref" in schema:
            ref = str(schema["$ref"])
            if ref in seen or not ref.startswith("#/"):
                return schema
            seen.add(ref)
            target: Any = root
            for part in ref[2:].split("/"):
                target = target.get(part.replace("~1", "/").replace("~0", "~"), {})
            rest = {k: v for k, v in schema.items() if k != "$ref"}
            schema = {**target, **rest}
        elif isinstance(schema.get("allOf"), list) and len(schema["allOf"]) == 1:
            rest = {k: v for k, v in schema.items() if k != "allOf"}
            schema = {**schema["allOf"][0], **rest}
        else:
            return schema


def _split_null(schema: Document, root: Document) -> tuple[bool, list[Document]]:
    """Whether ``schema`` allows null, and its non-null alternatives (one,
    unless it is a real union); pydantic writes ``X | None`` as ``anyOf``."""
    union = schema.get("anyOf", schema.get("oneOf"))
    if isinstance(union, list):
        outer = {k: v for k, v in schema.items() if k not in ("anyOf", "oneOf")}
        branches = [_resolve(b, root) for b in union]
        nullable = any(b.get("type") == "null" for b in branches)
        rest = [b for b in branches if b.get("type") != "null"]
        if len(rest) == 1:
            return nullable, [{**rest[0], **outer}]
        return nullable, rest
    types = schema.get("type")
    if isinstance(types, list) and "null" in types:
        remaining = [t for t in types if t != "null"]
        narrowed = {**schema, "type": remaining[0] if len(remaining) == 1 else remaining}
        return True, [narrowed]
    return False, [schema]


def _compare_unions(old: list[Document], new: list[Document], path: str, ctx: _Context) -> None:
    before = {_canonical(_inline(b, ctx.old_root)) for b in old}
    after = {_canonical(_inline(b, ctx.new_root)) for b in new}
    lost, gained = before - after, after - before
    if lost and gained:
        ctx.add(path, "union alternatives changed", Effect.CHANGED)
    elif lost:
        ctx.add(path, f"union lost {len(lost)} alternative(s)", Effect.NARROWER)
    elif gained:
        ctx.add(path, f"union gained {len(gained)} alternative(s)", Effect.WIDER)


def _inline(schema: Any, root: Document, depth: int = 0) -> Any:
    """``schema`` with every ``$ref`` inlined and annotations dropped, for
    comparing union alternatives as wholes (recursion is cut at a depth)."""
    if isinstance(schema, list):
        return [_inline(s, root, depth) for s in schema]
    if not isinstance(schema, dict) or depth > 20:
        return schema
    resolved = _resolve(schema, root)
    return {
        k: _inline(v, root, depth + 1)
        for k, v in resolved.items()
        if k not in _ANNOTATIONS and k not in ("$defs", "$ref")
    }


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _types(schema: Document) -> frozenset[str] | None:
    declared = schema.get("type")
    if declared is None:
        return None
    types = frozenset([declared] if isinstance(declared, str) else declared)
    # Every integer is a number: integer -> number widens, number -> integer narrows.
    return types | {"integer"} if "number" in types else types


def _type_name(schema: Document) -> str:
    declared = schema.get("type")
    if declared is None:
        return "any"
    return declared if isinstance(declared, str) else " | ".join(declared)


def _compare_types(old: Document, new: Document, path: str, ctx: _Context) -> bool:
    """Report a type change; False when the value was retyped."""
    before, after = _types(old), _types(new)
    if before == after:
        return True
    names = f"{_type_name(old)} -> {_type_name(new)}"
    if before is None or (after is not None and after < before):
        ctx.add(path, f"type narrowed {names}", Effect.NARROWER)
        return True
    if after is None or after > before:
        ctx.add(path, f"type widened {names}", Effect.WIDER)
        return True
    ctx.add(path, f"retyped {names}", Effect.CHANGED)
    return False


def _values(schema: Document) -> dict[str, Any] | None:
    if "const" in schema:
        return {_canonical(schema["const"]): schema["const"]}
    if isinstance(schema.get("enum"), list):
        return {_canonical(v): v for v in schema["enum"]}
    return None


def _compare_values(old: Document, new: Document, path: str, ctx: _Context) -> None:
    before, after = _values(old), _values(new)
    if before == after:
        return
    if before is None:
        ctx.add(path, "now restricted to a fixed set of values", Effect.NARROWER)
        return
    if after is None:
        ctx.add(path, "no longer restricted to a fixed set of values", Effect.WIDER)
        return
    lost = [before[k] for k in sorted(before.keys() - after.keys())]
    gained = [after[k] for k in sorted(after.keys() - before.keys())]
    if lost and gained:
        ctx.add(path, f"enum changed: removed {lost}, added {gained}", Effect.CHANGED)
    elif lost:
        ctx.add(path, f"enum narrowed: removed {lost}", Effect.NARROWER)
    else:
        ctx.add(path, f"enum widened: added {gained}", Effect.WIDER)


def _compare_bound(key: str, before: Any, after: Any, sign: int, path: str, ctx: _Context) -> None:
    """A lower (``sign`` +1) or upper (-1) bound: raising a lower bound or
    lowering an upper one narrows."""
    if before == after:
        return
    if before is None:
        ctx.add(path, f"{key} {after} added", Effect.NARROWER)
    elif after is None:
        ctx.add(path, f"{key} {before} removed", Effect.WIDER)
    else:
        tighter = (after - before) * sign > 0
        verb = "raised" if after > before else "lowered"
        effect = Effect.NARROWER if tighter else Effect.WIDER
        ctx.add(path, f"{key} {verb} {before} -> {after}", effect)


def _compare_object(old: Document, new: Document, path: str, ctx: _Context) -> None:
    old_props: dict[str, Document] = old.get("properties", {})
    new_props: dict[str, Document] = new.get("properties", {})
    old_required = set(old.get("required", []))
    new_required = set(new.get("required", []))
    prefix = f"{path}." if path else ""
    for name in old_props:
        if name not in new_props:
            ctx.add(f"{prefix}{name}", "removed", Effect.CHANGED)
    for name, schema in new_props.items():
        field_path = f"{prefix}{name}"
        if name not in old_props:
            if name in new_required:
                ctx.add(field_path, "added, required", Effect.NARROWER)
            else:
                ctx.add(field_path, "added, optional", Effect.EXTENDED)
            continue
        was, now = name in old_required, name in new_required
        if was and not now:
            ctx.add(field_path, "became optional", Effect.WIDER)
        elif now and not was:
            ctx.add(field_path, "became required", Effect.NARROWER)
        _compare(old_props[name], schema, field_path, ctx)
    # Absent additionalProperties allows unknown fields, as JSON Schema says.
    old_open = old.get("additionalProperties", True) is not False
    new_open = new.get("additionalProperties", True) is not False
    if old_open != new_open:
        if new_open:
            ctx.add(path, "now accepts unknown fields", Effect.WIDER)
        else:
            ctx.add(path, "now refuses unknown fields", Effect.NARROWER)
