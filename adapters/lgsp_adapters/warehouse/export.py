"""The warehouse as hive-partitioned Parquet, for any engine to read.

``<data_dir>/parquet/<table>`` is a symbolic link to the table's latest
complete copy (``.versions/<table>-<stamp>``); a rewrite writes a new copy
beside it and swaps the link in one rename, so a reader sees the old copy
or the new, never a half-written one. All tables are copied from one
snapshot (one read transaction). Personal id and name columns are never
copied.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Final

import duckdb

from lgsp_adapters.warehouse.store import TABLES, VIEWS

PARTITIONS: Final[dict[str, tuple[str, str]]] = {
    "dossiers": ("thang", "coalesce(strftime(received, '%Y-%m'), 'unknown')"),
    "dossier_steps": ("thang", "strftime(thoi_diem, '%Y-%m')"),
    "dossier_events": ("thang", "strftime(thoi_diem, '%Y-%m')"),
    "parcels": ("ma_xa_phan_vung", "ma_xa"),
    "parcel_uses": ("ma_xa_phan_vung", "ma_xa"),
    "exchange_stats": ("thang", "strftime(ngay, '%Y-%m')"),
}
"""Tables split by a hive partition column (name, expression): dossiers
by month of receipt, parcels by commune."""

PRIVATE: Final = ("so_dinh_danh", "ho_va_ten")
"""Columns that never leave the database."""
SKIPPED: Final = ("meta",)

EXPORTED: Final = tuple(t for t in (*TABLES, *VIEWS) if t not in SKIPPED)


def _columns(cur: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    rows = cur.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = ? "
        "ORDER BY ordinal_position",
        [table],
    ).fetchall()
    return [r[0] for r in rows if r[0] not in PRIVATE]


def export(cur: duckdb.DuckDBPyConnection, folder: Path) -> dict[str, int]:
    """Write every table under ``folder`` and swap the links; returns the
    rows written per table."""
    versions = folder / ".versions"
    versions.mkdir(parents=True, exist_ok=True)
    stamp = f"{time.time_ns()}-{uuid.uuid4().hex[:6]}"
    written: dict[str, int] = {}
    cur.execute("BEGIN TRANSACTION READ ONLY")
    try:
        for table in EXPORTED:
            target = versions / f"{table}-{stamp}"
            cols = ", ".join(_columns(cur, table))
            count = cur.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
            written[table] = int(count)
            part = PARTITIONS.get(table)
            if part is None:
                target.mkdir()
                cur.execute(
                    f"COPY (SELECT {cols} FROM {table}) TO '{target}/data.parquet' (FORMAT parquet)"
                )
            elif count == 0:
                target.mkdir()  # an empty partitioned table: no file, an empty folder
            else:
                name, expr = part
                cur.execute(
                    f"COPY (SELECT {cols}, {expr} AS {name} FROM {table}) TO '{target}' "
                    f"(FORMAT parquet, PARTITION_BY ({name}))"
                )
    finally:
        cur.execute("COMMIT")
    for table in EXPORTED:
        link = folder / table
        staged = folder / f".{table}-{stamp}.link"
        os.symlink(Path(".versions") / f"{table}-{stamp}", staged)
        os.replace(staged, link)  # atomic: the old copy or the new
    _prune(versions, stamp)
    return written


def _prune(versions: Path, stamp: str) -> None:
    """Keep the newest copy and the one before (a reader may still be in it)."""
    stamps = sorted({p.name.rsplit("-", 2)[-2] for p in versions.iterdir()}, key=int)
    keep = set(stamps[-2:]) | {stamp.split("-")[0]}
    for p in versions.iterdir():
        if p.name.rsplit("-", 2)[-2] not in keep:
            shutil.rmtree(p, ignore_errors=True)
