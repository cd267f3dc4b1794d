"""What the publisher lets out of the warehouse's rows: the allow-list,
small counts suppressed, and no total that gives a hidden cell away."""

from __future__ import annotations

import random
import re
from typing import Any

import pytest

from lgsp_adapters.opendata.datasets import BY_NAME, DATASETS, SUPPRESSED
from lgsp_adapters.opendata.deidentify import deidentify
from lgsp_adapters.opendata.testing import sample_rows

PERSONAL = {
    "soDinhDanh": "087090001234",
    "hoVaTen": "Nguyễn Văn An",
    "diaChi": "12 đường Nguyễn Huệ, Phường Cao Lãnh",
    "soSerial": "DA 123456",
    "client": "dongthap.onestop",
}


def test_only_the_allowed_columns_leave() -> None:
    for dataset in DATASETS:
        rows = [row | PERSONAL for row in sample_rows()[dataset.service]]
        if dataset.aggregate is not None:
            rows = dataset.aggregate(rows)
        for row in deidentify(dataset, rows, 5):
            assert set(row) == {*dataset.column_ids, SUPPRESSED}


def test_a_count_below_the_threshold_is_null_and_marked() -> None:
    parcels = BY_NAME["thua-dat-theo-muc-dich-su-dung"]
    rows = [
        {
            "maXa": "30316",
            "tenXa": "Phường Cao Lãnh",
            "kyHieu": "LUC",
            "soThua": 3,
            "dienTich": 4100.0,
        },
        {"maXa": "30337", "tenXa": "Xã Mỹ Trà", "kyHieu": "LUC", "soThua": 200, "dienTich": 9.0},
    ]
    small, large = deidentify(parcels, rows, 5)
    assert small["soThua"] is None
    assert small["dienTich"] is None
    assert small[SUPPRESSED] is True
    assert large == rows[1] | {SUPPRESSED: False}
    # The threshold is a setting.
    assert deidentify(parcels, rows, 3)[0]["soThua"] == 3


def test_rates_of_suppressed_counts_are_null() -> None:
    dossiers = BY_NAME["ho-so-thu-tuc-hanh-chinh-theo-thang"]
    (row,) = deidentify(dossiers, sample_rows()[dossiers.service][:1], 5)
    assert row["soTreHan"] is None
    assert row["tyLeDungHan"] is None
    assert row["soNgayTreTrungBinh"] is None


def test_zeros_are_published() -> None:
    exchanges = BY_NAME["luot-trao-doi-du-lieu-lgsp-theo-ngay"]
    rows = [{"ngay": "2026-11-28", "service": "a.b.c", "soLuot": 50, "soLoi": 0}]
    assert deidentify(exchanges, rows, 5)[0]["soLoi"] == 0


def _random_dossier(rng: random.Random, month: int, commune: int) -> dict[str, Any]:
    on_time, late = rng.randint(0, 30), rng.randint(0, 8)
    pending, refused = rng.randint(0, 10), rng.randint(0, 4)
    done = on_time + late
    return {
        "thang": f"2026-{month:02d}",
        "maTTHC": "1.004227",
        "tenTTHC": "Thủ tục",
        "maXa": f"{30300 + commune}",
        "tenXa": f"Xã {commune}",
        "soHoSo": done + pending + refused,
        "soDaGiaiQuyet": done,
        "soDungHan": on_time,
        "soTreHan": late,
        "soDangGiaiQuyet": pending,
        "soQuaHan": rng.randint(0, pending),
        "soTuChoiHoacRut": refused,
        "tyLeDungHan": on_time / done if done else None,
        "soNgayTreTrungBinh": 1.5 if late else None,
    }


@pytest.mark.parametrize("seed", range(20))
def test_no_hidden_cell_can_be_recovered_by_subtraction(seed: int) -> None:
    rng = random.Random(seed)
    dossiers = BY_NAME["ho-so-thu-tuc-hanh-chinh-theo-thang"]
    rows = [_random_dossier(rng, m, c) for m in (9, 10) for c in range(6)]
    published = deidentify(dossiers, rows, 5)
    for original, row in zip(rows, published, strict=True):
        for column in (
            "soHoSo",
            "soDaGiaiQuyet",
            "soDungHan",
            "soTreHan",
            "soDangGiaiQuyet",
            "soQuaHan",
            "soTuChoiHoacRut",
        ):
            value = row[column]
            assert value is None or not 0 < value < 5
            assert value is None or value == original[column]
        for total, parts in dossiers.relations:
            cells = [total, *parts]
            assert [c for c in cells if row[c] is None].__len__() != 1, (row, cells)
    # Over the communes of one month and procedure (whose total is published elsewhere).
    for month in ("2026-09", "2026-10"):
        hidden = [r for r in published if r["thang"] == month and r["soHoSo"] is None]
        assert len(hidden) != 1


def test_nothing_personal_whatever_the_warehouse_holds() -> None:
    """Re-identification: a warehouse full of rows, each carrying personal
    fields, publishes no id, name, address or serial."""
    rng = random.Random(7)
    for dataset in DATASETS:
        base = sample_rows()[dataset.service]
        rows = [dict(rng.choice(base)) | PERSONAL for _ in range(500)]
        if dataset.aggregate is not None:
            rows = dataset.aggregate(rows)
        text = repr(deidentify(dataset, rows, 5))
        for value in PERSONAL.values():
            assert value not in text
        assert not re.search(r"\b\d{12}\b", text)  # no 12-digit personal id
