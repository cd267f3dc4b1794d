"""``datastore_search`` as CKAN's DataStore (ckanext-datastore, PostgreSQL
backend, 2.10/2.11) answers it, over a published table."""

from __future__ import annotations

import contextlib
import json
import weakref
from collections import defaultdict
from typing import Any
from urllib.parse import urlencode

from lgsp_adapters.opendata.catalog import Table
from lgsp_adapters.opendata.errors import ValidationError
from lgsp_adapters.opendata.search import word_matches, words

ROWS_DEFAULT = 100
ROWS_MAX = 32000


def natural(data: dict[str, Any], key: str, default: int) -> int:
    """CKAN's natural_number_validator (after int_validator)."""
    value = data.get(key, default)
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        raise ValidationError({key: ["Invalid integer"]})
    try:
        number = int(value) if not isinstance(value, float) or value.is_integer() else None
    except (TypeError, ValueError):
        number = None
    if number is None:
        raise ValidationError({key: ["Invalid integer"]})
    if number < 0:
        raise ValidationError({key: ["Must be a natural number"]})
    return number


def _json_dict(data: dict[str, Any], key: str) -> dict[str, Any] | None:
    value = data.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise ValidationError({key: ["Cannot parse JSON"]}) from None
    if not isinstance(value, dict):
        raise ValidationError({key: ["Not a json object"]})
    return value


def _list(value: Any, key: str) -> list[str]:
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    raise ValidationError({key: ["Not a list"]})


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


class _Index:
    """A table's records by the text of each cell and by the words in it,
    built once per publication: a filter or a full-text query then looks
    rows up instead of testing every one."""

    def __init__(self, table: Table) -> None:
        self.by_value: dict[str, dict[str, set[int]]] = defaultdict(lambda: defaultdict(set))
        self.by_number: dict[str, dict[float, set[int]]] = defaultdict(lambda: defaultdict(set))
        self.by_word: dict[str, dict[str, set[int]]] = defaultdict(lambda: defaultdict(set))
        for i, record in enumerate(table.records):
            for column, value in record.items():
                if isinstance(value, int | float) and not isinstance(value, bool):
                    self.by_number[column][float(value)].add(i)
                else:
                    self.by_value[column][_text(value)].add(i)
                for token in words(_text(value)):
                    self.by_word[column][token].add(i)

    def equal(self, column: str, wanted: object) -> set[int]:
        """Rows whose cell equals ``wanted``: the same text, or for a
        number the same number (``"12"`` finds 12 and 12.0)."""
        found = set(self.by_value[column].get(_text(wanted), ()))
        with contextlib.suppress(ValueError):
            found |= self.by_number[column].get(float(str(wanted)), set())
        return found

    def text(self, columns: list[str], query: str) -> set[int] | None:
        """Rows holding every word of ``query`` in one of ``columns``; None
        for a query without words (it filters nothing)."""
        found: set[int] | None = None
        for word in words(query):
            rows: set[int] = set()
            for column in columns:
                for token, where in self.by_word[column].items():
                    if word_matches(token, word):
                        rows |= where
            found = rows if found is None else found & rows
        return found


_INDEXES: weakref.WeakKeyDictionary[Table, _Index] = weakref.WeakKeyDictionary()


def _index(table: Table) -> _Index:
    index = _INDEXES.get(table)
    if index is None:
        index = _INDEXES[table] = _Index(table)
    return index


def search(table: Table, data: dict[str, Any], *, resource_id: str) -> dict[str, Any]:
    names = [f["id"] for f in table.fields]
    limit = min(natural(data, "limit", ROWS_DEFAULT), ROWS_MAX)
    offset = natural(data, "offset", 0)
    filters = _json_dict(data, "filters") or {}
    for name in filters:
        if name not in names:
            raise ValidationError({"filters": [f'invalid value "{name}"']})
    index = _index(table)
    matching: set[int] | None = None

    def narrow(rows: set[int] | None) -> None:
        nonlocal matching
        if rows is not None:
            matching = rows if matching is None else matching & rows

    for name, wanted in filters.items():
        options = wanted if isinstance(wanted, list) else [wanted]
        narrow(set().union(*(index.equal(name, o) for o in options)))
    q = data.get("q")
    if isinstance(q, str) and q.startswith("{"):
        # A JSON object in a string (as GET parameters carry it), else plain text.
        with contextlib.suppress(ValueError):
            q = json.loads(q)
    if isinstance(q, dict):
        for name, text in q.items():
            if name not in names:
                raise ValidationError({"q": [f'invalid value "{name}"']})
            narrow(index.text([name], str(text)))
    elif isinstance(q, str) and q.strip():
        narrow(index.text(names, q))
    elif q not in (None, ""):
        raise ValidationError({"q": ["Invalid query"]})
    # In table order, as the DataStore answers without a sort.
    records = (
        table.records if matching is None else [table.records[i] for i in sorted(matching)]
    )
    sort = data.get("sort")
    if sort:
        for part in reversed(_list(sort, "sort")):
            bits = part.split()
            if (
                bits[0].strip('"') not in names
                or len(bits) > 2
                or (len(bits) == 2 and bits[1].lower() not in ("asc", "desc"))
            ):
                raise ValidationError({"sort": [f'field "{bits[0]}" not in table']})
            column = bits[0].strip('"')
            descending = len(bits) == 2 and bits[1].lower() == "desc"
            present = [r for r in records if r.get(column) is not None]
            empty = [r for r in records if r.get(column) is None]
            present.sort(key=lambda r, c=column: r[c], reverse=descending)  # type: ignore[misc]
            records = present + empty  # PostgreSQL: NULLS LAST ascending, FIRST descending
            if descending:
                records = empty + present
    fields = table.fields
    if data.get("fields"):
        chosen = _list(data["fields"], "fields")
        for name in chosen:
            if name not in names:
                raise ValidationError({"fields": [f'field "{name}" not in table']})
        fields = [f for f in table.fields if f["id"] in chosen]
    include_total = str(data.get("include_total", True)).lower() not in ("false", "0", "no")
    records_format = data.get("records_format", "objects")
    if records_format not in ("objects", "lists"):
        raise ValidationError({"records_format": ["Value must be one of: objects; lists"]})
    page = records[offset : offset + limit]
    ids = [f["id"] for f in fields]
    shaped: list[Any] = (
        [{k: r.get(k) for k in ids} for r in page]
        if records_format == "objects"
        else [[r.get(k) for k in ids] for r in page]
    )
    link = "/api/3/action/datastore_search"
    result: dict[str, Any] = {
        "include_total": include_total,
        "limit": limit,
        "offset": offset,
        "records_format": records_format,
        "resource_id": resource_id,
        "total_estimation_threshold": None,
        "records": shaped,
        "fields": fields,
        "_links": {
            "start": f"{link}?{urlencode({'resource_id': resource_id})}",
            "next": f"{link}?{urlencode({'offset': offset + limit, 'resource_id': resource_id})}",
        },
    }
    if filters:
        result["filters"] = filters
    if q:
        result["q"] = q
    if sort:
        result["sort"] = sort
    if include_total:
        result["total"] = len(records)
        result["total_was_estimated"] = False
    return result
