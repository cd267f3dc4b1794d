from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from lgsp.catalogue.compat import Change, diff_exports
from lgsp.catalogue.documents import Document
from lgsp.catalogue.export import export_documents, render, write_export
from lgsp.catalogue.registry import Registry
from lgsp.cli import main

STR: Document = {"type": "string"}


def obj(props: dict[str, Document], required: tuple[str, ...] = (), **extra: Any) -> Document:
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": props,
        "required": list(required),
        **extra,
    }


def nullable(schema: Document) -> Document:
    return {"anyOf": [schema, {"type": "null"}], "default": None}


def service(request: Document, response: Document, **extra: Any) -> Document:
    return {
        "service": "land.parcel.lookup",
        "version": 1,
        "owner": "Sở",
        "description": "d",
        "request_schema": request,
        "response_schema": response,
        "errors": [],
        "examples": [],
        **extra,
    }


def topic(payload: Document) -> Document:
    return {
        "topic": "onestop.dossier.status-changed",
        "version": 1,
        "owner": "Sở",
        "description": "d",
        "payload_schema": payload,
        "examples": [],
    }


def changes(old: Document, new: Document) -> list[Change]:
    """The same schema pair as request, response and topic payload."""
    return diff_exports(
        {"s": service(old, old), "t": topic(old)}, {"s": service(new, new), "t": topic(new)}
    )


def breaks(found: list[Change], part: str) -> bool:
    return any(c.breaking for c in found if c.part == part)


A = obj({"a": STR}, ("a",))

# (old, new, message, request breaks, response breaks); a topic payload
# breaks when either does.
RULES: dict[str, tuple[Document, Document, str, bool, bool]] = {
    "new required field": (
        A,
        obj({"a": STR, "b": STR}, ("a", "b")),
        "field 'b' added, required",
        True,
        False,
    ),
    "new optional field": (
        A,
        obj({"a": STR, "b": STR}, ("a",)),
        "field 'b' added, optional",
        False,
        False,
    ),
    "removed field": (obj({"a": STR, "b": STR}, ("a",)), A, "field 'b' removed", True, True),
    "retyped": (
        A,
        obj({"a": {"type": "integer"}}, ("a",)),
        "field 'a' retyped string -> integer",
        True,
        True,
    ),
    "integer widened to number": (
        obj({"a": {"type": "integer"}}, ("a",)),
        obj({"a": {"type": "number"}}, ("a",)),
        "field 'a' type widened integer -> number",
        False,
        True,
    ),
    "became optional": (A, obj({"a": STR}), "field 'a' became optional", False, True),
    "became required": (obj({"a": STR}), A, "field 'a' became required", True, False),
    "became nullable": (
        A,
        obj({"a": nullable(STR)}, ("a",)),
        "field 'a' became nullable",
        False,
        True,
    ),
    "no longer nullable": (
        obj({"a": nullable(STR)}, ("a",)),
        A,
        "field 'a' no longer nullable",
        True,
        False,
    ),
    "enum narrowed": (
        obj({"a": {"type": "string", "enum": ["x", "y"]}}, ("a",)),
        obj({"a": {"type": "string", "enum": ["x"]}}, ("a",)),
        "field 'a' enum narrowed: removed ['y']",
        True,
        False,
    ),
    "enum widened": (
        obj({"a": {"type": "string", "enum": ["x"]}}, ("a",)),
        obj({"a": {"type": "string", "enum": ["x", "y"]}}, ("a",)),
        "field 'a' enum widened: added ['y']",
        False,
        True,
    ),
    "Literal const widened": (
        obj({"a": {"const": "x", "type": "string"}}, ("a",)),
        obj({"a": {"enum": ["x", "y"], "type": "string"}}, ("a",)),
        "enum widened",
        False,
        True,
    ),
    "enum changed": (
        obj({"a": {"type": "string", "enum": ["x"]}}, ("a",)),
        obj({"a": {"type": "string", "enum": ["y"]}}, ("a",)),
        "enum changed: removed ['x'], added ['y']",
        True,
        True,
    ),
    "pattern changed": (
        obj({"a": {"type": "string", "pattern": "^[0-9]{5}$"}}, ("a",)),
        obj({"a": {"type": "string", "pattern": "^[0-9]{4,5}$"}}, ("a",)),
        "field 'a' pattern changed",
        True,
        True,
    ),
    "pattern added": (
        A,
        obj({"a": {"type": "string", "pattern": "^x$"}}, ("a",)),
        "pattern '^x$' added",
        True,
        False,
    ),
    "pattern removed": (
        obj({"a": {"type": "string", "pattern": "^x$"}}, ("a",)),
        A,
        "pattern '^x$' removed",
        False,
        True,
    ),
    "format changed": (
        obj({"a": {"type": "string", "format": "date"}}, ("a",)),
        obj({"a": {"type": "string", "format": "date-time"}}, ("a",)),
        "format changed",
        True,
        True,
    ),
    "maxLength lowered": (
        obj({"a": {"type": "string", "maxLength": 10}}, ("a",)),
        obj({"a": {"type": "string", "maxLength": 5}}, ("a",)),
        "field 'a' maxLength lowered 10 -> 5",
        True,
        False,
    ),
    "maxLength raised": (
        obj({"a": {"type": "string", "maxLength": 5}}, ("a",)),
        obj({"a": {"type": "string", "maxLength": 10}}, ("a",)),
        "maxLength raised 5 -> 10",
        False,
        True,
    ),
    "minimum raised": (
        obj({"a": {"type": "integer", "minimum": 1}}, ("a",)),
        obj({"a": {"type": "integer", "minimum": 2}}, ("a",)),
        "minimum raised 1 -> 2",
        True,
        False,
    ),
    "minItems added": (
        obj({"a": {"type": "array", "items": STR}}, ("a",)),
        obj({"a": {"type": "array", "items": STR, "minItems": 1}}, ("a",)),
        "minItems 1 added",
        True,
        False,
    ),
    "unknown fields allowed": (
        A,
        {**A, "additionalProperties": True},
        "schema now accepts unknown fields",
        False,
        True,
    ),
    "description only": (
        obj({"a": {"type": "string", "description": "old"}}, ("a",)),
        obj({"a": {"type": "string", "description": "new"}}, ("a",)),
        "field 'a' description changed",
        False,
        False,
    ),
    "union gained an alternative": (
        obj({"a": {"anyOf": [STR, {"type": "integer"}]}}, ("a",)),
        obj({"a": {"anyOf": [STR, {"type": "integer"}, {"type": "boolean"}]}}, ("a",)),
        "union gained 1 alternative",
        False,
        True,
    ),
    "unknown keyword": (A, {**A, "minContains": 1}, "minContains changed", True, True),
}


@pytest.mark.parametrize(
    ("old", "new", "message", "request_breaks", "response_breaks"),
    list(RULES.values()),
    ids=list(RULES),
)
def test_rules_by_direction(
    old: Document, new: Document, message: str, request_breaks: bool, response_breaks: bool
) -> None:
    found = changes(old, new)
    for part in ("request", "response", "payload"):
        assert any(c.part == part and message in c.message for c in found), (part, found)
    assert breaks(found, "request") is request_breaks
    assert breaks(found, "response") is response_breaks
    assert breaks(found, "payload") is (request_breaks or response_breaks)


def test_identical_schemas_have_no_changes() -> None:
    assert changes(A, copy.deepcopy(A)) == []


DIA_CHI = obj({"maXa": {"type": "string", "pattern": "^[0-9]{5}$"}}, ("maXa",), title="DiaChi")


def with_address(address: Document, name: str = "DiaChi") -> Document:
    return obj(
        {
            "diaChi": {"$ref": f"#/$defs/{name}", "description": "where"},
            "lichSu": {"type": "array", "items": {"$ref": f"#/$defs/{name}"}},
        },
        ("diaChi", "lichSu"),
        **{"$defs": {name: address}},
    )


def test_refs_are_resolved_into_nested_fields() -> None:
    retyped = obj({"maXa": {"type": "integer"}}, ("maXa",), title="DiaChi")
    found = changes(with_address(DIA_CHI), with_address(retyped))
    request = [str(c) for c in found if c.part == "request"]
    assert request == [
        "BREAKING land.parcel.lookup v1 request: field 'diaChi.maXa' retyped string -> integer",
        "BREAKING land.parcel.lookup v1 request: field 'lichSu[].maXa' retyped string -> integer",
    ]


def test_a_renamed_model_with_the_same_fields_is_not_breaking() -> None:
    renamed = {**DIA_CHI, "title": "DiaChiMoi"}
    found = changes(with_address(DIA_CHI), with_address(renamed, "DiaChiMoi"))
    assert found
    assert not any(c.breaking for c in found)


def test_recursive_models_terminate() -> None:
    def tree(leaf: Document) -> Document:
        node = obj(
            {
                "leaf": leaf,
                "children": {"type": "array", "items": {"$ref": "#/$defs/N"}},
                "parent": nullable({"$ref": "#/$defs/N"}),
            }
        )
        return {"$ref": "#/$defs/N", "$defs": {"N": node}}

    found = changes(tree(STR), tree({"type": "integer"}))
    assert any("field 'leaf' retyped" in c.message for c in found)


def test_versions_services_and_metadata() -> None:
    v1 = service(A, A)
    v2 = {**service(A, A), "version": 2}
    other = {**service(A, A), "service": "land.certificate.lookup"}
    found = diff_exports({"1": v1, "o": other}, {"1": v1, "2": v2})
    assert [str(c) for c in found] == [
        "BREAKING land.certificate.lookup v1: the whole service removed",
        "NON-BREAKING land.parcel.lookup v2: new version",
    ]
    found = diff_exports({"1": v1, "2": v2}, {"1": v1})
    assert [str(c) for c in found] == ["BREAKING land.parcel.lookup v2: version removed"]
    edited = {**v1, "owner": "x", "description": "y", "examples": [{"title": "t"}]}
    found = diff_exports({"1": v1}, {"1": edited})
    assert [c.message for c in found] == [
        "owner changed",
        "description changed",
        "examples changed",
    ]
    assert not any(c.breaking for c in found)


def test_declared_errors_are_part_of_the_response() -> None:
    def with_errors(*errors: tuple[int, str]) -> Document:
        return service(A, A, errors=[{"status": s, "code": c, "title": c} for s, c in errors])

    old = with_errors((404, "land.parcel.not_found"), (409, "land.parcel.locked"))
    new = with_errors((410, "land.parcel.not_found"), (422, "land.parcel.invalid"))
    found = {c.message: c.breaking for c in diff_exports({"s": old}, {"s": new})}
    assert found == {
        "new error 'land.parcel.invalid' (422): clients may not handle it": True,
        "error 'land.parcel.locked' no longer declared": False,
        "error 'land.parcel.not_found' status changed 404 -> 410": True,
    }


def test_export_is_deterministic_and_readable(tmp_path: Path) -> None:
    registry = Registry.from_entry_points()
    documents = export_documents(registry)
    lookup = documents["services/land.parcel.lookup/v1.json"]
    assert set(lookup) == {
        "service", "version", "owner", "description",
        "request_schema", "response_schema", "errors", "examples",
    }  # fmt: skip
    assert lookup["request_schema"] == registry.schemas[("land.parcel.lookup", 1)][0]
    text = render(lookup).decode()
    assert text.endswith("}\n")
    assert "Đồng Tháp" in text  # UTF-8, not \u escapes
    assert text == json.dumps(json.loads(text), sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    index = documents["index.json"]
    assert {"service": "land.parcel.lookup", "version": 1, "owner": lookup["owner"],
            "path": "services/land.parcel.lookup/v1.json"} in index["services"]  # fmt: skip
    assert [t["topic"] for t in index["topics"]] == [
        "onestop.dossier.status-changed",
        "onestop.feedback.invited",
        "vnform.feedback.submitted",
    ]


def test_export_removes_stale_versions_only(tmp_path: Path) -> None:
    stale = tmp_path / "services" / "gone.service.lookup" / "v9.json"
    stale.parent.mkdir(parents=True)
    stale.write_text("{}", encoding="utf-8")
    (tmp_path / "README.md").write_text("kept", encoding="utf-8")
    result = write_export(Registry.from_entry_points(), tmp_path)
    assert result.removed == ("services/gone.service.lookup/v9.json",)
    assert not stale.parent.exists()
    assert (tmp_path / "README.md").exists()
    assert (tmp_path / "topics" / "onestop.dossier.status-changed" / "v1.json").is_file()


def test_cli_export_then_diff(tmp_path: Path) -> None:
    runner = CliRunner()
    old, new = tmp_path / "old", tmp_path / "new"
    for target in (old, new):
        result = runner.invoke(main, ["contracts", "export", str(target)])
        assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["contracts", "diff", str(old), str(new)])
    assert result.exit_code == 0
    assert "no changes" in result.output

    path = new / "services" / "land.parcel.lookup" / "v1.json"
    document = json.loads(path.read_text(encoding="utf-8"))
    document["request_schema"]["properties"]["maXa"]["type"] = "integer"
    path.write_bytes(render(document))
    result = runner.invoke(main, ["contracts", "diff", str(old), str(new)])
    assert result.exit_code == 1
    assert "BREAKING land.parcel.lookup v1 request: field 'maXa' retyped string -> integer" in (
        result.output
    )
    result = runner.invoke(main, ["contracts", "diff", "--format", "json", str(old), str(new)])
    assert result.exit_code == 1
    answer = json.loads(result.output)
    assert answer["breaking"] is True
    assert answer["changes"][0]["name"] == "land.parcel.lookup"


def test_cli_diff_refuses_a_directory_that_is_not_an_export(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["contracts", "diff", str(tmp_path), str(tmp_path)])
    assert result.exit_code == 2
    assert "not a contracts export" in result.output
