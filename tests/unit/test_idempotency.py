from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

import pytest

from lgsp.config import Settings
from lgsp.errors import IdempotencyConflict, ServiceTimeout
from lgsp.gateway.idempotency import (
    IDEMPOTENCY_FILE,
    Claim,
    Engine,
    IdempotencyStore,
    MemoryEngine,
    Outcome,
    PostgresEngine,
    SqliteEngine,
    Verdict,
)
from tests.support.waiting import eventually

FP = IdempotencyStore.fingerprint("a.b.c", 1, b"{}")
OTHER = IdempotencyStore.fingerprint("a.b.c", 1, b'{"x":1}')


async def test_first_call_claims_then_retries_get_its_outcome() -> None:
    store = IdempotencyStore(ttl=60)
    assert await store.claim("c", "k", FP) is None
    store.settle("c", "k", Outcome(200, b"{}"))
    assert await store.claim("c", "k", FP) == Outcome(200, b"{}")
    assert await store.claim("other-client", "k", FP) is None


async def test_concurrent_retry_waits_for_the_first() -> None:
    store = IdempotencyStore(ttl=60)
    assert await store.claim("c", "k", FP) is None
    waiter = asyncio.create_task(store.claim("c", "k", FP))
    await asyncio.sleep(0)
    assert not waiter.done()
    store.settle("c", "k", Outcome(404, b"{}"))
    assert await waiter == Outcome(404, b"{}")


async def test_unsettled_outcome_lets_the_retry_try_again() -> None:
    store = IdempotencyStore(ttl=60)
    assert await store.claim("c", "k", FP) is None
    waiter = asyncio.create_task(store.claim("c", "k", FP))
    await asyncio.sleep(0)
    store.settle("c", "k", None)
    assert await waiter is None  # the waiter now owns the key


async def test_other_request_with_the_same_key_is_refused() -> None:
    store = IdempotencyStore(ttl=60)
    await store.claim("c", "k", FP)
    with pytest.raises(IdempotencyConflict):
        await store.claim("c", "k", IdempotencyStore.fingerprint("a.b.c", 1, b'{"x":1}'))


async def test_expired_and_evicted_keys_are_forgotten() -> None:
    store = IdempotencyStore(ttl=0.0001, max_entries=2)
    await store.claim("c", "k", FP)
    store.settle("c", "k", Outcome(200, b"{}"))
    await asyncio.sleep(0.001)
    assert await store.claim("c", "k", FP) is None
    store = IdempotencyStore(ttl=60, max_entries=2)
    for key in ("k1", "k2", "k3"):
        await store.claim("c", key, FP)
        store.settle("c", key, Outcome(200, b"{}"))
    assert await store.claim("c", "k1", FP) is None
    assert await store.claim("c", "k3", FP) == Outcome(200, b"{}")


# -- the engines: what each promises, and what only a shared one can -------


class Clock:
    """The stores' clock, moved by hand (epoch s)."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Engine:
    if request.param == "memory":
        return MemoryEngine()
    if request.param == "postgres":
        return PostgresEngine(request.getfixturevalue("lgsp_postgres_url"))
    return SqliteEngine(tmp_path / IDEMPOTENCY_FILE)


def opened(engine: Engine, clock: Clock, ttl: float = 60, lease: float = 30) -> IdempotencyStore:
    return IdempotencyStore(ttl, engine=engine, lease=lease, clock=clock)


class TestEveryEngine:
    """What a store promises on each engine."""

    async def test_the_first_call_claims_and_retries_replay_its_outcome(
        self, engine: Engine, clock: Clock
    ) -> None:
        store = opened(engine, clock)
        assert await store.claim("c", "k", FP) is None
        answered = Outcome(404, b'{"code": "x"}', (("X-LGSP-Service-Version", "1"),), "x")
        store.settle("c", "k", answered)
        assert await store.claim("c", "k", FP) == answered
        assert await store.claim("other-client", "k", FP) is None
        await store.close()

    async def test_a_key_used_with_another_request_is_refused(
        self, engine: Engine, clock: Clock
    ) -> None:
        store = opened(engine, clock)
        assert await store.claim("c", "k", FP) is None
        store.settle("c", "k", Outcome(200, b"{}"))
        with pytest.raises(IdempotencyConflict) as refused:
            await store.claim("c", "k", OTHER)
        assert refused.value.status == 409
        await store.close()

    async def test_an_outcome_not_kept_lets_the_retry_run(
        self, engine: Engine, clock: Clock
    ) -> None:
        store = opened(engine, clock)
        assert await store.claim("c", "k", FP) is None
        store.settle("c", "k", None)  # a 503 or 504
        assert await store.claim("c", "k", FP) is None
        await store.close()

    async def test_a_key_is_forgotten_when_it_expires(self, engine: Engine, clock: Clock) -> None:
        store = opened(engine, clock, ttl=60)
        assert await store.claim("c", "k", FP) is None
        store.settle("c", "k", Outcome(200, b"{}"))
        clock.now += 59
        assert await store.claim("c", "k", FP) == Outcome(200, b"{}")
        clock.now += 1
        assert await store.claim("c", "k", OTHER) is None  # a new key, any request
        await store.close()


# -- SQLite: the keys of every gateway worker on one machine ---------------


@pytest.fixture
def shared(tmp_path: Path) -> Path:
    return tmp_path / IDEMPOTENCY_FILE


class Told(SqliteEngine):
    """An SQLite engine that remembers what it told its store."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.told: list[Outcome | Verdict] = []

    async def claim(self, claim: Claim) -> Outcome | Verdict:
        verdict = await super().claim(claim)
        self.told.append(verdict)
        return verdict


async def two_workers(path: Path, clock: Clock, lease: float = 30) -> list[IdempotencyStore]:
    """Two stores on one file, as two gateway workers open it."""
    return [opened(Told(path), clock, lease=lease) for _ in range(2)]


async def polling(store: IdempotencyStore, waiting: asyncio.Task[Outcome | None]) -> None:
    """Until ``store`` was told the key is in flight elsewhere, and still waits."""
    assert isinstance(store.engine, Told)
    told = store.engine.told
    await eventually(lambda: Verdict.IN_FLIGHT in told, "the retry found the call in flight")
    assert not waiting.done()


async def test_a_key_used_on_one_worker_is_replayed_on_the_other(
    shared: Path, clock: Clock
) -> None:
    one, other = await two_workers(shared, clock)
    assert await one.claim("c", "k", FP) is None
    one.settle("c", "k", Outcome(201, b'{"id": 1}', (("Location", "/x"),)))
    # Settled means written before the answer leaves, or waited for.
    async with asyncio.timeout(10):
        assert await other.claim("c", "k", FP) == Outcome(201, b'{"id": 1}', (("Location", "/x"),))
    with pytest.raises(IdempotencyConflict):
        await other.claim("c", "k", OTHER)
    for store in (one, other):
        await store.close()


async def test_a_retry_on_another_worker_waits_for_the_call_in_flight(
    shared: Path, clock: Clock
) -> None:
    one, other = await two_workers(shared, clock)
    assert await one.claim("c", "k", FP) is None
    waiting = asyncio.create_task(other.claim("c", "k", FP))
    await polling(other, waiting)
    one.settle("c", "k", Outcome(200, b"{}"))
    async with asyncio.timeout(10):
        assert await waiting == Outcome(200, b"{}")
    for store in (one, other):
        await store.close()


async def test_a_retry_elsewhere_runs_when_the_first_call_kept_no_outcome(
    shared: Path, clock: Clock
) -> None:
    one, other = await two_workers(shared, clock)
    assert await one.claim("c", "k", FP) is None
    waiting = asyncio.create_task(other.claim("c", "k", FP))
    one.settle("c", "k", None)  # the first call got 504
    async with asyncio.timeout(10):
        assert await waiting is None  # the retry now holds the key
    # ...and the first worker does not run it again meanwhile.
    retry = asyncio.create_task(one.claim("c", "k", FP))
    other.settle("c", "k", Outcome(200, b"{}"))
    async with asyncio.timeout(10):
        assert await retry == Outcome(200, b"{}")
    for store in (one, other):
        await store.close()


async def test_a_key_held_by_a_worker_that_died_is_taken_once_its_lease_is_over(
    shared: Path, clock: Clock
) -> None:
    one, other = await two_workers(shared, clock, lease=30)
    assert await one.claim("c", "k", FP) is None  # then its process dies: no settle
    waiting = asyncio.create_task(other.claim("c", "k", FP))
    await polling(other, waiting)
    clock.now += 30
    async with asyncio.timeout(10):
        assert await waiting is None
    # The dead claim's late settle (it was not dead, only slow) changes nothing.
    one.settle("c", "k", Outcome(500, b"{}"))
    other.settle("c", "k", Outcome(200, b"{}"))
    async with asyncio.timeout(10):
        assert await one.claim("c", "k", FP) == Outcome(200, b"{}")
    for store in (one, other):
        await store.close()


async def test_a_retry_gives_up_at_its_deadline_while_the_call_is_in_flight_elsewhere(
    shared: Path, clock: Clock
) -> None:
    one, other = await two_workers(shared, clock)
    assert await one.claim("c", "k", FP) is None
    with pytest.raises(ServiceTimeout):
        await other.claim("c", "k", FP, deadline=clock.now)
    for store in (one, other):
        await store.close()


async def test_concurrent_calls_on_both_workers_run_once(shared: Path, clock: Clock) -> None:
    stores = await two_workers(shared, clock)
    for key in (f"k{n}" for n in range(10)):
        tasks = [asyncio.create_task(stores[i % 2].claim("c", key, FP)) for i in range(10)]
        # The first to return holds the key; the others wait for its outcome.
        done, _ = await asyncio.wait(tasks, timeout=10, return_when=asyncio.FIRST_COMPLETED)
        first = [i for i, t in enumerate(tasks) if t in done]
        assert len(first) == 1
        assert tasks[first[0]].result() is None
        stores[first[0] % 2].settle("c", key, Outcome(200, key.encode()))
        async with asyncio.timeout(10):
            results = await asyncio.gather(*tasks)
        assert (
            sorted(results, key=lambda r: r is not None)
            == [None] + [Outcome(200, key.encode())] * 9
        )
    for store in stores:
        await store.close()


async def test_keys_survive_a_restart_in_a_file_only_the_gateway_reads(
    shared: Path, clock: Clock
) -> None:
    store = opened(SqliteEngine(shared), clock)
    assert await store.claim("c", "k", FP) is None
    store.settle("c", "k", Outcome(200, b'{"hoTen": "..."}'))
    await store.close()
    assert stat.S_IMODE(os.stat(shared).st_mode) == 0o600  # outcomes may hold personal data
    again = opened(SqliteEngine(shared), clock)
    assert await again.claim("c", "k", FP) == Outcome(200, b'{"hoTen": "..."}')
    await again.close()


async def test_expired_keys_are_purged(shared: Path, clock: Clock) -> None:
    engine = SqliteEngine(shared, purge_every=0)
    store = opened(engine, clock, ttl=60)
    for key in ("k1", "k2", "k3"):
        assert await store.claim("c", key, FP) is None
        store.settle("c", key, Outcome(200, b"{}"))
    assert engine.count() == 3
    clock.now += 61
    assert await store.claim("c", "k4", FP) is None
    assert engine.count() == 1
    await store.close()


def test_workers_keep_their_keys_in_the_data_folder_a_gateway_of_its_own_in_memory(
    tmp_path: Path,
) -> None:
    alone = IdempotencyStore.open(Settings(data_dir=tmp_path), workers=1)
    assert isinstance(alone.engine, MemoryEngine)
    worker = IdempotencyStore.open(Settings(data_dir=tmp_path), workers=2)
    assert isinstance(worker.engine, SqliteEngine)
    assert worker.engine.path == tmp_path / IDEMPOTENCY_FILE
    with pytest.raises(ValueError, match="data folder"):
        IdempotencyStore.open(Settings(), workers=2)


# -- PostgreSQL: the keys of every gateway on every machine ----------------


@pytest.mark.postgres
async def test_gateways_on_one_postgresql_replay_a_key_and_run_a_call_once(
    lgsp_postgres_url: str, clock: Clock
) -> None:
    """Two gateways (two stores, each with its own pool) on one database:
    a key used on one is replayed on the other; calls with one key made on
    both at once claim it once."""
    one, other = (opened(PostgresEngine(lgsp_postgres_url), clock) for _ in range(2))
    assert await one.claim("c", "k", FP) is None
    one.settle("c", "k", Outcome(201, b'{"id": 1}', (("Location", "/x"),)))
    async with asyncio.timeout(10):
        assert await other.claim("c", "k", FP) == Outcome(201, b'{"id": 1}', (("Location", "/x"),))
    with pytest.raises(IdempotencyConflict):
        await other.claim("c", "k", OTHER)
    # Claims of one key from both at once: each key is taken once.
    engines = [one.engine, other.engine]

    def claim(n: int, owner: str) -> Claim:
        return Claim("c", f"race-{n}", FP, owner, clock.now, clock.now + 60, clock.now + 30)

    verdicts = await asyncio.gather(
        *(e.claim(claim(n, f"owner-{i}")) for n in range(20) for i, e in enumerate(engines))
    )
    pairs = [verdicts[i : i + 2] for i in range(0, len(verdicts), 2)]
    assert all(sorted(v.value for v in pair) == ["claimed", "in flight"] for pair in pairs), pairs
    for store in (one, other):
        await store.close()
