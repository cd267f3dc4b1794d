"""Mock of the provincial land database (Cơ sở dữ liệu đất đai, Department of
Agriculture and Environment), on the dataset of the adapter's province (its
``env``: Đồng Tháp's demo dataset in one-province mode, each province's own
for the copies a network makes)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import structlog

from lgsp import Adapter, Context, DomainError
from lgsp_adapters import dataset, provinces
from lgsp_contracts.land import (
    DanhSachThuaDat,
    GiayChungNhanQuyenSuDungDat,
    ThuaDat,
    TrangThuaDat,
    YeuCauSaoChepThuaDat,
    YeuCauTimThuaDat,
    YeuCauTraCuuGiayChungNhan,
    YeuCauTraCuuThuaDat,
)

log = structlog.get_logger("lgsp_adapters.land")

adapter = Adapter("land", agency=provinces.agency_for("land", provinces.DEFAULT))


@dataclass
class _Held:
    data: dataset.Dataset | None = None


_held = adapter.per_copy(lambda _copy: _Held())


async def _dataset(ctx: Context) -> dataset.Dataset:
    """The dataset of the copy that serves (its province's), found once:
    reading the settings on every call would cost the exchange path."""
    held = _held(ctx.adapter)
    if held.data is None:
        held.data = await dataset.afor_env(ctx.adapter.env)
    return held.data


@adapter.on_start
async def build_dataset(ctx: Context) -> None:
    """Build the province's dataset before serving: the bus says it is
    ready only after, so no first call waits for it."""
    await _dataset(ctx)


@adapter.service("land.parcel.lookup", version=1)
async def parcel_lookup(request: YeuCauTraCuuThuaDat, ctx: Context) -> ThuaDat:
    """``land.parcel.lookup`` v1."""
    data = await _dataset(ctx)
    parcel = data.parcel(request.maXa, request.soHieuToBanDo, request.soThuTuThua)
    log.debug(
        "parcel.lookup",
        request_id=ctx.request_id,
        client=ctx.client,
        ma_xa=request.maXa,
        to=request.soHieuToBanDo,
        thua=request.soThuTuThua,
        found=parcel is not None,
    )
    if parcel is None:
        raise DomainError("land.parcel.not_found", "no parcel with this commune, sheet and number")
    return parcel


@adapter.service("land.parcel.search", version=1)
async def parcel_search(request: YeuCauTimThuaDat, ctx: Context) -> DanhSachThuaDat:
    """``land.parcel.search`` v1."""
    data = await _dataset(ctx)
    size = request.soBanGhiMoiTrang
    total, page = data.parcels_of(request.soDinhDanh, offset=(request.trang - 1) * size, limit=size)
    # Who asked and how much came back; the land user's id stays out of logs.
    log.debug(
        "parcel.search",
        request_id=ctx.request_id,
        client=ctx.client,
        trang=request.trang,
        total=total,
        returned=len(page),
    )
    return DanhSachThuaDat(
        soDinhDanh=request.soDinhDanh,
        tongSoBanGhi=total,
        trang=request.trang,
        soBanGhiMoiTrang=size,
        danhSach=page,
    )


@adapter.service("land.certificate.lookup", version=1)
async def certificate_lookup(
    request: YeuCauTraCuuGiayChungNhan, ctx: Context
) -> GiayChungNhanQuyenSuDungDat:
    """``land.certificate.lookup`` v1."""
    data = await _dataset(ctx)
    certificate = data.certificate(request.soPhatHanh)
    log.debug(
        "certificate.lookup",
        request_id=ctx.request_id,
        client=ctx.client,
        so_phat_hanh=request.soPhatHanh,
        found=certificate is not None,
    )
    if certificate is None:
        raise DomainError("land.certificate.not_found", "no certificate with this issue number")
    return certificate


@adapter.service("land.parcel.snapshot", version=1)
async def parcel_snapshot(request: YeuCauSaoChepThuaDat, ctx: Context) -> TrangThuaDat:
    """``land.parcel.snapshot`` v1: a page of parcels in key order, after
    ``sauKhoa``; ``khoaTiepTheo`` is the page's last key while more follow."""
    data = await _dataset(ctx)
    after = None
    if request.sauKhoa is not None:
        ma_xa, sheet, number = request.sauKhoa.split("/")
        after = (ma_xa, int(sheet), int(number))
    # Up to 5000 records to build: off the event loop.
    page, more = await asyncio.to_thread(
        data.parcel_page, ma_xa=request.maXa, after=after, limit=request.soBanGhi
    )
    log.debug(
        "parcel.snapshot",
        request_id=ctx.request_id,
        client=ctx.client,
        ma_xa=request.maXa,
        sau_khoa=request.sauKhoa,
        returned=len(page),
        more=more,
    )
    last = page[-1] if page and more else None
    return TrangThuaDat(
        danhSach=page,
        khoaTiepTheo=None
        if last is None
        else f"{last.maXa}/{last.soHieuToBanDo}/{last.soThuTuThua}",
    )
