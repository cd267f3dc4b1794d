"""docs/metrics.md's catalogue of metrics, as the tests read it."""

from __future__ import annotations

import re
from pathlib import Path

CATALOGUE = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"
ENTRY = re.compile(
    r"^### `(?P<name>[a-z_:]+)`\n- type: (?P<type>\w+)[^\n]*\n- labels: (?P<labels>[^\n]*)\n",
    re.MULTILINE,
)


def catalogue() -> dict[str, tuple[str, set[str]]]:
    """name -> (type, label names) as docs/metrics.md lists them."""
    text = CATALOGUE.read_text(encoding="utf-8")
    out: dict[str, tuple[str, set[str]]] = {}
    for m in ENTRY.finditer(text):
        # Label names are the backticked words outside parentheses.
        labels = re.sub(r"\([^)]*\)", "", m["labels"])
        out[m["name"]] = (m["type"], set(re.findall(r"`([a-z_]+)`", labels)))
    return out
