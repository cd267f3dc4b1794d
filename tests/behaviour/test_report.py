"""``lgsp report``: its numbers agree with the exchange log, in every format."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import math
import shutil
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner

from lgsp.cli.audit import audit, report
from lgsp.observe.report import Report, Stats
from lgsp.testing import Bus
from tests.support.echo import echo_bus, registry

V1 = {"X-LGSP-Service-Version": "1"}


@dataclass(frozen=True)
class Call:
    client: str
    name: str
    status: int


async def _traffic(bus: Bus) -> list[Call]:
    """Several clients, services and a topic, with failures of several kinds;
    each call's status is checked as it is made."""
    made: list[Call] = []

    async def expect(call: Call, response: Any) -> None:
        assert response.status == call.status, await response.text()
        made.append(call)

    parcel = registry().service("land.parcel.lookup", None).examples[0].request
    for i in range(6):
        await expect(
            Call("test.all", "test.echo.call", 200),
            await bus.send("test.echo.call", {"text": str(i)}),
        )
    for mode, status in (("declared", 409), ("declared", 409), ("bad", 502)):
        r = await bus.send("test.echo.call", {"mode": mode, "text": "x"}, headers=V1)
        await expect(Call("test.all", "test.echo.call", status), r)
    for _ in range(3):
        r = await bus.send("land.parcel.lookup", parcel, client="test.none")
        await expect(Call("test.none", "land.parcel.lookup", 200), r)
    for _ in range(2):
        r = await bus.send("test.echo.call", {"text": "x"}, client="test.none")
        await expect(Call("test.none", "test.echo.call", 403), r)
    r = await bus.send("land.parcel.lookup", parcel, client="dongthap.viewer")
    await expect(Call("dongthap.viewer", "land.parcel.lookup", 200), r)
    r = await bus.send("population.citizen.lookup", {}, client="dongthap.viewer")
    await expect(Call("dongthap.viewer", "population.citizen.lookup", 403), r)
    token = await bus.token()
    for n in range(2):
        r = await bus.http.post(
            "/v1/events/test.ping.sent", json={"n": n}, headers={"Authorization": f"Bearer {token}"}
        )
        await expect(Call("test.all", "test.ping.sent", 202), r)
    # Unauthenticated: no client, and the service was never looked up.
    r = await bus.http.post("/v1/services/test.echo.call", json={"text": "x"})
    await expect(Call("-", "unknown", 401), r)
    return made


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Call]]:
    """A data dir whose log holds real traffic, and the calls that made it."""
    data_dir = tmp_path_factory.mktemp("report")

    async def drive() -> list[Call]:
        async with echo_bus("memory", data_dir=data_dir) as bus:
            return await _traffic(bus)

    return data_dir, asyncio.run(drive())


def _period() -> list[str]:
    today = datetime.now(UTC).date()
    return ["--from", str(today - timedelta(days=1)), "--to", str(today + timedelta(days=1))]


def _exported(data_dir: Path) -> list[dict[str, Any]]:
    result = CliRunner().invoke(
        audit, ["export", "--data-dir", str(data_dir), "--format", "json", *_period()]
    )
    assert result.exit_code == 0, result.output
    rows: list[dict[str, Any]] = json.loads(result.output)
    return rows


def _report(data_dir: Path, fmt: str) -> str:
    result = CliRunner().invoke(report, ["--data-dir", str(data_dir), "--format", fmt, *_period()])
    assert result.exit_code == 0, result.output
    return result.output


Figures = dict[tuple[str, str], dict[str, float | None]]
"""(scope, name) → exchanges, successes, p95_ms."""


def _from_json(text: str) -> Figures:
    data = json.loads(text)
    out: Figures = {("total", "all"): _pick(data["total"])}
    for scope, key in (("client", "clients"), ("service", "services")):
        out.update({(scope, name): _pick(stats) for name, stats in data[key].items()})
    return out


def _pick(stats: dict[str, Any]) -> dict[str, float | None]:
    return {k: stats[k] for k in ("exchanges", "successes", "p95_ms")}


def _from_csv(text: str) -> Figures:
    return {
        (row["scope"], row["name"]): {
            "exchanges": int(row["exchanges"]),
            "successes": int(row["successes"]),
            "p95_ms": float(row["p95_ms"]) if row["p95_ms"] else None,
        }
        for row in csv.DictReader(io.StringIO(text))
    }


class _Cells(HTMLParser):
    """The report's table cells, by their data attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.figures: Figures = {}
        self._row: tuple[str, str] | None = None
        self._field: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "tr" and a.get("data-scope"):
            self._row = (str(a["data-scope"]), str(a["data-name"]))
            self.figures[self._row] = {}
        elif (
            tag == "td"
            and self._row
            and a.get("data-field") in ("exchanges", "successes", "p95_ms")
        ):
            self._field = a["data-field"]

    def handle_data(self, data: str) -> None:
        if self._row and self._field:
            self.figures[self._row][self._field] = None if data == "-" else float(data)
            self._field = None


def _from_html(text: str) -> Figures:
    parser = _Cells()
    parser.feed(text)
    return parser.figures


def _independent(rows: list[dict[str, Any]]) -> Figures:
    """The figures counted straight from exported records."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {("total", "all"): rows}
    for row in rows:
        groups.setdefault(("client", row["client"]), []).append(row)
        groups.setdefault(("service", row["name"]), []).append(row)
    out: Figures = {}
    for key, members in groups.items():
        durations = sorted(r["duration_ms"] for r in members)
        out[key] = {
            "exchanges": len(members),
            "successes": sum(1 for r in members if 200 <= r["status"] < 300),
            "p95_ms": durations[math.ceil(len(durations) * 0.95) - 1],
        }
    return out


@pytest.mark.parametrize(
    ("fmt", "parse"), [("json", _from_json), ("csv", _from_csv), ("html", _from_html)]
)
def test_report_counts_agree_with_the_log(
    logged: tuple[Path, list[Call]], fmt: str, parse: Callable[[str], Figures]
) -> None:
    data_dir, made = logged
    exported = _exported(data_dir)
    assert len(exported) == len(made)
    figures = parse(_report(data_dir, fmt))
    assert figures == _independent(exported)
    # And with the calls as the test made them.
    assert figures[("total", "all")]["exchanges"] == len(made)
    for client, n in Counter(c.client for c in made).items():
        assert figures[("client", client)]["exchanges"] == n
    for name, n in Counter(c.name for c in made if 200 <= c.status < 300).items():
        assert figures[("service", name)]["successes"] == n


def test_busiest_hours_and_histogram_count_every_exchange(logged: tuple[Path, list[Call]]) -> None:
    data_dir, made = logged
    data = json.loads(_report(data_dir, "json"))
    assert sum(data["total"]["hour_of_day"]) == len(made)
    # Hours are Vietnam's by default (UTC+7, no daylight saving).
    vietnam = timezone(timedelta(hours=7))
    local = [datetime.fromisoformat(r["received"]).astimezone(vietnam) for r in _exported(data_dir)]
    hours = Counter(f"{t:%Y-%m-%dT%H}:00+07:00" for t in local)
    top = data["total"]["busiest_hours"][0]
    assert top["exchanges"] == max(hours.values()) == hours[top["hour"]]
    by_hour = Counter(t.hour for t in local)
    assert data["total"]["hour_of_day"] == [by_hour[h] for h in range(24)]


def test_days_are_those_of_the_time_zone_asked_for() -> None:
    """A Vietnamese operator's 23 November starts at 17:00 UTC the day before."""
    from lgsp.observe.exchange_log import Query

    vietnam = timezone(timedelta(hours=7))
    query = Query.parse({"from": "2026-11-23", "to": "2026-11-23"}, tz=vietnam)
    assert query.start == datetime(2026, 11, 22, 17, tzinfo=UTC)
    assert query.end == datetime(2026, 11, 23, 17, tzinfo=UTC)
    utc = Query.parse({"from": "2026-11-23T08:00:00Z"}, tz=vietnam)
    assert utc.start == datetime(2026, 11, 23, 8, tzinfo=UTC)


@pytest.mark.parametrize("zone", ["+07:00", "UTC", "-03:30"])
def test_the_report_names_its_time_zone(logged: tuple[Path, list[Call]], zone: str) -> None:
    result = CliRunner().invoke(
        report, ["--data-dir", str(logged[0]), "--format", "html", "--tz", zone, *_period()]
    )
    assert result.exit_code == 0, result.output
    named = "UTC" if zone == "UTC" else f"UTC{zone}"
    assert f"Exchanges per hour of day ({named})" in result.output


def test_an_unknown_time_zone_is_a_usage_error(logged: tuple[Path, list[Call]]) -> None:
    result = CliRunner().invoke(
        report, ["--data-dir", str(logged[0]), "--tz", "Mars/Olympus", *_period()]
    )
    assert result.exit_code == 2
    assert "is not a time zone" in result.output


def test_html_is_self_contained_and_printable(logged: tuple[Path, list[Call]]) -> None:
    page = _report(logged[0], "html")
    assert "<svg" in page
    assert "@media print" in page
    for outside in ("<script", "http://cdn", "https://", "<link"):
        assert outside not in page


def test_a_period_without_exchanges_reports_zero(logged: tuple[Path, list[Call]]) -> None:
    result = CliRunner().invoke(
        report,
        [
            "--data-dir",
            str(logged[0]),
            "--format",
            "json",
            "--from",
            "2001-01-01",
            "--to",
            "2001-01-31",
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["total"]["exchanges"] == 0


def test_p95_is_nearest_rank() -> None:
    stats = Stats()
    for ms in range(1, 21):  # 20 durations: the 95th percentile is the 19th
        stats.add(
            {"status": 200, "received": "2026-11-23T08:00:00.000000Z", "duration_ms": float(ms)}
        )
    assert stats.p95_ms == 19.0
    assert Report.build([], None, None).total.p95_ms is None


def test_the_warehouse_adds_citizens_satisfaction_for_the_period(
    logged: tuple[Path, list[Call]], tmp_path: Path
) -> None:
    # The bus's data folder, whose warehouse has written its copy: four
    # answers to one procedure at one agency in November, one in December.
    data_dir = tmp_path / "bus"
    shutil.copytree(logged[0], data_dir)
    copy = data_dir / "warehouse" / "parquet"
    for table in ("feedback", "procedures"):
        (copy / table).mkdir(parents=True)
    con = duckdb.connect()
    con.execute(
        "COPY (SELECT * FROM (VALUES "
        "('1.004873', '000.00.00.H20', 5, 4, 5, TIMESTAMP '2026-11-03 09:00'), "
        "('1.004873', '000.00.00.H20', 4, 4, 4, TIMESTAMP '2026-11-04 09:00'), "
        "('1.004873', '000.00.00.H20', 2, 1, 3, TIMESTAMP '2026-11-05 09:00'), "
        "('1.004873', '000.00.00.H20', 5, 5, 5, TIMESTAMP '2026-11-30 23:30'), "
        "('1.004873', '000.00.00.H20', 1, 1, 1, TIMESTAMP '2026-12-01 00:30')) "
        "AS t(ma_tthc, ma_don_vi, diem_tong_the, diem_thoi_gian, diem_thai_do, thoi_diem)) "
        f"TO '{copy / 'feedback' / 'data.parquet'}' (FORMAT parquet)"
    )
    con.execute(
        "COPY (SELECT '1.004873' AS ma_tthc, 'Đăng ký khai sinh' AS ten_tthc) "
        f"TO '{copy / 'procedures' / 'data.parquet'}' (FORMAT parquet)"
    )
    con.close()
    args = ["--data-dir", str(data_dir), "--from", "2026-11-01", "--to", "2026-11-30"]
    result = CliRunner().invoke(report, [*args, "--format", "json"])
    assert result.exit_code == 0, result.output
    [section] = json.loads(result.output)["sections"]
    assert section["title"] == "Citizens' satisfaction (VNForm)"
    # November in Vietnam's days: 30 November 23:30 is in, 1 December is not.
    assert section["rows"] == [
        ["1.004873", "Đăng ký khai sinh", "000.00.00.H20", 4, 3, 0.75, 4.0, 3.5, 4.25]
    ]
    page = CliRunner().invoke(report, [*args, "--format", "html"]).output
    assert "Citizens&#x27; satisfaction (VNForm)" in page
    assert "Đăng ký khai sinh" in page
    # Without a warehouse beside the bus, there is no such section.
    without = ["--data-dir", str(logged[0]), *args[2:], "--format", "json"]
    assert json.loads(CliRunner().invoke(report, without).output)["sections"] == []
