"""What a dataset is built from: seed, size, administrative scheme and
province, given or read from settings (``LGSP_DATASET_*``,
``LGSP_PROVINCE``)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import get_args

from lgsp_adapters import provinces
from lgsp_adapters.divisions import Scheme


@dataclass(frozen=True)
class DatasetConfig:
    """What a dataset is built from; the same config gives the same data."""

    seed: int = 20250701
    citizens: int = 10_000
    """Citizens in all, the contracts' pinned ones included."""
    scheme: Scheme = "2025"
    province: str = provinces.DEFAULT
    """The province whose people and land it holds (a key of
    :data:`~lgsp_adapters.provinces.PROVINCES`)."""

    def __post_init__(self) -> None:
        provinces.province(self.province)  # a ValueError naming the known ones

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> DatasetConfig:
        """The config these settings ask for (the process's environment by
        default; an adapter's ``env`` for one province of a network)."""
        scheme = env.get("LGSP_DATASET_SCHEME", "2025")
        if scheme not in get_args(Scheme):
            raise ValueError(
                f"LGSP_DATASET_SCHEME must be one of {get_args(Scheme)}, not {scheme!r}"
            )
        return cls(
            seed=int(env.get("LGSP_DATASET_SEED", cls.seed)),
            citizens=int(env.get("LGSP_DATASET_CITIZENS", cls.citizens)),
            scheme="legacy" if scheme == "legacy" else "2025",
            province=provinces.province_of(env).key,
        )
