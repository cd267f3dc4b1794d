"""The province's shared data warehouse (Kho dữ liệu dùng chung): named,
parameterised datasets over what the agencies exchange, and read-only SQL
for its operators.

Every dataset is an aggregate: no personal id, name, address or certificate
serial is in any response model, so none can leave the warehouse through
these services, whatever it keeps inside.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Final, Literal

from pydantic import AwareDatetime, Field, StringConstraints

from lgsp_contracts.fields import MaXa, TenDonVi
from lgsp_contracts.land import KyHieuMucDich
from lgsp_contracts.onestop import MaTTHC
from lgsp_contracts.population import NhomTuoi
from lgsp_contracts.spec import Contract, ServiceContract, TopicContract

OWNER: Final = "UBND tỉnh Đồng Tháp — Kho dữ liệu dùng chung (mock)"

Thang = Annotated[str, StringConstraints(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$")]
"""A month, ``YYYY-MM``."""


class DoTuoiDuLieu(Contract):
    """Mixed into every dataset answer: how fresh it is."""

    capNhatLuc: AwareDatetime | None = Field(
        description="When the warehouse last took in data of this dataset's sources "
        "(cập nhật lúc); null before its first load."
    )


# -- dossiers by procedure, commune and month ---------------------------------


class YeuCauHoSoTheoThang(Contract):
    """Request of ``warehouse.dossiers.monthly``."""

    maTTHC: MaTTHC | None = Field(default=None, description="Only this procedure (mã TTHC).")
    maXa: MaXa | None = Field(default=None, description="Only this commune (mã xã).")
    tuThang: Thang | None = Field(
        default=None, description="First month of receipt (từ tháng), YYYY-MM; default the first."
    )
    denThang: Thang | None = Field(
        default=None, description="Last month of receipt (đến tháng), included; default the last."
    )


class DongHoSoTheoThang(Contract):
    """The dossiers of one procedure received in one commune in one month,
    and how they were handled against their due dates (working days)."""

    thang: Thang = Field(description="Month of receipt (tháng tiếp nhận), YYYY-MM.")
    maTTHC: MaTTHC = Field(description="The procedure (mã thủ tục hành chính).")
    tenTTHC: Annotated[str, StringConstraints(min_length=2, max_length=500)] = Field(
        description="Its name."
    )
    maXa: MaXa | None = Field(
        description="The commune the dossier is about (its parcel's, for land procedures); "
        "null when the dossier names none."
    )
    tenXa: TenDonVi | None = Field(description="The commune's name; null with maXa.")
    soHoSo: int = Field(ge=0, description="Dossiers received (số hồ sơ tiếp nhận).")
    soDaGiaiQuyet: int = Field(
        ge=0, description="Of which done (đã giải quyết: status 9 or 10 reached)."
    )
    soDungHan: int = Field(ge=0, description="Done on or before their due date (đúng hạn).")
    soTreHan: int = Field(ge=0, description="Done after their due date (trễ hạn).")
    soDangGiaiQuyet: int = Field(
        ge=0, description="Still in processing (đang giải quyết), not refused or withdrawn."
    )
    soQuaHan: int = Field(
        ge=0, description="Of those in processing, already past their due date (quá hạn)."
    )
    soTuChoiHoacRut: int = Field(ge=0, description="Refused (3) or withdrawn (7).")
    tyLeDungHan: float | None = Field(
        ge=0,
        le=1,
        description="Share of the done dossiers that were on time (tỷ lệ đúng hạn); null when "
        "none is done.",
    )
    soNgayTreTrungBinh: float | None = Field(
        ge=0,
        description="Average working days late of the late ones (số ngày trễ trung bình); null "
        "when none is late.",
    )


class HoSoTheoThang(DoTuoiDuLieu):
    """Response of ``warehouse.dossiers.monthly``."""

    danhSach: list[DongHoSoTheoThang] = Field(
        description="One row per month, procedure and commune, in that order."
    )


# -- parcels by commune and land-use code ---------------------------------------


class YeuCauThuaDatTheoMucDich(Contract):
    """Request of ``warehouse.parcels.land-use``."""

    maXa: MaXa | None = Field(default=None, description="Only this commune (mã xã).")
    kyHieu: KyHieuMucDich | None = Field(
        default=None, description="Only this land-use code (ký hiệu mục đích sử dụng)."
    )


class DongThuaDatTheoMucDich(Contract):
    """The land of one use in one commune."""

    maXa: MaXa = Field(description="Commune (mã xã).")
    tenXa: TenDonVi = Field(description="Its name.")
    kyHieu: KyHieuMucDich = Field(description="Land-use code (ký hiệu).")
    soThua: int = Field(ge=1, description="Parcels with some land of this use (số thửa).")
    dienTich: float = Field(ge=0, description="Total area of this use (diện tích), m².")


class ThuaDatTheoMucDich(DoTuoiDuLieu):
    """Response of ``warehouse.parcels.land-use``."""

    danhSach: list[DongThuaDatTheoMucDich] = Field(
        description="One row per commune and land-use code, in that order."
    )


# -- population by commune, age group and gender ----------------------------------


class YeuCauDanSoTheoNhomTuoi(Contract):
    """Request of ``warehouse.population.age-groups``."""

    maXa: MaXa | None = Field(default=None, description="Only this commune (mã xã).")


class DongDanSoTheoNhomTuoi(Contract):
    """Residents of one commune in one age group and gender."""

    maXa: MaXa = Field(description="Commune of permanent residence (mã xã).")
    tenXa: TenDonVi = Field(description="Its name.")
    nhomTuoi: NhomTuoi = Field(description="Age group (nhóm tuổi).")
    gioiTinh: Literal["Nam", "Nữ"] = Field(description="Gender (giới tính).")
    soNguoi: int = Field(ge=1, description="Residents (số người).")


class DanSoTheoNhomTuoi(DoTuoiDuLieu):
    """Response of ``warehouse.population.age-groups``."""

    ngayThongKe: dt.date | None = Field(
        description="The reference date of the counts (ngày thống kê); null before the first load."
    )
    danhSach: list[DongDanSoTheoNhomTuoi] = Field(
        description="One row per commune, age group and gender, in that order."
    )


# -- exchanges per client, service and day ------------------------------------------


class YeuCauTraoDoiTheoNgay(Contract):
    """Request of ``warehouse.exchanges.daily``."""

    tuNgay: dt.date | None = Field(default=None, description="First day (từ ngày).")
    denNgay: dt.date | None = Field(default=None, description="Last day (đến ngày), included.")
    service: Annotated[str, StringConstraints(min_length=1, max_length=128)] | None = Field(
        default=None, description="Only this service or topic."
    )


class DongTraoDoiTheoNgay(Contract):
    """The exchanges of one client with one service on one day."""

    ngay: dt.date = Field(description="The day (ngày).")
    client: Annotated[str, StringConstraints(min_length=1, max_length=128)] = Field(
        description="The calling client."
    )
    service: Annotated[str, StringConstraints(min_length=1, max_length=128)] = Field(
        description="The service or topic."
    )
    soLuot: int = Field(ge=1, description="Exchanges (số lượt).")
    soLoi: int = Field(ge=0, description="Of which errors (số lỗi).")


class TraoDoiTheoNgay(DoTuoiDuLieu):
    """Response of ``warehouse.exchanges.daily``."""

    danhSach: list[DongTraoDoiTheoNgay] = Field(
        description="One row per day, service and client, in that order."
    )


# -- read-only SQL for the warehouse's operators ----------------------------------------

GiaTri = str | int | float | bool | None


class YeuCauTruyVan(Contract):
    """Request of ``warehouse.sql.query``: one read-only SELECT."""

    sql: Annotated[str, StringConstraints(min_length=1, max_length=20_000)] = Field(
        description="One SELECT (or WITH ... SELECT) statement over the warehouse's tables."
    )
    gioiHan: int = Field(
        default=1000, ge=1, le=10_000, description="Most rows to answer (giới hạn)."
    )


class Cot(Contract):
    """A column of the answer."""

    ten: str = Field(description="Its name (tên).")
    kieu: str = Field(description="Its SQL type (kiểu), as DuckDB names it.")


class KetQuaTruyVan(Contract):
    """Response of ``warehouse.sql.query``. Dates and times are ISO 8601
    strings, decimals are numbers."""

    cot: list[Cot] = Field(description="The columns (cột).")
    dong: list[list[GiaTri]] = Field(description="The rows (dòng), at most gioiHan.")
    biCatBot: bool = Field(description="Whether more rows were left out (bị cắt bớt).")


SERVICES: tuple[ServiceContract, ...] = ()
TOPICS: tuple[TopicContract, ...] = ()
