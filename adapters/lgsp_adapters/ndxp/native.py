"""NDXP's native wire format, shared by the simulator (which speaks it) and
the connector (which converts it to and from the bus's contracts), so that
both sides agree by construction.

What is real and what is the simulator's choice:
- answers carry ``error_code`` and ``message`` with the platform's codes
  (100 AUTHEN_ERROR, 101 IP_DISALLOWED, 106 AGENCY_ID_INCORRECT,
  201 RECORD_NOT_FOUND, 302 DATA_TYPE_INVALID, 500 DATA_INCORRECT); "0" is
  success, and the national portal's adapter answers "00" for a sync that
  went through, as its clients check (VietOpenCPS/opencps-v2,
  ``DVCQGIntegrationActionImpl``);
- the population operations' request fields (``MaYeuCau``, ``MaDVC``,
  ``MaCanBo``, ``SoDinhDanh``, ``HoVaTen``, ``NgayThangNamSinh``) and the
  record's structure (``HoVaTen`` as ``Ho``/``ChuDem``/``Ten``,
  ``NgayThangNamSinh.NgayThangNam`` as ``yyyyMMdd``) follow the national SOAP
  service's element names, here as JSON. The real service gives gender, ethnic
  group and addresses as catalogue codes; the simulator gives gender as its
  code (1 male, 2 female) and the rest as names, with the address's unit
  names beside their codes, so the connector needs no catalogue;
- ``ThongKeDanSo`` (residents by commune, age group and gender) is the
  simulator's own operation, in the same style: the real platform's
  statistics services are not public;
- the portal's ``DongBoHoSoMC`` and ``CapNhatTienDoHoSoMC`` items use the
  field names its clients send, times as ``yyyyMMddHHmmss`` in
  Asia/Ho_Chi_Minh. The portal's own error codes are not public: the
  simulator answers its errors with NDXP's codes.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Final, Literal, get_args

import orjson
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from lgsp_adapters.workdays import VN_TZ
from lgsp_contracts.fields import DiaChi
from lgsp_contracts.population import CongDan, NhomTuoi

OK: Final = "0"
PORTAL_OK: Final = "00"
FAILED: Final = "1"
"""A failure of the platform itself (its generic ``error_code`` "1")."""
AUTHEN_ERROR: Final = "100"
IP_DISALLOWED: Final = "101"
AGENCY_ID_INCORRECT: Final = "106"
RECORD_NOT_FOUND: Final = "201"
DATA_TYPE_INVALID: Final = "302"
DATA_INCORRECT: Final = "500"

MESSAGES: Final[dict[str, str]] = {
    OK: "SUCCESS",
    PORTAL_OK: "Thành công",
    FAILED: "SYSTEM_ERROR",
    AUTHEN_ERROR: "AUTHEN_ERROR",
    IP_DISALLOWED: "IP_DISALLOWED",
    AGENCY_ID_INCORRECT: "AGENCY_ID_INCORRECT",
    RECORD_NOT_FOUND: "RECORD_NOT_FOUND",
    DATA_TYPE_INVALID: "DATA_TYPE_INVALID",
    DATA_INCORRECT: "DATA_INCORRECT",
}

# Paths of the simulated platform (WSO2 API Manager style: /<api>/<version>/...).
TOKEN_PATH: Final = "/token"
LOOKUP_PATH: Final = "/dancu/1.0/TraCuuThongTinCongDan"
VERIFY_PATH: Final = "/dancu/1.0/XacThucThongTinCongDan"
STATISTICS_PATH: Final = "/dancu/1.0/ThongKeDanSo"
TRACKER_PATH: Final = "/ndop/v1/tracker"
"""NDOP's citizens' data tracker (mounted in NDXP)."""
PORTAL_LOGIN_PATH: Final = "/dvcqg/1.0/login"
PORTAL_PATH: Final = "/dvcqg/1.0/integration"

DONG_BO: Final = "DongBoHoSoMC"
CAP_NHAT: Final = "CapNhatTienDoHoSoMC"


def answer(code: str, detail: str = "", **data: Any) -> dict[str, Any]:
    """A native answer: ``{"error_code", "message", ...}``."""
    label = MESSAGES.get(code, MESSAGES[FAILED])
    return {"error_code": code, "message": f"{label}: {detail}" if detail else label, **data}


def respond(
    body: dict[str, Any], *, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """A native answer as an HTTP response."""
    return web.Response(
        body=orjson.dumps(body), status=status, headers=headers, content_type="application/json"
    )


def refusal(status: int, code: str, detail: str) -> web.HTTPException:
    """A native error answer to raise from a handler (4xx)."""
    headers = {"WWW-Authenticate": 'Bearer realm="ndxp"'} if status == 401 else None
    cls: type[web.HTTPException] = {
        401: web.HTTPUnauthorized,
        403: web.HTTPForbidden,
        404: web.HTTPNotFound,
    }.get(status, web.HTTPBadRequest)
    return cls(
        text=orjson.dumps(answer(code, detail)).decode(),
        content_type="application/json",
        headers=headers,
    )


def date_out(day: dt.date) -> str:
    """``yyyyMMdd``, as the national services write dates."""
    # strftime's %Y is not zero-padded on every platform (year 83 → "83").
    return f"{day.year:04d}{day:%m%d}"


def date_in(text: str) -> dt.date:
    """Parse ``yyyyMMdd``; ValueError when it is not one."""
    if len(text) != 8 or not text.isdigit():
        raise ValueError(f"{text!r} is not yyyyMMdd")
    return dt.datetime.strptime(text, "%Y%m%d").date()


def time_out(moment: dt.datetime) -> str:
    """``yyyyMMddHHmmss`` in Asia/Ho_Chi_Minh, as the portal writes times."""
    local = moment.astimezone(VN_TZ)
    return f"{local.year:04d}{local:%m%d%H%M%S}"


def time_in(text: str) -> dt.datetime:
    """Parse ``yyyyMMddHHmmss`` (Asia/Ho_Chi_Minh); ValueError when it is not one."""
    if len(text) != 14 or not text.isdigit():
        raise ValueError(f"{text!r} is not yyyyMMddHHmmss")
    return dt.datetime.strptime(text, "%Y%m%d%H%M%S").replace(tzinfo=VN_TZ)


class Native(BaseModel):
    """A native message: lenient as a remote JSON service is (unknown fields
    are ignored), typed all the same."""

    model_config = ConfigDict(extra="ignore", frozen=True)


# -- population database ----------------------------------------------------


class YeuCauCoTrachNhiem(Native):
    """Who asks and why: the head of every population operation."""

    MaYeuCau: str = Field(min_length=1, max_length=64)
    MaDVC: str = Field(min_length=1, max_length=64)
    MaCanBo: str = Field(min_length=1, max_length=64)


class YeuCauCongDan(YeuCauCoTrachNhiem):
    """Who asks and why, then whom about: lookup and verification."""

    SoDinhDanh: str = Field(pattern=r"^[0-9]{12}$")
    HoVaTen: str | None = None
    NgayThangNamSinh: str | None = Field(default=None, pattern=r"^[0-9]{8}$")


class HoVaTenNative(Native):
    Ho: str
    ChuDem: str = ""
    Ten: str

    @classmethod
    def of(cls, full_name: str) -> HoVaTenNative:
        words = full_name.split()
        if len(words) == 1:
            return cls(Ho="", Ten=words[0])
        return cls(Ho=words[0], ChuDem=" ".join(words[1:-1]), Ten=words[-1])

    def full(self) -> str:
        return " ".join(part for part in (self.Ho, self.ChuDem, self.Ten) if part)


class NgaySinhNative(Native):
    NgayThangNam: str


class DiaChiNative(Native):
    ChiTiet: str | None = None
    MaPhuongXa: str
    TenPhuongXa: str
    MaTinhThanh: str
    TenTinhThanh: str

    @classmethod
    def of(cls, address: DiaChi) -> DiaChiNative:
        return cls(
            ChiTiet=address.chiTiet,
            MaPhuongXa=address.maXa,
            TenPhuongXa=address.tenXa,
            MaTinhThanh=address.maTinh,
            TenTinhThanh=address.tenTinh,
        )

    def record(self) -> DiaChi:
        return DiaChi(
            chiTiet=self.ChiTiet,
            maXa=self.MaPhuongXa,
            tenXa=self.TenPhuongXa,
            maTinh=self.MaTinhThanh,
            tenTinh=self.TenTinhThanh,
        )


class NguoiThan(Native):
    """A relative (father, mother, spouse), named by personal id."""

    SoDinhDanh: str


GIOI_TINH: Final[dict[str, Literal["Nam", "Nữ"]]] = {"1": "Nam", "2": "Nữ"}


class CongDanNative(Native):
    """A citizen's record as the national service gives it."""

    SoDinhDanh: str
    HoVaTen: HoVaTenNative
    NgayThangNamSinh: NgaySinhNative
    GioiTinh: Literal["1", "2"]
    DanToc: str
    TonGiao: str
    QuocTich: str
    QueQuan: DiaChiNative
    ThuongTru: DiaChiNative
    NoiOHienTai: DiaChiNative
    Cha: NguoiThan | None = None
    Me: NguoiThan | None = None
    VoChong: NguoiThan | None = None

    @classmethod
    def of(cls, citizen: CongDan) -> CongDanNative:
        def relative(so_dinh_danh: str | None) -> NguoiThan | None:
            return None if so_dinh_danh is None else NguoiThan(SoDinhDanh=so_dinh_danh)

        return cls(
            SoDinhDanh=citizen.soDinhDanh,
            HoVaTen=HoVaTenNative.of(citizen.hoVaTen),
            NgayThangNamSinh=NgaySinhNative(NgayThangNam=date_out(citizen.ngaySinh)),
            GioiTinh="1" if citizen.gioiTinh == "Nam" else "2",
            DanToc=citizen.danToc,
            TonGiao=citizen.tonGiao,
            QuocTich=citizen.quocTich,
            QueQuan=DiaChiNative.of(citizen.queQuan),
            ThuongTru=DiaChiNative.of(citizen.noiThuongTru),
            NoiOHienTai=DiaChiNative.of(citizen.noiOHienTai),
            Cha=relative(citizen.soDinhDanhCha),
            Me=relative(citizen.soDinhDanhMe),
            VoChong=relative(citizen.soDinhDanhVoChong),
        )

    def record(self) -> CongDan:
        return CongDan(
            soDinhDanh=self.SoDinhDanh,
            hoVaTen=self.HoVaTen.full(),
            ngaySinh=date_in(self.NgayThangNamSinh.NgayThangNam),
            gioiTinh=GIOI_TINH[self.GioiTinh],
            danToc=self.DanToc,
            tonGiao=self.TonGiao,
            quocTich=self.QuocTich,
            queQuan=self.QueQuan.record(),
            noiThuongTru=self.ThuongTru.record(),
            noiOHienTai=self.NoiOHienTai.record(),
            soDinhDanhCha=self.Cha.SoDinhDanh if self.Cha else None,
            soDinhDanhMe=self.Me.SoDinhDanh if self.Me else None,
            soDinhDanhVoChong=self.VoChong.SoDinhDanh if self.VoChong else None,
        )


TruongXacThuc = Literal["HoVaTen", "NgayThangNamSinh"]


class KetQuaXacThuc(Native):
    """What a verification answers: a yes/no and the fields that did not match."""

    KetQuaXacThuc: bool
    TruongKhongKhop: list[TruongXacThuc]


class YeuCauThongKe(YeuCauCoTrachNhiem):
    """``ThongKeDanSo``: residents by commune, age group and gender on a
    date (``yyyyMMdd``), of one commune if ``MaPhuongXa`` is given."""

    NgayThongKe: str = Field(pattern=r"^[0-9]{8}$")
    MaPhuongXa: str | None = Field(default=None, pattern=r"^[0-9]{5}$")


NHOM_TUOI: Final[tuple[NhomTuoi, ...]] = get_args(NhomTuoi)
"""The five-year age groups by index (0 for 0-4 ... the last for 80 and
over), labelled as the contract labels them."""


class DongThongKe(Native):
    """One cell of ``ThongKeDanSo``: a commune, an age group, a gender (its
    code, as in a record) and how many residents."""

    MaPhuongXa: str
    TenPhuongXa: str
    NhomTuoi: NhomTuoi
    GioiTinh: Literal["1", "2"]
    SoNguoi: int = Field(ge=1)


class ThongKeDanSoNative(Native):
    """What ``ThongKeDanSo`` answers: the date and the non-empty cells, by
    commune, age group and gender."""

    NgayThongKe: str
    DanhSach: list[DongThongKe]


# -- national public service portal -----------------------------------------


class DangNhap(Native):
    """The portal adapter's session login."""

    username: str
    password: str


class YeuCauCong(Native):
    """A call of the portal adapter: ``{session, madonvi, service, data, isUpdating}``."""

    session: str
    madonvi: str
    service: str
    data: list[dict[str, Any]] = Field(default_factory=list)
    isUpdating: Literal["True", "False"] | None = None


TrangThai = Literal["1", "2", "3", "4", "5", "6", "7", "8", "9", "10"]


class HoSoMC(Native):
    """One dossier of ``DongBoHoSoMC``."""

    MaHoSo: str = Field(min_length=1, max_length=60)
    MaTTHC: str = Field(min_length=1, max_length=40)
    TenTTHC: str = Field(min_length=1, max_length=300)
    ChuHoSo: str = Field(min_length=1, max_length=100)
    LoaiDoiTuong: Literal["1", "2"] = "1"
    """1: a citizen; 2: an organisation."""
    MaDoiTuong: str = ""
    """The applicant's identifier (the personal id, for a citizen)."""
    NgayTiepNhan: str = Field(pattern=r"^[0-9]{14}$")
    NgayHenTra: str = Field(pattern=r"^[0-9]{14}$")
    TrangThaiHoSo: TrangThai
    DonViXuLy: str = ""
    GhiChu: str = ""


class TienDoHoSoMC(Native):
    """One progress step of ``CapNhatTienDoHoSoMC``."""

    MaHoSo: str = Field(min_length=1, max_length=60)
    NguoiXuLy: str = ""
    ChucDanh: str = ""
    ThoiDiemXuLy: str = Field(pattern=r"^[0-9]{14}$")
    PhongBanXuLy: str = ""
    NoiDungXuLy: str = ""
    TrangThai: TrangThai


class KetQuaDongBoMC(Native):
    """The portal's answer per dossier: the status it holds and how many
    distinct statuses (status, time) it holds for it."""

    MaHoSo: str
    TrangThai: TrangThai
    SoTrangThai: int
