"""The synthetic people and land of the network's provinces, deterministic
from a seed.

Citizens come in households (a couple, their children) living at real
communes of their province (Đồng Tháp by default); their personal ids agree
with their birth province, century, gender and birth year, and are unique
across the provinces' datasets built from one seed (each province numbers
in its own block of serials); households hold land parcels with unique
(commune, sheet, parcel) numbers. The records the contracts' examples show
are pinned in Đồng Tháp's dataset as they are, so every example is real.

Records are kept column-wise in ``array`` columns of small integers and
turned into contract models only when looked up: about 50 bytes per citizen
and per parcel (plus about 30 per parcel for the indexes by land user and
by certificate), and generation linear in the number of citizens, so a
million citizens stay feasible. Lookups are binary searches over sorted
keys.

The data is as of 1 July 2025 (nobody is born after it). A dataset is built
once per process and config (:class:`DatasetConfig`) and shared: ``demo()``
is the one the environment asks for (``LGSP_DATASET_CITIZENS``, default
10000, ``LGSP_DATASET_SEED``, ``LGSP_DATASET_SCHEME``, ``2025`` or
``legacy``, and ``LGSP_PROVINCE``), ``for_env(env)`` the one an adapter's
settings ask for (one province of a network), ``of(config)`` any;
``national(provinces)`` looks citizens up across provinces, as the national
population database does.

One module per concern: :mod:`~lgsp_adapters.dataset.config` (what a
dataset is built from), :mod:`~lgsp_adapters.dataset.columns` (the stored
layout and its keys), :mod:`~lgsp_adapters.dataset.store` (``Dataset``: the
indexes and the records made from rows), :mod:`~lgsp_adapters.dataset.households`
(the household records), :mod:`~lgsp_adapters.dataset.generate` (the
generator and ``build``) and :mod:`~lgsp_adapters.dataset.national` (the
register across provinces). The per-process holder is here.
"""

from __future__ import annotations

import asyncio
import dataclasses
import multiprocessing
import os
import threading
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ProcessPoolExecutor

from lgsp_adapters.dataset.columns import USE_CODES, address_detail
from lgsp_adapters.dataset.config import DatasetConfig
from lgsp_adapters.dataset.generate import AS_OF, build, build_quietly, built
from lgsp_adapters.dataset.households import CHU_HO, HoGiaDinh, QuanHeVoiChuHo, ThanhVienHo
from lgsp_adapters.dataset.national import NationalRegister
from lgsp_adapters.dataset.store import Dataset

__all__ = [
    "AS_OF",
    "CHU_HO",
    "USE_CODES",
    "Dataset",
    "DatasetConfig",
    "HoGiaDinh",
    "NationalRegister",
    "QuanHeVoiChuHo",
    "ThanhVienHo",
    "address_detail",
    "ademo",
    "afor_env",
    "aof",
    "build",
    "demo",
    "for_env",
    "national",
    "of",
    "sample_owner",
]


BUILD_APART_FROM = 100_000
"""Datasets of at least this many citizens are built in a worker process
(about a second for its start; below, a thread is quicker)."""


# The holder is the package's one piece of state and reads ``build`` and
# ``DatasetConfig`` from this namespace, so patching them here reaches it.
class _Holder:
    """The process's datasets, each built once on first use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._datasets: dict[DatasetConfig, Dataset] = {}
        self._building: dict[DatasetConfig, asyncio.Future[Dataset]] = {}
        self._demo: DatasetConfig | None = None

    def of(self, config: DatasetConfig) -> Dataset:
        dataset = self._datasets.get(config)
        if dataset is None:
            with self._lock:
                dataset = self._datasets.get(config)
                if dataset is None:
                    dataset = self._datasets[config] = build(config)
        return dataset

    async def aof(self, config: DatasetConfig) -> Dataset:
        # Building takes a while: off the event loop, and for a big dataset
        # off this process, as a thread building in pure Python would hold
        # the interpreter and starve the loop (hundreds of ms per answer).
        dataset = self._datasets.get(config)
        if dataset is not None:
            return dataset
        if config.citizens < BUILD_APART_FROM:
            return await asyncio.to_thread(self.of, config)
        building = self._building.get(config)
        if building is None:
            building = self._building[config] = asyncio.ensure_future(self._build_apart(config))
        return await asyncio.shield(building)

    async def _build_apart(self, config: DatasetConfig) -> Dataset:
        started = time.perf_counter()
        try:
            # "spawn": a fork of a process running an event loop and threads
            # is not safe. The dataset comes back pickled (arrays: fast).
            with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
                made = await asyncio.get_running_loop().run_in_executor(
                    pool, build_quietly, config
                )
        finally:
            self._building.pop(config, None)
        with self._lock:
            dataset = self._datasets.setdefault(config, made)
        if dataset is made:
            built(dataset, config, time.perf_counter() - started)
        return dataset

    def demo_config(self) -> DatasetConfig:
        # Read once: the demo dataset stays what the environment first said.
        if self._demo is None:
            self._demo = DatasetConfig.from_env()
        return self._demo

    def demo(self) -> Dataset:
        return self.of(self.demo_config())

    async def ademo(self) -> Dataset:
        return await self.aof(self.demo_config())

    def for_env(self, env: Mapping[str, str]) -> Dataset:
        return self.of(DatasetConfig.from_env(env))

    async def afor_env(self, env: Mapping[str, str]) -> Dataset:
        return await self.aof(DatasetConfig.from_env(env))


_holder = _Holder()
of = _holder.of
"""The dataset of this config, built on first call and shared."""
aof = _holder.aof
"""``of()`` for coroutines: the first build runs in a worker thread."""
demo = _holder.demo
"""The shared demo dataset (built on first call, from the environment as it
was then)."""
ademo = _holder.ademo
"""``demo()`` for coroutines: the first build runs in a worker thread."""
for_env = _holder.for_env
"""The shared dataset these settings ask for (an adapter's ``env``: its
province, ``LGSP_DATASET_*``)."""
afor_env = _holder.afor_env
"""``for_env()`` for coroutines: the first build runs in a worker thread."""


_registers: dict[tuple[DatasetConfig, tuple[str, ...]], NationalRegister] = {}


async def national(
    provinces: Iterable[str], env: Mapping[str, str] = os.environ
) -> NationalRegister:
    """The national population register over these provinces' datasets
    (the shared ones, built as ``env`` asks but for the province; the
    process's environment is read once, as for :func:`demo`). Made once per
    set of provinces: NDXP asks it on every call."""
    base = _holder.demo_config() if env is os.environ else DatasetConfig.from_env(env)
    key = (base, tuple(provinces))
    found = _registers.get(key)
    if found is None:
        found = NationalRegister(
            {p: await aof(dataclasses.replace(base, province=p)) for p in key[1]}
        )
        _registers[key] = found
    return found


def sample_owner(province: str, birth_province_2004: int, *, min_parcels: int = 2) -> str | None:
    """The personal id of the first citizen, in id order, whose birth was
    registered under this 2004 province code and who holds at least
    ``min_parcels`` parcels in the province (in its shared dataset, built as
    the environment asks): a realistic case to show. None if nobody does."""
    data = of(dataclasses.replace(DatasetConfig.from_env(), province=province))
    prefix = f"{birth_province_2004:03d}"
    return next(
        (so_dinh_danh for so_dinh_danh, held in data.land_users(prefix) if held >= min_parcels),
        None,
    )
