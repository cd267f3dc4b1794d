"""The national population register over the provinces' datasets: what the
national population database (Cơ sở dữ liệu quốc gia về dân cư) answers
behind NDXP, whichever province a citizen lives in.

Each province's dataset holds its residents; personal ids are unique across
them (each province numbers in its own block of serials), so a citizen is
found in the one dataset that holds them: a Gia Lai-born resident of Gia
Lai in Gia Lai's, a Gia Lai-born resident of Đồng Tháp in Đồng Tháp's.
Nothing is copied: lookups go to the provinces' own indexes.
"""

from __future__ import annotations

import datetime as dt
import heapq
from collections.abc import Mapping

from lgsp_adapters.dataset.store import Dataset, ResidentCount
from lgsp_adapters.divisions import Commune
from lgsp_contracts.population import CongDan


class NationalRegister:
    """Citizens and residents' counts across several provinces' datasets."""

    def __init__(self, datasets: Mapping[str, Dataset]) -> None:
        self._datasets = dict(datasets)
        communes: dict[str, str] = {}
        for key, data in self._datasets.items():
            for commune in data.home_communes:
                communes[commune.code] = key
        self._province_of_commune = communes

    @property
    def provinces(self) -> tuple[str, ...]:
        """The provinces it covers, by key."""
        return tuple(self._datasets)

    def dataset(self, province: str) -> Dataset:
        """One province's dataset (a ``KeyError`` for a province it does
        not cover)."""
        return self._datasets[province]

    @property
    def citizen_count(self) -> int:
        return sum(data.citizen_count for data in self._datasets.values())

    def citizen(self, so_dinh_danh: str) -> CongDan | None:
        """The citizen with this personal id, in whichever province they
        live, if any."""
        for data in self._datasets.values():
            citizen = data.citizen(so_dinh_danh)
            if citizen is not None:
                return citizen
        return None

    def province_of(self, so_dinh_danh: str) -> str | None:
        """The province whose dataset holds this citizen (where they live)."""
        for key, data in self._datasets.items():
            if data.citizen(so_dinh_danh) is not None:
                return key
        return None

    def commune(self, ma_xa: str) -> Commune | None:
        """The commune of a covered province with this code, if any."""
        key = self._province_of_commune.get(ma_xa)
        return None if key is None else self._datasets[key].commune(ma_xa)

    def province_of_commune(self, ma_xa: str) -> str | None:
        """The covered province this commune is in, if any."""
        return self._province_of_commune.get(ma_xa)

    def residents_by_age(self, day: dt.date) -> tuple[ResidentCount, ...]:
        """Every province's :meth:`Dataset.residents_by_age` in one list,
        ordered by commune code (the provinces' communes are distinct),
        age group, men first."""
        return tuple(
            heapq.merge(
                *(data.residents_by_age(day) for data in self._datasets.values()),
                key=lambda cell: (cell.commune.code, cell.age_group, cell.female),
            )
        )
