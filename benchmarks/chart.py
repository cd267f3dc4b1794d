"""Draw the benchmark's chart from its results: throughput and p99 per path
(``benchmarks/results/latest.json`` and, when there, ``network.json``), as
an SVG that needs nothing to view.

    python -m benchmarks.chart                       # results/chart.svg
    python -m benchmarks.chart docs/figures/bench.svg

``make bench`` draws ``benchmarks/results/chart.svg`` after its runs; the
copy in docs/figures (the README's) is one run of this machine, redrawn
the same way.
"""

from __future__ import annotations

import json
import sys
from html import escape
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
OUT = RESULTS / "chart.svg"

ROW_H = 30
LABEL_W = 250
BAR_W = 420
P99_W = 300
TOP = 70
LGSP = "#1f6feb"
FLOOR = "#8c959f"
PEER = "#d4a72c"


def rows(
    latest: dict[str, Any], network: dict[str, Any] | None
) -> list[tuple[str, float, float, str]]:
    """(label, req/s, p99 ms, colour) per path, floors beside lgsp."""
    out = []
    for case, m in latest["cases"].items():
        colour = LGSP if case.startswith("lgsp") else PEER if case == "faststream" else FLOOR
        out.append((case, float(m["requests_per_second"]), float(m["latency_ms"]["p99"]), colour))
    if network is not None:
        for row, m in network["rows"].items():
            out.append((f"network: {row}", float(m["rps"]), float(m["p99_ms"]), LGSP))
    return out


def draw(latest: dict[str, Any], network: dict[str, Any] | None) -> str:
    data = rows(latest, network)
    top_rps = max(r[1] for r in data)
    top_p99 = max(r[2] for r in data)
    height = TOP + ROW_H * len(data) + 60
    width = LABEL_W + BAR_W + P99_W + 80
    host = latest.get("host", {})
    load = latest.get("load", {})
    parts = [
        f'<text x="16" y="26" font-size="16" font-weight="600">lgsp beside its floors, '
        f"{escape(str(load.get('connections')))} connections, one run</text>",
        f'<text x="16" y="46" font-size="12" fill="#57606a">'
        f"{escape(str(host.get('cpu_model') or host.get('platform')))}, "
        f"{host.get('cpus')} cores, {escape(str(latest.get('generated_at')))}</text>",
        f'<text x="{LABEL_W}" y="{TOP - 8}" font-size="12">requests per second</text>',
        f'<text x="{LABEL_W + BAR_W + 70}" y="{TOP - 8}" font-size="12">p99 latency (ms)</text>',
    ]
    for i, (label, rps, p99, colour) in enumerate(data):
        y = TOP + i * ROW_H
        w = BAR_W * rps / top_rps
        pw = (P99_W - 60) * p99 / top_p99
        parts += [
            f'<text x="{LABEL_W - 10}" y="{y + 18}" font-size="12" text-anchor="end">'
            f"{escape(label)}</text>",
            f'<rect x="{LABEL_W}" y="{y + 4}" width="{w:.1f}" height="{ROW_H - 10}" '
            f'fill="{colour}"/>',
            f'<text x="{LABEL_W + w + 4:.1f}" y="{y + 18}" font-size="11">{rps:,.0f}</text>',
            f'<rect x="{LABEL_W + BAR_W + 70}" y="{y + 4}" width="{pw:.1f}" '
            f'height="{ROW_H - 10}" fill="{colour}" opacity="0.6"/>',
            f'<text x="{LABEL_W + BAR_W + 74 + pw:.1f}" y="{y + 18}" font-size="11">'
            f"{p99:.1f}</text>",
        ]
    legend_y = TOP + ROW_H * len(data) + 30
    for j, (name, colour) in enumerate(
        (("lgsp", LGSP), ("floor (bare code)", FLOOR), ("peer (FastStream)", PEER))
    ):
        x = 16 + j * 180
        parts += [
            f'<rect x="{x}" y="{legend_y - 10}" width="12" height="12" fill="{colour}"/>',
            f'<text x="{x + 18}" y="{legend_y}" font-size="12">{name}</text>',
        ]
    return "\n".join(
        [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" font-family="sans-serif" fill="#24292f">',
            f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
            *parts,
            "</svg>",
            "",
        ]
    )


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else OUT
    latest = json.loads((RESULTS / "latest.json").read_text())
    network_file = RESULTS / "network.json"
    network = json.loads(network_file.read_text()) if network_file.exists() else None
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(draw(latest, network))
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
