"""The subscribers' inbox: an event delivered again (at-least-once) is
acknowledged without its handler running again, across a restart when
the adapter has a data folder; a handler that failed runs again."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from lgsp import Adapter, Context
from lgsp.catalogue.registry import Registry
from lgsp.envelope import Event
from lgsp.inbox import Inbox, MemoryInbox, PostgresInbox, SqliteInbox
from lgsp.store import StoreUnavailable
from lgsp.transport.base import EventHandler
from lgsp.transport.memory import MemoryTransport
from tests.support.echo import TEST_CATALOGUE, Ping

REGISTRY_ = Registry([TEST_CATALOGUE])


def _event(n: int = 1) -> Event:
    return Event("test.ping.sent", 1, "test.all", "req-1", b'{"n": %d}' % n)


def _counting(
    name: str = "test.counter", env: dict[str, str] | None = None
) -> tuple[Adapter, list[int]]:
    seen: list[int] = []
    adapter = Adapter("counter", agency="test suite", env=env)

    @adapter.subscribe("test.ping.sent", name=name)
    async def count(ping: Ping, ctx: Context) -> None:
        seen.append(ping.n)

    return adapter, seen


def _duplicates(subscriber: str) -> float:
    value = REGISTRY.get_sample_value(
        "lgsp_events_duplicates_total", {"topic": "test.ping.sent", "subscriber": subscriber}
    )
    return value or 0.0


async def _deliver(adapter: Adapter, events: list[Event], data_dir: Path | None) -> None:
    """Start the adapter on a memory transport, deliver the events in order
    (the same object twice is a redelivery: same event id), stop."""
    transport = MemoryTransport()
    await transport.start()
    await adapter.start(transport, REGISTRY_, data_dir=data_dir)
    for event in events:
        await transport.publish(event)
    await transport.close()  # drains every subscriber's queue
    await adapter.stop()


async def test_a_redelivered_event_is_handled_once() -> None:
    adapter, seen = _counting("test.once")
    before = _duplicates("test.once")
    first, second = _event(1), _event(2)
    await _deliver(adapter, [first, second, first, first], data_dir=None)
    assert seen == [1, 2]
    assert _duplicates("test.once") - before == 2


async def test_the_inbox_outlives_a_restart_in_the_data_folder(tmp_path: Path) -> None:
    event = _event(7)
    adapter, seen = _counting("test.restart")
    await _deliver(adapter, [event], data_dir=tmp_path)
    again, seen_again = _counting("test.restart")
    await _deliver(again, [event, _event(8)], data_dir=tmp_path)
    assert seen == [7]
    assert seen_again == [8]
    assert (tmp_path / "counter" / "inbox.db").exists()


async def test_a_failed_handler_runs_again_on_redelivery() -> None:
    attempts: list[int] = []
    adapter = Adapter("flaky", agency="test suite")

    @adapter.subscribe("test.ping.sent", name="test.flaky")
    async def flaky(ping: Ping, ctx: Context) -> None:
        attempts.append(ping.n)
        if len(attempts) == 1:
            raise RuntimeError("the first attempt fails")

    event = _event(3)
    await _deliver(adapter, [event, event], data_dir=None)
    # The transport's own retry ran it a second time; the redelivery found it done.
    assert attempts == [3, 3]


class _Capture(MemoryTransport):
    """A memory transport that hands the subscriber's handler to the test."""

    handler: EventHandler | None = None

    async def subscribe(self, topic: str, name: str, handler: EventHandler) -> None:
        self.handler = handler


async def test_two_deliveries_at_once_run_the_handler_once() -> None:
    release = asyncio.Event()
    seen: list[int] = []
    adapter = Adapter("slow", agency="test suite")

    @adapter.subscribe("test.ping.sent", name="test.slow")
    async def slow(ping: Ping, ctx: Context) -> None:
        seen.append(ping.n)
        await release.wait()

    transport = _Capture()
    await transport.start()
    await adapter.start(transport, REGISTRY_)
    assert transport.handler is not None
    event = _event(5)
    both = asyncio.gather(transport.handler(event), transport.handler(event))
    await asyncio.sleep(0)  # both deliveries have begun
    release.set()
    await both
    await adapter.stop()
    assert seen == [5]


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], Inbox]:
    """A maker of inboxes that share what they hold (one file, one database)."""
    if request.param == "memory":
        shared = MemoryInbox()
        return lambda: shared
    if request.param == "sqlite":
        return lambda: SqliteInbox(tmp_path)
    url: str = request.getfixturevalue("lgsp_postgres_url")
    return lambda: PostgresInbox(url)


async def test_engines_remember_per_subscriber(engine: Callable[[], Inbox]) -> None:
    inbox = engine()
    await inbox.open()
    assert not await inbox.processed("a", "e1")
    await inbox.record("a", "e1")
    await inbox.record("a", "e1")  # recording twice is harmless
    assert await inbox.processed("a", "e1")
    assert not await inbox.processed("b", "e1")
    # Another process of the subscriber, on the same store, knows it too.
    other = engine()
    await other.open()
    assert await other.processed("a", "e1")
    await other.close()
    await inbox.close()


@pytest.mark.postgres
async def test_subscribers_on_the_bus_s_store_share_one_inbox(lgsp_postgres_url: str) -> None:
    """Two adapter processes (here two adapters) of one subscriber with
    LGSP_STORE_URL: an event one of them processed is not run by the other."""
    env = {"LGSP_STORE_URL": lgsp_postgres_url}
    event = _event(9)
    first, seen_first = _counting("test.shared", env=env)
    await _deliver(first, [event], data_dir=None)
    second, seen_second = _counting("test.shared", env=env)
    await _deliver(second, [event, _event(10)], data_dir=None)
    assert (seen_first, seen_second) == ([9], [10])


async def test_sqlite_forgets_past_its_retention(tmp_path: Path) -> None:
    inbox = SqliteInbox(tmp_path, retention_s=-1)  # everything is already past it
    await inbox.open()
    await inbox.record("a", "e1")
    await inbox.close()
    reopened = SqliteInbox(tmp_path, retention_s=-1)
    await reopened.open()
    assert not await reopened.processed("a", "e1")
    await reopened.close()


def test_memory_is_bounded() -> None:
    inbox = MemoryInbox(max_entries=2)

    async def fill() -> bool:
        for n in range(3):
            await inbox.record("a", f"e{n}")
        return await inbox.processed("a", "e0")

    assert asyncio.run(fill()) is False


class _Flaky(MemoryInbox):
    """An inbox whose store is away for its first calls of each kind."""

    def __init__(self, away: int) -> None:
        super().__init__()
        self.away = {"processed": away, "record": away}

    async def processed(self, subscriber: str, event_id: str) -> bool:
        self._outage("processed")
        return await super().processed(subscriber, event_id)

    async def record(self, subscriber: str, event_id: str) -> None:
        self._outage("record")
        await super().record(subscriber, event_id)

    def _outage(self, call: str) -> None:
        if self.away[call] > 0:
            self.away[call] -= 1
            raise StoreUnavailable("PostgreSQL at postgresql://***@db/lgsp unavailable")


async def test_a_store_away_is_waited_out_not_a_failed_delivery(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """While the inbox's store restarts, a delivery neither fails (it would
    be redelivered at once, and dead-lettered after a few attempts) nor
    forgets that its handler ran (a redelivery would run it again)."""
    flaky = _Flaky(away=2)
    monkeypatch.setattr("lgsp.adapter.open_inbox", lambda *_args: flaky)
    adapter, seen = _counting("test.flaky-store")
    event = _event(4)
    await _deliver(adapter, [event, event], data_dir=None)
    assert seen == [4]
    assert flaky.away == {"processed": 0, "record": 0}
