"""The mock systems on a memory transport: every example is real, domain
errors are declared, submitting a dossier reaches the national portal, and
due dates count working days."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from lgsp_adapters import dataset, dvcqg, land, onestop, population
from lgsp_adapters.workdays import DAYS_OFF, KNOWN_YEARS, MAKEUP_SATURDAYS, VN_TZ, add_working_days
from lgsp_contracts import CATALOGUE
from lgsp_contracts.spec import Example

from lgsp import Envelope, Registry, Reply
from lgsp.transport.memory import MemoryTransport

EXAMPLES = [
    pytest.param(s.service, e, id=f"{s.service}-v{s.version}-{i}")
    for s in CATALOGUE.services
    for i, e in enumerate(s.examples)
]
HUNG = {"soDinhDanh": "087090001234", "hoVaTen": "Nguyễn Văn Hùng"}
HONG = {"soDinhDanh": "087192004321", "hoVaTen": "Lê Thị Hồng"}
ASK = {"maYeuCau": "test-1", "maDVC": "1.004873", "maCanBo": "canbo.test"}


@pytest.fixture
async def transport() -> AsyncIterator[MemoryTransport]:
    """A fresh bus: the four mock systems on a memory transport, with an
    empty one-stop-shop and portal."""
    onestop.dossiers.clear()
    dvcqg.portal.clear()
    registry = Registry([CATALOGUE])
    bus = MemoryTransport()
    await bus.start()
    for adapter in (population.adapter, land.adapter, onestop.adapter, dvcqg.adapter):
        await adapter.start(bus, registry)
    yield bus
    await bus.close()


async def call(bus: MemoryTransport, service: str, body: dict[str, Any]) -> Reply:
    return await bus.request(
        Envelope(
            request_id=uuid.uuid4().hex,
            client="dongthap.onestop",
            service=service,
            version=1,
            deadline=time.time() + 5,
            body=orjson.dumps(body),
        )
    )


def problem(reply: Reply) -> dict[str, Any]:
    body: dict[str, Any] = orjson.loads(reply.body)
    assert set(body) == {"code", "detail"}
    return body


async def synced(ma_ho_so: str, n: int = 1) -> tuple[dvcqg.SyncedStatus, ...]:
    """The portal's statuses of a dossier, once it holds ``n`` (events are
    delivered by the subscriber's own task, soon after the publish)."""
    for _ in range(400):
        if len(dvcqg.portal.statuses(ma_ho_so)) >= n:
            break
        await asyncio.sleep(0.005)
    return dvcqg.portal.statuses(ma_ho_so)


# -- examples ---------------------------------------------------------------


@pytest.mark.parametrize(("service", "example"), EXAMPLES)
async def test_every_example_is_real(
    transport: MemoryTransport, service: str, example: Example
) -> None:
    reply = await call(transport, service, example.request)
    assert reply.status == 200, reply.body
    assert orjson.loads(reply.body) == example.response


# -- population -------------------------------------------------------------


@pytest.mark.parametrize(
    "known",
    [
        {"soDinhDanh": "087090001235"},
        {"soDinhDanh": "001099000001"},
        {"soDinhDanh": "087090001234", "hoVaTen": "Nguyễn Văn Hưng"},
        {"soDinhDanh": "087090001234", "ngayThangNam": "1990-05-18"},
    ],
)
async def test_citizen_not_found(transport: MemoryTransport, known: dict[str, str]) -> None:
    reply = await call(transport, "population.citizen.lookup", ASK | known)
    assert reply.status == 404
    assert problem(reply)["code"] == "population.citizen.not_found"
    assert known["soDinhDanh"] not in problem(reply)["detail"]


async def test_citizen_name_matches_ignoring_case_and_spacing(transport: MemoryTransport) -> None:
    body = ASK | {"soDinhDanh": "087090001234", "hoVaTen": "nguyễn  văn HÙNG"}
    reply = await call(transport, "population.citizen.lookup", body)
    assert reply.status == 200
    assert orjson.loads(reply.body)["hoVaTen"] == "Nguyễn Văn Hùng"


async def test_generated_citizens_are_served(transport: MemoryTransport) -> None:
    data = await dataset.ademo()
    some = [c for _, c in zip(range(50), data.citizens(), strict=False)][10:]
    for citizen in some:
        body = ASK | {"soDinhDanh": citizen.soDinhDanh, "ngayThangNam": str(citizen.ngaySinh)}
        reply = await call(transport, "population.citizen.lookup", body)
        assert reply.status == 200
        assert orjson.loads(reply.body) == orjson.loads(citizen.model_dump_json())


# -- land -------------------------------------------------------------------


@pytest.mark.parametrize(
    "where",
    [
        {"maXa": "29869", "soHieuToBanDo": 12, "soThuTuThua": 346},
        {"maXa": "99999", "soHieuToBanDo": 1, "soThuTuThua": 1},
    ],
)
async def test_parcel_not_found(transport: MemoryTransport, where: dict[str, Any]) -> None:
    reply = await call(transport, "land.parcel.lookup", where)
    assert reply.status == 404
    assert problem(reply)["code"] == "land.parcel.not_found"


# -- one-stop-shop and portal -------------------------------------------------


def submission(**fields: Any) -> dict[str, Any]:
    return {"maTTHC": "1.004873", "chuHoSo": HONG, **fields}


async def test_unknown_procedure(transport: MemoryTransport) -> None:
    reply = await call(transport, "onestop.dossier.submit", submission(maTTHC="9.999999"))
    assert reply.status == 404
    assert problem(reply)["code"] == "onestop.procedure.unknown"


@pytest.mark.parametrize(
    "fields",
    [
        {"maTTHC": "1.013831"},  # a land procedure without its parcel
        {"ngayTiepNhan": "2999-01-01T08:00:00+07:00"},
    ],
)
async def test_dossier_rejected(transport: MemoryTransport, fields: dict[str, Any]) -> None:
    reply = await call(transport, "onestop.dossier.submit", submission(**fields))
    assert reply.status == 422
    assert problem(reply)["code"] == "onestop.dossier.rejected"
    assert len(onestop.dossiers) == 0


async def test_dossiers_are_numbered_per_day_of_receipt(transport: MemoryTransport) -> None:
    async def submit(applicant: dict[str, str], received: str) -> str:
        reply = await call(
            transport,
            "onestop.dossier.submit",
            submission(chuHoSo=applicant, ngayTiepNhan=received),
        )
        assert reply.status == 200
        return str(orjson.loads(reply.body)["maHoSo"])

    assert await submit(HONG, "2025-06-06T09:30:00+07:00") == "000.00.00.H20-250606-0001"
    assert await submit(HUNG, "2025-06-06T16:00:00+07:00") == "000.00.00.H20-250606-0002"
    # 23:30 UTC on the 6th is already the 7th in Vietnam.
    assert await submit(HUNG, "2025-06-06T23:30:00Z") == "000.00.00.H20-250607-0001"
    assert len(onestop.dossiers) == 3


async def test_the_same_dossier_twice_is_one_dossier(transport: MemoryTransport) -> None:
    body = submission(ngayTiepNhan="2025-06-06T09:30:00+07:00")
    first = await call(transport, "onestop.dossier.submit", body)
    again = await call(transport, "onestop.dossier.submit", body | {"maTTHC": "1.004873.H20"})
    assert orjson.loads(first.body) == orjson.loads(again.body)
    assert len(onestop.dossiers) == 1
    statuses = await synced("000.00.00.H20-250606-0001")
    await asyncio.sleep(0.05)
    assert len(statuses) == len(dvcqg.portal.statuses("000.00.00.H20-250606-0001")) == 1


async def test_receipt_defaults_to_now_in_vietnam(transport: MemoryTransport) -> None:
    before = dt.datetime.now(VN_TZ).replace(microsecond=0)
    reply = await call(transport, "onestop.dossier.submit", submission(maTTHC="1.004873.H20"))
    after = dt.datetime.now(VN_TZ)
    receipt = orjson.loads(reply.body)
    received = dt.datetime.fromisoformat(receipt["ngayTiepNhan"])
    assert receipt["ngayTiepNhan"].endswith("+07:00")
    assert before <= received <= after
    assert receipt["maHoSo"] == f"000.00.00.H20-{received:%y%m%d}-0001"
    assert receipt["maTTHC"] == "1.004873.H20"
    assert dt.datetime.fromisoformat(receipt["ngayHenTra"]) == add_working_days(received, 3)


async def test_submitting_a_dossier_syncs_it_to_the_portal(transport: MemoryTransport) -> None:
    reply = await call(
        transport,
        "onestop.dossier.submit",
        submission(ngayTiepNhan="2025-06-06T09:30:00+07:00", email="hong.le@example.com"),
    )
    receipt = orjson.loads(reply.body)
    [status] = await synced(receipt["maHoSo"])
    assert status.ma_tthc == "1.004873"
    assert status.trang_thai == "2"  # Được tiếp nhận
    assert status.trang_thai_cu is None
    assert status.thoi_diem == dt.datetime(2025, 6, 6, 9, 30, tzinfo=VN_TZ)
    assert status.synced_at.tzinfo is not None
    dossier = onestop.dossiers.get(receipt["maHoSo"])
    assert dossier is not None
    assert dossier.announced
    assert dossier.history == [("2", status.thoi_diem)]


async def test_the_portal_keeps_each_status_once(transport: MemoryTransport) -> None:
    event = onestop.SuKienTrangThaiHoSo.model_validate_json(
        orjson.dumps(CATALOGUE.topics[0].examples[1])
    )
    assert dvcqg.portal.record(event)
    assert not dvcqg.portal.record(event)  # delivered again: at least once
    assert [s.trang_thai for s in dvcqg.portal.statuses(event.maHoSo)] == ["4"]
    assert dvcqg.portal.statuses("000.00.00.H20-250606-9999") == ()


# -- working days -------------------------------------------------------------


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


@pytest.mark.parametrize(
    ("received", "days", "due"),
    [
        # Friday + 3 working days: over the weekend.
        ("2025-06-06T09:30:00+07:00", 3, "2025-06-11T09:30:00+07:00"),
        ("2025-06-06T09:30:00+07:00", 0, "2025-06-06T09:30:00+07:00"),
        # Received in UTC: counted in Vietnam's time.
        ("2025-06-06T02:30:00+00:00", 3, "2025-06-11T09:30:00+07:00"),
        # Received on a Saturday: counts from Monday.
        ("2025-06-07T10:00:00+07:00", 3, "2025-06-12T10:00:00+07:00"),
        # Tết 2025: closed Monday 27 to Friday 31 January.
        ("2025-01-24T14:00:00+07:00", 1, "2025-02-03T14:00:00+07:00"),
        ("2025-01-24T14:00:00+07:00", 8, "2025-02-12T14:00:00+07:00"),
        # Tết 2026: closed Monday 16 to Friday 20 February.
        ("2026-02-13T08:00:00+07:00", 1, "2026-02-23T08:00:00+07:00"),
        # Tết 2027 (statutory rule): closed 4-5 and 8-10 February.
        ("2027-02-03T08:00:00+07:00", 1, "2027-02-11T08:00:00+07:00"),
        # 30 April - 2 May 2025, with Saturday 26 April worked instead of 2 May.
        ("2025-04-25T08:00:00+07:00", 1, "2025-04-26T08:00:00+07:00"),
        ("2025-04-29T08:00:00+07:00", 1, "2025-05-05T08:00:00+07:00"),
        # National Day 2025: Monday 1 and Tuesday 2 September.
        ("2025-08-29T08:00:00+07:00", 1, "2025-09-03T08:00:00+07:00"),
        # Hùng Kings 2026 fell on a Sunday: Monday 27 April off.
        ("2026-04-24T08:00:00+07:00", 1, "2026-04-28T08:00:00+07:00"),
    ],
)
def test_due_dates_count_working_days(received: str, days: int, due: str) -> None:
    assert add_working_days(at(received), days) == at(due)


def test_the_holiday_table() -> None:
    for day in DAYS_OFF:
        assert day.weekday() < 5, day
        assert day.year in KNOWN_YEARS
    for day in MAKEUP_SATURDAYS:
        assert day.weekday() == 5
    for year in KNOWN_YEARS:
        assert dt.date(year, 1, 1) in DAYS_OFF or dt.date(year, 1, 1).weekday() >= 5
        tet = [d for d in DAYS_OFF if d.year == year and "Tết Nguyên đán" in DAYS_OFF[d]]
        assert len(tet) == 5, year


def test_unknown_years_still_skip_weekends_and_fixed_holidays() -> None:
    # 30 April 2031 is a Wednesday, 1 May a Thursday.
    assert add_working_days(at("2031-04-29T08:00:00+07:00"), 1) == at("2031-05-02T08:00:00+07:00")
    with pytest.raises(ValueError, match="negative"):
        add_working_days(at("2025-06-06T09:30:00+07:00"), -1)
