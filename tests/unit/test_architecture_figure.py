"""docs/figures/architecture.svg is the layout as the code has it: drawn
from the import graph and the layers contract, it must be redrawn when a
room, a layer, an import between rooms or a room's opening sentence
changes (``python docs/figures/architecture.py``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

FIGURE = Path(__file__).parents[2] / "docs" / "figures" / "architecture.py"


def test_the_architecture_figure_is_drawn_from_the_code_as_it_is() -> None:
    check = subprocess.run(
        [sys.executable, str(FIGURE), "--check"], capture_output=True, text=True, timeout=60
    )
    assert check.returncode == 0, check.stderr


def test_every_room_of_the_bus_is_in_a_layer() -> None:
    """A new package or root module of lgsp/ must find its place in the
    layers (and so in the picture), not stay outside the rule."""
    sys.path.insert(0, str(FIGURE.parent))
    try:
        import architecture  # type: ignore[import-not-found]
    finally:
        sys.path.pop(0)
    placed = {name for row in architecture.layers() for name in row}
    package = FIGURE.parents[2] / "lgsp"
    rooms = {
        p.stem if p.is_file() else p.name
        for p in package.iterdir()
        if (p.is_dir() and (p / "__init__.py").is_file())
        or (p.suffix == ".py" and p.name != "__init__.py")
    }
    assert rooms == placed
