"""Mock of the national public service portal (Cổng Dịch vụ công quốc gia):
it keeps every status of every dossier the provinces report, with its time,
as its real synchronisation (``DongBoHoSoMC``, ``CapNhatTienDoHoSoMC``) does.

For now it hears the one-stop-shop's events on the bus; the store's shape
stays when the sync goes through NDXP.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import structlog
from lgsp_contracts.onestop import SuKienTrangThaiHoSo, TrangThaiHoSo

from lgsp import Adapter, Context
from lgsp_adapters.workdays import VN_TZ

log = structlog.get_logger("lgsp_adapters.dvcqg")

adapter = Adapter("dvcqg", agency="Văn phòng Chính phủ — Cổng Dịch vụ công quốc gia (mock)")


@dataclass(frozen=True, slots=True)
class SyncedStatus:
    """One status of a dossier as the portal holds it."""

    ma_tthc: str
    trang_thai: TrangThaiHoSo
    trang_thai_cu: TrangThaiHoSo | None
    thoi_diem: dt.datetime
    """When the status changed at the province."""
    ghi_chu: str | None
    synced_at: dt.datetime
    """When the portal learnt of it."""


class Portal:
    """The portal's copy of the provinces' dossiers: the statuses of each
    dossier (mã hồ sơ) in the order they arrived."""

    def __init__(self) -> None:
        self._statuses: dict[str, list[SyncedStatus]] = {}

    def record(self, event: SuKienTrangThaiHoSo) -> bool:
        """Keep a status; False if it is already kept (events come at least once)."""
        statuses = self._statuses.setdefault(event.maHoSo, [])
        key = (event.trangThai, event.trangThaiCu, event.thoiDiem)
        if any((s.trang_thai, s.trang_thai_cu, s.thoi_diem) == key for s in statuses):
            return False
        statuses.append(
            SyncedStatus(
                ma_tthc=event.maTTHC,
                trang_thai=event.trangThai,
                trang_thai_cu=event.trangThaiCu,
                thoi_diem=event.thoiDiem,
                ghi_chu=event.ghiChu,
                synced_at=dt.datetime.now(VN_TZ),
            )
        )
        return True

    def statuses(self, ma_ho_so: str) -> tuple[SyncedStatus, ...]:
        """Every status synced for a dossier, oldest first."""
        return tuple(self._statuses.get(ma_ho_so, ()))

    def __len__(self) -> int:
        return len(self._statuses)

    def clear(self) -> None:
        self._statuses.clear()


portal = Portal()
"""This process's portal."""


@adapter.subscribe("onestop.dossier.status-changed", name="dvcqg.sync")
async def sync_status(event: SuKienTrangThaiHoSo, ctx: Context) -> None:
    """Keep every status change of every dossier."""
    if portal.record(event):
        log.info(
            "dvcqg.status_synced",
            request_id=ctx.request_id,
            client=ctx.client,
            ma_ho_so=event.maHoSo,
            trang_thai=event.trangThai,
        )
