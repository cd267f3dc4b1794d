"""The warehouse's DuckDB database: its tables, and loads into them.

Every write runs on one thread (:class:`Store` is used from the writer
thread only, but for :meth:`Store.cursor`, which read-only SQL takes from
any thread). Times are Vietnam local time (Asia/Ho_Chi_Minh) in plain
``TIMESTAMP`` columns, as the province's people read them, so no time zone
extension is needed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import duckdb

from lgsp_adapters.divisions import Divisions
from lgsp_adapters.workdays import KNOWN_YEARS, VN_TZ, is_working_day

Column = tuple[str, str]

TABLES: Final[dict[str, tuple[Column, ...]]] = {
    "meta": (("key", "VARCHAR PRIMARY KEY"), ("value", "VARCHAR")),
    "loads": (
        ("source", "VARCHAR PRIMARY KEY"),
        ("loaded_at", "TIMESTAMP"),
        ("rows", "BIGINT"),
        ("duration_ms", "DOUBLE"),
        ("attempted_at", "TIMESTAMP"),
        ("error", "VARCHAR"),
    ),
    "dossier_events": (
        ("event_key", "VARCHAR PRIMARY KEY"),
        ("inbox_seq", "BIGINT"),
        ("topic", "VARCHAR"),
        ("ma_ho_so", "VARCHAR"),
        ("ma_tthc", "VARCHAR"),
        ("trang_thai_cu", "VARCHAR"),
        ("trang_thai", "VARCHAR"),
        ("thoi_diem", "TIMESTAMP"),
        ("ghi_chu", "VARCHAR"),
        ("accepted_at", "TIMESTAMP"),
    ),
    "dossier_steps": (
        ("ma_ho_so", "VARCHAR"),
        ("trang_thai", "VARCHAR"),
        ("thoi_diem", "TIMESTAMP"),
        ("ghi_chu", "VARCHAR"),
        ("thu_tu", "BIGINT"),
    ),
    "dossier_facts": (
        ("ma_ho_so", "VARCHAR PRIMARY KEY"),
        ("ma_tthc", "VARCHAR"),
        ("ngay_tiep_nhan", "TIMESTAMP"),
        ("ngay_hen_tra", "TIMESTAMP"),
        ("ma_xa", "VARCHAR"),
        ("so_hieu_to_ban_do", "INTEGER"),
        ("so_thu_tu_thua", "INTEGER"),
        ("so_dinh_danh", "VARCHAR"),
        ("ho_va_ten", "VARCHAR"),
        ("nguon", "VARCHAR"),
    ),
    "procedures": (
        ("ma_tthc", "VARCHAR PRIMARY KEY"),
        ("ten_tthc", "VARCHAR"),
        ("linh_vuc", "VARCHAR"),
        ("so_ngay_xu_ly", "INTEGER"),
        ("can_thua_dat", "BOOLEAN"),
    ),
    "parcels": (
        ("ma_xa", "VARCHAR"),
        ("ten_xa", "VARCHAR"),
        ("so_hieu_to_ban_do", "INTEGER"),
        ("so_thu_tu_thua", "INTEGER"),
        ("dien_tich", "DOUBLE"),
        ("dien_tich_phap_ly", "DOUBLE"),
        ("thoi_han_su_dung", "VARCHAR"),
        ("nguon_goc_su_dung", "VARCHAR"),
        ("tinh_trang_the_chap", "VARCHAR"),
        ("so_chu_su_dung", "INTEGER"),
    ),
    "parcel_uses": (
        ("ma_xa", "VARCHAR"),
        ("so_hieu_to_ban_do", "INTEGER"),
        ("so_thu_tu_thua", "INTEGER"),
        ("ky_hieu", "VARCHAR"),
        ("dien_tich", "DOUBLE"),
    ),
    "parcel_owners": (
        ("ma_xa", "VARCHAR"),
        ("so_hieu_to_ban_do", "INTEGER"),
        ("so_thu_tu_thua", "INTEGER"),
        ("so_dinh_danh", "VARCHAR"),
        ("ho_va_ten", "VARCHAR"),
    ),
    "certificates": (
        ("so_phat_hanh", "VARCHAR"),
        ("so_vao_so", "VARCHAR"),
        ("ngay_cap", "DATE"),
        ("ma_xa", "VARCHAR"),
        ("so_hieu_to_ban_do", "INTEGER"),
        ("so_thu_tu_thua", "INTEGER"),
    ),
    "population_by_commune": (
        ("ma_xa", "VARCHAR"),
        ("ten_xa", "VARCHAR"),
        ("nhom_tuoi", "VARCHAR"),
        ("gioi_tinh", "VARCHAR"),
        ("so_nguoi", "INTEGER"),
        ("ngay_thong_ke", "DATE"),
    ),
    "exchange_stats": (
        ("ngay", "DATE"),
        ("client", "VARCHAR"),
        ("service", "VARCHAR"),
        ("so_luot", "BIGINT"),
        ("so_loi", "BIGINT"),
        ("p95_ms", "DOUBLE"),
    ),
    "feedback": (
        ("ma_phan_hoi", "VARCHAR PRIMARY KEY"),
        ("inbox_seq", "BIGINT"),
        ("ma_bieu_mau", "VARCHAR"),
        ("ma_ho_so", "VARCHAR"),
        ("ma_tthc", "VARCHAR"),
        ("ma_don_vi", "VARCHAR"),
        ("diem_tong_the", "INTEGER"),
        ("diem_thoi_gian", "INTEGER"),
        ("diem_thai_do", "INTEGER"),
        ("gop_y", "VARCHAR"),
        ("thoi_diem", "TIMESTAMP"),
        ("accepted_at", "TIMESTAMP"),
    ),
    "communes": (("ma_xa", "VARCHAR PRIMARY KEY"), ("ten_xa", "VARCHAR")),
    "working_days": (("ngay", "DATE PRIMARY KEY"), ("lam_viec", "BOOLEAN")),
}
"""Every table, with its columns (name, DuckDB type)."""

# One row per dossier: what its source said of it (or, until the source is
# asked, what its events said), its steps, and how it went against its due
# date. A view, so that "overdue" is always judged against now.
DOSSIERS_VIEW: Final = """
CREATE OR REPLACE VIEW dossiers AS
WITH s AS (
    SELECT ma_ho_so,
           arg_max(trang_thai, thu_tu) AS trang_thai,
           min(thoi_diem) FILTER (WHERE trang_thai = '2') AS received_step,
           min(thoi_diem) FILTER (WHERE trang_thai = '9') AS done_at,
           max(thoi_diem) AS last_step_at,
           count(*) AS so_buoc
    FROM dossier_steps GROUP BY ma_ho_so
), e AS (
    SELECT ma_ho_so, any_value(ma_tthc) AS ma_tthc FROM dossier_events GROUP BY ma_ho_so
), d AS (
    SELECT s.ma_ho_so,
           left(coalesce(f.ma_tthc, e.ma_tthc), 8) AS ma_tthc,
           f.ma_xa,
           f.so_hieu_to_ban_do,
           f.so_thu_tu_thua,
           coalesce(f.ngay_tiep_nhan, s.received_step) AS received,
           f.ngay_hen_tra AS due,
           s.trang_thai,
           s.done_at,
           s.last_step_at,
           s.so_buoc,
           f.so_dinh_danh,
           f.ho_va_ten,
           coalesce(f.nguon, 'event') AS nguon
    FROM s LEFT JOIN dossier_facts f USING (ma_ho_so) LEFT JOIN e USING (ma_ho_so)
)
SELECT d.*,
       CASE
           WHEN d.done_at IS NOT NULL THEN
               CASE WHEN d.due IS NULL OR d.done_at <= d.due THEN 'on_time' ELSE 'late' END
           WHEN d.trang_thai = '3' THEN 'refused'
           WHEN d.trang_thai = '7' THEN 'withdrawn'
           WHEN d.due < make_timestamp(epoch_us(current_timestamp)) + INTERVAL 7 HOUR
               THEN 'overdue'
           ELSE 'in_processing'
       END AS outcome,
       CASE WHEN d.done_at > d.due THEN (
           SELECT count(*) FROM working_days w
           WHERE w.lam_viec AND w.ngay > CAST(d.due AS DATE)
             AND w.ngay <= CAST(d.done_at AS DATE)
       ) END AS working_days_late
FROM d
"""

VIEWS: Final = ("dossiers",)


def local(moment: dt.datetime) -> dt.datetime:
    """An aware time as the warehouse stores it: Vietnam local, naive."""
    return moment.astimezone(VN_TZ).replace(tzinfo=None)


def aware(moment: dt.datetime | None) -> dt.datetime | None:
    """A stored time as contracts want it (``+07:00``)."""
    return None if moment is None else moment.replace(tzinfo=VN_TZ)


class Store:
    """The DuckDB database, at ``path`` or in memory (``path`` None)."""

    def __init__(
        self, path: Path | None, *, export_dir: Path | None = None, threads: int = 1
    ) -> None:
        self.path = path
        self.con = duckdb.connect(
            str(path) if path is not None else ":memory:", config={"threads": threads}
        )
        # No statement reaches a file but the Parquet export's: set before
        # external access is switched off, which cannot be undone.
        if export_dir is not None:
            export_dir.mkdir(parents=True, exist_ok=True)
            self.con.execute("SET allowed_directories = ?", [[f"{export_dir.resolve()}/"]])
        self.con.execute("SET enable_external_access = false")
        self.con.execute("SET lock_configuration = true")
        self._create()

    def _create(self) -> None:
        con = self.con
        con.execute("BEGIN")
        for table, columns in TABLES.items():
            cols = ", ".join(f"{name} {kind}" for name, kind in columns)
            con.execute(f"CREATE TABLE IF NOT EXISTS {table} ({cols})")
        con.execute("CREATE SEQUENCE IF NOT EXISTS step_order")
        con.execute(
            "CREATE UNIQUE INDEX IF NOT EXISTS dossier_steps_key "
            "ON dossier_steps (ma_ho_so, thoi_diem, trang_thai)"
        )
        con.execute(DOSSIERS_VIEW)
        if not con.execute("SELECT count(*) FROM working_days").fetchall()[0][0]:
            days = [
                dt.date(year, 1, 1) + dt.timedelta(days=n)
                for year in KNOWN_YEARS
                for n in range((dt.date(year + 1, 1, 1) - dt.date(year, 1, 1)).days)
            ]
            self.insert("working_days", [days, [is_working_day(d) for d in days]])
        if not con.execute("SELECT count(*) FROM communes").fetchall()[0][0]:
            home = Divisions().home
            self.insert("communes", [[c.code for c in home], [c.name for c in home]])
        con.execute("COMMIT")

    def insert(self, table: str, columns: Sequence[Sequence[Any]], *, on_conflict: str = "") -> int:
        """Insert rows given column by column (the fast way into DuckDB:
        one statement, lists as parameters); returns how many were given."""
        spec = TABLES[table]
        if len(columns) != len(spec):
            raise ValueError(f"{table} has {len(spec)} columns, not {len(columns)}")
        count = len(columns[0])
        if count == 0:
            return 0
        selects = ", ".join(f"unnest(?::{kind.split()[0]}[])" for _name, kind in spec)
        names = ", ".join(name for name, _kind in spec)
        self.con.execute(
            f"INSERT INTO {table} ({names}) SELECT {selects} {on_conflict}", list(columns)
        )
        return count

    def meta(self, key: str) -> str | None:
        row = self.con.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self.con.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", [key, value])

    def query(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        return self.con.execute(sql, list(params)).fetchall()

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A cursor of its own, for another thread (read-only SQL)."""
        return self.con.cursor()

    def size_bytes(self) -> int:
        if self.path is None or not self.path.exists():
            return 0
        wal = self.path.with_name(self.path.name + ".wal")
        return self.path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)

    def close(self) -> None:
        self.con.close()
