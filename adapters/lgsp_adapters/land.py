"""Mock of the provincial land database (Cơ sở dữ liệu đất đai, Department of
Agriculture and Environment), on the demo dataset."""

from __future__ import annotations

import structlog
from lgsp_contracts.land import ThuaDat, YeuCauTraCuuThuaDat

from lgsp import Adapter, Context, DomainError
from lgsp_adapters import dataset

log = structlog.get_logger("lgsp_adapters.land")

adapter = Adapter(
    "land",
    agency="Sở Nông nghiệp và Môi trường tỉnh Đồng Tháp — Cơ sở dữ liệu đất đai (mock)",
)


@adapter.service("land.parcel.lookup", version=1)
async def parcel_lookup(request: YeuCauTraCuuThuaDat, ctx: Context) -> ThuaDat:
    """``land.parcel.lookup`` v1."""
    data = await dataset.ademo()
    parcel = data.parcel(request.maXa, request.soHieuToBanDo, request.soThuTuThua)
    log.info(
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
