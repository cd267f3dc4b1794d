"""Exchange statistics for a period, per connected system and per service.

Computed from the exchange log's records as :func:`lgsp.observe.exchange_log.read` returns
them (the rows an export holds), so a report and an export of the same
period agree exactly. Rendered as CSV, JSON, or one self-contained printable
HTML page with SVG bar charts (no JavaScript, nothing fetched).
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from html import escape
from importlib.metadata import entry_points
from pathlib import Path
from typing import Protocol

from lgsp.observe.exchange_log import Row

BUSIEST = 3
"""How many of the busiest hours a report names."""


def hour_label(moment: datetime) -> str:
    """The hour a moment falls in, with its UTC offset: ``2026-11-23T15:00+07:00``."""
    return moment.strftime("%Y-%m-%dT%H:00") + offset(moment)


def offset(moment: datetime) -> str:
    """``+07:00``, or ``Z`` for UTC."""
    text = moment.strftime("%z")
    return "Z" if text in ("", "+0000") else f"{text[:3]}:{text[3:]}"


def p95(durations: list[float]) -> float | None:
    """95th percentile, nearest-rank (a duration that some exchange really
    took); None without any."""
    if not durations:
        return None
    ordered = sorted(durations)
    return ordered[math.ceil(0.95 * len(ordered)) - 1]


@dataclass
class Stats:
    """The exchanges of one connected system, one service, or all of them."""

    exchanges: int = 0
    successes: int = 0
    """Answered 2xx."""
    durations: list[float] = field(default_factory=list)
    hours: Counter[str] = field(default_factory=Counter)
    """Exchanges per hour, by the hour's start in the report's time zone
    (``2026-11-23T15:00+07:00``)."""
    hour_of_day: list[int] = field(default_factory=lambda: [0] * 24)
    """Exchanges per hour of the day (the report's time zone), 0 to 23."""

    def add(self, row: Mapping[str, object], tz: tzinfo = UTC) -> None:
        status, received, duration = row["status"], str(row["received"]), row["duration_ms"]
        self.exchanges += 1
        if isinstance(status, int) and 200 <= status < 300:
            self.successes += 1
        if isinstance(duration, int | float):
            self.durations.append(float(duration))
        local = datetime.fromisoformat(received).astimezone(tz)
        self.hours[hour_label(local)] += 1
        self.hour_of_day[local.hour] += 1

    @property
    def success_rate(self) -> float:
        return self.successes / self.exchanges if self.exchanges else 0.0

    @property
    def p95_ms(self) -> float | None:
        return p95(self.durations)

    def busiest(self) -> list[tuple[str, int]]:
        return sorted(self.hours.items(), key=lambda item: (-item[1], item[0]))[:BUSIEST]

    def as_json(self) -> dict[str, object]:
        return {
            "exchanges": self.exchanges,
            "successes": self.successes,
            "success_rate": round(self.success_rate, 4),
            "p95_ms": self.p95_ms,
            "busiest_hours": [{"hour": hour, "exchanges": n} for hour, n in self.busiest()],
            "hour_of_day": self.hour_of_day,
        }


@dataclass(frozen=True)
class Section:
    """A part of the report that a system beside the bus adds for the same
    period (entry point group ``lgsp.report_sections``: a callable taking
    the data folder, the period's start and end, and returning a Section or
    None when it has nothing), e.g. the warehouse's citizens' satisfaction.
    Counts and averages only: a report is handed around."""

    title: str
    description: str
    columns: list[str]
    rows: list[list[object]]


class SectionSource(Protocol):
    """What an ``lgsp.report_sections`` entry point names."""

    def __call__(
        self, data_dir: Path, start: datetime | None, end: datetime | None
    ) -> Section | None: ...


SECTION_GROUP = "lgsp.report_sections"


def plugged_sections(data_dir: Path, start: datetime | None, end: datetime | None) -> list[Section]:
    """The sections every installed ``lgsp.report_sections`` entry point
    adds for the period, in the order of their names."""
    found = sorted(entry_points(group=SECTION_GROUP), key=lambda e: e.name)
    sources: list[SectionSource] = [ep.load() for ep in found]
    return [s for s in (source(data_dir, start, end) for source in sources) if s is not None]


@dataclass
class Report:
    """A period's statistics: overall, per client and per service or topic,
    and the sections plugged-in systems add."""

    start: datetime | None
    end: datetime | None
    """Exclusive."""
    tz: tzinfo = UTC
    """Hours and the period are told in this time zone."""
    total: Stats = field(default_factory=Stats)
    clients: dict[str, Stats] = field(default_factory=dict)
    services: dict[str, Stats] = field(default_factory=dict)
    sections: list[Section] = field(default_factory=list)

    @classmethod
    def build(
        cls, rows: Iterable[Row], start: datetime | None, end: datetime | None, tz: tzinfo = UTC
    ) -> Report:
        report = cls(start, end, tz)
        for row in rows:
            report.total.add(row, tz)
            report.clients.setdefault(str(row["client"]), Stats()).add(row, tz)
            report.services.setdefault(str(row["name"]), Stats()).add(row, tz)
        return report

    @property
    def zone(self) -> str:
        """How the report names its time zone, e.g. ``UTC+07:00``."""
        named = offset(datetime.now(self.tz))
        return "UTC" if named == "Z" else f"UTC{named}"

    def scopes(self) -> Iterable[tuple[str, str, Stats]]:
        """(scope, name, stats): the total, then clients, then services, by name."""
        yield "total", "all", self.total
        for name in sorted(self.clients):
            yield "client", name, self.clients[name]
        for name in sorted(self.services):
            yield "service", name, self.services[name]

    @property
    def period(self) -> str:
        def moment(value: datetime | None, missing: str) -> str:
            if value is None:
                return missing
            return value.astimezone(self.tz).strftime("%Y-%m-%d %H:%M ") + self.zone

        return f"from {moment(self.start, 'the first record')} up to {moment(self.end, 'now')}"


def to_json(report: Report) -> str:
    return json.dumps(
        {
            "from": report.start.isoformat() if report.start else None,
            "to": report.end.isoformat() if report.end else None,
            "total": report.total.as_json(),
            "clients": {name: report.clients[name].as_json() for name in sorted(report.clients)},
            "services": {name: report.services[name].as_json() for name in sorted(report.services)},
            "sections": [
                {
                    "title": section.title,
                    "description": section.description,
                    "columns": section.columns,
                    "rows": section.rows,
                }
                for section in report.sections
            ],
        },
        ensure_ascii=False,
        indent=2,
    )


def to_csv(report: Report) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        ["scope", "name", "exchanges", "successes", "success_rate", "p95_ms", "busiest_hours"]
    )
    for scope, name, stats in report.scopes():
        writer.writerow(
            [
                scope,
                name,
                stats.exchanges,
                stats.successes,
                f"{stats.success_rate:.4f}",
                "" if stats.p95_ms is None else stats.p95_ms,
                " ".join(f"{hour}={n}" for hour, n in stats.busiest()),
            ]
        )
    return out.getvalue()


# -- HTML ---------------------------------------------------------------------

_CSS = """
body { font: 14px/1.4 system-ui, sans-serif; color: #1d2330; margin: 2rem auto; max-width: 60rem; }
h1 { font-size: 1.5rem; margin-bottom: .2rem; } h2 { font-size: 1.15rem; margin-top: 2rem; }
.period { color: #5b6475; margin-top: 0; }
table { border-collapse: collapse; width: 100%; margin: .5rem 0 1rem; }
th, td { text-align: left; padding: .3rem .5rem; border-bottom: 1px solid #dde1e8; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
svg text { font: 11px system-ui, sans-serif; fill: #1d2330; }
.ok { fill: #2f8f5b; } .failed { fill: #c4443c; } .bar { fill: #3867b5; }
.legend span { display: inline-block; width: .8rem; height: .8rem; margin: 0 .3rem 0 1rem; }
@media print {
  body { margin: 0; max-width: none; font-size: 11px; }
  section { break-inside: avoid; }
  a { color: inherit; text-decoration: none; }
}
"""


def to_html(report: Report) -> str:
    title = "LGSP exchange report"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{title}</title><style>{_CSS}</style></head><body>",
        f"<h1>{title}</h1>",
        f'<p class="period">{escape(report.period)}</p>',
        _table("Overall", [("total", "all", report.total)]),
        f"<section><h2>Exchanges per hour of day ({report.zone})</h2>",
        _histogram(report.total.hour_of_day),
        "</section>",
        _section("Connected systems", "client", report.clients),
        _section("Services and topics", "service", report.services),
        *(_plugged(section) for section in report.sections),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def _section(title: str, scope: str, groups: dict[str, Stats]) -> str:
    names = sorted(groups)
    return "\n".join(
        [
            f"<section><h2>{escape(title)}</h2>",
            _stacked_bars(names, groups),
            '<p class="legend"><span style="background:#2f8f5b"></span>succeeded'
            '<span style="background:#c4443c"></span>failed</p>',
            _table("", [(scope, name, groups[name]) for name in names]),
            "</section>",
        ]
    )


def _plugged(section: Section) -> str:
    def cell(value: object) -> str:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return f"<td class=n>{value}</td>"
        return f"<td>{escape('' if value is None else str(value))}</td>"

    head = "".join(f"<th>{escape(c)}</th>" for c in section.columns)
    lines = [
        f"<section><h2>{escape(section.title)}</h2>",
        f"<p>{escape(section.description)}</p>",
        f"<table><tr>{head}</tr>",
        *("<tr>" + "".join(cell(v) for v in row) + "</tr>" for row in section.rows),
        "</table></section>",
    ]
    return "\n".join(lines)


def _table(title: str, rows: list[tuple[str, str, Stats]]) -> str:
    head = (
        "<tr><th>name</th><th class=n>exchanges</th><th class=n>successes</th>"
        "<th class=n>success rate</th><th class=n>p95 (ms)</th><th>busiest hours</th></tr>"
    )
    lines = [f"<section><h2>{escape(title)}</h2>" if title else "", "<table>", head]
    for scope, name, stats in rows:
        p95 = "-" if stats.p95_ms is None else str(stats.p95_ms)
        busiest = ", ".join(f"{hour} ({n})" for hour, n in stats.busiest())
        lines.append(
            f'<tr data-scope="{scope}" data-name="{escape(name)}"><td>{escape(name)}</td>'
            f'<td class=n data-field="exchanges">{stats.exchanges}</td>'
            f'<td class=n data-field="successes">{stats.successes}</td>'
            f'<td class=n data-field="success_rate">{stats.success_rate:.1%}</td>'
            f'<td class=n data-field="p95_ms">{p95}</td>'
            f"<td>{escape(busiest)}</td></tr>"
        )
    lines.append("</table>")
    if title:
        lines.append("</section>")
    return "\n".join(lines)


def _stacked_bars(names: list[str], groups: dict[str, Stats]) -> str:
    """Horizontal bars, one per name: successes, then failures."""
    label_w, bar_w, row_h = 220, 440, 22
    top = max((groups[n].exchanges for n in names), default=0) or 1
    height = row_h * len(names) + 4
    out = [
        f'<svg role="img" width="{label_w + bar_w + 60}" height="{height}" '
        f'viewBox="0 0 {label_w + bar_w + 60} {height}" xmlns="http://www.w3.org/2000/svg">'
    ]
    for i, name in enumerate(names):
        stats = groups[name]
        y = i * row_h + 2
        ok = bar_w * stats.successes / top
        failed = bar_w * (stats.exchanges - stats.successes) / top
        out += [
            f'<text x="{label_w - 6}" y="{y + 14}" text-anchor="end">{escape(name)}</text>',
            f'<rect class="ok" x="{label_w}" y="{y}" width="{ok:.1f}" height="{row_h - 6}"/>',
            f'<rect class="failed" x="{label_w + ok:.1f}" y="{y}" width="{failed:.1f}" '
            f'height="{row_h - 6}"/>',
            f'<text x="{label_w + ok + failed + 4:.1f}" y="{y + 14}">{stats.exchanges}</text>',
        ]
    out.append("</svg>")
    return "\n".join(out)


def _histogram(counts: list[int]) -> str:
    """Vertical bars for the 24 hours of the day."""
    bar_w, chart_h, base = 26, 140, 160
    top = max(counts) or 1
    out = [
        f'<svg role="img" width="{bar_w * 24 + 10}" height="{base + 20}" '
        f'viewBox="0 0 {bar_w * 24 + 10} {base + 20}" xmlns="http://www.w3.org/2000/svg">'
    ]
    for hour, n in enumerate(counts):
        h = chart_h * n / top
        x = 5 + hour * bar_w
        out.append(
            f'<rect class="bar" x="{x}" y="{base - h:.1f}" width="{bar_w - 4}" height="{h:.1f}">'
            f"<title>{hour:02d}:00 {n}</title></rect>"
        )
        middle = x + (bar_w - 4) / 2
        out.append(f'<text x="{middle}" y="{base + 14}" text-anchor="middle">{hour:02d}</text>')
        if n:
            out.append(f'<text x="{middle}" y="{base - h - 3:.1f}" text-anchor="middle">{n}</text>')
    out.append("</svg>")
    return "\n".join(out)


RENDERERS = {"csv": to_csv, "json": to_json, "html": to_html}
