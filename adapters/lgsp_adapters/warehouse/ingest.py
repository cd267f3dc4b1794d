"""Taking data in: events in real time, sources in batch.

Dossier steps land in ``dossier_events`` and ``dossier_steps``; citizens'
answers to VNForm's survey (``vnform.feedback.submitted``) in
``feedback``, one row per answer (VNForm's submission id: an answer
delivered twice is one row).

Events land in the inbox (:mod:`.inbox`) and are acknowledged once
committed there; the loader moves new inbox rows into DuckDB in one
transaction that also moves the watermark (the last inbox ``seq`` loaded),
so a crash between the two neither loses nor doubles a row. Dossiers seen
in new events are then completed from the one-stop-shop
(``onestop.dossier.status``: receipt, due date, applicant, parcel).

Sources are pulled on a schedule (:data:`SOURCES`); one that is down is
logged and retried (soon while it has never loaded, else at the next
period) while the others go on.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, TypeVar

import structlog

from lgsp import Context, Contract, DomainError, LgspError
from lgsp_adapters.warehouse.config import Settings
from lgsp_adapters.warehouse.inbox import Inbox, InboxRow
from lgsp_adapters.warehouse.store import Store, local
from lgsp_adapters.workdays import VN_TZ, add_working_days
from lgsp_contracts.exchange import ThongKeTraoDoi, YeuCauThongKeTraoDoi
from lgsp_contracts.feedback import SUBMITTED_TOPIC, PhanHoiKhaoSat
from lgsp_contracts.land import TrangThuaDat, YeuCauSaoChepThuaDat
from lgsp_contracts.onestop import (
    DanhSachHoSo,
    DanhSachThuTuc,
    HoSo,
    SuKienTrangThaiHoSo,
    YeuCauDanhSachHoSo,
    YeuCauDanhSachThuTuc,
    YeuCauTraCuuHoSo,
)
from lgsp_contracts.population import ThongKeDanSo, YeuCauThongKeDanSo

log = structlog.get_logger("lgsp_adapters.warehouse")

T = TypeVar("T")

LOAD_BATCH: Final = 20_000
"""Most inbox rows moved into DuckDB in one transaction."""
ENRICH_CONCURRENCY: Final = 8
"""Calls to onestop.dossier.status in flight at once."""
RETRY_S: Final = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
"""Waits before pulling again a source that has never loaded (then the period)."""
EXCHANGE_DAYS: Final = 31
DOSSIER_STATUS: Final = "onestop.dossier.status"
WAREHOUSE_OFFICER: Final = "kho.dulieu"
"""Who asks the national population database (maDVC, maCanBo)."""

Transform = Callable[[Contract], list[tuple[str, str, Any, Any, Any, Any, str | None]]]
"""An event payload -> dossier step rows of ``dossier_events``: ma_ho_so,
ma_tthc, trang_thai_cu, trang_thai, thoi_diem (aware), ghi_chu."""


def event_key(topic: str, body: str, event_id: str | None = None) -> str:
    """An event's identity in the inbox: its event id, the same on every
    redelivery (what the bus hands a subscriber); for an event given
    without one (a direct call), its topic and content."""
    if event_id is not None:
        return event_id
    return hashlib.sha256(f"{topic}\n{body}".encode()).hexdigest()[:32]


def _vn_today() -> dt.date:
    return dt.datetime.now(VN_TZ).date()


@dataclass
class Load:
    """What the warehouse knows of one source's loads."""

    loaded_at: dt.datetime | None = None
    rows: int = 0
    duration_ms: float = 0.0
    attempted_at: float = 0.0
    """time.monotonic() of the last try (0: never)."""
    failures: int = 0
    error: str | None = None


@dataclass
class Warehouse:
    """One running warehouse: its store, inbox, threads and load state."""

    store: Store
    inbox: Inbox
    settings: Settings
    export_dir: Path | None
    loads: dict[str, Load] = field(default_factory=dict)
    watermark: int = 0
    pending: set[str] = field(default_factory=set)
    """Dossiers to ask the one-stop-shop about."""
    _writer: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="warehouse-writer")
    )
    _inbox_thread: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="warehouse-inbox")
    )
    readers: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(4, thread_name_prefix="warehouse-sql")
    )
    progressed: asyncio.Event = field(default_factory=asyncio.Event)
    """Set each time events were moved or a source loaded (whoever waits
    clears it)."""

    @classmethod
    def open(cls, data_dir: Path | None, settings: Settings) -> Warehouse:
        export_dir = None if data_dir is None else data_dir / "parquet"
        store = Store(
            None if data_dir is None else data_dir / "warehouse.duckdb",
            export_dir=export_dir,
            threads=settings.threads,
        )
        inbox = Inbox(None if data_dir is None else data_dir / "inbox.sqlite")
        wh = cls(store, inbox, settings, export_dir)
        wh.watermark = int(store.meta("inbox_seq") or 0)
        for source, loaded_at, rows, duration in store.query(
            "SELECT source, loaded_at, rows, duration_ms FROM loads WHERE loaded_at IS NOT NULL"
        ):
            wh.loads[source] = Load(loaded_at, rows, duration)
        wh.pending = {
            r[0] for r in store.query("SELECT ma_ho_so FROM dossier_facts WHERE nguon = 'event'")
        }
        return wh

    async def write(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn`` on the writer thread (every DuckDB write)."""
        return await asyncio.get_running_loop().run_in_executor(self._writer, fn, *args)

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        for pool in (self._inbox_thread, self.readers, self._writer):
            await loop.run_in_executor(None, pool.shutdown)
        self.inbox.close()
        self.store.close()

    # -- events --------------------------------------------------------------

    async def accept(self, topic: str, payload: Contract, event_id: str | None = None) -> bool:
        """Land one event in the inbox; returns once it is committed (False
        when it was there already: a redelivery of the same event id)."""
        body = payload.model_dump_json()
        key = event_key(topic, body, event_id)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._inbox_thread, self.inbox.put, key, topic, body)

    async def load_events(self, ctx: Context) -> int:
        """Move new inbox rows into DuckDB (their dossiers are completed
        apart, by :meth:`enrich`, so that asking never holds loading up)."""
        loop = asyncio.get_running_loop()
        moved = 0
        while True:
            rows = await loop.run_in_executor(
                self._inbox_thread, self.inbox.after, self.watermark, LOAD_BATCH
            )
            if not rows:
                break
            dossiers = await self.write(self._land_events, rows)
            self.watermark = rows[-1][0]
            self.pending |= dossiers
            moved += len(rows)
            if len(rows) < LOAD_BATCH:
                break
        if moved:
            self.progressed.set()
        return moved

    def _land_events(self, rows: Sequence[InboxRow]) -> set[str]:
        """One transaction: the events, their steps, a provisional row for
        each new dossier, and the watermark. Returns dossiers not yet
        completed from their source."""
        con = self.store.con
        procedures = dict(self.store.query("SELECT ma_tthc, so_ngay_xu_ly FROM procedures"))
        events: list[list[Any]] = [[] for _ in range(10)]
        answers: list[list[Any]] = [[] for _ in range(12)]
        for seq, key, topic, body, accepted_at in rows:
            if topic in FEEDBACK_TOPICS:
                _answer_row(answers, seq, PhanHoiKhaoSat.model_validate_json(body), accepted_at)
                continue
            e = SuKienTrangThaiHoSo.model_validate_json(body) if topic in DOSSIER_TOPICS else None
            if e is None:
                continue
            for column, value in zip(
                events,
                (
                    key,
                    seq,
                    topic,
                    e.maHoSo,
                    e.maTTHC,
                    e.trangThaiCu,
                    e.trangThai,
                    local(e.thoiDiem),
                    e.ghiChu,
                    accepted_at,
                ),
                strict=True,
            ):
                column.append(value)
        con.execute("BEGIN")
        try:
            self.store.insert("feedback", answers, on_conflict="ON CONFLICT DO NOTHING")
            self.store.insert("dossier_events", events, on_conflict="ON CONFLICT DO NOTHING")
            steps = {
                (n, s, t): note
                for n, s, t, note in zip(events[3], events[6], events[7], events[8], strict=True)
            }
            self._insert_steps(steps)
            # A dossier first seen by its receipt: its due date from the
            # procedure's working days, until the one-stop-shop is asked.
            known = {
                r[0]
                for r in self.store.query(
                    "SELECT ma_ho_so FROM dossier_facts WHERE list_contains(?, ma_ho_so)",
                    [sorted(set(events[3]))],
                )
            }
            fresh: dict[str, list[Any]] = {}
            for n, code, status, at in zip(events[3], events[4], events[6], events[7], strict=True):
                if n in known or n in fresh:
                    continue
                days = procedures.get(code[:8])
                due = None
                if status == "2" and days is not None:
                    due = add_working_days(at.replace(tzinfo=VN_TZ), days).replace(tzinfo=None)
                fresh[n] = [
                    n,
                    code,
                    at if status == "2" else None,
                    due,
                    None,
                    None,
                    None,
                    None,
                    None,
                    "event",
                ]
            self.store.insert(
                "dossier_facts",
                [list(c) for c in zip(*fresh.values(), strict=True)] if fresh else [[]] * 10,
                on_conflict="ON CONFLICT DO NOTHING",
            )
            self.store.set_meta("inbox_seq", str(rows[-1][0]))
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        return set(fresh) | {
            r[0]
            for r in self.store.query(
                "SELECT ma_ho_so FROM dossier_facts WHERE nguon = 'event' "
                "AND list_contains(?, ma_ho_so)",
                [sorted(set(events[3]))],
            )
        }

    def _insert_steps(self, steps: dict[tuple[str, str, dt.datetime], str | None]) -> None:
        if not steps:
            return
        keys = list(steps)
        self.store.con.execute(
            "INSERT INTO dossier_steps SELECT n, s, t, g, nextval('step_order') FROM "
            "(SELECT unnest(?::VARCHAR[]) AS n, unnest(?::VARCHAR[]) AS s, "
            "unnest(?::TIMESTAMP[]) AS t, unnest(?::VARCHAR[]) AS g, "
            "unnest(?::BIGINT[]) AS i) ORDER BY i ON CONFLICT DO NOTHING",
            [
                [k[0] for k in keys],
                [k[1] for k in keys],
                [k[2] for k in keys],
                [steps[k] for k in keys],
                list(range(len(keys))),
            ],
        )

    async def enrich(self, ctx: Context) -> None:
        """Ask the one-stop-shop about the dossiers its events named."""
        todo = sorted(self.pending)
        gate = asyncio.Semaphore(ENRICH_CONCURRENCY)

        async def one(number: str) -> HoSo | str | None:
            async with gate:
                try:
                    answer: HoSo = await ctx.call(DOSSIER_STATUS, YeuCauTraCuuHoSo(maHoSo=number))
                    return answer
                except DomainError as exc:
                    if exc.status == 404:
                        return number  # unknown at source: keep its events
                    raise
                except LgspError as exc:
                    log.warning("warehouse.enrich_failed", dossier=number, error=exc.detail)
                    return None

        results = await asyncio.gather(*(one(n) for n in todo))
        self.progressed.set()
        found = [r for r in results if isinstance(r, HoSo)]
        unknown = [r for r in results if isinstance(r, str)]
        if found or unknown:
            await self.write(self._upsert_dossiers, found, unknown, DOSSIER_STATUS)
        self.pending -= {d.maHoSo for d in found} | set(unknown)

    def _upsert_dossiers(
        self, dossiers: Sequence[HoSo], unknown: Sequence[str], source: str
    ) -> None:
        keep_ids = self.settings.keeps_personal_ids(source)
        con = self.store.con
        con.execute("BEGIN")
        try:
            numbers = [d.maHoSo for d in dossiers]
            if numbers:
                con.execute("DELETE FROM dossier_facts WHERE list_contains(?, ma_ho_so)", [numbers])
            self.store.insert(
                "dossier_facts",
                [
                    numbers,
                    [d.maTTHC for d in dossiers],
                    [local(d.ngayTiepNhan) for d in dossiers],
                    [local(d.ngayHenTra) for d in dossiers],
                    [d.thuaDat.maXa if d.thuaDat else None for d in dossiers],
                    [d.thuaDat.soHieuToBanDo if d.thuaDat else None for d in dossiers],
                    [d.thuaDat.soThuTuThua if d.thuaDat else None for d in dossiers],
                    [d.chuHoSo.soDinhDanh if keep_ids else None for d in dossiers],
                    [d.chuHoSo.hoVaTen if keep_ids else None for d in dossiers],
                    ["source"] * len(dossiers),
                ],
            )
            self._insert_steps(
                {
                    (d.maHoSo, s.trangThai, local(s.thoiDiem)): s.ghiChu
                    for d in dossiers
                    for s in d.lichSu
                }
            )
            if unknown:
                con.execute(
                    "UPDATE dossier_facts SET nguon = 'unknown_at_source' "
                    "WHERE list_contains(?, ma_ho_so)",
                    [list(unknown)],
                )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise

    # -- batch pulls ---------------------------------------------------------------

    def due(self, source: str, now: float, forced: bool) -> bool:
        load = self.loads.get(source)
        if load is None or load.attempted_at == 0.0:
            return True
        if forced:
            return True
        if load.loaded_at is None or load.error is not None:
            wait = RETRY_S[min(load.failures, len(RETRY_S)) - 1] if load.failures else RETRY_S[0]
            return now - load.attempted_at >= min(wait, self.settings.pull_s)
        return now - load.attempted_at >= self.settings.pull_s

    async def pull(self, ctx: Context, *, forced: bool = False) -> list[str]:
        """Pull every source that is due, one after the other; returns
        those that loaded."""
        done = []
        for source, fetch in SOURCES.items():
            now = time.monotonic()
            if not self.due(source, now, forced):
                continue
            load = self.loads.setdefault(source, Load())
            load.attempted_at = now
            started = time.perf_counter()
            try:
                rows = await fetch(self, ctx)
            except LgspError as exc:
                load.failures += 1
                load.error = f"{exc.status} {exc.code}: {exc.detail}"
                log.warning("warehouse.source_down", source=source, error=load.error)
                await self.write(self._note_load, source, load)
                continue
            except Exception as exc:
                load.failures += 1
                load.error = f"{type(exc).__name__}: {exc}"
                log.exception("warehouse.source_failed", source=source)
                await self.write(self._note_load, source, load)
                continue
            load.failures, load.error = 0, None
            load.rows = rows
            load.duration_ms = (time.perf_counter() - started) * 1000
            load.loaded_at = local(dt.datetime.now(dt.UTC))
            await self.write(self._note_load, source, load)
            log.info("warehouse.loaded", source=source, rows=rows, ms=round(load.duration_ms, 1))
            done.append(source)
        return done

    def _note_load(self, source: str, load: Load) -> None:
        self.store.con.execute(
            "INSERT OR REPLACE INTO loads VALUES (?, ?, ?, ?, ?, ?)",
            [
                source,
                load.loaded_at,
                load.rows,
                load.duration_ms,
                local(dt.datetime.now(dt.UTC)),
                load.error,
            ],
        )

    def _replace(
        self, tables: dict[str, list[list[Any]]], where: str = "", params: Sequence[object] = ()
    ) -> int:
        """Replace whole tables (or the rows ``where`` selects) in one
        transaction: readers see the old rows or the new, never a mix."""
        con = self.store.con
        con.execute("BEGIN")
        try:
            count = 0
            for table, columns in tables.items():
                con.execute(f"DELETE FROM {table} {where}", list(params))
                count += self.store.insert(table, columns)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        return count


# -- the sources ----------------------------------------------------------------


async def pull_procedures(wh: Warehouse, ctx: Context) -> int:
    answer: DanhSachThuTuc = await ctx.call("onestop.procedure.list", YeuCauDanhSachThuTuc())
    p = answer.danhSach
    return await wh.write(
        wh._replace,
        {
            "procedures": [
                [t.maTTHC for t in p],
                [t.tenTTHC for t in p],
                [t.linhVuc for t in p],
                [t.soNgayXuLy for t in p],
                [t.canThuaDat for t in p],
            ]
        },
    )


class _Pace:
    """Holds a pull to its share of the event loop: after each page, a pause
    in proportion to the time the page took (the call and its rows), so the
    bus's own calls keep the rest."""

    def __init__(
        self,
        share: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.share = share
        self._clock = clock
        self._sleep = sleep
        self._started = clock()

    async def page_done(self) -> None:
        if self.share < 1:
            took = self._clock() - self._started
            await self._sleep(took * (1 - self.share) / self.share)
        self._started = self._clock()


async def pull_dossiers(wh: Warehouse, ctx: Context) -> int:
    """The dossiers changed since the last pull's newest step, page by page."""
    since_text = await wh.write(wh.store.meta, "dossier_list_since")
    since = None if since_text is None else dt.datetime.fromisoformat(since_text)
    after: str | None = None
    count = 0
    newest = since
    pace = _Pace(wh.settings.pull_share)
    while True:
        page: DanhSachHoSo = await ctx.call(
            "onestop.dossier.list",
            YeuCauDanhSachHoSo(capNhatTu=since, sauMaHoSo=after, soBanGhi=1000),
            timeout_s=60,
        )
        if page.danhSach:
            await wh.write(wh._upsert_dossiers, page.danhSach, (), "onestop.dossier.list")
            count += len(page.danhSach)
            latest = max(s.thoiDiem for d in page.danhSach for s in d.lichSu)
            newest = latest if newest is None else max(newest, latest)
            wh.pending -= {d.maHoSo for d in page.danhSach}
        if page.khoaTiepTheo is None:
            break
        after = page.khoaTiepTheo
        await pace.page_done()
    if newest is not None:
        await wh.write(wh.store.set_meta, "dossier_list_since", newest.isoformat())
    return count


PARCEL_PAGE: Final = 250
"""Parcels a page. Measured under load on the embedded bus: a page of 1,000
(answered, decoded and put in columns in one turn of the loop) held the
loop 15-24 ms, once 118; a quarter of that keeps each turn to a few ms."""


async def pull_parcels(wh: Warehouse, ctx: Context) -> int:
    """Every parcel, :data:`PARCEL_PAGE` a page (a page is a pause of the
    loop: small ones let the bus's calls in between); the parcel tables are
    replaced at once."""
    keep_ids = wh.settings.keeps_personal_ids("land.parcel.snapshot")
    parcels: list[list[Any]] = [[] for _ in range(10)]
    uses: list[list[Any]] = [[] for _ in range(5)]
    owners: list[list[Any]] = [[] for _ in range(5)]
    certificates: list[list[Any]] = [[] for _ in range(6)]
    after: str | None = None
    pace = _Pace(wh.settings.pull_share)
    while True:
        page: TrangThuaDat = await ctx.call(
            "land.parcel.snapshot",
            YeuCauSaoChepThuaDat(sauKhoa=after, soBanGhi=PARCEL_PAGE),
            timeout_s=60,
        )
        value: object
        for p in page.danhSach:
            key = (p.maXa, p.soHieuToBanDo, p.soThuTuThua)
            term = (
                p.thoiHanSuDung if isinstance(p.thoiHanSuDung, str) else p.thoiHanSuDung.isoformat()
            )
            for column, value in zip(
                parcels,
                (
                    *key[:1],
                    p.tenXa,
                    *key[1:],
                    p.dienTich,
                    p.dienTichPhapLy,
                    term,
                    p.nguonGocSuDung,
                    p.tinhTrangThueChap,
                    len(p.chuSuDung),
                ),
                strict=True,
            ):
                column.append(value)
            for use in p.mucDichSuDung:
                for column, value in zip(uses, (*key, use.kyHieu, use.dienTich), strict=True):
                    column.append(value)
            for owner in p.chuSuDung:
                row = (
                    *key,
                    owner.soDinhDanh if keep_ids else None,
                    owner.hoVaTen if keep_ids else None,
                )
                for column, value in zip(owners, row, strict=True):
                    column.append(value)
            c = p.giayChungNhan
            for column, value in zip(
                certificates, (c.soPhatHanh, c.soVaoSo, c.ngayCap, *key), strict=True
            ):
                column.append(value)
        if page.khoaTiepTheo is None:
            break
        after = page.khoaTiepTheo
        await pace.page_done()
    await wh.write(
        wh._replace,
        {
            "parcels": parcels,
            "parcel_uses": uses,
            "parcel_owners": owners,
            "certificates": certificates,
        },
    )
    return len(parcels[0])


async def pull_population(wh: Warehouse, ctx: Context) -> int:
    today = _vn_today()
    answer: ThongKeDanSo = await ctx.call(
        "population.commune.statistics",
        YeuCauThongKeDanSo(
            maYeuCau=f"{WAREHOUSE_OFFICER}-{today:%Y%m%d}-{time.time_ns() % 10**9:09d}",
            maDVC=WAREHOUSE_OFFICER,
            maCanBo=WAREHOUSE_OFFICER,
            ngayThongKe=today,
        ),
        timeout_s=60,
    )
    rows = answer.danhSach
    return await wh.write(
        wh._replace,
        {
            "population_by_commune": [
                [r.maXa for r in rows],
                [r.tenXa for r in rows],
                [r.nhomTuoi for r in rows],
                [r.gioiTinh for r in rows],
                [r.soNguoi for r in rows],
                [answer.ngayThongKe] * len(rows),
            ]
        },
    )


async def pull_exchanges(wh: Warehouse, ctx: Context) -> int:
    """The last 31 days of the bus's own statistics."""
    today = _vn_today()
    first = today - dt.timedelta(days=EXCHANGE_DAYS - 1)
    answer: ThongKeTraoDoi = await ctx.call(
        "lgsp.exchange.statistics", YeuCauThongKeTraoDoi(tuNgay=first, denNgay=today)
    )
    rows = answer.danhSach
    return await wh.write(
        wh._replace,
        {
            "exchange_stats": [
                [r.ngay for r in rows],
                [r.client for r in rows],
                [r.service for r in rows],
                [r.soLuot for r in rows],
                [r.soLoi for r in rows],
                [r.thoiGianP95Ms for r in rows],
            ]
        },
        "WHERE ngay BETWEEN ? AND ?",
        [first, today],
    )


SOURCES: Final[dict[str, Callable[[Warehouse, Context], Awaitable[int]]]] = {
    "onestop.procedure.list": pull_procedures,
    "onestop.dossier.list": pull_dossiers,
    "land.parcel.snapshot": pull_parcels,
    "population.commune.statistics": pull_population,
    "lgsp.exchange.statistics": pull_exchanges,
}
"""The batch sources, in the order they are pulled (procedures first: new
dossiers' due dates need them)."""

DOSSIER_TOPICS: Final = frozenset({"onestop.dossier.status-changed"})
"""Topics whose events are dossier steps (SuKienTrangThaiHoSo)."""
FEEDBACK_TOPICS: Final = frozenset({SUBMITTED_TOPIC})
"""Topics whose events are citizens' answers (PhanHoiKhaoSat)."""


def _answer_row(columns: list[list[Any]], seq: int, a: PhanHoiKhaoSat, accepted_at: object) -> None:
    """One answer as a row of ``feedback`` (its comment as the event
    carries it: masked by the province's connector)."""
    row = (
        a.maPhanHoi,
        seq,
        a.maBieuMau,
        a.maHoSo,
        a.maTTHC,
        a.maDonVi,
        a.diemTongThe,
        a.diemThoiGian,
        a.diemThaiDo,
        a.gopY,
        local(a.thoiDiem),
        accepted_at,
    )
    for column, value in zip(columns, row, strict=True):
        column.append(value)
