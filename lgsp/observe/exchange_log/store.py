"""The exchange log's store: one interface, two engines, like the transports.

SQLite (:mod:`.sqlite`) is the embedded default: files in the data folder,
or memory; PostgreSQL (:mod:`.postgres`) when ``Settings.store_url`` names a
database, so gateways on several machines write one chain. Both keep the
same columns and the same keyed hash (:mod:`.chain`): a record verifies the
same wherever it is stored. The recorder writes through :class:`Store`
(awaited, off the request path); commands read through :class:`Reader`
(blocking, one snapshot), which :mod:`.verify` walks. Each engine is
imported only when asked for, so SQLite's users never load the driver.
"""

from __future__ import annotations

import abc
import contextlib
import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

from lgsp.config import Settings
from lgsp.observe.exchange_log.chain import COLUMNS, Head, Row, Value
from lgsp.observe.exchange_log.query import Query


class Store(abc.ABC):
    """Where the recorder keeps the log; every method may raise
    :class:`~lgsp.store.StoreError` (nothing was done, try again later)."""

    name: str
    """What logs may say of it: the data folder, or the URL without password."""
    key: bytes
    """The chain's key."""

    @abc.abstractmethod
    async def append(self, prepared: Sequence[list[Value]]) -> None:
        """Chain the prepared records (:func:`.chain.prepare`) after the last
        one written by anyone, and write them and the signed head in one
        transaction: several gateways on one store keep one chain."""

    @abc.abstractmethod
    async def page(self, query: Query) -> list[Row]:
        """The records a query names, in log order."""

    @abc.abstractmethod
    async def columns(
        self, columns: Sequence[str], start: str, end: str
    ) -> list[tuple[object, ...]]:
        """``columns`` of the records received in [start, end) (log timestamps)."""

    @abc.abstractmethod
    async def archive(self, before: str, limit: int, keep: Callable[[list[Row]], object]) -> int:
        """Move out the oldest records received before ``before`` (a log
        timestamp), at most ``limit``: from the first, in order, up to the
        first received later. ``keep`` (blocking: run in a thread) writes
        them elsewhere; then they are deleted and the archived mark signed,
        in one transaction that appends wait for. Returns how many moved."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Let go of the database."""


async def open_store(settings: Settings) -> Store:
    """The engine the settings name: PostgreSQL at ``store_url``, else SQLite
    in ``data_dir`` (in memory without one)."""
    return await open_engine(settings.data_dir, settings.store_url)


async def open_engine(data_dir: Path | None, store_url: str | None) -> Store:
    """PostgreSQL at ``store_url`` when given, else SQLite in ``data_dir``
    (in memory without one); made when new."""
    if store_url is not None:
        from lgsp.observe.exchange_log.postgres import PostgresStore

        return await PostgresStore.open(store_url)
    from lgsp.observe.exchange_log.sqlite import SqliteStore

    return await SqliteStore.open(data_dir)


def archivable(rows: Iterable[Row], before: str) -> list[Row]:
    """The records from the first up to the first received at ``before`` or later."""
    return list(itertools.takewhile(lambda row: str(row["received"]) < before, rows))


def checked_columns(columns: Sequence[str]) -> list[str]:
    """``columns`` when each is one of :data:`COLUMNS` (they become SQL)."""
    wanted = [c.strip() for c in columns]
    if not set(wanted) <= set(COLUMNS):
        raise ValueError(f"not columns of the exchange log: {', '.join(columns)}")
    return wanted


class Reader(abc.ABC):
    """A log opened to read, on one snapshot: what gateways write meanwhile
    comes after what it shows. Raises :class:`~.chain.AuditError` when the
    log is not there or cannot be read."""

    @abc.abstractmethod
    def key(self) -> bytes:
        """The chain's key."""

    @abc.abstractmethod
    def head(self) -> Head | None:
        """The signed head: the last record written (None before the first)."""

    @abc.abstractmethod
    def archived(self) -> Head | None:
        """Where the part of the chain moved into archive files ends (None
        when nothing was archived)."""

    @abc.abstractmethod
    def rows(self, query: Query) -> Iterator[Row]:
        """The records a query names, in log order, read as they are used."""

    @abc.abstractmethod
    def seq_of(self, hash: str) -> int | None:
        """The seq of the record with this hash, if one has it."""

    @abc.abstractmethod
    def close(self) -> None:
        """Let go of the database."""


@contextlib.contextmanager
def open_reader(data_dir: Path | None, store_url: str | None = None) -> Iterator[Reader]:
    """The log of a store, to read: PostgreSQL at ``store_url`` when given,
    else the SQLite log of ``data_dir``; closed on exit."""
    reader: Reader
    if store_url is not None:
        from lgsp.observe.exchange_log.postgres import PostgresReader

        reader = PostgresReader(store_url)
    else:
        from lgsp.observe.exchange_log.sqlite import SqliteReader

        if data_dir is None:
            raise ValueError("a data folder or a store URL is needed to read an exchange log")
        reader = SqliteReader(data_dir)
    try:
        yield reader
    finally:
        reader.close()


def read(data_dir: Path | None, query: Query, *, store_url: str | None = None) -> Iterator[Row]:
    """The records of a log that the query names: PostgreSQL at ``store_url``
    when given, else the data folder's."""
    with open_reader(data_dir, store_url) as reader:
        yield from reader.rows(query)
