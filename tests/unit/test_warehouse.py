"""The warehouse without a bus: events land exactly once (redelivered,
restarted, crashed between inbox and DuckDB), due dates and lateness in
working days, personal ids only where allowed, read-only SQL, the Parquet
copy, and a source that is down."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pyarrow.dataset as ds
import pytest

from lgsp import DomainError, ServiceUnavailable
from lgsp_adapters.warehouse import export, sql
from lgsp_adapters.warehouse.config import Settings
from lgsp_adapters.warehouse.ingest import SOURCES, Warehouse
from lgsp_contracts.onestop import (
    DEMO_DOSSIERS,
    THU_TUC,
    DanhSachThuTuc,
    HoSo,
    SuKienTrangThaiHoSo,
    ThongTinThuTuc,
)
from lgsp_contracts.warehouse import YeuCauTruyVan

TOPIC = "onestop.dossier.status-changed"
NUMBER = "000.00.00.H20-250829-0001"


def step(status: str, at: str, previous: str | None = None, number: str = NUMBER) -> Any:
    return SuKienTrangThaiHoSo(
        maHoSo=number,
        maTTHC="1.004873",
        trangThaiCu=previous,
        trangThai=status,  # type: ignore[arg-type]
        thoiDiem=dt.datetime.fromisoformat(at),
    )


class FakeContext:
    """Answers onestop.dossier.status from ``dossiers`` (else 404) and the
    sources from ``answers``; a source in ``down`` is unavailable."""

    def __init__(self) -> None:
        self.dossiers: dict[str, HoSo] = {}
        self.down: set[str] = set()
        self.calls: list[str] = []

    async def call(self, service: str, payload: Any, **_: Any) -> Any:
        self.calls.append(service)
        if service in self.down:
            raise ServiceUnavailable(f"{service} is down")
        if service == "onestop.dossier.status":
            found = self.dossiers.get(payload.maHoSo)
            if found is None:
                raise DomainError("onestop.dossier.not_found", "no such dossier", status=404)
            return found
        if service == "onestop.procedure.list":
            return DanhSachThuTuc(
                danhSach=[
                    ThongTinThuTuc(
                        maTTHC=t.ma_tthc,
                        tenTTHC=t.ten_tthc,
                        linhVuc=t.linh_vuc,
                        soNgayXuLy=t.so_ngay_xu_ly,
                        canThuaDat=t.can_thua_dat,
                    )
                    for t in THU_TUC
                ]
            )
        raise ServiceUnavailable(f"{service} is not served here")


@pytest.fixture
async def wh(tmp_path: Path) -> AsyncIterator[Warehouse]:
    w = Warehouse.open(tmp_path, Settings())
    yield w
    await w.close()


def count(w: Warehouse, sql_text: str) -> int:
    return int(w.store.query(sql_text)[0][0])


async def test_a_redelivered_event_lands_once(wh: Warehouse) -> None:
    ctx = FakeContext()
    event = step("2", "2025-08-29T09:00:00+07:00")
    assert await wh.accept(TOPIC, event, "e-1")
    assert not await wh.accept(TOPIC, event, "e-1")  # the bus delivers it again
    await wh.load_events(ctx)  # type: ignore[arg-type]
    await wh.load_events(ctx)  # type: ignore[arg-type]
    await wh.enrich(ctx)  # type: ignore[arg-type]
    assert count(wh, "SELECT count(*) FROM dossier_events") == 1
    assert count(wh, "SELECT count(*) FROM dossier_steps") == 1
    # Unknown to the one-stop-shop: its events stay, marked.
    assert wh.store.query("SELECT nguon FROM dossier_facts") == [("unknown_at_source",)]


async def test_two_events_saying_the_same_are_two_events_of_one_dossier(wh: Warehouse) -> None:
    ctx = FakeContext()
    event = step("2", "2025-08-29T09:00:00+07:00")
    assert await wh.accept(TOPIC, event, "e-1")
    assert await wh.accept(TOPIC, event, "e-2")  # published twice: two events
    await wh.load_events(ctx)  # type: ignore[arg-type]
    await wh.enrich(ctx)  # type: ignore[arg-type]
    assert count(wh, "SELECT count(*) FROM dossier_events") == 2
    assert count(wh, "SELECT count(*) FROM dossier_facts") == 1


async def test_restarted_with_the_same_data_and_redelivered_lands_once(tmp_path: Path) -> None:
    ctx = FakeContext()
    event = step("2", "2025-08-29T09:00:00+07:00")
    first = Warehouse.open(tmp_path, Settings())
    await first.accept(TOPIC, event, "e-1")
    await first.load_events(ctx)  # type: ignore[arg-type]
    await first.close()
    again = Warehouse.open(tmp_path, Settings())
    try:
        assert again.watermark == 1
        assert not await again.accept(TOPIC, event, "e-1")
        await again.load_events(ctx)  # type: ignore[arg-type]
        assert count(again, "SELECT count(*) FROM dossier_events") == 1
    finally:
        await again.close()


async def test_a_crash_between_inbox_and_duckdb_loses_and_doubles_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = FakeContext()
    events = [
        step("2", f"2025-08-{d:02d}T09:00:00+07:00", number=f"000.00.00.H20-2508{d:02d}-0001")
        for d in range(4, 9)
    ]
    w = Warehouse.open(tmp_path, Settings())
    for e in events:
        await w.accept(TOPIC, e)

    def crash(key: str, value: str) -> None:
        raise RuntimeError("power cut")  # after the rows, before the watermark

    monkeypatch.setattr(w.store, "set_meta", crash)
    with pytest.raises(RuntimeError):
        await w.load_events(ctx)  # type: ignore[arg-type]
    monkeypatch.undo()
    assert count(w, "SELECT count(*) FROM dossier_events") == 0  # rolled back
    await w.close()
    # A crash after DuckDB committed but before the process noted it: the
    # watermark is DuckDB's, so nothing is loaded twice.
    w = Warehouse.open(tmp_path, Settings())
    await w.load_events(ctx)  # type: ignore[arg-type]
    await w.close()
    w = Warehouse.open(tmp_path, Settings())
    await w.load_events(ctx)  # type: ignore[arg-type]
    try:
        assert count(w, "SELECT count(*) FROM dossier_events") == 5
        assert count(w, "SELECT count(*) FROM dossiers") == 5
    finally:
        await w.close()


async def _procedures(w: Warehouse) -> None:
    w.store.insert(
        "procedures",
        [["1.004873"], ["Cấp Giấy xác nhận tình trạng hôn nhân"], ["Hộ tịch"], [3], [False]],
    )


async def test_late_and_on_time_count_working_days_across_a_holiday(wh: Warehouse) -> None:
    """Received Friday 29 August 2025; 1-2 September are National Day, so 3
    working days end Friday 5 September; done Monday 8 is 1 working day late."""
    await _procedures(wh)
    ctx = FakeContext()
    late = "000.00.00.H20-250829-0001"
    on_time = "000.00.00.H20-250829-0002"
    for number, done in (
        (late, "2025-09-08T10:00:00+07:00"),
        (on_time, "2025-09-05T08:00:00+07:00"),
    ):
        await wh.accept(TOPIC, step("2", "2025-08-29T09:00:00+07:00", number=number))
        await wh.accept(TOPIC, step("4", "2025-08-29T10:00:00+07:00", "2", number=number))
        await wh.accept(TOPIC, step("9", done, "4", number=number))
    await wh.load_events(ctx)  # type: ignore[arg-type]
    rows = wh.store.query(
        "SELECT ma_ho_so, due, outcome, working_days_late FROM dossiers ORDER BY ma_ho_so"
    )
    due = dt.datetime(2025, 9, 5, 9, 0)
    assert rows == [(late, due, "late", 1), (on_time, due, "on_time", None)]


def _demo(number_suffix: str = "250512-0001") -> HoSo:
    seed = next(d for d in DEMO_DOSSIERS if d["maHoSo"].endswith(number_suffix))
    return HoSo.model_validate_json(orjson.dumps(seed))


async def test_personal_ids_are_null_unless_their_source_is_allowed(tmp_path: Path) -> None:
    for allowed, expected in (((), None), (("onestop.*",), "087192004321")):
        folder = tmp_path / str(len(allowed))
        folder.mkdir()
        w = Warehouse.open(folder, Settings(personal_ids=allowed))
        try:
            await w.write(w._upsert_dossiers, [_demo()], (), "onestop.dossier.list")
            ids = w.store.query("SELECT so_dinh_danh FROM dossiers")
            assert ids == [(expected,)]
        finally:
            await w.close()
    assert Settings(personal_ids=("land.parcel.snapshot",)).keeps_personal_ids(
        "land.parcel.snapshot"
    )
    assert not Settings(personal_ids=("land.*",)).keeps_personal_ids("onestop.dossier.list")


@pytest.mark.parametrize(
    ("statement", "code"),
    [
        (
            "INSERT INTO procedures VALUES ('1.000000', 'x', 'y', 1, false)",
            "warehouse.sql.forbidden",
        ),
        ("SELECT 1; SELECT 2", "warehouse.sql.forbidden"),
        ("SELECT * FROM read_csv('/etc/passwd')", "warehouse.sql.forbidden"),
        ("COPY procedures TO '/tmp/x.csv'", "warehouse.sql.forbidden"),
        ("SELECT * FROM glob('/etc/*')", "warehouse.sql.forbidden"),
        ("FROM '/etc/passwd'", "warehouse.sql.invalid"),
        ("SELEC 1", "warehouse.sql.invalid"),
        ("SELECT nope FROM procedures", "warehouse.sql.invalid"),
    ],
)
def test_sql_refuses_all_but_one_select_of_its_own_tables(
    wh: Warehouse, statement: str, code: str
) -> None:
    with pytest.raises(DomainError) as refused:
        sql.run(wh.store.cursor(), YeuCauTruyVan(sql=statement))
    assert (refused.value.code, refused.value.status) == (code, 422)
    assert count(wh, "SELECT count(*) FROM procedures") == 0


def test_sql_cuts_at_the_limit_and_masks_personal_ids(wh: Warehouse) -> None:
    cut = sql.run(wh.store.cursor(), YeuCauTruyVan(sql="SELECT * FROM range(5)", gioiHan=3))
    assert (len(cut.dong), cut.biCatBot) == (3, True)
    whole = sql.run(wh.store.cursor(), YeuCauTruyVan(sql="SELECT * FROM range(3)", gioiHan=3))
    assert (len(whole.dong), whole.biCatBot) == (3, False)
    masked = sql.run(
        wh.store.cursor(),
        YeuCauTruyVan(
            sql="SELECT '087090001234' AS a, 'id 087192004321, tel 0912345678' AS b, "
            "087090001234 AS c, DATE '2025-05-12' AS d"
        ),
    )
    assert masked.dong == [
        ["087*******34", "id 087*******21, tel 0912345678", 87090001234, "2025-05-12"]
    ]
    assert sql.mask("x123456789012y") == "x123*******12y"


async def test_the_parquet_copy_reads_the_same_in_another_engine(tmp_path: Path) -> None:
    w = Warehouse.open(tmp_path, Settings())
    try:
        await _procedures(w)
        await w.write(w._upsert_dossiers, [_demo(), _demo("250602-0001")], (), "onestop.*")
        assert w.export_dir is not None
        written = export.export(w.store.cursor(), w.export_dir)
        for table in ("dossiers", "dossier_steps", "procedures", "parcels", "working_days"):
            data = ds.dataset(w.export_dir / table, format="parquet", partitioning="hive")
            assert data.count_rows() == written[table] == count(w, f"SELECT count(*) FROM {table}")
        dossiers = ds.dataset(w.export_dir / "dossiers", format="parquet", partitioning="hive")
        assert "so_dinh_danh" not in dossiers.schema.names  # personal ids never leave
        assert sorted(dossiers.to_table().column("thang").to_pylist()) == ["2025-05", "2025-06"]
        export.export(w.store.cursor(), w.export_dir)  # a rewrite swaps the link
        assert ds.dataset(w.export_dir / "dossiers", partitioning="hive").count_rows() == 2
    finally:
        await w.close()


async def test_a_source_down_does_not_stop_the_others(wh: Warehouse) -> None:
    ctx = FakeContext()
    ctx.down = {"land.parcel.snapshot"}
    loaded = await wh.pull(ctx)  # type: ignore[arg-type]
    # Every source was tried; the procedures loaded, the others are noted
    # with their errors (and retried at the next run).
    assert set(ctx.calls) >= set(SOURCES)
    assert loaded == ["onestop.procedure.list"]
    assert count(wh, "SELECT count(*) FROM procedures") == len(THU_TUC)
    errors = dict(wh.store.query("SELECT source, error FROM loads"))
    assert "land.parcel.snapshot is down" in errors["land.parcel.snapshot"]
    assert errors["onestop.procedure.list"] is None
    assert set(errors) == set(SOURCES)


async def test_a_paged_pull_waits_in_proportion_to_its_pages() -> None:
    """A pull keeps to its share of the loop: a page that took 0.2 s at a
    share of 0.25 is followed by a 0.6 s wait; at 1, none."""
    from lgsp_adapters.warehouse import ingest

    clock = iter([100.0, 100.2, 100.8, 200.0, 200.5, 200.5])
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    pace = ingest._Pace(0.25, clock=lambda: next(clock), sleep=sleep)
    await pace.page_done()
    assert waits == [pytest.approx(0.6)]
    eager = ingest._Pace(1.0, clock=lambda: next(clock), sleep=sleep)
    await eager.page_done()
    assert waits == [pytest.approx(0.6)]


@pytest.mark.parametrize("raw", ["0", "1.5", "-1", "fast"])
def test_a_pull_share_outside_zero_to_one_is_refused(raw: str) -> None:
    from lgsp_adapters.warehouse.config import Settings as WarehouseSettings

    with pytest.raises(ValueError, match="LGSP_WAREHOUSE_PULL_SHARE"):
        WarehouseSettings.from_env({"LGSP_WAREHOUSE_PULL_SHARE": raw})
