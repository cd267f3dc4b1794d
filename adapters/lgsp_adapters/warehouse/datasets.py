"""The named datasets: parameterised aggregate queries over the tables.

Each takes a DuckDB cursor (run on a reader thread) and its request, and
returns its response model; none selects a personal id or name.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Final

import duckdb

from lgsp import DomainError
from lgsp_adapters.warehouse.store import aware
from lgsp_contracts.feedback import HAI_LONG_TU
from lgsp_contracts.warehouse import (
    PERIOD_INVALID,
    DanSoTheoNhomTuoi,
    DongDanSoTheoNhomTuoi,
    DongHoSoTheoThang,
    DongMucDoHaiLong,
    DongThuaDatTheoMucDich,
    DongTraoDoiTheoNgay,
    HoSoTheoThang,
    MucDoHaiLong,
    ThuaDatTheoMucDich,
    TraoDoiTheoNgay,
    YeuCauDanSoTheoNhomTuoi,
    YeuCauHoSoTheoThang,
    YeuCauMucDoHaiLong,
    YeuCauThuaDatTheoMucDich,
    YeuCauTraoDoiTheoNgay,
)

SOURCES_OF: Final[dict[str, tuple[str, ...]]] = {
    "warehouse.dossiers.monthly": ("onestop.procedure.list", "onestop.dossier.list"),
    "warehouse.parcels.land-use": ("land.parcel.snapshot",),
    "warehouse.population.age-groups": ("population.commune.statistics",),
    "warehouse.exchanges.daily": ("lgsp.exchange.statistics",),
    "warehouse.feedback.satisfaction": ("onestop.procedure.list",),
}
"""What each dataset is made of: it answers once these have loaded."""

_MONTHLY: Final = """
SELECT strftime(d.received, '%Y-%m') AS thang,
       d.ma_tthc,
       coalesce(p.ten_tthc, d.ma_tthc) AS ten_tthc,
       d.ma_xa,
       CASE WHEN d.ma_xa IS NOT NULL THEN coalesce(c.ten_xa, 'Xã ' || d.ma_xa) END AS ten_xa,
       count(*) AS so_ho_so,
       count(*) FILTER (WHERE d.outcome IN ('on_time', 'late')) AS so_da_giai_quyet,
       count(*) FILTER (WHERE d.outcome = 'on_time') AS so_dung_han,
       count(*) FILTER (WHERE d.outcome = 'late') AS so_tre_han,
       count(*) FILTER (WHERE d.outcome IN ('in_processing', 'overdue')) AS so_dang_giai_quyet,
       count(*) FILTER (WHERE d.outcome = 'overdue') AS so_qua_han,
       count(*) FILTER (WHERE d.outcome IN ('refused', 'withdrawn')) AS so_tu_choi_hoac_rut,
       avg(d.working_days_late) FILTER (WHERE d.outcome = 'late') AS tre_trung_binh,
       max(d.last_step_at) AS moi_nhat
FROM dossiers d
LEFT JOIN procedures p ON p.ma_tthc = d.ma_tthc
LEFT JOIN communes c ON c.ma_xa = d.ma_xa
WHERE d.received IS NOT NULL
  AND ($1 IS NULL OR d.ma_tthc = $1)
  AND ($2 IS NULL OR d.ma_xa = $2)
  AND ($3 IS NULL OR strftime(d.received, '%Y-%m') >= $3)
  AND ($4 IS NULL OR strftime(d.received, '%Y-%m') <= $4)
GROUP BY ALL
ORDER BY thang, d.ma_tthc, d.ma_xa NULLS FIRST
"""


def _period(first: Any, last: Any) -> None:
    if first is not None and last is not None and first > last:
        raise DomainError(
            PERIOD_INVALID, f"the period starts ({first}) after it ends ({last})", status=422
        )


def dossiers_monthly(cur: duckdb.DuckDBPyConnection, q: YeuCauHoSoTheoThang) -> HoSoTheoThang:
    _period(q.tuThang, q.denThang)
    code = None if q.maTTHC is None else q.maTTHC[:8]
    rows = cur.execute(_MONTHLY, [code, q.maXa, q.tuThang, q.denThang]).fetchall()
    lines = []
    for r in rows:
        done, on_time = r[6], r[7]
        lines.append(
            DongHoSoTheoThang(
                thang=r[0],
                maTTHC=r[1],
                tenTTHC=r[2],
                maXa=r[3],
                tenXa=r[4],
                soHoSo=r[5],
                soDaGiaiQuyet=done,
                soDungHan=on_time,
                soTreHan=r[8],
                soDangGiaiQuyet=r[9],
                soQuaHan=r[10],
                soTuChoiHoacRut=r[11],
                tyLeDungHan=None if done == 0 else round(on_time / done, 4),
                soNgayTreTrungBinh=None if r[12] is None else round(float(r[12]), 2),
            )
        )
    newest = max((r[13] for r in rows), default=None)
    return HoSoTheoThang(capNhatLuc=aware(newest), danhSach=lines)


def parcels_land_use(
    cur: duckdb.DuckDBPyConnection, q: YeuCauThuaDatTheoMucDich
) -> ThuaDatTheoMucDich:
    rows = cur.execute(
        """
        SELECT u.ma_xa, p.ten_xa, u.ky_hieu,
               count(DISTINCT (u.so_hieu_to_ban_do, u.so_thu_tu_thua)),
               round(sum(u.dien_tich), 1)
        FROM parcel_uses u
        JOIN parcels p USING (ma_xa, so_hieu_to_ban_do, so_thu_tu_thua)
        WHERE ($1 IS NULL OR u.ma_xa = $1) AND ($2 IS NULL OR u.ky_hieu = $2)
        GROUP BY ALL ORDER BY u.ma_xa, u.ky_hieu
        """,
        [q.maXa, q.kyHieu],
    ).fetchall()
    return ThuaDatTheoMucDich(
        capNhatLuc=None,
        danhSach=[
            DongThuaDatTheoMucDich(maXa=a, tenXa=b, kyHieu=c, soThua=n, dienTich=float(s))
            for a, b, c, n, s in rows
        ],
    )


def population_age_groups(
    cur: duckdb.DuckDBPyConnection, q: YeuCauDanSoTheoNhomTuoi
) -> DanSoTheoNhomTuoi:
    rows = cur.execute(
        """
        SELECT ma_xa, ten_xa, nhom_tuoi, gioi_tinh, so_nguoi, ngay_thong_ke
        FROM population_by_commune WHERE ($1 IS NULL OR ma_xa = $1) AND so_nguoi > 0
        ORDER BY ma_xa, nhom_tuoi, gioi_tinh
        """,
        [q.maXa],
    ).fetchall()
    day: dt.date | None = max((r[5] for r in rows), default=None)
    return DanSoTheoNhomTuoi(
        capNhatLuc=None,
        ngayThongKe=day,
        danhSach=[
            DongDanSoTheoNhomTuoi(maXa=a, tenXa=b, nhomTuoi=c, gioiTinh=g, soNguoi=n)
            for a, b, c, g, n, _ in rows
        ],
    )


def exchanges_daily(cur: duckdb.DuckDBPyConnection, q: YeuCauTraoDoiTheoNgay) -> TraoDoiTheoNgay:
    _period(q.tuNgay, q.denNgay)
    rows = cur.execute(
        """
        SELECT ngay, client, service, so_luot, so_loi FROM exchange_stats
        WHERE ($1 IS NULL OR ngay >= $1) AND ($2 IS NULL OR ngay <= $2)
          AND ($3 IS NULL OR service = $3) AND so_luot > 0
        ORDER BY ngay, service, client
        """,
        [q.tuNgay, q.denNgay, q.service],
    ).fetchall()
    return TraoDoiTheoNgay(
        capNhatLuc=None,
        danhSach=[
            DongTraoDoiTheoNgay(ngay=d, client=c, service=s, soLuot=n, soLoi=e)
            for d, c, s, n, e in rows
        ],
    )


_SATISFACTION: Final = """
SELECT strftime(f.thoi_diem, '%Y-%m') AS thang,
       left(f.ma_tthc, 8) AS ma_tthc,
       coalesce(any_value(p.ten_tthc), left(f.ma_tthc, 8)) AS ten_tthc,
       f.ma_don_vi,
       count(*) AS so_phan_hoi,
       count(*) FILTER (WHERE f.diem_tong_the >= $5) AS so_hai_long,
       avg(f.diem_tong_the),
       avg(f.diem_thoi_gian),
       avg(f.diem_thai_do),
       max(f.thoi_diem)
FROM feedback f
LEFT JOIN procedures p ON p.ma_tthc = left(f.ma_tthc, 8)
WHERE ($1 IS NULL OR left(f.ma_tthc, 8) = $1)
  AND ($2 IS NULL OR f.ma_don_vi = $2)
  AND ($3 IS NULL OR strftime(f.thoi_diem, '%Y-%m') >= $3)
  AND ($4 IS NULL OR strftime(f.thoi_diem, '%Y-%m') <= $4)
GROUP BY thang, left(f.ma_tthc, 8), f.ma_don_vi
ORDER BY thang, ma_tthc, f.ma_don_vi
"""


def feedback_satisfaction(cur: duckdb.DuckDBPyConnection, q: YeuCauMucDoHaiLong) -> MucDoHaiLong:
    """Satisfaction per month, procedure and agency: counts and averages
    only (no comment, no dossier number)."""
    _period(q.tuThang, q.denThang)
    code = None if q.maTTHC is None else q.maTTHC[:8]
    rows = cur.execute(
        _SATISFACTION, [code, q.maDonVi, q.tuThang, q.denThang, HAI_LONG_TU]
    ).fetchall()
    lines = [
        DongMucDoHaiLong(
            thang=r[0],
            maTTHC=r[1],
            tenTTHC=r[2],
            maDonVi=r[3],
            soPhanHoi=r[4],
            soHaiLong=r[5],
            soChuaHaiLong=r[4] - r[5],
            tyLeHaiLong=round(r[5] / r[4], 4),
            diemTongThe=round(float(r[6]), 2),
            diemThoiGian=round(float(r[7]), 2),
            diemThaiDo=round(float(r[8]), 2),
        )
        for r in rows
    ]
    newest = max((r[9] for r in rows), default=None)
    return MucDoHaiLong(capNhatLuc=aware(newest), danhSach=lines)
