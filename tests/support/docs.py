"""docs/integrators.md's code blocks, by language and by the file name of
their first line."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "integrators.md"
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
BLOCKS = [(m[1], m[2]) for m in BLOCK.finditer(DOC.read_text(encoding="utf-8"))]


def blocks(language: str) -> list[str]:
    return [text for lang, text in BLOCKS if lang == language]


def named(text: str) -> str:
    """A block's file name, from its first line (``# my_agency.py``)."""
    first = text.splitlines()[0]
    assert first.startswith("# "), f"block without a file name: {first!r}"
    return first[2:].strip()
