"""The PostgreSQL schema, versioned: numbered steps applied in order, each
recorded in ``lgsp_schema_migrations``.

Adding to the schema is one entry at the end of :data:`STEPS`, never an edit
of a step already released (databases have run it). A database whose version
is newer than the last step refuses this code (:class:`SchemaTooNew`): a
newer lgsp migrated it, and an older one must not write there.

Why not Alembic: it is built on SQLAlchemy, which nothing else here uses,
and the bus needs only what fits on this page: ordered SQL steps, one
transaction, one lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog

from lgsp.store.errors import SchemaTooNew

if TYPE_CHECKING:
    from lgsp.store.postgres import Connection

log = structlog.get_logger("lgsp.store")

# pg_advisory_xact_lock's key for migrating: "lgsp" and 1. Gateways starting
# at once take turns; the lock ends with the transaction.
_MIGRATION_LOCK = 0x6C677370_00000001

_TABLE = """
CREATE TABLE IF NOT EXISTS lgsp_schema_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied TIMESTAMPTZ NOT NULL DEFAULT now()
)
"""


@dataclass(frozen=True, slots=True)
class Step:
    """One change of the schema."""

    version: int
    name: str
    sql: str


STEPS: tuple[Step, ...] = (
    Step(
        1,
        "exchange log: records, the chain's key, the signed head, the archived part",
        # The columns of lgsp.observe.exchange_log.chain.COLUMNS, typed so each
        # reads back as the same Python value SQLite gives (a record hashes
        # alike on both); times are ISO text in the C collation, ordered as text.
        """
        CREATE TABLE exchanges (
            seq BIGINT PRIMARY KEY,
            kind TEXT NOT NULL,
            request_id TEXT NOT NULL,
            client TEXT NOT NULL,
            name TEXT NOT NULL,
            version INTEGER NOT NULL,
            received TEXT COLLATE "C" NOT NULL,
            sent TEXT COLLATE "C",
            answered TEXT COLLATE "C" NOT NULL,
            duration_ms DOUBLE PRECISION NOT NULL,
            status INTEGER NOT NULL,
            code TEXT,
            request_size BIGINT NOT NULL,
            response_size BIGINT NOT NULL,
            request_sha256 TEXT NOT NULL,
            response_sha256 TEXT NOT NULL,
            event_id TEXT,
            request_body BYTEA,
            response_body BYTEA,
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL
        );
        CREATE INDEX exchanges_received ON exchanges (received);
        -- One row each: the chain's key (made by the first writer), the
        -- signed head (the last record written), and where the archived
        -- part of the chain ends (the records moved into archive files).
        CREATE TABLE exchange_log_key (
            one BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one),
            key BYTEA NOT NULL CHECK (length(key) = 32)
        );
        CREATE TABLE exchange_log_head (
            one BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one),
            seq BIGINT NOT NULL,
            hash TEXT NOT NULL,
            mac TEXT NOT NULL
        );
        CREATE TABLE exchange_log_archived (
            one BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one),
            seq BIGINT NOT NULL,
            hash TEXT NOT NULL,
            mac TEXT NOT NULL
        );
        """,
    ),
    Step(
        2,
        "the subscribers' inbox: the events each subscriber processed",
        """
        CREATE TABLE inbox (
            subscriber TEXT NOT NULL,
            event_id TEXT NOT NULL,
            processed_at DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (subscriber, event_id)
        );
        CREATE INDEX inbox_processed_at ON inbox (processed_at);
        """,
    ),
    Step(
        3,
        "the client store: clients, the token signing keys, the config applied last",
        # The rows of lgsp.trust.clients' Client and SigningKey, as SQLite
        # keeps them; times are epoch seconds.
        """
        CREATE TABLE clients (
            id TEXT PRIMARY KEY,
            grants TEXT[] NOT NULL,
            secret_hash TEXT,
            rate DOUBLE PRECISION,
            burst INTEGER,
            enabled BOOLEAN NOT NULL,
            certificate_sha256 TEXT,
            description TEXT NOT NULL,
            not_before DOUBLE PRECISION NOT NULL,
            demo BOOLEAN NOT NULL
        );
        CREATE TABLE signing_keys (
            kid TEXT PRIMARY KEY,
            secret BYTEA NOT NULL,
            created DOUBLE PRECISION NOT NULL,
            retired DOUBLE PRECISION
        );
        -- One row: the argon2 fingerprint of the config whose clients were
        -- applied last (salt:hash), so a start applies a changed config only.
        CREATE TABLE clients_config (
            one BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one),
            fingerprint TEXT NOT NULL
        );
        """,
    ),
    Step(
        4,
        "idempotency keys: one outcome per key across every gateway",
        # lgsp.gateway.idempotency's SQLite engine's table, row for row.
        """
        CREATE TABLE idempotency_keys (
            client TEXT NOT NULL,
            key TEXT NOT NULL,
            fingerprint BYTEA NOT NULL,
            owner TEXT NOT NULL,
            expires DOUBLE PRECISION NOT NULL,
            lease DOUBLE PRECISION NOT NULL,
            status INTEGER,
            body BYTEA,
            headers BYTEA,
            code TEXT,
            PRIMARY KEY (client, key)
        );
        CREATE INDEX idempotency_keys_expires ON idempotency_keys (expires);
        """,
    ),
)
"""Every step, in order: version N is ``STEPS[N - 1]``."""


async def schema_version(conn: Connection) -> int:
    """The version of the database's schema: 0 when lgsp never migrated it."""
    if await conn.fetchval("SELECT to_regclass('lgsp_schema_migrations')") is None:
        return 0
    version = await conn.fetchval("SELECT coalesce(max(version), 0) FROM lgsp_schema_migrations")
    return int(version)


async def migrate(conn: Connection, steps: tuple[Step, ...] = STEPS) -> int:
    """Apply the steps the database lacks, in one transaction under an
    advisory lock (a second gateway starting meanwhile waits, then finds
    nothing to do), and return the schema's version.

    Raises :class:`SchemaTooNew` when the database is ahead of ``steps``."""
    known = steps[-1].version if steps else 0
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
        await conn.execute(_TABLE)
        current = await schema_version(conn)
        if current > known:
            raise SchemaTooNew(
                f"the database's schema is at version {current}, this lgsp knows up to "
                f"{known}: upgrade lgsp (a newer one migrated this database)"
            )
        for step in steps[current:]:
            await conn.execute(step.sql)
            await conn.execute(
                "INSERT INTO lgsp_schema_migrations (version, name) VALUES ($1, $2)",
                step.version,
                step.name,
            )
            log.info("store.migrated", version=step.version, step=step.name)
    return max(current, known)


def _check(steps: tuple[Step, ...]) -> None:
    for number, step in enumerate(steps, start=1):
        if step.version != number:
            raise AssertionError(
                f"schema step {step.name!r} is numbered {step.version}, not {number}"
            )


_check(STEPS)
