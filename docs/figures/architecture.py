"""Draw docs/figures/architecture.svg: the rooms of ``lgsp/`` in the layers
the import-linter contract of pyproject.toml declares, with every import
between rooms as an arrow, measured from the code (grimp, the graph library
under import-linter).

    python docs/figures/architecture.py            # rewrite the SVG
    python docs/figures/architecture.py --check    # exit 1 if it is stale

The output is deterministic (sorted, no timestamps, no line counts), so a
test can tell a picture that no longer matches the code's structure: it
changes only when a room, a layer, an import between rooms or a room's
opening sentence does.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from dataclasses import dataclass
from html import escape
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "lgsp"
OUT = Path(__file__).with_suffix(".svg")
LAYERS_CONTRACT = "the bus in layers"

WIDTH = 1180
ROW_H = 92
GAP_Y = 30
MARGIN = 24
TOP = 64
# The rooms one exchange goes through, in order.
STEPS = {"gateway": "1", "envelope": "2", "transport": "3", "adapter": "4"}
PATH_COLOUR = "#1f6feb"
EDGE_COLOUR = "#8c959f"


@dataclass(frozen=True)
class Room:
    """A folder or root module of lgsp/, as the picture shows it."""

    name: str
    summary: str
    package: bool


def layers() -> list[list[str]]:
    """The layers contract of pyproject.toml, top first."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    for contract in config["tool"]["importlinter"]["contracts"]:
        if contract["name"].startswith(LAYERS_CONTRACT):
            return [[n.strip() for n in line.split("|")] for line in contract["layers"]]
    raise LookupError(f"no import-linter contract named {LAYERS_CONTRACT!r}")


def room(name: str) -> Room:
    path = PACKAGE / name
    opening = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    doc = ast.get_docstring(ast.parse(opening.read_text(encoding="utf-8"))) or ""
    first = re.split(r"(?<=[.;])\s", " ".join(doc.split()), maxsplit=1)[0]
    # reStructuredText roles and literals read as plain words in a picture.
    summary = re.sub(r":\w+:`~?([^`]+)`", r"\1", first.rstrip(".;")).replace("``", "")
    return Room(name, summary, path.is_dir())


def imports() -> set[tuple[str, str]]:
    """(importer, imported) between rooms: every direct import that crosses one."""
    graph = grimp.build_graph("lgsp")
    found: set[tuple[str, str]] = set()
    for module in graph.modules:
        parts = module.split(".")
        if len(parts) < 2:
            continue  # lgsp/__init__.py: the public face re-exports, it is no room
        for imported in graph.find_modules_directly_imported_by(module):
            target = imported.split(".")
            if target[0] == "lgsp" and len(target) > 1 and target[1] != parts[1]:
                found.add((parts[1], target[1]))
    return found


def wrap(text: str, width: int, most: int = 2) -> list[str]:
    out: list[str] = []
    line = ""
    for word in text.split():
        if len(line) + len(word) + 1 > width and line:
            out.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    if line:
        out.append(line)
    if len(out) > most:
        out = [*out[: most - 1], out[most - 1] + " …"]
    return out


def text(x: float, y: float, kind: str, content: str) -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" class="{kind}">{escape(content)}</text>'


def draw() -> str:
    rows = layers()
    edges = imports()
    parts: list[str] = []
    height = TOP + len(rows) * (ROW_H + GAP_Y) - GAP_Y + 70
    for i, row in enumerate(rows):
        y = TOP + i * (ROW_H + GAP_Y)
        gap = 14
        w = (WIDTH - 2 * MARGIN - gap * (len(row) - 1)) / len(row)
        for j, name in enumerate(row):
            x = MARGIN + j * (w + gap)
            r = room(name)
            step = STEPS.get(name)
            label = f"{name}/" if r.package else f"{name}.py"
            stroke = f'stroke="{PATH_COLOUR}" stroke-width="2.5"' if step else 'stroke="#57606a"'
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{ROW_H}" rx="6" '
                f'fill="#f6f8fa" {stroke}/>'
            )
            title = f"{step} {label}" if step else label
            parts.append(text(x + 10, y + 21, "name", title))
            chars = int(w / 6.3)
            text_y = y + 40
            for line in wrap(r.summary, chars):
                parts.append(text(x + 10, text_y, "doc", line))
                text_y += 14
            uses = sorted(b for a, b in edges if a == name)
            below = "imports " + (", ".join(uses) if uses else "nothing of lgsp")
            for line in wrap(below, chars, most=2):
                parts.append(text(x + 10, text_y + 4, "uses", line))
                text_y += 14
        if i + 1 < len(rows):
            arrow_y = y + ROW_H + 8
            mid = WIDTH / 2
            parts.append(
                f'<path d="M{mid - 7:.1f},{arrow_y:.1f} h14 l-7,{GAP_Y - 16} z" '
                f'fill="{EDGE_COLOUR}"/>'
            )
    legend_y = height - 30
    return "\n".join(
        [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
            f'viewBox="0 0 {WIDTH} {height}" font-family="DejaVu Sans, Arial, sans-serif">',
            "<defs>",
            "<style>.name{font-size:15px;font-weight:bold;fill:#24292f}"
            ".doc{font-size:11.5px;fill:#424a53}"
            ".uses{font-size:11px;fill:#6e7781;font-style:italic}"
            ".title{font-size:18px;font-weight:bold;fill:#24292f}"
            ".legend{font-size:12.5px;fill:#424a53}</style>",
            "</defs>",
            f'<rect width="{WIDTH}" height="{height}" fill="#ffffff"/>',
            f'<text x="{MARGIN}" y="36" class="title">lgsp/: each room imports only rooms '
            "below it; rooms side by side never import each other</text>",
            *parts,
            f'<rect x="{MARGIN}" y="{legend_y - 11}" width="28" height="16" rx="3" fill="#f6f8fa" '
            f'stroke="{PATH_COLOUR}" stroke-width="2.5"/>',
            f'<text x="{MARGIN + 38}" y="{legend_y + 2}" class="legend">one exchange, in order: '
            "1 the gateway builds the envelope (2) and hands it to the transport (3), "
            "which carries it to a provider: an adapter (4)</text>",
            f'<text x="{MARGIN}" y="{legend_y + 22}" class="legend">Generated from the code '
            "(the import graph and pyproject.toml's layers contract) by "
            "docs/figures/architecture.py; import-linter enforces the layers.</text>",
            "</svg>",
            "",
        ]
    )


def main() -> int:
    svg = draw()
    if "--check" in sys.argv[1:]:
        if not OUT.is_file() or OUT.read_text(encoding="utf-8") != svg:
            print(f"{OUT.name} is stale: run python docs/figures/architecture.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(svg, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
