"""PostgreSQL connections: a pool per store, its schema migrated when it is
opened, and the driver's errors of an outage mapped once, here, to
:class:`~lgsp.store.errors.StoreUnavailable`.

The driver is asyncpg (asynchronous, PostgreSQL's binary protocol): a store
awaits it on the event loop, with no thread of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Iterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from lgsp.store.errors import StoreUnavailable
from lgsp.store.migrations import migrate

CONNECT_TIMEOUT_S = 10.0
"""Longest wait for a new connection."""
COMMAND_TIMEOUT_S = 30.0
"""Longest wait for one statement."""

# What the driver raises when the server is away, restarting or ending
# sessions, besides the OS's own errors and timeouts.
_OUTAGES: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    # A pooled connection whose server died before the driver noticed can
    # refuse the next query this way (instead of as a closed connection).
    asyncpg.InternalClientError,
)

Connection = asyncpg.Connection | PoolConnectionProxy
"""A connection of its own or one lent by a pool."""

_PASSWORD_PARAM = re.compile(r"(?i)(password=)[^&]*")


def masked(url: str) -> str:
    """The URL with its password (in the user part or a ``password=``
    parameter) replaced by ``***``: what may be logged or shown."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        user, _, host = netloc.rpartition("@")
        if ":" in user:
            user = user.split(":", 1)[0] + ":***"
        netloc = f"{user}@{host}"
    query = _PASSWORD_PARAM.sub(r"\1***", parts.query)
    return urlunsplit(parts._replace(netloc=netloc, query=query))


@contextlib.contextmanager
def outage(url: str) -> Iterator[None]:
    """Raise the driver's errors of an outage as :class:`StoreUnavailable`,
    naming the server by its masked URL."""
    try:
        yield
    except _OUTAGES as exc:
        detail = str(exc) or type(exc).__name__
        raise StoreUnavailable(f"PostgreSQL at {masked(url)} unavailable: {detail}") from exc


async def connect(url: str) -> asyncpg.Connection:
    """One connection (for a command that reads and ends), no migration."""
    with outage(url):
        return await asyncpg.connect(
            url, timeout=CONNECT_TIMEOUT_S, command_timeout=COMMAND_TIMEOUT_S
        )


class Database:
    """A pool of connections to one PostgreSQL database with the schema this
    code knows: made by :meth:`open`, ended by :meth:`close`."""

    def __init__(self, pool: asyncpg.Pool, url: str) -> None:
        self.pool = pool
        self.url = masked(url)
        """The URL without its password: what logs and errors may say."""
        self._url = url

    @classmethod
    async def open(cls, url: str, *, max_size: int = 4) -> Database:
        """Connect and migrate the schema (several gateways starting at once
        take turns, see :func:`~lgsp.store.migrations.migrate`).

        Raises :class:`StoreUnavailable` when the server does not answer,
        :class:`~lgsp.store.errors.SchemaTooNew` when a newer lgsp migrated it."""
        with outage(url):
            pool = await asyncpg.create_pool(
                url,
                min_size=1,
                max_size=max_size,
                timeout=CONNECT_TIMEOUT_S,
                command_timeout=COMMAND_TIMEOUT_S,
            )
        try:
            with outage(url):
                async with pool.acquire() as conn:
                    await migrate(conn)
        except BaseException:
            pool.terminate()
            raise
        return cls(pool, url)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        """A connection of the pool inside a transaction, committed on exit
        (rolled back on an error); an outage is :class:`StoreUnavailable`."""
        with outage(self._url):
            async with self.pool.acquire() as conn, conn.transaction():
                yield conn

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[Connection]:
        """A connection of the pool (autocommit); an outage is :class:`StoreUnavailable`."""
        with outage(self._url):
            async with self.pool.acquire() as conn:
                yield conn

    async def close(self) -> None:
        """End every connection, waiting at most :data:`CONNECT_TIMEOUT_S`
        for those in use."""
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                await self.pool.close()
        except _OUTAGES:
            self.pool.terminate()
