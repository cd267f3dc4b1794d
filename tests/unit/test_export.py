"""`lgsp dataset export` and `lgsp dataset stats`, through the `lgsp` command
(the plugin is loaded from its entry point)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner, Result

from lgsp.cli import main
from lgsp_adapters.dataset import DatasetConfig, build
from lgsp_contracts.land import ThuaDat
from lgsp_contracts.onestop import DEMO_DOSSIERS, THU_TUC
from lgsp_contracts.population import CongDan

TABLES = ("citizens", "households", "parcels", "certificates", "procedures", "dossiers")
SMALL = ["--citizens", "300", "--seed", "7"]


def lgsp(*args: str, env: dict[str, str | None] | None = None) -> Result:
    # Quiet logs: the command's own output is what is checked.
    return CliRunner(env=env).invoke(main, ["--log-level", "warning", *args])


def read_json(path: Path) -> list[dict[str, Any]]:
    records = orjson.loads(path.read_bytes())
    assert isinstance(records, list)
    return records


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Result]:
    out = tmp_path_factory.mktemp("export") / "demo"
    return out, lgsp("dataset", "export", "--out", str(out), *SMALL)


def test_the_command_is_a_plugin() -> None:
    result = lgsp("--help")
    assert result.exit_code == 0
    assert "dataset" in result.output
    result = lgsp("dataset", "--help")
    assert "export" in result.output
    assert "stats" in result.output


def test_export_writes_every_table_in_both_formats(exported: tuple[Path, Result]) -> None:
    out, result = exported
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f"{t}.{ext}" for t in TABLES for ext in ("csv", "json")
    )
    for table in TABLES:
        records = read_json(out / f"{table}.json")
        rows = read_csv(out / f"{table}.csv")
        assert len(records) == len(rows) > 0, table
        # What it wrote, with how many records.
        for ext in ("csv", "json"):
            line = next(x for x in result.output.splitlines() if f"{table}.{ext}" in x)
            assert f" {len(records)} records" in line


def test_the_files_hold_what_the_bus_serves(exported: tuple[Path, Result]) -> None:
    out, _ = exported
    data = build(DatasetConfig(seed=7, citizens=300))
    citizens = read_json(out / "citizens.json")
    assert len(citizens) == data.citizen_count == 300
    assert citizens == [orjson.loads(c.model_dump_json()) for c in data.citizens()]
    for record in read_json(out / "parcels.json"):
        parcel = ThuaDat.model_validate_json(orjson.dumps(record))
        assert data.parcel(parcel.maXa, parcel.soHieuToBanDo, parcel.soThuTuThua) == parcel
    certificates = read_json(out / "certificates.json")
    assert len(certificates) == data.certificate_count
    assert certificates[0] == {
        "soPhatHanh": "DA 123456",
        "soVaoSo": "CS01234",
        "ngayCap": "2021-08-16",
        "chuSuDung": [
            {"soDinhDanh": "087090001234", "hoVaTen": "Nguyễn Văn Hùng"},
            {"soDinhDanh": "087192004321", "hoVaTen": "Lê Thị Hồng"},
        ],
        "thuaDat": [{"maXa": "29869", "soHieuToBanDo": 12, "soThuTuThua": 345}],
    }
    households = read_json(out / "households.json")
    assert len(households) == data.household_count
    assert sum(len(h["thanhVien"]) for h in households) == 300
    assert read_json(out / "dossiers.json") == list(DEMO_DOSSIERS)
    assert [p["maTTHC"] for p in read_json(out / "procedures.json")] == [t.ma_tthc for t in THU_TUC]


def test_files_are_utf8_with_diacritics_as_they_are(exported: tuple[Path, Result]) -> None:
    out, _ = exported
    for name in ("citizens.json", "citizens.csv"):
        raw = (out / name).read_bytes()
        assert "Nguyễn Văn Hùng".encode() in raw
        assert b"\\u" not in raw
    # One record per line in JSON, so testers can grep.
    lines = (out / "citizens.json").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 300 + 2
    assert CongDan.model_validate_json(lines[1].rstrip(","))


def test_csv_has_a_header_dotted_columns_and_json_lists(exported: tuple[Path, Result]) -> None:
    out, _ = exported
    [header, *_] = (out / "citizens.csv").read_text(encoding="utf-8").splitlines()
    assert header.startswith("soDinhDanh,hoVaTen,ngaySinh,gioiTinh,")
    assert "noiThuongTru.maXa" in header.split(",")
    hung = read_csv(out / "citizens.csv")[0]
    assert hung["soDinhDanh"] == "087090001234"
    assert hung["queQuan.chiTiet"] == ""  # null
    assert hung["soDinhDanhVoChong"] == "087192004321"
    house = read_csv(out / "parcels.csv")[0]
    assert house["dienTich"] == "152.3"
    assert orjson.loads(house["chuSuDung"])[1]["hoVaTen"] == "Lê Thị Hồng"
    assert house["giayChungNhan.soPhatHanh"] == "DA 123456"
    dossiers = read_csv(out / "dossiers.csv")
    civil = next(d for d in dossiers if d["thuaDat.maXa"] == "")
    assert civil["chuHoSo.hoVaTen"] == "Lê Thị Hồng"
    assert orjson.loads(civil["lichSu"])[0]["trangThai"] == "2"
    procedures = read_csv(out / "procedures.csv")
    assert {p["canThuaDat"] for p in procedures} == {"true", "false"}


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_one_format_only(tmp_path: Path, fmt: str) -> None:
    result = lgsp("dataset", "export", "--out", str(tmp_path), "--format", fmt, *SMALL)
    assert result.exit_code == 0, result.output
    assert {p.suffix for p in tmp_path.iterdir()} == {f".{fmt}"}
    assert len(list(tmp_path.iterdir())) == len(TABLES)


def test_the_same_seed_gives_the_same_files(tmp_path: Path, exported: tuple[Path, Result]) -> None:
    out, _ = exported
    assert lgsp("dataset", "export", "--out", str(tmp_path), *SMALL).exit_code == 0
    for table in TABLES:
        for ext in ("csv", "json"):
            name = f"{table}.{ext}"
            assert (tmp_path / name).read_bytes() == (out / name).read_bytes(), name


def test_defaults_come_from_the_environment(tmp_path: Path) -> None:
    env: dict[str, str | None] = {"LGSP_DATASET_CITIZENS": "120", "LGSP_DATASET_SEED": "9"}
    result = lgsp("dataset", "export", "--out", str(tmp_path), "--format", "json", env=env)
    assert result.exit_code == 0, result.output
    assert "seed 9, 120 citizens" in result.output
    assert len(read_json(tmp_path / "citizens.json")) == 120
    bad = lgsp("dataset", "stats", env={"LGSP_DATASET_SCHEME": "2034"})
    assert bad.exit_code == 2
    assert "LGSP_DATASET_SCHEME" in bad.output


def test_stats_counts_the_dataset() -> None:
    result = lgsp("dataset", "stats", *SMALL)
    assert result.exit_code == 0, result.output
    data = build(DatasetConfig(seed=7, citizens=300))
    counts = {
        line.split()[0]: int(line.split()[1])
        for line in result.output.splitlines()
        if line.startswith("  ")
    }
    assert counts == {
        "citizens": 300,
        "households": data.household_count,
        "parcels": data.parcel_count,
        "certificates": data.certificate_count,
        "procedures": len(THU_TUC),
        "dossiers": len(DEMO_DOSSIERS),
    }
    assert "built in" in result.output
