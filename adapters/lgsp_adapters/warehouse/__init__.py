"""The province's shared data warehouse (Kho dữ liệu dùng chung) on the bus.

It takes in what the agencies exchange: the one-stop-shop's dossier events
and the citizens' answers to VNForm's survey in real time (:mod:`.inbox`,
:mod:`.ingest`), and on a schedule the
procedures and changed dossiers, the land database's parcels, the national
population database's counts (through NDXP) and the bus's own exchange
statistics. It keeps them in DuckDB (:mod:`.store`), copies them as Parquet
for other engines (:mod:`.export`), and serves named aggregate datasets
(:mod:`.datasets`) and read-only SQL (:mod:`.sql`) through the bus.

Subscribing to one more topic is one line in :data:`TOPICS` (its payload a
dossier step) or a handler like :func:`on_dossier_event`.

Each copy of the adapter (one per province of a network,
``adapter.copy(env=...)``) runs a warehouse of its own, with its own
settings, data folder and state; :func:`current`, :func:`ready`,
:func:`caught_up`, :func:`refresh` and :func:`is_ready` work on the copy
whose code runs (the module-level adapter elsewhere), or on the copy given.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, TypeVar

import structlog

from lgsp import Adapter, Context, Contract, ServiceUnavailable
from lgsp_adapters.warehouse import datasets, export, sql
from lgsp_adapters.warehouse.config import Settings
from lgsp_adapters.warehouse.ingest import DOSSIER_TOPICS, FEEDBACK_TOPICS, SOURCES, Warehouse
from lgsp_contracts.feedback import SUBMITTED_TOPIC, PhanHoiKhaoSat
from lgsp_contracts.onestop import SuKienTrangThaiHoSo
from lgsp_contracts.warehouse import (
    OWNER,
    DanSoTheoNhomTuoi,
    HoSoTheoThang,
    KetQuaTruyVan,
    MucDoHaiLong,
    ThuaDatTheoMucDich,
    TraoDoiTheoNgay,
    YeuCauDanSoTheoNhomTuoi,
    YeuCauHoSoTheoThang,
    YeuCauMucDoHaiLong,
    YeuCauThuaDatTheoMucDich,
    YeuCauTraoDoiTheoNgay,
    YeuCauTruyVan,
)

log = structlog.get_logger("lgsp_adapters.warehouse")

adapter = Adapter("warehouse", agency=OWNER)

LOAD_JOB: Final = "warehouse.load"
ENRICH_JOB: Final = "warehouse.enrich"
PULL_JOB: Final = "warehouse.pull"
EXPORT_JOB: Final = "warehouse.export"

T = TypeVar("T")


@dataclass
class _State:
    """One copy's warehouse and what its jobs share."""

    warehouse: Warehouse | None = None
    """The running warehouse (None when stopped)."""
    forced: bool = False
    """A pull of every source was asked for (:func:`refresh`)."""
    exported_at: float = 0.0
    busy: bool = False
    """Whether a pull (and the Parquet rewrite after it) is under way."""


_state = adapter.per_copy(lambda _copy: _State())
"""The state of the adapter whose code runs now, or of the copy given."""


def current(copy: Adapter | None = None) -> Warehouse:
    """The running warehouse (of ``copy``, if given), or 503 while there is none."""
    wh = _state(copy).warehouse
    if wh is None:
        raise ServiceUnavailable("the warehouse is not running")
    return wh


def _loaded_once(wh: Warehouse | None) -> bool:
    return wh is not None and all(
        wh.loads.get(s) is not None and wh.loads[s].loaded_at is not None for s in SOURCES
    )


def is_ready(copy: Adapter | None = None) -> bool:
    """Whether every source of the running warehouse (of ``copy``, if
    given) has loaded once."""
    return _loaded_once(_state(copy).warehouse)


async def ready(copy: Adapter | None = None) -> None:
    """Wait until the running warehouse (of ``copy``, if given: one
    province's) has loaded every source once (bound it with
    ``asyncio.timeout``)."""
    state = _state(copy)
    while not _loaded_once(state.warehouse):
        wh = state.warehouse
        # Polled as well: a bus may stop and another start its warehouse.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(0.2):
                if wh is None:
                    await asyncio.Event().wait()
                else:
                    # Cleared first: a progress already signalled would
                    # otherwise end every wait at once (a busy loop).
                    wh.progressed.clear()
                    await wh.progressed.wait()


async def caught_up(copy: Adapter | None = None) -> None:
    """Wait until every event in the inbox (of ``copy``'s warehouse, if
    given) is in DuckDB and its dossiers were asked about (the benchmark's
    and tests' 'queryable')."""
    while True:
        wh = current(copy)
        last = await asyncio.get_running_loop().run_in_executor(wh._inbox_thread, wh.inbox.last_seq)
        if wh.watermark >= last and not wh.pending:
            return
        wh.progressed.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(0.5):
                await wh.progressed.wait()


def refresh(copy: Adapter | None = None) -> None:
    """Pull every source (of ``copy``'s warehouse, if given) now, rather
    than at its next time."""
    owner = adapter.running() if copy is None else copy
    _state(owner).forced = True
    owner.wake(PULL_JOB)


# -- lifecycle and jobs ---------------------------------------------------------------


@adapter.on_start
async def open_warehouse(ctx: Context) -> None:
    owner = ctx.adapter
    settings = Settings.from_env(owner.env)
    data_dir = owner.data_dir
    wh = await asyncio.to_thread(Warehouse.open, data_dir, settings)
    _state(owner).warehouse = wh
    log.info(
        "warehouse.opened",
        path=str(data_dir) if data_dir else ":memory:",
        watermark=wh.watermark,
        personal_ids=list(settings.personal_ids),
    )


@adapter.on_stop
async def close_warehouse() -> None:
    state = _state()
    wh, state.warehouse = state.warehouse, None
    if wh is not None:
        await wh.close()


@adapter.every(0.2, name=LOAD_JOB)
async def load_events(ctx: Context) -> None:
    """Move accepted events into DuckDB (woken by each one: within ms)."""
    wh = _state(ctx.adapter).warehouse
    if wh is not None and await wh.load_events(ctx):
        ctx.adapter.wake(ENRICH_JOB)


@adapter.every(1.0, name=ENRICH_JOB)
async def enrich_dossiers(ctx: Context) -> None:
    """Ask the one-stop-shop about dossiers new events named."""
    wh = _state(ctx.adapter).warehouse
    if wh is not None and wh.pending:
        await wh.enrich(ctx)


@adapter.every(1.0, name=PULL_JOB)
async def pull_sources(ctx: Context) -> None:
    """Pull the sources that are due (each at its period, sooner while it
    has never loaded); rewrite the Parquet copy after a pull that loaded."""
    state = _state(ctx.adapter)
    wh = state.warehouse
    if wh is None:
        return
    forced, state.forced = state.forced, False
    state.busy = True
    try:
        loaded = await wh.pull(ctx, forced=forced)
        if loaded:
            wh.progressed.set()
            await _export(state, wh)
    finally:
        state.busy = False


@adapter.every(5.0, name=EXPORT_JOB)
async def export_now_and_then(ctx: Context) -> None:
    state = _state(ctx.adapter)
    wh = state.warehouse
    # Not before the first pull: the copy after it is the first worth making.
    if (
        wh is not None
        and state.exported_at
        and time.monotonic() - state.exported_at >= wh.settings.export_s
    ):
        await _export(state, wh)


async def _export(state: _State, wh: Warehouse) -> None:
    if wh.export_dir is None:
        return
    state.exported_at = time.monotonic()
    started = time.perf_counter()
    rows = await _read(wh, export.export, wh.export_dir)
    log.info(
        "warehouse.exported",
        tables=len(rows),
        rows=sum(rows.values()),
        ms=round((time.perf_counter() - started) * 1000, 1),
    )


# -- events -------------------------------------------------------------------------


async def _land(topic: str, payload: Contract, ctx: Context) -> None:
    # The loader is not woken per event: on its schedule it moves every
    # event landed meanwhile in one DuckDB transaction (~1.5 ms however
    # many), which a wake per event turned into one transaction per event.
    await current(ctx.adapter).accept(topic, payload, ctx.event_id)


TOPICS: Final = tuple(sorted(DOSSIER_TOPICS | FEEDBACK_TOPICS))
"""Topics the warehouse subscribes to (dossier steps, citizens' answers)."""


@adapter.subscribe("onestop.dossier.status-changed", name="warehouse.dossiers")
async def on_dossier_event(event: SuKienTrangThaiHoSo, ctx: Context) -> None:
    """Land a dossier step; acknowledged once it is in the inbox."""
    await _land("onestop.dossier.status-changed", event, ctx)


@adapter.subscribe(SUBMITTED_TOPIC, name="warehouse.feedback")
async def on_feedback(event: PhanHoiKhaoSat, ctx: Context) -> None:
    """Land a citizen's answer to VNForm's survey."""
    await _land(SUBMITTED_TOPIC, event, ctx)


# -- the services -----------------------------------------------------------------------


async def _read(wh: Warehouse, fn: Callable[..., T], *args: object) -> T:
    """``fn(cursor, *args)`` on a reader thread, with a cursor of its own
    that the thread opens and closes (a cursor is never shared across
    threads, even when the caller is cancelled)."""

    def run() -> T:
        cur = wh.store.cursor()
        try:
            return fn(cur, *args)
        finally:
            cur.close()

    return await asyncio.get_running_loop().run_in_executor(wh.readers, run)


def _loaded(service: str) -> Warehouse:
    wh = current()
    missing = [
        s
        for s in datasets.SOURCES_OF[service]
        if (load := wh.loads.get(s)) is None or load.loaded_at is None
    ]
    if missing:
        raise ServiceUnavailable(
            f"the warehouse has not loaded {', '.join(missing)} yet", retry_after=5
        )
    return wh


async def _dataset(service: str, fn: Callable[..., T], request: Contract) -> T:
    # Called from a handler: the warehouse is that of the copy serving it.
    return await _read(_loaded(service), fn, request)


@adapter.service("warehouse.dossiers.monthly", version=1)
async def dossiers_monthly(request: YeuCauHoSoTheoThang, ctx: Context) -> HoSoTheoThang:
    """``warehouse.dossiers.monthly`` v1."""
    return await _dataset("warehouse.dossiers.monthly", datasets.dossiers_monthly, request)


@adapter.service("warehouse.parcels.land-use", version=1)
async def parcels_land_use(request: YeuCauThuaDatTheoMucDich, ctx: Context) -> ThuaDatTheoMucDich:
    """``warehouse.parcels.land-use`` v1."""
    return await _dataset("warehouse.parcels.land-use", datasets.parcels_land_use, request)


@adapter.service("warehouse.population.age-groups", version=1)
async def population_age_groups(
    request: YeuCauDanSoTheoNhomTuoi, ctx: Context
) -> DanSoTheoNhomTuoi:
    """``warehouse.population.age-groups`` v1."""
    return await _dataset(
        "warehouse.population.age-groups", datasets.population_age_groups, request
    )


@adapter.service("warehouse.exchanges.daily", version=1)
async def exchanges_daily(request: YeuCauTraoDoiTheoNgay, ctx: Context) -> TraoDoiTheoNgay:
    """``warehouse.exchanges.daily`` v1."""
    return await _dataset("warehouse.exchanges.daily", datasets.exchanges_daily, request)


@adapter.service("warehouse.feedback.satisfaction", version=1)
async def feedback_satisfaction(request: YeuCauMucDoHaiLong, ctx: Context) -> MucDoHaiLong:
    """``warehouse.feedback.satisfaction`` v1."""
    return await _dataset(
        "warehouse.feedback.satisfaction", datasets.feedback_satisfaction, request
    )


@adapter.service("warehouse.sql.query", version=1)
async def sql_query(request: YeuCauTruyVan, ctx: Context) -> KetQuaTruyVan:
    """``warehouse.sql.query`` v1."""
    return await _read(current(), sql.run, request)


@adapter.status
def status() -> dict[str, str | int | float | bool]:
    """Per source, when it last loaded (or its error); whether all did (of
    the adapter or copy whose status is read)."""
    state = _state()
    wh = state.warehouse
    if wh is None:
        return {"ready": False, "healthy": False}
    shown: dict[str, str | int | float | bool] = {"ready": _loaded_once(wh)}
    for source in SOURCES:
        load = wh.loads.get(source)
        if load is None or (load.loaded_at is None and load.error is None):
            shown[source] = "never loaded"
        elif load.error is not None:
            when = load.loaded_at.isoformat(timespec="seconds") if load.loaded_at else "never"
            shown[source] = f"down ({load.error}); last loaded {when}"
        else:
            assert load.loaded_at is not None
            shown[source] = f"{load.loaded_at.isoformat(timespec='seconds')}, {load.rows} rows"
    shown["events"] = wh.watermark
    shown["busy"] = state.busy
    shown["healthy"] = shown["ready"]
    return shown


__all__ = ["adapter", "caught_up", "current", "is_ready", "ready", "refresh"]
