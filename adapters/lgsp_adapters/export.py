"""``lgsp dataset``: a province's synthetic data as files, so testers can
pick their cases (a citizen with land, a mortgaged parcel, a dossier waiting
for documents...), and its size.

``lgsp dataset export --out DIR`` writes, from the same configuration as the
bus (``LGSP_DATASET_*`` and ``LGSP_PROVINCE``, overridden by the options;
Đồng Tháp by default):

| file | one record per |
|---|---|
| ``citizens`` | citizen, as ``population.citizen.lookup`` returns it |
| ``households`` | household: head, permanent residence, members |
| ``parcels`` | parcel, as ``land.parcel.lookup`` returns it |
| ``certificates`` | certificate: numbers, date, land users, parcel references |
| ``procedures`` | administrative procedure the one-stop-shop accepts |
| ``dossiers`` | demo dossier the one-stop-shop starts with (``onestop.dossier.status``) |

The contracts' demo dossiers, citizens and parcels are Đồng Tháp's: another
province's one-stop-shop starts empty.

``.json`` files hold a JSON array, one record per line; ``.csv`` files have a
header row, nested objects as dotted columns (``noiThuongTru.maXa``) and
lists as JSON text in one cell. Both are UTF-8 and keep diacritics as they
are. The command is registered under the ``lgsp.commands`` entry point group.
"""

from __future__ import annotations

import csv
import datetime as dt
import time
import types
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import click
import orjson
from pydantic import BaseModel, Field

from lgsp_adapters import provinces
from lgsp_adapters.dataset import Dataset, DatasetConfig, HoGiaDinh, build
from lgsp_adapters.onestop import DossierBook
from lgsp_contracts.fields import CaNhan, ThamChieuThuaDat
from lgsp_contracts.land import GiayChungNhanQuyenSuDungDat, SoPhatHanh, SoVaoSo, ThuaDat
from lgsp_contracts.onestop import THU_TUC, HoSo
from lgsp_contracts.population import CongDan
from lgsp_contracts.spec import Contract

Format = Literal["csv", "json", "both"]


class GiayChungNhanXuat(Contract):
    """A certificate in the export: its parcels by reference (the parcels
    file has them in full)."""

    soPhatHanh: SoPhatHanh = Field(description="Issue number (số phát hành).")
    soVaoSo: SoVaoSo = Field(description="Entry number in the certificate register.")
    ngayCap: dt.date = Field(description="Date of issue (ngày cấp).")
    chuSuDung: list[CaNhan] = Field(description="Land users named on it.")
    thuaDat: list[ThamChieuThuaDat] = Field(description="The parcels it covers.")

    @classmethod
    def of(cls, certificate: GiayChungNhanQuyenSuDungDat) -> GiayChungNhanXuat:
        return cls(
            soPhatHanh=certificate.soPhatHanh,
            soVaoSo=certificate.soVaoSo,
            ngayCap=certificate.ngayCap,
            chuSuDung=certificate.chuSuDung,
            thuaDat=[
                ThamChieuThuaDat(
                    maXa=t.maXa, soHieuToBanDo=t.soHieuToBanDo, soThuTuThua=t.soThuTuThua
                )
                for t in certificate.thuaDat
            ],
        )


class ThuTucHanhChinh(Contract):
    """An administrative procedure the mock one-stop-shop accepts."""

    maTTHC: str = Field(description="National procedure code (mã thủ tục hành chính).")
    tenTTHC: str = Field(description="Procedure name (tên thủ tục hành chính).")
    soNgayXuLy: int = Field(description="Processing time, in working days.")
    linhVuc: str = Field(description="Field (lĩnh vực), e.g. 'Đất đai'.")
    canThuaDat: bool = Field(description="Whether a dossier must name its parcel.")


@dataclass(frozen=True)
class Table:
    """One kind of record, and how to get them from a dataset."""

    name: str
    model: type[BaseModel]
    records: Callable[[Dataset], Iterable[BaseModel]]


def _procedures(_: Dataset) -> Iterator[ThuTucHanhChinh]:
    for t in THU_TUC:
        yield ThuTucHanhChinh(
            maTTHC=t.ma_tthc,
            tenTTHC=t.ten_tthc,
            soNgayXuLy=t.so_ngay_xu_ly,
            linhVuc=t.linh_vuc,
            canThuaDat=t.can_thua_dat,
        )


def _fresh_book(province: str) -> DossierBook:
    """A fresh one-stop-shop of the province: the demo dossiers are Đồng
    Tháp's, the others start empty."""
    if province == provinces.DEFAULT:
        return DossierBook()
    return DossierBook((), agency_code=provinces.province(province).agency_code)


def _dossiers(data: Dataset) -> Iterator[HoSo]:
    for dossier in _fresh_book(data.config.province):
        yield dossier.snapshot()


TABLES: tuple[Table, ...] = (
    Table("citizens", CongDan, lambda data: data.citizens()),
    Table("households", HoGiaDinh, lambda data: data.households()),
    Table("parcels", ThuaDat, lambda data: data.parcels()),
    Table(
        "certificates",
        GiayChungNhanXuat,
        lambda data: (GiayChungNhanXuat.of(c) for c in data.certificates()),
    ),
    Table("procedures", ThuTucHanhChinh, _procedures),
    Table("dossiers", HoSo, _dossiers),
)


@dataclass(frozen=True)
class Written:
    path: Path
    rows: int


def export(data: Dataset, out: Path, fmt: Format = "both") -> list[Written]:
    """Write every table of ``data`` to ``out`` (created if needed)."""
    out.mkdir(parents=True, exist_ok=True)
    written: list[Written] = []
    for table in TABLES:
        if fmt in ("json", "both"):
            written.append(_write_json(table, data, out / f"{table.name}.json"))
        if fmt in ("csv", "both"):
            written.append(_write_csv(table, data, out / f"{table.name}.csv"))
    return written


def _write_json(table: Table, data: Dataset, path: Path) -> Written:
    rows = 0
    with path.open("wb") as f:
        f.write(b"[")
        for record in table.records(data):
            f.write(b"\n" if rows == 0 else b",\n")
            f.write(record.__pydantic_serializer__.to_json(record))
            rows += 1
        f.write(b"\n]\n" if rows else b"]\n")
    return Written(path, rows)


def _write_csv(table: Table, data: Dataset, path: Path) -> Written:
    columns = _columns(table.model)
    rows = 0
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([".".join(c) for c in columns])
        for record in table.records(data):
            values = record.model_dump(mode="json")
            writer.writerow([_cell(values, c) for c in columns])
            rows += 1
    return Written(path, rows)


def _columns(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """A model's CSV columns: nested models spread into dotted columns."""
    columns: list[tuple[str, ...]] = []
    for name, info in model.model_fields.items():
        nested = _nested_model(info.annotation)
        if nested is None:
            columns.append((*prefix, name))
        else:
            columns += _columns(nested, (*prefix, name))
    return columns


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    """The model an annotation holds (``Model`` or ``Model | None``), if any."""
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        annotation = args[0] if len(args) == 1 else None
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _cell(values: dict[str, Any], column: tuple[str, ...]) -> str:
    value: Any = values
    for name in column:
        if value is None:
            return ""
        value = value[name]
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    # Lists, numbers and booleans as JSON: [..], 152.3, true.
    return orjson.dumps(value).decode()


def _config(
    citizens: int | None, seed: int | None, scheme: str | None, province: str | None
) -> DatasetConfig:
    try:
        base = DatasetConfig.from_env()
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    return DatasetConfig(
        seed=base.seed if seed is None else seed,
        citizens=base.citizens if citizens is None else citizens,
        scheme="legacy" if (scheme or base.scheme) == "legacy" else "2025",
        province=province or base.province,
    )


def _build(config: DatasetConfig) -> tuple[Dataset, float]:
    started = time.perf_counter()
    try:
        data = build(config)
    except RuntimeError as exc:  # e.g. the legacy list is not installed
        raise click.ClickException(str(exc)) from exc
    return data, time.perf_counter() - started


def _name(config: DatasetConfig) -> str:
    return provinces.province(config.province).name


def _size(n: int) -> str:
    return f"{n / 1_000_000:.1f} MB" if n >= 100_000 else f"{n / 1000:.1f} kB"


citizens_option = click.option(
    "--citizens",
    type=click.IntRange(1),
    help="Citizens in all, the contracts' pinned ones included "
    "[default: LGSP_DATASET_CITIZENS or 10000].",
)
seed_option = click.option(
    "--seed", type=int, help="Generator seed [default: LGSP_DATASET_SEED or 20250701]."
)
province_option = click.option(
    "--province",
    type=click.Choice(list(provinces.PROVINCES)),
    help="The province whose data it is [default: LGSP_PROVINCE or dongthap].",
)
scheme_option = click.option(
    "--scheme",
    type=click.Choice(["2025", "legacy"]),
    help="Administrative units: the 2025 list or the legacy one [default: LGSP_DATASET_SCHEME "
    "or 2025].",
)


@click.group("dataset")
def command() -> None:
    """A province's synthetic data (the same the bus serves with the same
    LGSP_DATASET_* and LGSP_PROVINCE settings)."""


@command.command("export")
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to write to (created if missing; files in it are replaced).",
)
@citizens_option
@seed_option
@scheme_option
@province_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "json", "both"]),
    default="both",
    show_default=True,
    help="File format(s).",
)
def export_command(
    out: Path,
    citizens: int | None,
    seed: int | None,
    scheme: str | None,
    province: str | None,
    fmt: Format,
) -> None:
    """Write citizens, households, parcels, certificates, procedures and the
    demo dossiers as CSV and/or JSON (UTF-8)."""
    config = _config(citizens, seed, scheme, province)
    data, seconds = _build(config)
    written = export(data, out, fmt)
    click.echo(
        f"Dataset of {_name(config)}, seed {config.seed}, {data.citizen_count} citizens, "
        f"scheme {config.scheme} (built in {seconds:.2f} s), written to {out}:"
    )
    for w in written:
        click.echo(f"  {w.path.name:<18} {w.rows:>9} records  {_size(w.path.stat().st_size):>9}")


@command.command("stats")
@citizens_option
@seed_option
@scheme_option
@province_option
def stats_command(
    citizens: int | None, seed: int | None, scheme: str | None, province: str | None
) -> None:
    """Build the dataset and count what it holds."""
    config = _config(citizens, seed, scheme, province)
    data, seconds = _build(config)
    counts = {
        "citizens": data.citizen_count,
        "households": data.household_count,
        "parcels": data.parcel_count,
        "certificates": data.certificate_count,
        "procedures": len(THU_TUC),
        "dossiers": len(_fresh_book(config.province)),
    }
    click.echo(
        f"Dataset of {_name(config)}, seed {config.seed}, scheme {config.scheme}, "
        f"built in {seconds:.2f} s:"
    )
    for name, n in counts.items():
        click.echo(f"  {name:<13} {n:>9}")
