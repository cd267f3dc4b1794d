"""The national population database (Cơ sở dữ liệu quốc gia về dân cư, Ministry
of Public Security) behind the simulated NDXP, on the demo datasets of the
provinces NDXP links (the national register: a citizen is found whichever
of them they live in): ``TraCuuThongTinCongDan`` (lookup),
``XacThucThongTinCongDan`` (verification, which answers whether the data
match, never the record) and ``ThongKeDanSo`` (residents by commune, age
group and gender: counts only, of the calling LGSP's own province). NDOP's
citizens' tracker checks its proof against the same register
(:func:`birth_date_lookup`)."""

from __future__ import annotations

import asyncio
import datetime as dt
import unicodedata
from collections.abc import Awaitable, Callable
from typing import Protocol

import structlog
from aiohttp import web
from pydantic import ValidationError

from lgsp_adapters import dataset
from lgsp_adapters.ndxp import native
from lgsp_adapters.ndxp.auth import authenticate
from lgsp_adapters.ndxp.native import (
    NHOM_TUOI,
    CongDanNative,
    DongThongKe,
    KetQuaXacThuc,
    ThongKeDanSoNative,
    TruongXacThuc,
    YeuCauCongDan,
    YeuCauCoTrachNhiem,
    YeuCauThongKe,
    refusal,
    respond,
)
from lgsp_adapters.ndxp.simulator import SIMULATOR, Simulator
from lgsp_contracts.population import CongDan

log = structlog.get_logger("lgsp_adapters.ndxp.population")

API = "dancu"


class Citizens(Protocol):
    """Where citizens are looked up: one province's dataset or the national
    register over several."""

    def citizen(self, so_dinh_danh: str) -> CongDan | None: ...


async def register(sim: Simulator) -> dataset.NationalRegister:
    """The national register over the provinces NDXP links now (its one
    province, Đồng Tháp, unless told of a network)."""
    return await dataset.national(sim.config.gateways)


def birth_date_lookup(sim: Simulator) -> Callable[[str], Awaitable[dt.date | None]]:
    """The birth date the national register holds for a personal id (None:
    nobody has it): what NDOP's tracker checks its proof against."""

    async def birth_date(so_dinh_danh: str) -> dt.date | None:
        citizen = (await register(sim)).citizen(so_dinh_danh)
        return None if citizen is None else citizen.ngaySinh

    return birth_date


def same_name(a: str, b: str) -> bool:
    """Names compare as the same text (Unicode NFC), ignoring case and spacing."""

    def norm(name: str) -> str:
        return " ".join(unicodedata.normalize("NFC", name).split()).casefold()

    return norm(a) == norm(b)


def lookup_citizen(
    data: Citizens,
    so_dinh_danh: str,
    ho_va_ten: str | None = None,
    ngay_sinh: dt.date | None = None,
) -> CongDan | None:
    """The citizen with this personal id, if the name and birth date given
    (if any) agree with the record: a record is only returned to a caller who
    already knows who it is about."""
    citizen = data.citizen(so_dinh_danh)
    if (
        citizen is None
        or (ho_va_ten is not None and not same_name(ho_va_ten, citizen.hoVaTen))
        or (ngay_sinh is not None and ngay_sinh != citizen.ngaySinh)
    ):
        return None
    return citizen


def verify_citizen(
    data: Citizens, so_dinh_danh: str, ho_va_ten: str, ngay_sinh: dt.date
) -> list[TruongXacThuc] | None:
    """The fields that do not match the record of this personal id (empty:
    all match), or None when nobody has it."""
    citizen = data.citizen(so_dinh_danh)
    if citizen is None:
        return None
    wrong: list[TruongXacThuc] = []
    if not same_name(ho_va_ten, citizen.hoVaTen):
        wrong.append("HoVaTen")
    if ngay_sinh != citizen.ngaySinh:
        wrong.append("NgayThangNamSinh")
    return wrong


async def _request(request: web.Request) -> tuple[YeuCauCongDan, dt.date | None]:
    try:
        body = YeuCauCongDan.model_validate_json(await request.read())
        born = None if body.NgayThangNamSinh is None else native.date_in(body.NgayThangNamSinh)
    except (ValidationError, ValueError) as exc:
        detail = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
        raise refusal(400, native.DATA_TYPE_INVALID, detail) from None
    return body, born


def _accountability(caller: str, body: YeuCauCoTrachNhiem) -> dict[str, str]:
    # Who asked and why; never whom about.
    return {"client": caller, "ma_yeu_cau": body.MaYeuCau, "ma_dvc": body.MaDVC}


async def lookup(request: web.Request) -> web.Response:
    """``POST /dancu/1.0/TraCuuThongTinCongDan``."""
    caller = authenticate(request, API)
    body, born = await _request(request)
    found = await register(request.app[SIMULATOR])
    citizen = lookup_citizen(found, body.SoDinhDanh, body.HoVaTen, born)
    log.info("dancu.lookup", found=citizen is not None, **_accountability(caller, body))
    if citizen is None:
        return respond(native.answer(native.RECORD_NOT_FOUND, "no citizen matches"))
    record = CongDanNative.of(citizen).model_dump()
    return respond(native.answer(native.OK, data=record))


async def verify(request: web.Request) -> web.Response:
    """``POST /dancu/1.0/XacThucThongTinCongDan``."""
    caller = authenticate(request, API)
    body, born = await _request(request)
    if body.HoVaTen is None or born is None:
        raise refusal(400, native.DATA_TYPE_INVALID, "HoVaTen and NgayThangNamSinh are required")
    found = await register(request.app[SIMULATOR])
    wrong = verify_citizen(found, body.SoDinhDanh, body.HoVaTen, born)
    log.info(
        "dancu.verify",
        found=wrong is not None,
        match=wrong == [],
        **_accountability(caller, body),
    )
    if wrong is None:
        return respond(native.answer(native.RECORD_NOT_FOUND, "no citizen has this id"))
    result = KetQuaXacThuc(KetQuaXacThuc=not wrong, TruongKhongKhop=wrong)
    return respond(native.answer(native.OK, data=result.model_dump()))


async def commune_statistics(
    data: dataset.Dataset, day: dt.date, ma_xa: str | None = None
) -> ThongKeDanSoNative:
    """Residents on ``day`` by commune of permanent residence, age group and
    gender, of one commune if ``ma_xa`` is given (a commune of the
    province: the caller checks). The first count of a day runs off the
    event loop (the dataset keeps it)."""
    counts = await asyncio.to_thread(data.residents_by_age, day)
    return ThongKeDanSoNative(
        NgayThongKe=native.date_out(day),
        DanhSach=[
            DongThongKe(
                MaPhuongXa=cell.commune.code,
                TenPhuongXa=cell.commune.name,
                NhomTuoi=NHOM_TUOI[cell.age_group],
                GioiTinh="2" if cell.female else "1",
                SoNguoi=cell.residents,
            )
            for cell in counts
            if ma_xa is None or cell.commune.code == ma_xa
        ],
    )


async def statistics(request: web.Request) -> web.Response:
    """``POST /dancu/1.0/ThongKeDanSo``: of the communes of the calling
    LGSP's province."""
    sim = request.app[SIMULATOR]
    caller = authenticate(request, API)
    province = sim.config.clients[caller].province
    try:
        body = YeuCauThongKe.model_validate_json(await request.read())
        day = native.date_in(body.NgayThongKe)
    except (ValidationError, ValueError) as exc:
        detail = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
        raise refusal(400, native.DATA_TYPE_INVALID, detail) from None
    national = await register(sim)
    if province is None or province not in national.provinces:
        raise refusal(
            403, native.AGENCY_ID_INCORRECT, f"{caller} is the LGSP of no province of this NDXP"
        )
    data = national.dataset(province)
    # One of the province's own communes (its dataset also knows others:
    # where its residents were born).
    known = body.MaPhuongXa is None or national.province_of_commune(body.MaPhuongXa) == province
    log.info(
        "dancu.statistics",
        ma_phuong_xa=body.MaPhuongXa,
        found=known,
        **_accountability(caller, body),
    )
    if not known:
        return respond(
            native.answer(native.RECORD_NOT_FOUND, "no commune of the province has this code")
        )
    result = await commune_statistics(data, day, body.MaPhuongXa)
    return respond(native.answer(native.OK, data=result.model_dump()))
