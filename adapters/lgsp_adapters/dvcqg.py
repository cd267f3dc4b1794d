"""The province's synchronisation of its dossiers to the national public
service portal (Cổng Dịch vụ công quốc gia): every status change the
one-stop-shop announces is sent on, with the dossier's snapshot, through
``dvcqg.dossier.sync`` (served by the NDXP connector; the portal's copy lives
in the NDXP simulator).

When NDXP or the one-stop-shop is down, the call raises a transient error
and the SDK retries the event with backoff until it goes through: the
subscriber's queue holds the events meanwhile, in order, and none is lost.
"""

from __future__ import annotations

import structlog

from lgsp import Adapter, Context
from lgsp_contracts.dvcqg import KetQuaDongBo, YeuCauDongBoHoSo
from lgsp_contracts.onestop import HoSo, SuKienTrangThaiHoSo, YeuCauTraCuuHoSo

log = structlog.get_logger("lgsp_adapters.dvcqg")

adapter = Adapter(
    "dvcqg",
    agency="UBND tỉnh Đồng Tháp — đồng bộ hồ sơ lên Cổng Dịch vụ công quốc gia (mock)",
)


@adapter.subscribe("onestop.dossier.status-changed", name="dvcqg.sync")
async def sync_status(event: SuKienTrangThaiHoSo, ctx: Context) -> None:
    """Sync the step an event announces, with the dossier's snapshot."""
    dossier: HoSo = await ctx.call(
        "onestop.dossier.status", YeuCauTraCuuHoSo(maHoSo=event.maHoSo), version=1
    )
    # The step is the event's, not the snapshot's status now: when steps
    # follow each other quickly, each one still reaches the portal, in order.
    result: KetQuaDongBo = await ctx.call(
        "dvcqg.dossier.sync",
        YeuCauDongBoHoSo(
            maHoSo=dossier.maHoSo,
            maTTHC=dossier.maTTHC,
            tenTTHC=dossier.tenTTHC,
            chuHoSo=dossier.chuHoSo,
            ngayTiepNhan=dossier.ngayTiepNhan,
            ngayHenTra=dossier.ngayHenTra,
            trangThai=event.trangThai,
            thoiDiem=event.thoiDiem,
            ghiChu=event.ghiChu,
        ),
        version=1,
    )
    log.info(
        "dvcqg.dossier_synced",
        request_id=ctx.request_id,
        ma_ho_so=event.maHoSo,
        trang_thai=event.trangThai,
        so_lan_dong_bo=result.soLanDongBo,
    )
