"""``package_search`` as CKAN's Solr answers it, over the few published
datasets: ``q`` (free text and ``field:value`` terms, ``AND``/``OR``/``NOT``,
``+``/``-``, quotes, parentheses, ``[a TO b]`` ranges, ``*`` wildcards; terms
are ANDed, as CKAN sets ``q.op``), ``fq`` (the same syntax, no scoring),
``sort``, and facets. Text matches ignore case and Vietnamese diacritics.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import functools
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from lgsp_adapters.opendata.errors import SearchError, SearchQueryError, ValidationError

Doc = dict[str, list[str]]
TEXT_FIELDS = {
    "text",
    "title",
    "notes",
    "res_name",
    "res_description",
    "author",
    "maintainer",
    "title_en",
    "notes_en",
}
WEIGHTS = {"name": 4.0, "title": 4.0, "title_en": 4.0, "tags": 2.0, "groups": 2.0, "text": 1.0}
SORTABLE = {
    "score",
    "name",
    "title",
    "title_string",
    "metadata_modified",
    "metadata_created",
    "id",
    "num_resources",
    "num_tags",
    "license_id",
    "organization",
    "state",
}
DEFAULT_SORT = "score desc, metadata_modified desc"


def fold(text: str) -> str:
    """Lower case without diacritics (đ as d): how the index compares text."""
    decomposed = unicodedata.normalize("NFD", text.lower().replace("đ", "d"))
    return "".join(c for c in decomposed if unicodedata.category(c) != "Mn")


@functools.lru_cache(maxsize=1 << 16)
def words(text: str) -> tuple[str, ...]:
    """The folded words of a text (cached: the same cells are searched again
    and again)."""
    return tuple(re.findall(r"\w+", fold(text)))


def word_matches(token: str, word: str) -> bool:
    """Whether an indexed word matches a query word: the same, or the query
    word with a short ending (what Solr's English stemming allows:
    "dossier" finds "dossiers"; "dan" does not find "dang")."""
    return token == word or (
        len(word) >= 4 and token.startswith(word) and len(token) - len(word) <= 3
    )


def document(package: dict[str, Any]) -> Doc:
    """The Solr document CKAN would index for the package."""
    extras = {f"extras_{e['key']}": [str(e["value"])] for e in package.get("extras", [])}
    resources = package.get("resources", [])
    translated_title = package.get("title_translated") or {}
    translated_notes = package.get("notes_translated") or {}
    doc: Doc = {
        "id": [package["id"]],
        "name": [package["name"]],
        "title": [package.get("title") or ""],
        "title_string": [package.get("title") or ""],
        "title_en": [str(translated_title.get("en", ""))],
        "notes": [package.get("notes") or ""],
        "notes_en": [str(translated_notes.get("en", ""))],
        "tags": [t["name"] for t in package.get("tags", [])],
        "groups": [g["name"] for g in package.get("groups", [])],
        "organization": [package["organization"]["name"]] if package.get("organization") else [],
        "license_id": [package.get("license_id") or ""],
        "res_format": [r["format"] for r in resources],
        "res_name": [r["name"] for r in resources],
        "res_description": [r["description"] for r in resources],
        "res_url": [r["url"] for r in resources],
        "state": [package.get("state", "active")],
        "capacity": ["private" if package.get("private") else "public"],
        "dataset_type": [package.get("type", "dataset")],
        "entity_type": ["package"],
        "metadata_created": [package["metadata_created"]],
        "metadata_modified": [package["metadata_modified"]],
        "num_resources": [str(len(resources))],
        "num_tags": [str(len(package.get("tags", [])))],
        "author": [package.get("author") or ""],
        "maintainer": [package.get("maintainer") or ""],
        **extras,
    }
    group_titles = [g["title"] for g in package.get("groups", [])]
    org_title = [package["organization"]["title"]] if package.get("organization") else []
    doc["text"] = [
        *doc["name"],
        *doc["title"],
        *doc["title_en"],
        *doc["notes"],
        *doc["notes_en"],
        *doc["tags"],
        *group_titles,
        *org_title,
        *doc["res_name"],
        *doc["res_description"],
        *(v[0] for k, v in extras.items()),
    ]
    return doc


# -- the query language ---------------------------------------------------------


@dataclass(frozen=True)
class Term:
    field: str | None
    value: str
    kind: str  # "word", "phrase", "range"


@dataclass(frozen=True)
class Node:
    op: str  # "and", "or", "not"
    children: tuple[Node | Term, ...]


Query = Node | Term
TOKEN = re.compile(
    r'\s+|(?P<open>\()|(?P<close>\))|(?P<phrase>"(?:[^"\\]|\\.)*")|'
    r"(?P<fieldrange>[^\s()\":\\\[{]+:[\[{][^\]}]*[\]}])|"
    r"(?P<range>[\[{][^\]}]*[\]}])|(?P<sign>[+-](?=[^\s]))|(?P<word>(?:[^\s()\"\\]|\\.)+)"
)


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    position = 0
    while position < len(text):
        m = TOKEN.match(text, position)
        if m is None or m.end() == position:
            raise SearchError(f"Cannot parse '{text}': unexpected {text[position:][:20]!r}")
        position = m.end()
        if m.lastgroup is not None:
            out.append((m.lastgroup, m.group(m.lastgroup)))
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.at = 0

    def fail(self, why: str) -> SearchError:
        return SearchError(f"Cannot parse '{self.text}': {why}")

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise self.fail("unexpected end of the query")
        self.at += 1
        return token

    def parse(self) -> Query:
        if not self.tokens:
            return Node("and", ())
        query = self.disjunction(None)
        if self.peek() is not None:
            raise self.fail(f"unexpected {self.peek()[1]!r}")  # type: ignore[index]
        return query

    def disjunction(self, field: str | None) -> Query:
        parts = [self.conjunction(field)]
        while self.peek() == ("word", "OR"):
            self.take()
            parts.append(self.conjunction(field))
        return parts[0] if len(parts) == 1 else Node("or", tuple(parts))

    def conjunction(self, field: str | None) -> Query:
        parts = [self.unary(field)]
        while (token := self.peek()) is not None and token not in (("word", "OR"), ("close", ")")):
            if token == ("word", "AND"):
                self.take()
            parts.append(self.unary(field))
        return parts[0] if len(parts) == 1 else Node("and", tuple(parts))

    def unary(self, field: str | None) -> Query:
        token = self.peek()
        if token in (("sign", "-"), ("word", "NOT")):
            self.take()
            return Node("not", (self.unary(field),))
        if token == ("sign", "+"):
            self.take()
        return self.primary(field)

    def primary(self, field: str | None) -> Query:
        kind, value = self.take()
        if kind == "open":
            inner = self.disjunction(field)
            if self.take() != ("close", ")"):
                raise self.fail("')' expected")
            return inner
        if kind == "phrase":
            return Term(field, value[1:-1].replace('\\"', '"'), "phrase")
        if kind == "range":
            return Term(field, value, "range")
        if kind == "fieldrange":
            name, _, bounds = value.partition(":")
            return Term(name, bounds, "range")
        if kind != "word" or value in ("AND", "OR", "NOT"):
            raise self.fail(f"unexpected {value!r}")
        name, colon, rest = _split_field(value)
        if not colon:
            return Term(field, value.replace("\\", ""), "word")
        if field is not None and name != "*":
            raise self.fail(f"a field inside the field {field}")
        if not name:
            raise self.fail("a value without its field")
        if rest:
            return Term(name, rest.replace("\\", ""), "word")
        following = self.peek()
        if following is None or following[0] not in ("open", "phrase", "range", "word"):
            raise self.fail(f"no value for the field {name}")
        return self.primary(name)


def _split_field(word: str) -> tuple[str, bool, str]:
    m = re.match(r"^((?:[^:\\]|\\.)*):(.*)$", word)
    if m is None:
        return "", False, word
    return m[1], True, m[2]


def parse(text: str) -> Query:
    """The query tree of a ``q`` or ``fq``; :class:`SearchError` when it does
    not parse (as Solr answers CKAN)."""
    return _Parser(text).parse()


# -- matching and scoring -------------------------------------------------------------


def _range_bounds(value: str) -> tuple[str, str]:
    m = re.match(r"^[\[{]\s*(\S+)\s+TO\s+(\S+)\s*[\]}]$", value)
    if m is None:
        raise SearchError(f"Cannot parse range {value!r}")
    return m[1], m[2]


def _when(bound: str) -> str:
    m = re.match(r"^NOW(?:-(\d+)(DAY|DAYS|HOUR|HOURS|MONTH|MONTHS|YEAR|YEARS))?$", bound)
    if m is None:
        return bound.removesuffix("Z")
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    if m[1]:
        n, unit = int(m[1]), m[2].rstrip("S")
        days = {"DAY": 1, "HOUR": 1 / 24, "MONTH": 30, "YEAR": 365}[unit]
        now -= dt.timedelta(days=n * days)
    return now.isoformat()


def _compare_key(value: str) -> tuple[int, float, str]:
    try:
        return (0, float(value), "")
    except ValueError:
        return (1, 0.0, value)


def matches(doc: Doc, term: Term) -> float:
    """The term's score in the document: 0 when it does not match."""
    if term.field == "*" and term.value == "*":
        return 1.0
    fields = [term.field] if term.field is not None else list(WEIGHTS)
    score = 0.0
    for name in fields:
        values = doc.get(name, [])
        if not values:
            continue
        weight = WEIGHTS.get(name, 1.0) if term.field is None else 1.0
        hit = _hits(name, values, term)
        score += weight * hit
    return score


def _hits(name: str, values: list[str], term: Term) -> float:
    if term.kind == "range":
        low, high = (_when(b) if b != "*" else None for b in _range_bounds(term.value))
        return float(
            sum(
                1
                for v in values
                if (low is None or _compare_key(v) >= _compare_key(low))
                and (high is None or _compare_key(v) <= _compare_key(high))
            )
        )
    if term.value == "*":
        return float(any(values))
    if name in TEXT_FIELDS or name.startswith("extras_"):
        if term.kind == "phrase":
            wanted = " ".join(words(term.value))
            return float(sum(" ".join(words(v)).count(wanted) for v in values if wanted))
        pattern = fold(term.value)
        tokens = [t for v in values for t in words(v)]
        if "*" in pattern or "?" in pattern:
            return float(sum(1 for t in tokens if fnmatch.fnmatchcase(t, pattern)))
        wanted_words = words(term.value)
        if not wanted_words:
            return 0.0
        return float(min(sum(1 for t in tokens if word_matches(t, w)) for w in wanted_words))
    if "*" in term.value or "?" in term.value:
        return float(sum(1 for v in values if fnmatch.fnmatchcase(v, term.value)))
    return float(sum(1 for v in values if v == term.value))


def evaluate(query: Query, doc: Doc) -> float | None:
    """The document's score for the query, None when it does not match."""
    if isinstance(query, Term):
        score = matches(doc, query)
        return score if score > 0 else None
    if query.op == "not":
        return None if evaluate(query.children[0], doc) is not None else 0.0
    scores = [evaluate(child, doc) for child in query.children]
    if query.op == "and":
        return None if any(s is None for s in scores) else sum(s for s in scores if s)
    found = [s for s in scores if s is not None]
    return sum(found) if found else None


# -- sorting and facets ----------------------------------------------------------------


def parse_sort(sort: str) -> list[tuple[str, bool]]:
    """``"field dir, ..."`` as (field, descending) pairs."""
    keys: list[tuple[str, bool]] = []
    for part in sort.split(","):
        bits = part.split()
        if not bits:
            continue
        if len(bits) != 2 or bits[1].lower() not in ("asc", "desc"):
            raise SearchQueryError('Invalid "sort" parameter')
        if bits[0] not in SORTABLE:
            raise ValidationError({"sort": [f'Unknown sort field "{bits[0]}"']})
        keys.append((bits[0], bits[1].lower() == "desc"))
    return keys


def sort_key(field: str, package: dict[str, Any], score: float) -> Any:
    if field == "score":
        return score
    if field in ("num_resources", "num_tags"):
        return int(package.get(field) or 0)
    if field == "organization":
        return package["organization"]["name"]
    if field == "title_string":
        return fold(package.get("title") or "")
    if field == "title":
        return fold(package.get("title") or "")
    return str(package.get(field) or "")


def ordered(
    found: Sequence[tuple[dict[str, Any], float]], keys: Iterable[tuple[str, bool]]
) -> list[tuple[dict[str, Any], float]]:
    result = sorted(found, key=lambda item: item[0]["name"])
    for field, descending in reversed(list(keys)):

        def key(item: tuple[dict[str, Any], float], f: str = field) -> Any:
            return sort_key(f, *item)

        result.sort(key=key, reverse=descending)
    return result


def facet_counts(
    docs: Iterable[Doc], fields: Sequence[str], limit: int, mincount: int
) -> dict[str, dict[str, int]]:
    facets: dict[str, dict[str, int]] = {}
    all_docs = list(docs)
    for name in fields:
        counts = Counter(v for d in all_docs for v in set(d.get(name, [])) if v)
        items = [(v, n) for v, n in counts.most_common() if n >= mincount]
        items.sort(key=lambda item: (-item[1], item[0]))
        facets[name] = dict(items if limit < 0 else items[:limit])
    return facets


def search_facets(
    facets: dict[str, dict[str, int]], titles: Callable[[str, str], str]
) -> dict[str, dict[str, Any]]:
    """CKAN's ``search_facets``: items sorted by display name, descending."""
    return {
        name: {
            "title": name,
            "items": sorted(
                (
                    {"name": v, "display_name": titles(name, v), "count": n}
                    for v, n in values.items()
                ),
                key=lambda item: item["display_name"],
                reverse=True,
            ),
        }
        for name, values in facets.items()
    }
