"""The demo province's synthetic people and land, deterministic from a seed.

Citizens come in households (a couple, their children) living at real
communes of Đồng Tháp; their personal ids agree with their birth province,
century, gender and birth year; households hold land parcels with unique
(commune, sheet, parcel) numbers. The records the contracts' examples show
are pinned in as they are, so every example is real.

Records are kept column-wise in ``array`` columns of small integers and
turned into contract models only when looked up: about 50 bytes per citizen
and per parcel (plus about 30 per parcel for the indexes by land user and
by certificate), and generation linear in the number of citizens, so a
million citizens stay feasible. Lookups are binary searches over sorted
keys.

The data is as of 1 July 2025 (nobody is born after it). ``demo()`` builds
the dataset once per process from the environment:
``LGSP_DATASET_CITIZENS`` (default 10000), ``LGSP_DATASET_SEED`` and
``LGSP_DATASET_SCHEME`` (``2025`` or ``legacy``).

One module per concern: :mod:`~lgsp_adapters.dataset.config` (what a
dataset is built from), :mod:`~lgsp_adapters.dataset.columns` (the stored
layout and its keys), :mod:`~lgsp_adapters.dataset.store` (``Dataset``: the
indexes and the records made from rows), :mod:`~lgsp_adapters.dataset.households`
(the household records) and :mod:`~lgsp_adapters.dataset.generate` (the
generator and ``build``). The per-process holder behind ``demo()`` is here.
"""

from __future__ import annotations

import asyncio
import threading

from lgsp_adapters.dataset.columns import USE_CODES, address_detail
from lgsp_adapters.dataset.config import DatasetConfig
from lgsp_adapters.dataset.generate import AS_OF, build
from lgsp_adapters.dataset.households import CHU_HO, HoGiaDinh, QuanHeVoiChuHo, ThanhVienHo
from lgsp_adapters.dataset.store import Dataset

__all__ = [
    "AS_OF",
    "CHU_HO",
    "USE_CODES",
    "Dataset",
    "DatasetConfig",
    "HoGiaDinh",
    "QuanHeVoiChuHo",
    "ThanhVienHo",
    "address_detail",
    "ademo",
    "build",
    "demo",
]


# The holder is the package's one piece of state and reads ``build`` and
# ``DatasetConfig`` from this namespace, so patching them here reaches it.
class _Demo:
    """The process's shared dataset, built once on first use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._dataset: Dataset | None = None

    def get(self) -> Dataset:
        dataset = self._dataset
        if dataset is None:
            with self._lock:
                if self._dataset is None:
                    self._dataset = build(DatasetConfig.from_env())
                dataset = self._dataset
        return dataset

    async def aget(self) -> Dataset:
        # Building takes a while: off the event loop.
        if self._dataset is not None:
            return self._dataset
        return await asyncio.to_thread(self.get)


_demo = _Demo()
demo = _demo.get
"""The shared demo dataset (built on first call, from the environment)."""
ademo = _demo.aget
"""``demo()`` for coroutines: the first build runs in a worker thread."""
