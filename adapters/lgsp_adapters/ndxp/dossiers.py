"""What the national public service portal holds of the province's dossiers:
the snapshot ``DongBoHoSoMC`` sent and every status ``CapNhatTienDoHoSoMC``
sent, with its time, kept idempotently (the same status at the same time
twice is one entry), so that a test or a person can read back what was
synced."""

from __future__ import annotations

import datetime as dt
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final

from pydantic import ValidationError

from lgsp_adapters.ndxp import native
from lgsp_adapters.ndxp.native import HoSoMC, KetQuaDongBoMC, TienDoHoSoMC, TrangThai
from lgsp_adapters.workdays import VN_TZ

MAX_DOSSIERS: Final = 100_000
MAX_STEPS: Final = 500
HISTORY: Final = 100
"""Calls remembered per dossier, newest kept."""


class PortalError(Exception):
    """A native error answer: ``code`` is one of :mod:`native`'s."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class Step:
    """A status the portal holds for a dossier."""

    trang_thai: TrangThai
    at: dt.datetime
    """When the dossier entered it (``ThoiDiemXuLy``)."""
    noi_dung: str
    nguoi_xu_ly: str
    received: dt.datetime


@dataclass
class Dossier:
    ma_ho_so: str
    madonvi: str
    snapshot: HoSoMC
    received: dt.datetime
    steps: list[Step] = field(default_factory=list)
    calls: deque[dict[str, str]] = field(default_factory=lambda: deque(maxlen=HISTORY))

    def status(self) -> TrangThai:
        """The status now: the latest step's (by time, then by arrival), else
        the snapshot's."""
        if not self.steps:
            return self.snapshot.TrangThaiHoSo
        return max(enumerate(self.steps), key=lambda s: (s[1].at, s[0]))[1].trang_thai

    def result(self) -> KetQuaDongBoMC:
        return KetQuaDongBoMC(
            MaHoSo=self.ma_ho_so, TrangThai=self.status(), SoTrangThai=len(self.steps)
        )

    def native(self) -> dict[str, Any]:
        """The read-back: everything the portal holds of this dossier."""
        return {
            "MaHoSo": self.ma_ho_so,
            "MaDonVi": self.madonvi,
            "TrangThaiHoSo": self.status(),
            "SoTrangThai": len(self.steps),
            "HoSo": self.snapshot.model_dump(),
            "TienDo": [
                {
                    "TrangThai": s.trang_thai,
                    "ThoiDiemXuLy": native.time_out(s.at),
                    "NoiDungXuLy": s.noi_dung,
                    "NguoiXuLy": s.nguoi_xu_ly,
                    "NhanLuc": native.time_out(s.received),
                }
                for s in sorted(self.steps, key=lambda s: s.at)
            ],
            "LichSuDongBo": list(self.calls),
        }

    def summary(self) -> dict[str, Any]:
        return {
            "MaHoSo": self.ma_ho_so,
            "MaTTHC": self.snapshot.MaTTHC,
            "TrangThaiHoSo": self.status(),
            "SoTrangThai": len(self.steps),
        }


def _items(model: type[HoSoMC] | type[TienDoHoSoMC], data: list[dict[str, Any]]) -> list[Any]:
    items = []
    for i, item in enumerate(data):
        try:
            items.append(model.model_validate(item))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            raise PortalError(
                native.DATA_TYPE_INVALID, f"data[{i}].{where}: {first['msg']}"
            ) from None
    if not items:
        raise PortalError(native.DATA_TYPE_INVALID, "data is empty")
    return items


def _time(i: int, name: str, text: str) -> dt.datetime:
    try:
        return native.time_in(text)
    except ValueError:
        raise PortalError(
            native.DATA_TYPE_INVALID, f"data[{i}].{name}: not a yyyyMMddHHmmss time"
        ) from None


class DossierStore:
    """The portal's dossiers, by ``MaHoSo``."""

    def __init__(self, *, now: Callable[[], dt.datetime] = lambda: dt.datetime.now(VN_TZ)) -> None:
        self._now = now
        self._dossiers: dict[str, Dossier] = {}

    def __iter__(self) -> Iterator[Dossier]:
        return iter(list(self._dossiers.values()))

    def __len__(self) -> int:
        return len(self._dossiers)

    def get(self, ma_ho_so: str) -> Dossier | None:
        return self._dossiers.get(ma_ho_so)

    def clear(self) -> None:
        self._dossiers.clear()

    def sync(
        self, madonvi: str, data: list[dict[str, Any]], is_updating: str | None
    ) -> list[KetQuaDongBoMC]:
        """``DongBoHoSoMC``: store each dossier's snapshot (an upsert: sending
        it again changes nothing). All items or none."""
        items: list[HoSoMC] = _items(HoSoMC, data)
        for i, item in enumerate(items):
            received = _time(i, "NgayTiepNhan", item.NgayTiepNhan)
            if _time(i, "NgayHenTra", item.NgayHenTra) < received:
                raise PortalError(
                    native.DATA_INCORRECT, f"data[{i}]: NgayHenTra before NgayTiepNhan"
                )
            known = self._dossiers.get(item.MaHoSo)
            if known is not None and known.madonvi != madonvi:
                raise PortalError(
                    native.AGENCY_ID_INCORRECT, f"data[{i}]: dossier of another agency"
                )
        if len(self._dossiers) + len(items) > MAX_DOSSIERS:
            raise PortalError(native.FAILED, "the simulator holds too many dossiers")
        now = self._now()
        results = []
        for item in items:
            dossier = self._dossiers.get(item.MaHoSo)
            if dossier is None:
                dossier = Dossier(item.MaHoSo, madonvi, item, now)
                self._dossiers[item.MaHoSo] = dossier
            else:
                dossier.snapshot = item
            dossier.calls.append(
                {
                    "service": native.DONG_BO,
                    "isUpdating": is_updating or "",
                    "NhanLuc": native.time_out(now),
                }
            )
            results.append(dossier.result())
        return results

    def update(self, madonvi: str, data: list[dict[str, Any]]) -> list[KetQuaDongBoMC]:
        """``CapNhatTienDoHoSoMC``: record each step once, whatever how often
        it is sent. The dossier must have been synced first. All items or none."""
        items: list[TienDoHoSoMC] = _items(TienDoHoSoMC, data)
        steps = []
        for i, item in enumerate(items):
            dossier = self._dossiers.get(item.MaHoSo)
            if dossier is None:
                raise PortalError(native.RECORD_NOT_FOUND, f"data[{i}]: no dossier {item.MaHoSo}")
            if dossier.madonvi != madonvi:
                raise PortalError(
                    native.AGENCY_ID_INCORRECT, f"data[{i}]: dossier of another agency"
                )
            at = _time(i, "ThoiDiemXuLy", item.ThoiDiemXuLy)
            if at < native.time_in(dossier.snapshot.NgayTiepNhan):
                raise PortalError(
                    native.DATA_INCORRECT, f"data[{i}]: ThoiDiemXuLy before NgayTiepNhan"
                )
            steps.append((dossier, item, at))
        now = self._now()
        results = []
        for dossier, item, at in steps:
            if not any(s.trang_thai == item.TrangThai and s.at == at for s in dossier.steps):
                if len(dossier.steps) >= MAX_STEPS:
                    raise PortalError(native.DATA_INCORRECT, f"{item.MaHoSo}: too many steps")
                dossier.steps.append(
                    Step(item.TrangThai, at, item.NoiDungXuLy, item.NguoiXuLy, now)
                )
            dossier.calls.append(
                {"service": native.CAP_NHAT, "isUpdating": "", "NhanLuc": native.time_out(now)}
            )
            results.append(dossier.result())
        return results
