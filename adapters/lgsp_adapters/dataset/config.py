"""What a dataset is built from: seed, size and administrative scheme, given
or read from the environment (``LGSP_DATASET_*``)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import get_args

from lgsp_adapters.divisions import Scheme


@dataclass(frozen=True)
class DatasetConfig:
    """What a dataset is built from; the same config gives the same data."""

    seed: int = 20250701
    citizens: int = 10_000
    """Citizens in all, the contracts' pinned ones included."""
    scheme: Scheme = "2025"

    @classmethod
    def from_env(cls) -> DatasetConfig:
        scheme = os.environ.get("LGSP_DATASET_SCHEME", "2025")
        if scheme not in get_args(Scheme):
            raise ValueError(
                f"LGSP_DATASET_SCHEME must be one of {get_args(Scheme)}, not {scheme!r}"
            )
        return cls(
            seed=int(os.environ.get("LGSP_DATASET_SEED", cls.seed)),
            citizens=int(os.environ.get("LGSP_DATASET_CITIZENS", cls.citizens)),
            scheme="legacy" if scheme == "legacy" else "2025",
        )
