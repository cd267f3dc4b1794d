"""The warehouse's part of ``lgsp report`` (entry point group
``lgsp.report_sections``): citizens' satisfaction with each procedure and
agency over the report's period, from VNForm's answers.

Read from the warehouse's Parquet copy (``<data_dir>/warehouse/parquet``),
which the running warehouse rewrites after every change it loads: a report
runs beside a running bus, whose DuckDB file only the warehouse may open.
Counts and averages only; no comment, no dossier number.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Final

import duckdb

from lgsp import ReportSection
from lgsp_adapters.warehouse.store import local
from lgsp_contracts.feedback import HAI_LONG_TU

COLUMNS: Final = [
    "procedure (maTTHC)",
    "procedure name",
    "agency (maDonVi)",
    "answers",
    "satisfied",
    "share satisfied",
    "overall (1-5)",
    "time taken (1-5)",
    "attitude (1-5)",
]

_SQL: Final = """
SELECT left(f.ma_tthc, 8) AS ma_tthc,
       coalesce(any_value(p.ten_tthc), left(f.ma_tthc, 8)),
       f.ma_don_vi,
       count(*),
       count(*) FILTER (WHERE f.diem_tong_the >= $threshold),
       round(count(*) FILTER (WHERE f.diem_tong_the >= $threshold) / count(*), 4),
       round(avg(f.diem_tong_the), 2),
       round(avg(f.diem_thoi_gian), 2),
       round(avg(f.diem_thai_do), 2)
FROM feedback f
LEFT JOIN procedures p ON p.ma_tthc = left(f.ma_tthc, 8)
WHERE ($start IS NULL OR f.thoi_diem >= $start) AND ($end IS NULL OR f.thoi_diem < $end)
GROUP BY left(f.ma_tthc, 8), f.ma_don_vi
ORDER BY ma_tthc, f.ma_don_vi
"""


def satisfaction(
    data_dir: Path, start: dt.datetime | None, end: dt.datetime | None
) -> ReportSection | None:
    """The section, or None where no warehouse has written its copy under
    ``data_dir`` (a bus run without it)."""
    copy = data_dir / "warehouse" / "parquet"
    if not (copy / "feedback").is_dir():
        return None
    con = duckdb.connect()
    try:
        for table in ("feedback", "procedures"):
            files = str(copy / table / "**" / "*.parquet").replace("'", "''")
            con.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{files}')")
        rows = con.execute(
            _SQL,
            {
                "threshold": HAI_LONG_TU,
                "start": None if start is None else local(start),
                "end": None if end is None else local(end),
            },
        ).fetchall()
    finally:
        con.close()
    return ReportSection(
        title="Citizens' satisfaction (VNForm)",
        description=(
            "Answers to VNForm's survey per procedure and agency, received in the period; "
            f"satisfied: {HAI_LONG_TU} or 5 overall. From the warehouse's copy."
        ),
        columns=list(COLUMNS),
        rows=[list(row) for row in rows],
    )
