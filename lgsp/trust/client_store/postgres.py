"""The client store on PostgreSQL, for gateways on several machines: the
same rows as on SQLite, in the tables of :mod:`lgsp.store.migrations`' third
step (``clients``, ``signing_keys``, ``clients_config``).

Seeding and key rotation take a transaction-scoped advisory lock, so
gateways starting at once on a new database seed it once (the first to
commit; the others find its config applied) and two rotations never leave
two keys signing. A change of one client locks its row (``FOR UPDATE``)
while it reads and writes it. Nothing here polls: the gateways tell each
other of a change on the transport, and reload from here on a notice, on
start and when the transport comes back.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Sequence

import asyncpg

from lgsp.store import Database, StoreError
from lgsp.store.postgres import Connection
from lgsp.trust.clients import Applied, Client, Engine, SigningKey, Snapshot

# pg_advisory_xact_lock's key for seeding and rotating keys: "lgsp" and 3.
_SEED_LOCK = 0x6C677370_00000003
_COLUMNS = (
    "id, grants, secret_hash, rate, burst, enabled, certificate_sha256, description, "
    "not_before, demo"
)
_INSERT = f"INSERT INTO clients ({_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
_UPSERT = f"""{_INSERT}
ON CONFLICT (id) DO UPDATE SET
    grants = excluded.grants, secret_hash = excluded.secret_hash, rate = excluded.rate,
    burst = excluded.burst, enabled = excluded.enabled,
    certificate_sha256 = excluded.certificate_sha256, description = excluded.description,
    not_before = {{not_before}}, demo = excluded.demo
"""
_PUT = _UPSERT.format(not_before="excluded.not_before")
# A config's client replaces the stored one but for its not-before time:
# tokens revoked before stay dead.
_SEED = _UPSERT.format(not_before="clients.not_before")


class PostgresEngine(Engine):
    """See the module docstring."""

    persistent = True

    def __init__(self, db: Database) -> None:
        self._db = db
        self.name = db.url

    @classmethod
    async def open(cls, url: str) -> PostgresEngine:
        """Connect and migrate (:meth:`lgsp.store.Database.open`)."""
        return cls(await Database.open(url, max_size=2))

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Connection]:
        try:
            async with self._db.transaction() as conn:
                yield conn
        except asyncpg.PostgresError as exc:
            # Not an outage (those are StoreUnavailable already): a table
            # altered under us, a full disk... nothing was written.
            raise StoreError(f"the client store at {self.name}: {exc}") from exc

    async def load(self) -> Snapshot:
        async with self._transaction() as conn:
            # One snapshot of both tables.
            await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            clients = {
                row[0]: _client(row) for row in await conn.fetch(f"SELECT {_COLUMNS} FROM clients")
            }
            keys = tuple(
                SigningKey(row[0], bytes(row[1]), row[2], row[3])
                for row in await conn.fetch(
                    "SELECT kid, secret, created, retired FROM signing_keys "
                    "ORDER BY retired IS NOT NULL, created DESC"
                )
            )
        return Snapshot(clients, keys)

    async def applied(self) -> str | None:
        async with self._transaction() as conn:
            found = await conn.fetchval("SELECT fingerprint FROM clients_config")
        return None if found is None else str(found)

    async def apply(
        self, clients: Sequence[Client], key: SigningKey, fingerprint: str, *, over: str | None
    ) -> Applied:
        async with self._transaction() as conn:
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _SEED_LOCK)
            if await conn.fetchval("SELECT fingerprint FROM clients_config") != over:
                return "raced"
            if clients:
                await conn.executemany(_SEED, [_row(c) for c in clients])
            await conn.execute(
                "INSERT INTO signing_keys (kid, secret, created) SELECT $1, $2, $3 "
                "WHERE NOT EXISTS (SELECT 1 FROM signing_keys)",
                key.kid,
                key.secret,
                key.created,
            )
            await conn.execute(
                "INSERT INTO clients_config (fingerprint) VALUES ($1) "
                "ON CONFLICT (one) DO UPDATE SET fingerprint = excluded.fingerprint",
                fingerprint,
            )
        return "seeded" if over is None else "applied"

    async def add(self, client: Client) -> bool:
        async with self._transaction() as conn:
            status = await conn.execute(f"{_INSERT} ON CONFLICT (id) DO NOTHING", *_row(client))
        return bool(status == "INSERT 0 1")

    async def update(self, client_id: str, change: Callable[[Client], Client]) -> Client | None:
        async with self._transaction() as conn:
            row = await conn.fetchrow(
                f"SELECT {_COLUMNS} FROM clients WHERE id = $1 FOR UPDATE", client_id
            )
            if row is None:
                return None
            updated = change(_client(row))
            await conn.execute(_PUT, *_row(updated))
        return updated

    async def delete(self, client_id: str) -> bool:
        async with self._transaction() as conn:
            status = await conn.execute("DELETE FROM clients WHERE id = $1", client_id)
        return bool(status == "DELETE 1")

    async def rotate(self, key: SigningKey, prune_before: float) -> None:
        async with self._transaction() as conn:
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _SEED_LOCK)
            await conn.execute(
                "UPDATE signing_keys SET retired = $1 WHERE retired IS NULL", key.created
            )
            await conn.execute(
                "INSERT INTO signing_keys (kid, secret, created) VALUES ($1, $2, $3)",
                key.kid,
                key.secret,
                key.created,
            )
            await conn.execute(
                "DELETE FROM signing_keys WHERE retired IS NOT NULL AND retired < $1",
                prune_before,
            )

    async def watch(self, stale: Callable[[], None]) -> None:
        return  # changes arrive as notices on the transport: never polled

    async def close(self) -> None:
        await self._db.close()


def _row(c: Client) -> tuple[object, ...]:
    return (
        c.id,
        list(c.grants),
        c.secret_hash,
        c.rate,
        c.burst,
        c.enabled,
        c.certificate_sha256,
        c.description,
        c.not_before,
        c.demo,
    )


def _client(row: asyncpg.Record) -> Client:
    return Client(
        id=row[0],
        grants=tuple(row[1]),
        secret_hash=row[2],
        rate=row[3],
        burst=row[4],
        enabled=row[5],
        certificate_sha256=row[6],
        description=row[7],
        not_before=row[8],
        demo=row[9],
    )
