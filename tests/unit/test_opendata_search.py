"""package_search's query language (the part of Solr's that CKAN users write)."""

from __future__ import annotations

import pytest

from lgsp_adapters.opendata.errors import SearchError, SearchQueryError, ValidationError
from lgsp_adapters.opendata.search import Node, Term, evaluate, fold, parse, parse_sort

DOC = {
    "name": ["dan-so"],
    "title": ["Dân số theo xã"],
    "tags": ["dân số", "population"],
    "groups": ["soci"],
    "organization": ["cong-an-tinh-dong-thap"],
    "res_format": ["CSV", "JSON"],
    "metadata_modified": ["2026-11-30T10:00:00.000000"],
    "text": ["Dân số theo xã", "population"],
}


def test_fold() -> None:
    assert fold("Đồng Tháp DÂN SỐ") == "dong thap dan so"


@pytest.mark.parametrize(
    ("query", "hit"),
    [
        ("dân số", True),
        ("dan so", True),
        ("tags:population", True),
        ('tags:"dân số"', True),
        ("groups:soci AND res_format:CSV", True),
        ("groups:(agri OR soci)", True),
        ("+groups:soci -res_format:XLS", True),
        ("-groups:soci", False),
        ("NOT groups:soci", False),
        ("groups:agri OR name:dan-so", True),
        ("organization:cong-an*", True),
        ("metadata_modified:[2026-11-01T00:00:00Z TO *]", True),
        ("metadata_modified:[* TO 2026-01-01T00:00:00Z]", False),
        ("*:*", True),
        ("dang", False),
        ("nosuchfield:x", False),
    ],
)
def test_matching(query: str, hit: bool) -> None:
    assert (evaluate(parse(query), DOC) is not None) is hit


def test_the_tree() -> None:
    assert parse("a OR b c") == Node(
        "or",
        (Term(None, "a", "word"), Node("and", (Term(None, "b", "word"), Term(None, "c", "word")))),
    )


@pytest.mark.parametrize("query", ['"open', "(a OR b", "a)", "groups:", ":x", "a AND", "OR"])
def test_unparsable(query: str) -> None:
    with pytest.raises(SearchError):
        parse(query)


def test_sort() -> None:
    assert parse_sort("score desc, metadata_modified desc") == [
        ("score", True),
        ("metadata_modified", True),
    ]
    with pytest.raises(SearchQueryError):
        parse_sort("name sideways")
    with pytest.raises(ValidationError):
        parse_sort("nosuchfield asc")
