"""Draw docs/figures/network.svg: the demo network as ``lgsp up --provinces``
runs it, drawn from the code's own lists (the provinces and their ports,
the systems each LGSP runs, the national platform's parts), so the picture
follows the code.

    python docs/figures/network.py            # rewrite the SVG
    python docs/figures/network.py --check    # exit 1 if it is stale
"""

from __future__ import annotations

import sys
import tomllib
from html import escape
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = Path(__file__).with_suffix(".svg")
sys.path[:0] = [str(ROOT), str(ROOT / "adapters"), str(ROOT / "contracts")]

from lgsp_adapters.provinces import PROVINCES  # noqa: E402

WIDTH = 1120
BOX_W = 250
GAP = 22
FIRST_PORT = 8080
NDXP_PORT = 8090
OPENDATA_PORT = 8095
LINE = "#1f6feb"
NATIONAL = "#fff4d6"
PROVINCE = "#e8f1ff"


def _systems() -> list[str]:
    """What each province runs: the installed adapters and sidecars."""
    with (ROOT / "pyproject.toml").open("rb") as f:
        points = tomllib.load(f)["project"]["entry-points"]
    return sorted(points["lgsp.adapters"]) + sorted(points["lgsp.sidecars"])


def _text(x: float, y: float, text: str, *, size: int = 13, bold: bool = False) -> str:
    weight = ' font-weight="600"' if bold else ""
    return (
        f'<text x="{x:.0f}" y="{y:.0f}" font-size="{size}" text-anchor="middle"{weight}>'
        f"{escape(text)}</text>"
    )


def _box(x: float, y: float, w: float, h: float, fill: str) -> str:
    return (
        f'<rect x="{x:.0f}" y="{y:.0f}" width="{w:.0f}" height="{h:.0f}" rx="10" '
        f'fill="{fill}" stroke="#57606a"/>'
    )


def draw() -> str:
    provinces = sorted(PROVINCES.values(), key=lambda p: p.index)
    systems = _systems()
    parts: list[str] = []
    # The national platform: NDXP (exchange) with NDOP (tracing) and the
    # national databases behind it.
    nx, ny, nw, nh = 300, 20, 520, 150
    parts.append(_box(nx, ny, nw, nh, NATIONAL))
    parts.append(_text(nx + nw / 2, ny + 26, f"NDXP (simulated) 127.0.0.1:{NDXP_PORT}", bold=True))
    national = [
        "/lgsp/{province}/{service}: forwarding between provinces",
        "/dancu: national population database   /dvcqg: public service portal",
        "/ndop: NDOP, traces of every personal-data exchange",
        "/ndop/tracker: citizens see who used their data",
    ]
    for i, line in enumerate(national):
        parts.append(_text(nx + nw / 2, ny + 54 + 22 * i, line, size=12))
    top = 260
    height = 120 + 18 * len(systems)
    left = (WIDTH - len(provinces) * BOX_W - (len(provinces) - 1) * GAP) / 2
    for p in provinces:
        x = left + p.index * (BOX_W + GAP)
        parts.append(_box(x, top, BOX_W, height, PROVINCE))
        port = FIRST_PORT + p.index
        parts.append(_text(x + BOX_W / 2, top + 24, f"LGSP {p.name}", bold=True))
        parts.append(_text(x + BOX_W / 2, top + 44, f"gateway 127.0.0.1:{port}", size=12))
        parts.append(_text(x + BOX_W / 2, top + 62, f"clients {p.key}.*", size=12))
        for i, system in enumerate(systems):
            label = system
            if system == "opendata":
                label = f"opendata :{OPENDATA_PORT + p.index}"
            parts.append(_text(x + BOX_W / 2, top + 90 + 18 * i, label, size=12))
        parts.append(
            _text(x + BOX_W / 2, top + height - 14, "own keys, exchange log, data", size=11)
        )
        # Each LGSP reaches the others only through NDXP.
        cx = x + BOX_W / 2
        parts.append(
            f'<line x1="{cx:.0f}" y1="{top:.0f}" x2="{nx + nw / 2:.0f}" y2="{ny + nh:.0f}" '
            f'stroke="{LINE}" stroke-width="2" marker-end="url(#arrow)" '
            'marker-start="url(#arrow)"/>'
        )
    footer = (
        "One process (memory transport) or one RabbitMQ virtual host per province; "
        "provinces meet only through NDXP."
    )
    parts.append(_text(WIDTH / 2, top + height + 34, footer, size=12))
    total_h = top + height + 52
    return "\n".join(
        [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{total_h:.0f}" '
            f'viewBox="0 0 {WIDTH} {total_h:.0f}" font-family="sans-serif" fill="#24292f">',
            "<defs><marker id='arrow' viewBox='0 0 10 10' refX='9' refY='5' markerWidth='7' "
            f"markerHeight='7' orient='auto-start-reverse'><path d='M0,0 L10,5 L0,10 z' "
            f"fill='{LINE}'/></marker></defs>",
            f'<rect width="{WIDTH}" height="{total_h:.0f}" fill="#ffffff"/>',
            *parts,
            "</svg>",
            "",
        ]
    )


def main() -> int:
    svg = draw()
    if "--check" in sys.argv[1:]:
        if not OUT.exists() or OUT.read_text() != svg:
            print(f"{OUT.relative_to(ROOT)} is stale: run python docs/figures/network.py")
            return 1
        return 0
    OUT.write_text(svg)
    return 0


if __name__ == "__main__":
    sys.exit(main())
