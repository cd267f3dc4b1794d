"""A stand-in warehouse for testing the portal (or a client of it) without
the real one: an adapter serving the five dataset services with the rows a
test gives, and a 503 for the services a test marks not loaded."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lgsp import Adapter, Context, ServiceUnavailable
from lgsp.testing import Bus, running_bus
from lgsp_adapters.opendata.datasets import DATASETS
from lgsp_adapters.opendata.server import OpenDataPortal, PortalConfig, running
from lgsp_contracts.warehouse import (
    DanSoTheoNhomTuoi,
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

UPDATED = "2026-11-30T17:00:00+07:00"
PORTAL_CLIENT = {
    "id": "dongthap.opendata",
    "secret": "demo-opendata-secret",
    "grants": sorted({d.service for d in DATASETS}),
}
"""The demo portal's client, granted every dataset's service."""


def _satisfaction(
    thang: str, ma_tthc: str, ten: str, answers: int, satisfied: int
) -> dict[str, Any]:
    return {
        "thang": thang,
        "maTTHC": ma_tthc,
        "tenTTHC": ten,
        "maDonVi": "000.00.00.H20",
        "soPhanHoi": answers,
        "soHaiLong": satisfied,
        "soChuaHaiLong": answers - satisfied,
        "tyLeHaiLong": round(satisfied / answers, 4),
        "diemTongThe": 4.1,
        "diemThoiGian": 3.9,
        "diemThaiDo": 4.4,
    }


def _dossier(thang: str, ma_tthc: str, ma_xa: str, ten_xa: str, **counts: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "thang": thang,
        "maTTHC": ma_tthc,
        "tenTTHC": "Đăng ký biến động đất đai",
        "maXa": ma_xa,
        "tenXa": ten_xa,
        "soHoSo": 0,
        "soDaGiaiQuyet": 0,
        "soDungHan": 0,
        "soTreHan": 0,
        "soDangGiaiQuyet": 0,
        "soQuaHan": 0,
        "soTuChoiHoacRut": 0,
        "tyLeDungHan": None,
        "soNgayTreTrungBinh": None,
    }
    row.update(counts)
    return row


def sample_rows() -> dict[str, list[dict[str, Any]]]:
    """Rows of each service, with small counts (3) where suppression must act."""
    return {
        "warehouse.dossiers.monthly": [
            _dossier(
                "2026-09",
                "1.004227",
                "30316",
                "Phường Cao Lãnh",
                soHoSo=40,
                soDaGiaiQuyet=30,
                soDungHan=27,
                soTreHan=3,
                soDangGiaiQuyet=8,
                soQuaHan=1,
                soTuChoiHoacRut=2,
                tyLeDungHan=0.9,
                soNgayTreTrungBinh=2.0,
            ),
            _dossier(
                "2026-09",
                "1.004227",
                "30337",
                "Xã Mỹ Trà",
                soHoSo=25,
                soDaGiaiQuyet=20,
                soDungHan=20,
                soDangGiaiQuyet=5,
                tyLeDungHan=1.0,
            ),
            _dossier(
                "2026-10",
                "1.004227",
                "30316",
                "Phường Cao Lãnh",
                soHoSo=52,
                soDaGiaiQuyet=45,
                soDungHan=40,
                soTreHan=5,
                soDangGiaiQuyet=7,
                tyLeDungHan=0.889,
                soNgayTreTrungBinh=1.4,
            ),
            _dossier(
                "2026-11",
                "1.004227",
                "30316",
                "Phường Cao Lãnh",
                soHoSo=61,
                soDaGiaiQuyet=50,
                soDungHan=45,
                soTreHan=5,
                soDangGiaiQuyet=11,
                tyLeDungHan=0.9,
                soNgayTreTrungBinh=1.0,
            ),
        ],
        "warehouse.parcels.land-use": [
            {
                "maXa": "30316",
                "tenXa": "Phường Cao Lãnh",
                "kyHieu": "ODT",
                "soThua": 120,
                "dienTich": 18250.5,
            },
            {
                "maXa": "30316",
                "tenXa": "Phường Cao Lãnh",
                "kyHieu": "LUC",
                "soThua": 3,
                "dienTich": 4100.0,
            },
            {
                "maXa": "30316",
                "tenXa": "Phường Cao Lãnh",
                "kyHieu": "CLN",
                "soThua": 40,
                "dienTich": 30000.0,
            },
            {
                "maXa": "30337",
                "tenXa": "Xã Mỹ Trà",
                "kyHieu": "LUC",
                "soThua": 200,
                "dienTich": 510000.0,
            },
        ],
        "warehouse.population.age-groups": [
            {
                "maXa": "30316",
                "tenXa": "Phường Cao Lãnh",
                "nhomTuoi": band,
                "gioiTinh": sex,
                "soNguoi": n,
            }
            for band, men, women in (
                ("00-04", 120, 110),
                ("05-09", 130, 125),
                ("60-64", 40, 52),
                ("80+", 3, 9),
            )
            for sex, n in (("Nam", men), ("Nữ", women))
        ],
        "warehouse.exchanges.daily": [
            {
                "ngay": day,
                "client": client,
                "service": "land.parcel.lookup",
                "soLuot": n,
                "soLoi": errors,
            }
            for day, client, n, errors in (
                ("2026-11-28", "dongthap.onestop", 120, 0),
                ("2026-11-28", "dongthap.portal", 30, 3),
                ("2026-11-29", "dongthap.onestop", 80, 1),
                ("2026-11-29", "dongthap.portal", 20, 1),
                ("2026-11-30", "dongthap.onestop", 90, 6),
            )
        ],
        "warehouse.feedback.satisfaction": [
            _satisfaction("2026-10", "1.004873", "Cấp Giấy xác nhận tình trạng hôn nhân", 40, 33),
            # Two not satisfied: hidden, and the satisfied with them.
            _satisfaction("2026-11", "1.004873", "Cấp Giấy xác nhận tình trạng hôn nhân", 12, 10),
            _satisfaction("2026-11", "1.012784", "Tách thửa hoặc hợp thửa đất", 3, 3),
        ],
    }


@dataclass
class FakeWarehouse:
    """The adapter and what it answers; change ``rows`` or ``unavailable``
    between publications."""

    rows: dict[str, list[dict[str, Any]]] = field(default_factory=sample_rows)
    unavailable: set[str] = field(default_factory=set)
    calls: list[str] = field(default_factory=list)
    adapter: Adapter = field(init=False)

    def __post_init__(self) -> None:
        self.adapter = Adapter("warehouse-fake", agency="A stand-in warehouse (tests)")
        a = self.adapter

        @a.service("warehouse.dossiers.monthly")
        async def dossiers(request: YeuCauHoSoTheoThang, ctx: Context) -> HoSoTheoThang:
            return HoSoTheoThang.model_validate(
                self._answer("warehouse.dossiers.monthly"), strict=False
            )

        @a.service("warehouse.parcels.land-use")
        async def parcels(request: YeuCauThuaDatTheoMucDich, ctx: Context) -> ThuaDatTheoMucDich:
            return ThuaDatTheoMucDich.model_validate(
                self._answer("warehouse.parcels.land-use"), strict=False
            )

        @a.service("warehouse.population.age-groups")
        async def population(request: YeuCauDanSoTheoNhomTuoi, ctx: Context) -> DanSoTheoNhomTuoi:
            answer = self._answer("warehouse.population.age-groups")
            answer["ngayThongKe"] = "2026-11-30"
            return DanSoTheoNhomTuoi.model_validate(answer, strict=False)

        @a.service("warehouse.exchanges.daily")
        async def exchanges(request: YeuCauTraoDoiTheoNgay, ctx: Context) -> TraoDoiTheoNgay:
            return TraoDoiTheoNgay.model_validate(
                self._answer("warehouse.exchanges.daily"), strict=False
            )

        @a.service("warehouse.feedback.satisfaction")
        async def satisfaction(request: YeuCauMucDoHaiLong, ctx: Context) -> MucDoHaiLong:
            return MucDoHaiLong.model_validate(
                self._answer("warehouse.feedback.satisfaction"), strict=False
            )

    def _answer(self, service: str) -> dict[str, Any]:
        self.calls.append(service)
        if service in self.unavailable:
            raise ServiceUnavailable("not loaded yet", retry_after=5)
        return {"capNhatLuc": dt.datetime.fromisoformat(UPDATED), "danhSach": self.rows[service]}


@contextlib.asynccontextmanager
async def running_portal(
    warehouse: FakeWarehouse | None = None, *, min_count: int = 5, data_dir: Path | None = None
) -> AsyncIterator[tuple[Bus, OpenDataPortal, FakeWarehouse]]:
    """A test bus with the stand-in warehouse (no installed adapters or
    sidecars) and a portal on any free port publishing from it as the demo
    client ``dongthap.opendata`` (granted every dataset's service), once
    published."""
    warehouse = warehouse or FakeWarehouse()
    async with running_bus(
        installed=False, sidecars=False, adapters=[warehouse.adapter], clients=[PORTAL_CLIENT]
    ) as bus:
        config = PortalConfig(
            gateway_url=bus.url,
            port=0,
            publish_every_s=3600,
            min_count=min_count,
            data_dir=data_dir,
        )
        async with running(config, scheduled=False) as portal:
            await portal.publish()
            yield bus, portal, warehouse
