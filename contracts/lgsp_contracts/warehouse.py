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

from lgsp_contracts.feedback import MaDonVi
from lgsp_contracts.fields import MaXa, TenDonVi
from lgsp_contracts.land import KyHieuMucDich
from lgsp_contracts.onestop import MaTTHC
from lgsp_contracts.population import NhomTuoi
from lgsp_contracts.spec import Contract, ErrorSpec, Example, ServiceContract, TopicContract

OWNER: Final = "UBND tỉnh Đồng Tháp — Kho dữ liệu dùng chung (mock)"

Thang = Annotated[str, StringConstraints(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$")]
"""A month, ``YYYY-MM``."""


class DoTuoiDuLieu(Contract):
    """Mixed into every dataset answer: how fresh it is."""

    capNhatLuc: AwareDatetime | None = Field(
        description="When the newest source record this answer counts was made at its "
        "source (cập nhật lúc), e.g. a dossier's latest step; null when the answer counts "
        "none, or when its records carry no time of their own (parcels; population, see "
        "ngayThongKe; exchanges, see ngay). When the warehouse last loaded each source is "
        "its status (``lgsp warehouse status``), not part of the answer, so that the same "
        "data always gives the same answer."
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
        description="The reference date of the counts (ngày thống kê); null when no row answers."
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


# -- citizens' satisfaction by month, procedure and agency (VNForm) -----------------


class YeuCauMucDoHaiLong(Contract):
    """Request of ``warehouse.feedback.satisfaction``."""

    maTTHC: MaTTHC | None = Field(default=None, description="Only this procedure (mã TTHC).")
    maDonVi: MaDonVi | None = Field(
        default=None, description="Only this agency (mã đơn vị), e.g. '000.00.00.H20'."
    )
    tuThang: Thang | None = Field(
        default=None, description="First month of the answers (từ tháng), YYYY-MM."
    )
    denThang: Thang | None = Field(
        default=None, description="Last month of the answers (đến tháng), included."
    )


class DongMucDoHaiLong(Contract):
    """How satisfied the citizens who answered VNForm's survey in one month
    were with one procedure at one agency."""

    thang: Thang = Field(description="Month of the answers (tháng), YYYY-MM.")
    maTTHC: MaTTHC = Field(description="The procedure (mã thủ tục hành chính).")
    tenTTHC: Annotated[str, StringConstraints(min_length=2, max_length=500)] = Field(
        description="Its name."
    )
    maDonVi: MaDonVi = Field(description="The agency that handled the dossiers (mã đơn vị).")
    soPhanHoi: int = Field(ge=1, description="Answers (số phản hồi).")
    soHaiLong: int = Field(
        ge=0, description="Of which satisfied overall (hài lòng: a score of 4 or 5)."
    )
    soChuaHaiLong: int = Field(ge=0, description="Of which not satisfied (scores 1 to 3).")
    tyLeHaiLong: float = Field(
        ge=0, le=1, description="Share of the answers satisfied overall (tỷ lệ hài lòng)."
    )
    diemTongThe: float = Field(ge=1, le=5, description="Average overall score (điểm tổng thể).")
    diemThoiGian: float = Field(
        ge=1, le=5, description="Average score of the time taken (điểm thời gian giải quyết)."
    )
    diemThaiDo: float = Field(
        ge=1, le=5, description="Average score of the officers' attitude (điểm thái độ phục vụ)."
    )


class MucDoHaiLong(DoTuoiDuLieu):
    """Response of ``warehouse.feedback.satisfaction``."""

    danhSach: list[DongMucDoHaiLong] = Field(
        description="One row per month, procedure and agency, in that order."
    )


# -- read-only SQL for the warehouse's operators ----------------------------------------

GiaTri = str | int | float | bool | None


class YeuCauTruyVan(Contract):
    """Request of ``warehouse.sql.query``: one read-only SELECT."""

    # 4,000 characters stay under the gateway's 64 KiB body limit even when
    # every one is sent as a 12-byte JSON escape, so a long statement is
    # refused by the contract (422), not by the body limit (413).
    sql: Annotated[str, StringConstraints(min_length=1, max_length=4_000)] = Field(
        description="One SELECT (or WITH ... SELECT) statement over the warehouse's tables, "
        "up to 4,000 characters."
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


# -- the services -----------------------------------------------------------------

PERIOD_INVALID: Final = "warehouse.period_invalid"
SQL_INVALID: Final = "warehouse.sql.invalid"
SQL_FORBIDDEN: Final = "warehouse.sql.forbidden"
SQL_TOO_SLOW: Final = "warehouse.sql.too_slow"
SQL_TIME_LIMIT_S: Final = 5.0
"""How long one warehouse.sql.query statement may run."""

_NOT_LOADED = (
    " Answers 503 (service.unavailable, Retry-After) until the warehouse has loaded its "
    "sources once."
)
_PERIOD = ErrorSpec(422, PERIOD_INVALID, "The period's start is after its end")
_CIVIL_STATUS = "Cấp Giấy xác nhận tình trạng hôn nhân"

DOSSIERS_MONTHLY_V1 = ServiceContract(
    service="warehouse.dossiers.monthly",
    version=1,
    owner=OWNER,
    description="Dossiers of the one-stop-shop by month of receipt, procedure and commune: "
    "how many were received, done on time or late against their due date (in working "
    "days, skipping weekends and public holidays), still in processing or overdue, refused "
    "or withdrawn. Fed by onestop.dossier.status-changed in real time and "
    "onestop.dossier.list on a schedule." + _NOT_LOADED,
    request=YeuCauHoSoTheoThang,
    response=HoSoTheoThang,
    errors=(_PERIOD,),
    examples=(
        Example(
            request={"tuThang": "2025-05", "denThang": "2025-05"},
            response={
                "capNhatLuc": "2025-05-15T08:30:00+07:00",
                "danhSach": [
                    {
                        "thang": "2025-05",
                        "maTTHC": "1.004873",
                        "tenTTHC": _CIVIL_STATUS,
                        "maXa": None,
                        "tenXa": None,
                        "soHoSo": 1,
                        "soDaGiaiQuyet": 1,
                        "soDungHan": 1,
                        "soTreHan": 0,
                        "soDangGiaiQuyet": 0,
                        "soQuaHan": 0,
                        "soTuChoiHoacRut": 0,
                        "tyLeDungHan": 1.0,
                        "soNgayTreTrungBinh": None,
                    }
                ],
            },
            title="May 2025: one civil status dossier, done on time",
        ),
        Example(
            request={"tuThang": "2024-01", "denThang": "2024-12", "maTTHC": "1.004873"},
            response={"capNhatLuc": None, "danhSach": []},
            title="A year before the one-stop-shop ran: nothing",
        ),
    ),
)
"""``warehouse.dossiers.monthly`` v1."""

PARCELS_LAND_USE_V1 = ServiceContract(
    service="warehouse.parcels.land-use",
    version=1,
    owner=OWNER,
    description="Land by commune and land-use code: how many parcels have land of each use "
    "and its total area, from the land database's snapshot (land.parcel.snapshot, pulled "
    "on a schedule)." + _NOT_LOADED,
    request=YeuCauThuaDatTheoMucDich,
    response=ThuaDatTheoMucDich,
    # Real on the demo data (lgsp_adapters.dataset, default seed, 10,000 citizens).
    examples=(
        Example(
            request={"maXa": "30037", "kyHieu": "LUC"},
            response={
                "capNhatLuc": None,
                "danhSach": [
                    {
                        "maXa": "30037",
                        "tenXa": "Xã Tháp Mười",
                        "kyHieu": "LUC",
                        "soThua": 25,
                        "dienTich": 177047.6,
                    }
                ],
            },
            title="Wet rice land of a rural commune",
        ),
    ),
)
"""``warehouse.parcels.land-use`` v1."""

POPULATION_AGE_GROUPS_V1 = ServiceContract(
    service="warehouse.population.age-groups",
    version=1,
    owner=OWNER,
    description="Residents by commune, five-year age group and gender on the reference "
    "date, from the national population database's counts (population.commune.statistics "
    "through NDXP, pulled on a schedule): counts only, no record." + _NOT_LOADED,
    request=YeuCauDanSoTheoNhomTuoi,
    response=DanSoTheoNhomTuoi,
    examples=(
        Example(
            request={"maXa": "00004"},
            response={"capNhatLuc": None, "ngayThongKe": None, "danhSach": []},
            title="A commune of another province: nobody",
        ),
    ),
)
"""``warehouse.population.age-groups`` v1."""

EXCHANGES_DAILY_V1 = ServiceContract(
    service="warehouse.exchanges.daily",
    version=1,
    owner=OWNER,
    description="The bus's exchanges by day, service and client, with their errors, from "
    "lgsp.exchange.statistics (the last 31 days, pulled on a schedule)." + _NOT_LOADED,
    request=YeuCauTraoDoiTheoNgay,
    response=TraoDoiTheoNgay,
    errors=(_PERIOD,),
    examples=(
        Example(
            request={"tuNgay": "2025-01-01", "denNgay": "2025-01-31"},
            response={"capNhatLuc": None, "danhSach": []},
            title="A month before the bus ran: nothing",
        ),
    ),
)
"""``warehouse.exchanges.daily`` v1."""

FEEDBACK_SATISFACTION_V1 = ServiceContract(
    service="warehouse.feedback.satisfaction",
    version=1,
    owner=OWNER,
    description="Citizens' satisfaction with the administrative procedures, by month of "
    "answer, procedure and the agency that handled the dossier: answers, the share "
    "satisfied overall (4 or 5 out of 5) and the average scores (overall, time taken, "
    "officers' attitude), from VNForm's survey answers (vnform.feedback.submitted). No "
    "comment and no dossier number leave the warehouse through it." + _NOT_LOADED,
    request=YeuCauMucDoHaiLong,
    response=MucDoHaiLong,
    errors=(_PERIOD,),
    examples=(
        Example(
            request={"tuThang": "2024-01", "denThang": "2024-12"},
            response={"capNhatLuc": None, "danhSach": []},
            title="A year before VNForm's survey ran: nothing",
        ),
    ),
)
"""``warehouse.feedback.satisfaction`` v1."""

SQL_QUERY_V1 = ServiceContract(
    service="warehouse.sql.query",
    version=1,
    owner=OWNER,
    description="Run one read-only SELECT (or WITH ... SELECT) over the warehouse's tables "
    f"(DuckDB SQL), for at most {SQL_TIME_LIMIT_S:g} s, answering at most gioiHan rows. No "
    "file, no other database, no change. Any 12-digit number in the answer (a personal "
    "id) is masked, keeping its first 3 and last 2 digits.",
    request=YeuCauTruyVan,
    response=KetQuaTruyVan,
    errors=(
        ErrorSpec(422, SQL_INVALID, "The statement does not parse or names what is not there"),
        ErrorSpec(
            422,
            SQL_FORBIDDEN,
            "Not one read-only SELECT, or it reaches outside the warehouse (files, databases)",
        ),
        ErrorSpec(422, SQL_TOO_SLOW, f"The statement ran longer than {SQL_TIME_LIMIT_S:g} s"),
    ),
    examples=(
        Example(
            request={"sql": "SELECT count(*) AS so_thu_tuc FROM procedures"},
            response={
                "cot": [{"ten": "so_thu_tuc", "kieu": "BIGINT"}],
                "dong": [[4]],
                "biCatBot": False,
            },
            title="How many procedures the one-stop-shop accepts",
        ),
        Example(
            request={
                "sql": "SELECT ma_tthc, so_ngay_xu_ly FROM procedures ORDER BY ma_tthc",
                "gioiHan": 2,
            },
            response={
                "cot": [
                    {"ten": "ma_tthc", "kieu": "VARCHAR"},
                    {"ten": "so_ngay_xu_ly", "kieu": "INTEGER"},
                ],
                "dong": [["1.004859", 3], ["1.004873", 3]],
                "biCatBot": True,
            },
            title="At most gioiHan rows",
        ),
    ),
)
"""``warehouse.sql.query`` v1."""

SERVICES: tuple[ServiceContract, ...] = (
    DOSSIERS_MONTHLY_V1,
    PARCELS_LAND_USE_V1,
    POPULATION_AGE_GROUPS_V1,
    EXCHANGES_DAILY_V1,
    FEEDBACK_SATISFACTION_V1,
    SQL_QUERY_V1,
)
TOPICS: tuple[TopicContract, ...] = ()
