"""The provincial mock systems (land database, one-stop-shop, the sync to the
national portal) on a memory transport: every example is real and
repeatable, domain errors are declared, dossiers follow their legal
lifecycle and announce every step, the sync reaches the portal through an
outage without losing a step, and due dates count working days.

The population database and NDXP have their own suites (test_ndxp_*)."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import orjson
import pytest

from lgsp import Adapter, Context, DomainError, Envelope, Registry, Reply, ServiceUnavailable
from lgsp.transport.memory import MemoryTransport
from lgsp_adapters import dataset, dvcqg, land, onestop
from lgsp_adapters.workdays import DAYS_OFF, KNOWN_YEARS, MAKEUP_SATURDAYS, VN_TZ, add_working_days
from lgsp_contracts import CATALOGUE
from lgsp_contracts.dvcqg import KetQuaDongBo, YeuCauDongBoHoSo
from lgsp_contracts.land import ThuaDat
from lgsp_contracts.onestop import (
    CAN_GHI_CHU,
    CHUYEN_TRANG_THAI,
    DEMO_DOSSIERS,
    THU_TUC,
    TRANG_THAI_HO_SO,
    SuKienTrangThaiHoSo,
)
from lgsp_contracts.spec import Example

REGISTRY = Registry([CATALOGUE])
PROVIDERS = (land.adapter, onestop.adapter)
SERVED = {service for a in PROVIDERS for service, _ in a.services}
EXAMPLES = [
    pytest.param(s.service, e, id=f"{s.service}-v{s.version}-{i}")
    for s in CATALOGUE.services
    if s.service in SERVED
    for i, e in enumerate(s.examples)
]
HUNG = {"soDinhDanh": "087090001234", "hoVaTen": "Nguyễn Văn Hùng"}
HONG = {"soDinhDanh": "087192004321", "hoVaTen": "Lê Thị Hồng"}
LIFECYCLE: dict[str, tuple[str, ...]] = {a: tuple(b) for a, b in CHUYEN_TRANG_THAI.items()}
LEGAL = [(a, b) for a, following in LIFECYCLE.items() for b in following]
DEADLINE = 20.0
"""Seconds a test waits for a condition (the sync's backoff is up to ~1.5 s
a retry)."""


def path_to(status: str) -> list[str]:
    """The shortest legal walk from received ('2') to ``status``."""
    paths = {"2": ["2"]}
    todo = deque(["2"])
    while todo:
        at = todo.popleft()
        for following in LIFECYCLE[at]:
            if following not in paths:
                paths[following] = [*paths[at], following]
                todo.append(following)
    return paths[status]


REACHABLE = sorted(LIFECYCLE, key=lambda s: (len(path_to(s)), int(s)))


T = TypeVar("T")


@dataclass
class Seen(Generic[T]):
    """What a test adapter saw, and a way to wait for more."""

    items: list[T] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def add(self, item: T) -> None:
        self.items.append(item)
        self.changed.set()

    async def until(self, done: Callable[[], bool]) -> None:
        async with asyncio.timeout(DEADLINE):
            while not done():
                self.changed.clear()
                await self.changed.wait()


class RecordingTransport(MemoryTransport):
    """A memory transport noting every request: (client, service, maHoSo)."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[tuple[str, str, str | None]] = []

    async def request(self, envelope: Envelope) -> Reply:
        body = orjson.loads(envelope.body)
        self.requests.append((envelope.client, envelope.service, body.get("maHoSo")))
        return await super().request(envelope)


@dataclass
class FakePortal:
    """Serves ``dvcqg.dossier.sync`` as the NDXP connector would; down
    (503, as when NDXP is unreachable) while ``down`` is set."""

    down: bool = False
    synced: Seen[YeuCauDongBoHoSo] = field(default_factory=Seen)
    failures: int = 0

    def adapter(self) -> Adapter:
        portal = Adapter("fake-portal", agency="test suite")

        @portal.service("dvcqg.dossier.sync", version=1)
        async def sync(request: YeuCauDongBoHoSo, ctx: Context) -> KetQuaDongBo:
            if self.down:
                self.failures += 1
                self.synced.changed.set()
                raise ServiceUnavailable("NDXP is unreachable")
            self.synced.add(request)
            steps = {
                (s.trangThai, s.thoiDiem) for s in self.synced.items if s.maHoSo == request.maHoSo
            }
            return KetQuaDongBo(
                maHoSo=request.maHoSo, trangThai=request.trangThai, soLanDongBo=len(steps)
            )

        return portal


@pytest.fixture
async def transport() -> AsyncIterator[RecordingTransport]:
    """A fresh bus: the land database and a fresh one-stop-shop (its demo
    dossiers only) on a memory transport."""
    onestop.dossiers.clear()
    bus = RecordingTransport()
    await bus.start()
    for adapter in PROVIDERS:
        await adapter.start(bus, REGISTRY)
    yield bus
    await bus.close()
    onestop.dossiers.clear()  # what the one-stop-shop holds is process-wide


@pytest.fixture
async def events(transport: RecordingTransport) -> Seen[SuKienTrangThaiHoSo]:
    """Every ``onestop.dossier.status-changed`` event, as a subscriber gets it."""
    seen: Seen[SuKienTrangThaiHoSo] = Seen()
    listener = Adapter("listener", agency="test suite")

    @listener.subscribe("onestop.dossier.status-changed", name="test.status-changed")
    async def heard(event: SuKienTrangThaiHoSo, ctx: Context) -> None:
        seen.add(event)

    await listener.start(transport, REGISTRY)
    return seen


@pytest.fixture
async def portal(transport: RecordingTransport) -> FakePortal:
    """The sync subscriber (dvcqg) and a fake portal behind it."""
    fake = FakePortal()
    await fake.adapter().start(transport, REGISTRY)
    await dvcqg.adapter.start(transport, REGISTRY)
    return fake


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


async def ok(bus: MemoryTransport, service: str, body: dict[str, Any]) -> Any:
    reply = await call(bus, service, body)
    assert reply.status == 200, reply.body
    return orjson.loads(reply.body)


def problem(reply: Reply) -> dict[str, Any]:
    body: dict[str, Any] = orjson.loads(reply.body)
    assert set(body) == {"code", "detail"}
    return body


# -- examples ---------------------------------------------------------------


@pytest.mark.parametrize(("service", "example"), EXAMPLES)
async def test_every_example_is_real_and_repeatable(
    transport: MemoryTransport, service: str, example: Example
) -> None:
    for _ in range(2):
        assert await ok(transport, service, example.request) == example.response


async def test_examples_do_not_depend_on_each_other(transport: MemoryTransport) -> None:
    every = [p.values for p in EXAMPLES]
    for service, example in [*every, *reversed(every)]:
        assert isinstance(example, Example)
        assert await ok(transport, str(service), example.request) == example.response, service


# -- land -------------------------------------------------------------------


def parcel_key(parcel: dict[str, Any]) -> tuple[str, int, int]:
    return parcel["maXa"], parcel["soHieuToBanDo"], parcel["soThuTuThua"]


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


async def generated_parcels(n: int) -> list[ThuaDat]:
    data = await dataset.ademo()
    return [p for _, p in zip(range(n), data.parcels(), strict=False)][2:]


async def test_search_finds_every_parcel_of_a_land_user(transport: MemoryTransport) -> None:
    for parcel in await generated_parcels(40):
        wanted = orjson.loads(parcel.model_dump_json())
        for owner in parcel.chuSuDung:
            found = await ok(
                transport,
                "land.parcel.search",
                {"soDinhDanh": owner.soDinhDanh, "soBanGhiMoiTrang": 100},
            )
            assert wanted in found["danhSach"]
            assert found["tongSoBanGhi"] == len(found["danhSach"])
            assert found["danhSach"] == sorted(found["danhSach"], key=parcel_key)
            for other in found["danhSach"]:
                assert owner.soDinhDanh in {o["soDinhDanh"] for o in other["chuSuDung"]}


async def test_search_pages_through_a_land_user_s_parcels(transport: MemoryTransport) -> None:
    data = await dataset.ademo()
    owner = next(
        o.soDinhDanh
        for p in data.parcels()
        for o in p.chuSuDung
        if data.parcels_of(o.soDinhDanh)[0] >= 3
    )
    everything = await ok(transport, "land.parcel.search", {"soDinhDanh": owner})
    total = everything["tongSoBanGhi"]
    assert total == len(everything["danhSach"]) >= 3
    assert everything["trang"] == 1
    assert everything["soBanGhiMoiTrang"] == 20
    pages = [
        await ok(
            transport,
            "land.parcel.search",
            {"soDinhDanh": owner, "trang": n, "soBanGhiMoiTrang": 2},
        )
        for n in range(1, total // 2 + 3)
    ]
    assert [p["tongSoBanGhi"] for p in pages] == [total] * len(pages)
    assert [t for p in pages for t in p["danhSach"]] == everything["danhSach"]
    assert pages[-1]["danhSach"] == []  # past the last page


async def test_search_for_someone_without_land_is_empty(transport: MemoryTransport) -> None:
    found = await ok(transport, "land.parcel.search", {"soDinhDanh": "001099000001"})
    assert found == {
        "soDinhDanh": "001099000001",
        "tongSoBanGhi": 0,
        "trang": 1,
        "soBanGhiMoiTrang": 20,
        "danhSach": [],
    }


async def test_certificates_lead_to_their_parcels(transport: MemoryTransport) -> None:
    for parcel in await generated_parcels(40):
        wanted = orjson.loads(parcel.model_dump_json())
        found = await ok(
            transport,
            "land.certificate.lookup",
            {"soPhatHanh": parcel.giayChungNhan.soPhatHanh},
        )
        assert found == {**wanted["giayChungNhan"], "chuSuDung": wanted["chuSuDung"]} | {
            "thuaDat": [wanted]
        }


@pytest.mark.parametrize("number", ["DA 999999", "DA 000001", "ZZ 123456", "BA 200000"])
async def test_certificate_not_found(transport: MemoryTransport, number: str) -> None:
    reply = await call(transport, "land.certificate.lookup", {"soPhatHanh": number})
    assert reply.status == 404
    assert problem(reply)["code"] == "land.certificate.not_found"


def snapshot_key(parcel: dict[str, Any]) -> str:
    return f"{parcel['maXa']}/{parcel['soHieuToBanDo']}/{parcel['soThuTuThua']}"


async def snapshot(bus: MemoryTransport, size: int, **ask: Any) -> list[list[dict[str, Any]]]:
    """Every page of land.parcel.snapshot, each asked after the previous
    one's khoaTiepTheo, until it is null."""
    pages: list[list[dict[str, Any]]] = []
    after = None
    while True:
        body = {**ask, "soBanGhi": size} | ({} if after is None else {"sauKhoa": after})
        page = await ok(bus, "land.parcel.snapshot", body)
        pages.append(page["danhSach"])
        after = page["khoaTiepTheo"]
        if after is None:
            return pages
        assert after == snapshot_key(page["danhSach"][-1])
        assert len(page["danhSach"]) == size  # only the last page is short


async def every_parcel(commune: str | None = None) -> list[dict[str, Any]]:
    data = await dataset.ademo()
    wanted = [
        orjson.loads(p.model_dump_json())
        for p in data.parcels()
        if commune is None or p.maXa == commune
    ]
    return sorted(wanted, key=parcel_key)


async def test_the_snapshot_walks_every_parcel_once_in_key_order(
    transport: MemoryTransport,
) -> None:
    pages = await snapshot(transport, 1000)
    assert [p for page in pages for p in page] == await every_parcel()
    assert len(pages) == -(-(await dataset.ademo()).parcel_count // 1000)


@pytest.mark.parametrize(("commune", "size"), [("29869", 7), ("30037", 1), ("28270", 5000)])
async def test_the_snapshot_of_one_commune_in_small_pages(
    transport: MemoryTransport, commune: str, size: int
) -> None:
    pages = await snapshot(transport, size, maXa=commune)
    wanted = await every_parcel(commune)
    assert wanted  # the commune has land
    assert [p for page in pages for p in page] == wanted
    assert len(pages) == max(1, -(-len(wanted) // size))


@pytest.mark.parametrize(
    "ask",
    [
        {"sauKhoa": "99999/9999/9999"},
        {"maXa": "29869", "sauKhoa": "29869/12/345"},  # the commune's last parcel
        {"maXa": "29869", "sauKhoa": "30037/1/1"},  # past the commune
        {"maXa": "99999"},  # no such commune
    ],
)
async def test_a_snapshot_past_the_last_parcel_is_an_empty_last_page(
    transport: MemoryTransport, ask: dict[str, Any]
) -> None:
    assert await ok(transport, "land.parcel.snapshot", ask) == {
        "danhSach": [],
        "khoaTiepTheo": None,
    }


async def test_a_snapshot_may_start_at_a_key_no_parcel_has(transport: MemoryTransport) -> None:
    wanted = await every_parcel("29869")
    # Just before commune 29869's keys: its first parcels come first.
    page = await ok(
        transport, "land.parcel.snapshot", {"sauKhoa": "29868/9999/9999", "soBanGhi": 2}
    )
    assert page["danhSach"] == wanted[:2]
    # A key before the commune's starts the commune's page at its first parcel.
    page = await ok(
        transport, "land.parcel.snapshot", {"maXa": "29869", "sauKhoa": "00001/1/1", "soBanGhi": 2}
    )
    assert page == {"danhSach": wanted[:2], "khoaTiepTheo": snapshot_key(wanted[1])}


# -- one-stop-shop: receiving -------------------------------------------------


def submission(**fields: Any) -> dict[str, Any]:
    return {"maTTHC": "1.004873", "chuHoSo": HONG, **fields}


async def submit(bus: MemoryTransport, **fields: Any) -> str:
    return str((await ok(bus, "onestop.dossier.submit", submission(**fields)))["maHoSo"])


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
    before = len(onestop.dossiers)
    reply = await call(transport, "onestop.dossier.submit", submission(**fields))
    assert reply.status == 422
    assert problem(reply)["code"] == "onestop.dossier.rejected"
    assert len(onestop.dossiers) == before


async def test_dossiers_are_numbered_per_day_of_receipt(transport: MemoryTransport) -> None:
    before = len(onestop.dossiers)
    assert await submit(transport, ngayTiepNhan="2025-06-06T09:30:00+07:00") == (
        "000.00.00.H20-250606-0001"
    )
    assert await submit(transport, chuHoSo=HUNG, ngayTiepNhan="2025-06-06T16:00:00+07:00") == (
        "000.00.00.H20-250606-0002"
    )
    # 23:30 UTC on the 6th is already the 7th in Vietnam.
    assert await submit(transport, chuHoSo=HUNG, ngayTiepNhan="2025-06-06T23:30:00Z") == (
        "000.00.00.H20-250607-0001"
    )
    # A demo dossier was received on 2 June 2025: the next one is the second.
    assert await submit(transport, ngayTiepNhan="2025-06-02T11:00:00+07:00") == (
        "000.00.00.H20-250602-0002"
    )
    assert len(onestop.dossiers) == before + 4


async def test_receipt_defaults_to_now_in_vietnam(transport: MemoryTransport) -> None:
    before = dt.datetime.now(VN_TZ).replace(microsecond=0)
    receipt = await ok(transport, "onestop.dossier.submit", submission(maTTHC="1.004873.H20"))
    after = dt.datetime.now(VN_TZ)
    received = dt.datetime.fromisoformat(receipt["ngayTiepNhan"])
    assert receipt["ngayTiepNhan"].endswith("+07:00")
    assert before <= received <= after
    assert receipt["maHoSo"] == f"000.00.00.H20-{received:%y%m%d}-0001"
    assert receipt["maTTHC"] == "1.004873.H20"
    assert dt.datetime.fromisoformat(receipt["ngayHenTra"]) == add_working_days(received, 3)


async def test_a_received_dossier_has_its_receipt_and_one_step(
    transport: MemoryTransport, events: Seen[SuKienTrangThaiHoSo]
) -> None:
    land_transfer = submission(
        maTTHC="1.013831",
        chuHoSo=HUNG,
        ngayTiepNhan="2025-01-24T14:00:00+07:00",
        thuaDat={"maXa": "29869", "soHieuToBanDo": 12, "soThuTuThua": 345},
    )
    receipt = await ok(transport, "onestop.dossier.submit", land_transfer)
    dossier = await ok(transport, "onestop.dossier.status", {"maHoSo": receipt["maHoSo"]})
    assert dossier == {
        **{k: receipt[k] for k in ("maHoSo", "maTTHC", "tenTTHC", "ngayTiepNhan", "ngayHenTra")},
        "chuHoSo": HUNG,
        "thuaDat": land_transfer["thuaDat"],
        "trangThai": "2",
        "lichSu": [
            {"trangThai": "2", "thoiDiem": "2025-01-24T14:00:00+07:00", "ghiChu": "Tiếp nhận hồ sơ"}
        ],
    }
    await events.until(lambda: len(events.items) == 1)
    [event] = events.items
    assert event == SuKienTrangThaiHoSo(
        maHoSo=receipt["maHoSo"],
        maTTHC="1.013831",
        trangThaiCu=None,
        trangThai="2",
        thoiDiem=dt.datetime(2025, 1, 24, 14, tzinfo=VN_TZ),
        ghiChu="Tiếp nhận hồ sơ",
    )


async def test_the_same_dossier_twice_is_one_dossier_announced_once(
    transport: MemoryTransport, events: Seen[SuKienTrangThaiHoSo]
) -> None:
    before = len(onestop.dossiers)
    body = submission(ngayTiepNhan="2025-06-06T09:30:00+07:00")
    first = await ok(transport, "onestop.dossier.submit", body)
    again = await ok(transport, "onestop.dossier.submit", body | {"maTTHC": "1.004873.H20"})
    assert first == again
    assert len(onestop.dossiers) == before + 1
    assert [e.maHoSo for e in await settled(transport, events)] == [first["maHoSo"]]


async def settled(
    bus: MemoryTransport, events: Seen[SuKienTrangThaiHoSo]
) -> list[SuKienTrangThaiHoSo]:
    """Every event published so far: a marker dossier is submitted last and
    events are delivered in order, so once its event is in, all are."""
    marker = await submit(bus, chuHoSo=HUNG, ngayTiepNhan=fresh_receipt())
    await events.until(lambda: any(e.maHoSo == marker for e in events.items))
    assert events.items[-1].maHoSo == marker
    return events.items[:-1]


async def test_status_of_an_unknown_dossier(transport: MemoryTransport) -> None:
    for service, body in (
        ("onestop.dossier.status", {"maHoSo": "000.00.00.H20-250606-9999"}),
        (
            "onestop.dossier.update-status",
            {"maHoSo": "000.00.00.H20-250606-9999", "trangThai": "4"},
        ),
    ):
        reply = await call(transport, service, body)
        assert reply.status == 404
        assert problem(reply)["code"] == "onestop.dossier.not_found"


# -- one-stop-shop: the lifecycle ---------------------------------------------


def note_for(status: str) -> str | None:
    return f"Bước {status}" if status in CAN_GHI_CHU else None


async def move(bus: MemoryTransport, ma_ho_so: str, status: str, **fields: Any) -> Reply:
    body = {"maHoSo": ma_ho_so, "trangThai": status, **fields}
    if "ghiChu" not in body and (note := note_for(status)) is not None:
        body["ghiChu"] = note
    return await call(bus, "onestop.dossier.update-status", body)


_RECEIPTS = itertools.count()


def fresh_receipt() -> str:
    """A time of receipt no other test dossier has (two dossiers received at
    the same second by the same applicant would be one)."""
    first = dt.datetime(2025, 7, 1, 8, tzinfo=VN_TZ)
    return (first + dt.timedelta(minutes=next(_RECEIPTS))).isoformat()


async def walked_to(bus: MemoryTransport, status: str) -> str:
    """A new dossier moved along the shortest walk to ``status``."""
    ma_ho_so = await submit(bus, ngayTiepNhan=fresh_receipt())
    for step in path_to(status)[1:]:
        assert (await move(bus, ma_ho_so, step)).status == 200
    return ma_ho_so


@pytest.mark.parametrize(("current", "following"), LEGAL, ids=[f"{a}-{b}" for a, b in LEGAL])
async def test_every_legal_step_is_taken_and_announced(
    transport: MemoryTransport, events: Seen[SuKienTrangThaiHoSo], current: str, following: str
) -> None:
    ma_ho_so = await walked_to(transport, current)
    reply = await move(transport, ma_ho_so, following)
    assert reply.status == 200, reply.body
    dossier = orjson.loads(reply.body)
    walk = [*path_to(current), following]
    assert dossier["trangThai"] == following
    assert [s["trangThai"] for s in dossier["lichSu"]] == walk
    assert dossier["lichSu"][-1]["ghiChu"] == note_for(following)
    assert await ok(transport, "onestop.dossier.status", {"maHoSo": ma_ho_so}) == dossier
    announced = [e for e in await settled(transport, events) if e.maHoSo == ma_ho_so]
    assert [(e.trangThaiCu, e.trangThai) for e in announced] == list(
        zip([None, *walk[:-1]], walk, strict=True)
    )
    assert [e.thoiDiem.isoformat() for e in announced] == [s["thoiDiem"] for s in dossier["lichSu"]]


@pytest.mark.parametrize("current", REACHABLE)
async def test_illegal_steps_are_refused_naming_the_allowed_ones(
    transport: MemoryTransport, events: Seen[SuKienTrangThaiHoSo], current: str
) -> None:
    ma_ho_so = await walked_to(transport, current)
    before = await ok(transport, "onestop.dossier.status", {"maHoSo": ma_ho_so})
    allowed = LIFECYCLE[current]
    for status in TRANG_THAI_HO_SO:
        if status in allowed:
            continue
        reply = await move(transport, ma_ho_so, status, ghiChu="Thử bước không hợp lệ")
        assert reply.status == 409, (current, status)
        detail = problem(reply)["detail"]
        assert problem(reply)["code"] == "onestop.dossier.illegal_transition"
        for name in allowed:
            assert f"'{name}' ({TRANG_THAI_HO_SO[name]})" in detail
        if not allowed:
            assert "none, it is final" in detail
    assert await ok(transport, "onestop.dossier.status", {"maHoSo": ma_ho_so}) == before
    announced = [e for e in await settled(transport, events) if e.maHoSo == ma_ho_so]
    assert len(announced) == len(path_to(current))


async def test_a_whole_life_with_documents_requested_twice(
    transport: MemoryTransport, events: Seen[SuKienTrangThaiHoSo]
) -> None:
    ma_ho_so = await submit(transport, ngayTiepNhan="2025-06-09T08:00:00+07:00")
    walk = ["4", "5", "4", "5", "4", "9", "10"]
    for n, status in enumerate(walk):
        at = f"2025-06-{10 + n:02d}T09:00:00+07:00"
        assert (await move(transport, ma_ho_so, status, thoiDiem=at)).status == 200
    dossier = await ok(transport, "onestop.dossier.status", {"maHoSo": ma_ho_so})
    assert [s["trangThai"] for s in dossier["lichSu"]] == ["2", *walk]
    assert dossier["lichSu"][-1]["thoiDiem"] == "2025-06-16T09:00:00+07:00"
    # The due date is the receipt's: 3 working days from Monday 9 June.
    assert dossier["ngayHenTra"] == "2025-06-12T08:00:00+07:00"
    announced = [e for e in await settled(transport, events) if e.maHoSo == ma_ho_so]
    assert [e.trangThaiCu for e in announced] == [None, "2", *walk[:-1]]


async def test_asking_again_for_the_step_just_taken_changes_nothing(
    transport: MemoryTransport, events: Seen[SuKienTrangThaiHoSo]
) -> None:
    ma_ho_so = await submit(transport, ngayTiepNhan=fresh_receipt())
    step = {"thoiDiem": dt.datetime.now(VN_TZ).replace(microsecond=0).isoformat()}
    first = await move(transport, ma_ho_so, "4", **step, ghiChu="Chuyển xử lý")
    again = await move(transport, ma_ho_so, "4", **step, ghiChu="Chuyển xử lý")
    without_time = await move(transport, ma_ho_so, "4", ghiChu="Chuyển xử lý")
    assert first.status == again.status == without_time.status == 200
    assert first.body == again.body == without_time.body
    # Another note (or time) is another step: 4 -> 4 is not one.
    other = await move(transport, ma_ho_so, "4", ghiChu="Chuyển lại")
    assert other.status == 409
    announced = [e for e in await settled(transport, events) if e.maHoSo == ma_ho_so]
    assert [e.trangThai for e in announced] == ["2", "4"]


@pytest.mark.parametrize("status", sorted(CAN_GHI_CHU))
async def test_refusing_or_requesting_documents_needs_a_reason(
    transport: MemoryTransport, status: str
) -> None:
    ma_ho_so = await walked_to(transport, "4")
    reply = await move(transport, ma_ho_so, status, ghiChu=None)
    assert reply.status == 422
    assert problem(reply)["code"] == "onestop.dossier.reason_required"
    dossier = await ok(transport, "onestop.dossier.status", {"maHoSo": ma_ho_so})
    assert dossier["trangThai"] == "4"


@pytest.mark.parametrize(
    "when",
    [
        "2025-06-06T09:29:59+07:00",  # before the receipt
        "2025-06-06T02:29:00Z",  # the same, in UTC
        "2999-01-01T08:00:00+07:00",
    ],
)
async def test_a_step_cannot_go_back_in_time_or_happen_in_the_future(
    transport: MemoryTransport, when: str
) -> None:
    ma_ho_so = await submit(transport, ngayTiepNhan="2025-06-06T09:30:00+07:00")
    reply = await move(transport, ma_ho_so, "4", thoiDiem=when)
    assert reply.status == 422
    assert problem(reply)["code"] == "onestop.dossier.time_invalid"
    on_time = await move(transport, ma_ho_so, "4", thoiDiem="2025-06-06T09:30:00+07:00")
    assert on_time.status == 200  # the same minute as the receipt is fine


async def test_a_step_without_a_time_happens_now(transport: MemoryTransport) -> None:
    ma_ho_so = await submit(transport, ngayTiepNhan="2025-06-06T09:30:00+07:00")
    before = dt.datetime.now(VN_TZ).replace(microsecond=0)
    dossier = orjson.loads((await move(transport, ma_ho_so, "4")).body)
    at = dt.datetime.fromisoformat(dossier["lichSu"][-1]["thoiDiem"])
    assert at.utcoffset() == dt.timedelta(hours=7)
    assert before <= at <= dt.datetime.now(VN_TZ)


# -- one-stop-shop: the demo dossiers -----------------------------------------


async def test_the_demo_dossiers_are_held_from_the_start_and_after_a_clear(
    transport: MemoryTransport,
) -> None:
    for demo in DEMO_DOSSIERS:
        assert await ok(transport, "onestop.dossier.status", {"maHoSo": demo["maHoSo"]}) == demo
    moving = next(d for d in DEMO_DOSSIERS if d["trangThai"] == "2")
    assert (await move(transport, moving["maHoSo"], "7")).status == 200
    await submit(transport)
    onestop.dossiers.clear()
    assert len(onestop.dossiers) == len(DEMO_DOSSIERS)
    assert await ok(transport, "onestop.dossier.status", {"maHoSo": moving["maHoSo"]}) == moving


def test_the_demo_dossiers_follow_the_rules() -> None:
    procedures = {t.ma_tthc: t for t in THU_TUC}
    for demo in DEMO_DOSSIERS:
        received = dt.datetime.fromisoformat(demo["ngayTiepNhan"])
        days = procedures[demo["maTTHC"]].so_ngay_xu_ly
        assert dt.datetime.fromisoformat(demo["ngayHenTra"]) == add_working_days(received, days)
        steps = [s["trangThai"] for s in demo["lichSu"]]
        assert steps[0] == "2"
        for a, b in itertools.pairwise(steps):
            assert b in LIFECYCLE[a]
    # A demo dossier breaking a rule does not load.
    wrong_due = {**DEMO_DOSSIERS[0], "ngayHenTra": "2025-06-11T08:15:00+07:00"}
    with pytest.raises(ValueError, match="breaks the one-stop-shop's rules"):
        onestop.DossierBook([wrong_due])
    returned = next(d for d in DEMO_DOSSIERS if d["trangThai"] == "10")
    skipping = {**returned, "lichSu": [returned["lichSu"][0], returned["lichSu"][-1]]}
    with pytest.raises(DomainError, match="cannot go to"):
        onestop.DossierBook([skipping])


# -- one-stop-shop: the warehouse's pulls ---------------------------------------


def procedure(t: Any) -> dict[str, Any]:
    return {
        "maTTHC": t.ma_tthc,
        "tenTTHC": t.ten_tthc,
        "linhVuc": t.linh_vuc,
        "soNgayXuLy": t.so_ngay_xu_ly,
        "canThuaDat": t.can_thua_dat,
    }


@pytest.mark.parametrize("field", [None, "Hộ tịch", "Đất đai", "Giáo dục"])
async def test_procedures_are_listed_by_code_of_the_field_asked(
    transport: MemoryTransport, field: str | None
) -> None:
    ask = {} if field is None else {"linhVuc": field}
    found = await ok(transport, "onestop.procedure.list", ask)
    wanted = [procedure(t) for t in THU_TUC if field in (None, t.linh_vuc)]
    assert found == {"danhSach": sorted(wanted, key=lambda p: p["maTTHC"])}
    assert bool(found["danhSach"]) == (field != "Giáo dục")


async def dossier_pages(bus: MemoryTransport, size: int, **ask: Any) -> list[dict[str, Any]]:
    """Every dossier onestop.dossier.list gives, each page asked after the
    previous one's khoaTiepTheo until it is null."""
    found: list[dict[str, Any]] = []
    after = None
    while True:
        body = {**ask, "soBanGhi": size} | ({} if after is None else {"sauMaHoSo": after})
        page = await ok(bus, "onestop.dossier.list", body)
        found += page["danhSach"]
        after = page["khoaTiepTheo"]
        if after is None:
            return found
        assert len(page["danhSach"]) == size
        assert after == page["danhSach"][-1]["maHoSo"]


@pytest.mark.parametrize("size", [1, 2, 3, 4, 1000])
async def test_the_dossier_list_pages_through_every_dossier_once(
    transport: MemoryTransport, size: int
) -> None:
    found = await dossier_pages(transport, size)
    assert found == sorted(DEMO_DOSSIERS, key=lambda d: d["maHoSo"])


async def test_the_dossier_list_holds_what_changed_since_a_time(
    transport: MemoryTransport,
) -> None:
    since = "2025-06-10T10:00:00+07:00"
    at_nine, at_ten, at_eleven = [
        await submit(transport, ngayTiepNhan=f"2025-06-10T{hour}:00:00+07:00")
        for hour in ("09", "10", "11")
    ]
    moved = "000.00.00.H20-250603-0001"  # received on 3 June, moved on the 10th
    step = {"thoiDiem": "2025-06-10T10:30:00+07:00"}
    assert (await move(transport, moved, "4", **step)).status == 200
    for moment in (since, "2025-06-10T03:00:00Z"):  # the same moment, in UTC
        found = await dossier_pages(transport, 1, capNhatTu=moment)
        # A step at the very moment counts; the 9 o'clock dossier has none since.
        assert [d["maHoSo"] for d in found] == [moved, at_ten, at_eleven]
        for dossier in found:  # with their whole history
            status = {"maHoSo": dossier["maHoSo"]}
            assert dossier == await ok(transport, "onestop.dossier.status", status)
    assert at_nine in {d["maHoSo"] for d in await dossier_pages(transport, 100)}
    later = {"capNhatTu": "2025-06-10T11:00:01+07:00"}
    assert await ok(transport, "onestop.dossier.list", later) == {
        "danhSach": [],
        "khoaTiepTheo": None,
    }


async def test_the_dossier_list_starts_after_any_number(transport: MemoryTransport) -> None:
    numbers = sorted(d["maHoSo"] for d in DEMO_DOSSIERS)
    for after, rest in (
        ("000.00.00.H20-250101-0001", numbers),
        (numbers[1], numbers[2:]),
        ("000.00.00.H20-250603-0000", [n for n in numbers if n >= "000.00.00.H20-250603"]),
        (numbers[-1], []),
        ("000.00.00.H20-991231-9999", []),
    ):
        page = await ok(transport, "onestop.dossier.list", {"sauMaHoSo": after, "soBanGhi": 2})
        assert [d["maHoSo"] for d in page["danhSach"]] == rest[:2]
        assert page["khoaTiepTheo"] == (rest[1] if len(rest) > 2 else None)


# -- the sync to the national portal ------------------------------------------


def dvcqg_requests(bus: RecordingTransport) -> list[tuple[str, str | None]]:
    return [(s, h) for c, s, h in bus.requests if c == dvcqg.adapter.client_id]


async def test_every_step_reaches_the_portal_with_the_dossier_in_order(
    transport: RecordingTransport, portal: FakePortal
) -> None:
    receipt = await ok(
        transport,
        "onestop.dossier.submit",
        submission(ngayTiepNhan="2025-06-06T09:30:00+07:00", email="hong.le@example.com"),
    )
    ma_ho_so = receipt["maHoSo"]
    walk = ["4", "5", "4", "9", "10"]
    for n, status in enumerate(walk):
        reply = await move(
            transport, ma_ho_so, status, thoiDiem=f"2025-06-{9 + n:02d}T10:00:00+07:00"
        )
        assert reply.status == 200
    await portal.synced.until(lambda: len(portal.synced.items) == 6)
    dossier = await ok(transport, "onestop.dossier.status", {"maHoSo": ma_ho_so})
    assert [orjson.loads(s.model_dump_json()) for s in portal.synced.items] == [
        {
            **{k: receipt[k] for k in ("maHoSo", "maTTHC", "tenTTHC", "ngayTiepNhan")},
            "ngayHenTra": receipt["ngayHenTra"],
            "chuHoSo": HONG,
            **step,
        }
        for step in dossier["lichSu"]
    ]
    # For each event, in order: the dossier's snapshot, then the sync.
    assert dvcqg_requests(transport) == [
        (service, ma_ho_so)
        for _ in range(6)
        for service in ("onestop.dossier.status", "dvcqg.dossier.sync")
    ]


async def test_an_outage_of_the_portal_loses_nothing(
    transport: RecordingTransport, portal: FakePortal
) -> None:
    portal.down = True
    ma_ho_so = await submit(transport, ngayTiepNhan="2025-06-06T09:30:00+07:00")
    for status in ("4", "5"):
        assert (await move(transport, ma_ho_so, status)).status == 200
    # The first event is retried with backoff; the later ones wait behind it.
    await portal.synced.until(lambda: portal.failures >= 2)
    assert portal.synced.items == []
    portal.down = False
    await portal.synced.until(lambda: len(portal.synced.items) == 3)
    assert [(s.maHoSo, s.trangThai) for s in portal.synced.items] == [
        (ma_ho_so, "2"),
        (ma_ho_so, "4"),
        (ma_ho_so, "5"),
    ]
    requests = dvcqg_requests(transport)
    syncs = [n for n, (service, _) in enumerate(requests) if service == "dvcqg.dossier.sync"]
    assert len(syncs) == portal.failures + 3
    # Every attempt, failed or not, takes a fresh snapshot first.
    for n in syncs:
        assert requests[n - 1] == ("onestop.dossier.status", ma_ho_so)
    assert len(requests) == 2 * len(syncs)


async def test_a_dossier_submitted_twice_is_synced_once(
    transport: RecordingTransport, portal: FakePortal
) -> None:
    body = submission(ngayTiepNhan="2025-06-06T09:30:00+07:00")
    first = await ok(transport, "onestop.dossier.submit", body)
    await ok(transport, "onestop.dossier.submit", body)
    marker = await submit(transport, chuHoSo=HUNG, ngayTiepNhan=fresh_receipt())
    await portal.synced.until(lambda: any(s.maHoSo == marker for s in portal.synced.items))
    assert [s.maHoSo for s in portal.synced.items] == [first["maHoSo"], marker]


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
