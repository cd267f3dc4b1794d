"""The client store: the runtime source of truth for clients, their grants
and quotas, and the keys that sign access tokens.

SQLite (stdlib ``sqlite3``): ``<data_dir>/clients.db`` (mode 0600) when the
settings name a data dir, else an in-memory database for the life of the
process. A new, empty store is seeded from the configuration's clients and
``token_secret``; after that the store is authoritative: the config's
clients are applied again only when they change (docs/security.md).

Several gateway processes may share one data dir: each polls
``PRAGMA data_version`` (a counter SQLite bumps when *another* connection
commits) off the request path and reloads its snapshot when it moved, so a
change made through any process shows on all of them within a poll interval;
the process making a change reloads at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import math
import os
import secrets
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import orjson
import structlog
from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError
from argon2.low_level import hash_secret_raw

from lgsp.config import DEMO_SECRETS, ClientConfig, Settings

log = structlog.get_logger("lgsp.clients")

# argon2id with OWASP's recommended minimum (19 MiB, 2 passes, 1 lane):
# about 30 ms a hash here, so the token endpoint stays responsive while an
# offline guess still costs real memory. Each hash records its parameters,
# so stronger ones can be chosen later without invalidating stored hashes.
HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)

INITIAL_KID = "k1"
"""The kid of the key seeded from ``Settings.token_secret``: processes that
share that secret (and no data dir) verify each other's tokens."""

POLL_INTERVAL_S = 0.5


def new_secret() -> str:
    """A client secret for `lgsp clients add` / `rotate-secret`: 256 random bits."""
    return secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    return HASHER.hash(secret)


_DUMMY: list[str] = []


def verify_secret(secret_hash: str | None, secret: str) -> bool:
    """Whether ``secret`` matches ``secret_hash``. Without a hash (unknown
    client, certificate-only client) a dummy hash is verified anyway, so the
    time taken does not reveal which clients exist."""
    if not _DUMMY:
        _DUMMY.append(HASHER.hash(secrets.token_urlsafe(16)))
    try:
        return HASHER.verify(secret_hash or _DUMMY[0], secret) and secret_hash is not None
    except (VerificationError, InvalidHashError):
        return False


# Config secrets hashed in this process, by SHA-256 of the secret: a config
# seeded twice (tests, a restart of the app in one process) is hashed once.
_SEEDED: dict[bytes, str] = {}


def hash_config_secret(secret: str) -> str:
    digest = hashlib.sha256(secret.encode()).digest()
    if digest not in _SEEDED:
        _SEEDED[digest] = hash_secret(secret)
    return _SEEDED[digest]


@dataclass(frozen=True, slots=True)
class Client:
    """A client as the store holds it (the secret only as its hash)."""

    id: str
    grants: tuple[str, ...]
    secret_hash: str | None = None
    rate: float | None = None
    burst: int | None = None
    enabled: bool = True
    certificate_sha256: str | None = None
    description: str = ""
    not_before: float = 0.0
    """Tokens issued before this time (epoch s) are refused: set on revocation."""
    demo: bool = False
    """Seeded with a demo secret: a production gateway refuses to serve it."""

    @property
    def quota(self) -> tuple[float, int] | None:
        if self.rate is None:
            return None
        return self.rate, self.burst or max(1, math.ceil(self.rate))

    def public(self) -> dict[str, Any]:
        """What the admin API shows: never the hash."""
        quota = self.quota
        return {
            "id": self.id,
            "description": self.description,
            "grants": list(self.grants),
            "rate": quota[0] if quota else None,
            "burst": quota[1] if quota else None,
            "enabled": self.enabled,
            "has_secret": self.secret_hash is not None,
            "certificate_sha256": self.certificate_sha256,
        }

    @classmethod
    def from_config(cls, config: ClientConfig) -> Client:
        quota = config.quota
        secret_hash = config.secret_hash
        if config.secret is not None:
            secret_hash = hash_config_secret(config.secret)
        return cls(
            id=config.id,
            grants=config.grants,
            secret_hash=secret_hash,
            rate=quota[0] if quota else None,
            burst=quota[1] if quota else None,
            certificate_sha256=config.certificate_sha256,
            description=config.description,
            demo=config.secret in DEMO_SECRETS,
        )


@dataclass(frozen=True, slots=True)
class SigningKey:
    """An HS256 key. The newest key that is not retired signs; retired keys
    still verify the tokens they signed until those expire."""

    kid: str
    secret: bytes = field(repr=False)
    created: float
    retired: float | None = None

    def public(self) -> dict[str, Any]:
        return {"kid": self.kid, "created": self.created, "retired": self.retired}


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything the store holds, read at once; replaced, never mutated."""

    clients: Mapping[str, Client]
    keys: tuple[SigningKey, ...]
    """Newest first; ``keys[0]`` signs."""

    @property
    def signing(self) -> SigningKey:
        return self.keys[0]


class ClientStoreError(Exception):
    """The store cannot be used as configured (e.g. demo secrets in production)."""


_SCHEMA = """
CREATE TABLE IF NOT EXISTS clients (
    id TEXT PRIMARY KEY,
    grants TEXT NOT NULL,
    secret_hash TEXT,
    rate REAL,
    burst INTEGER,
    enabled INTEGER NOT NULL,
    certificate_sha256 TEXT,
    description TEXT NOT NULL,
    not_before REAL NOT NULL,
    demo INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS keys (
    kid TEXT PRIMARY KEY,
    secret BLOB NOT NULL,
    created REAL NOT NULL,
    retired REAL
);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
_CLIENT_COLUMNS = (
    "id, grants, secret_hash, rate, burst, enabled, certificate_sha256, description, "
    "not_before, demo"
)


class ClientStore:
    """Clients and signing keys, in SQLite, with a snapshot in memory that
    the request path reads without touching the database."""

    def __init__(self, path: Path | None, *, token_ttl_s: int) -> None:
        self.path = path
        self.token_ttl_s = token_ttl_s
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Created 0600 before SQLite opens it: it holds hashes and keys.
            os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
            os.chmod(path, 0o600)
        self._db = sqlite3.connect(
            path if path is not None else ":memory:", timeout=5.0, isolation_level=None
        )
        if path is not None:
            self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        self._version = -1
        self._listeners: list[Callable[[Snapshot], None]] = []
        self.snapshot = Snapshot({}, ())

    @classmethod
    def open(cls, settings: Settings) -> ClientStore:
        """The store of these settings, seeded from them when new; refuses a
        store that still serves demo secrets under a production config."""
        path = settings.data_dir / "clients.db" if settings.data_dir is not None else None
        store = cls(path, token_ttl_s=settings.token_ttl_s)
        store.seed(settings.clients, settings.token_secret)
        if settings.production:
            demo = sorted(c.id for c in store.snapshot.clients.values() if c.demo and c.enabled)
            if demo:
                store.close()
                raise ClientStoreError(
                    f"production refuses demo secrets in the client store: {', '.join(demo)} "
                    "(rotate their secrets or revoke them)"
                )
        return store

    def seed(self, clients: tuple[ClientConfig, ...], token_secret: str) -> None:
        """Fill a new store. A store seeded before keeps its contents, except
        that when the config's clients changed since they were last applied,
        each config client is written again (clients made through the admin
        API stay; revoked tokens stay dead)."""
        row = self._db.execute("SELECT value FROM meta WHERE name = 'config'").fetchone()
        salt = bytes.fromhex(row[0].split(":")[0]) if row else secrets.token_bytes(16)
        # Only a persistent store is ever opened again.
        applied = _fingerprint(clients, salt) if self.path is not None else "memory"
        if row is not None and row[0] == applied:
            self.reload()
            return
        # Hash before taking the write lock: hashing is the slow part.
        rows = [Client.from_config(c) for c in clients]
        with self._transaction():
            new = not self._db.execute("SELECT 1 FROM meta WHERE name = 'config'").fetchone()
            for client in rows:
                old = self._db.execute(
                    "SELECT not_before FROM clients WHERE id = ?", (client.id,)
                ).fetchone()
                self._write_client(replace(client, not_before=old[0]) if old else client)
            if new:
                self._db.execute(
                    "INSERT OR IGNORE INTO keys (kid, secret, created) VALUES (?, ?, ?)",
                    (INITIAL_KID, token_secret.encode(), time.time()),
                )
            self._db.execute(
                "INSERT OR REPLACE INTO meta (name, value) VALUES ('config', ?)", (applied,)
            )
        log.info(
            "clients.seeded" if new else "clients.config_applied",
            clients=len(rows),
            persistent=self.path is not None,
        )
        self.reload()

    def subscribe(self, listener: Callable[[Snapshot], None]) -> None:
        """Call ``listener`` with every new snapshot (and with the current one now)."""
        self._listeners.append(listener)
        listener(self.snapshot)

    def refresh(self) -> bool:
        """Reload when another connection committed since the last load."""
        (version,) = self._db.execute("PRAGMA data_version").fetchone()
        if version == self._version:
            return False
        self.reload()
        return True

    def reload(self) -> None:
        (self._version,) = self._db.execute("PRAGMA data_version").fetchone()
        clients = {
            row[0]: _client(row)
            for row in self._db.execute(f"SELECT {_CLIENT_COLUMNS} FROM clients")
        }
        keys = tuple(
            SigningKey(kid, bytes(secret), created, retired)
            for kid, secret, created, retired in self._db.execute(
                "SELECT kid, secret, created, retired FROM keys "
                "ORDER BY retired IS NOT NULL, created DESC"
            )
        )
        self.snapshot = Snapshot(clients, keys)
        for listener in self._listeners:
            listener(self.snapshot)

    async def watch(self, interval: float = POLL_INTERVAL_S) -> None:
        """Poll for changes made by other processes until cancelled."""
        while True:
            await asyncio.sleep(interval)
            try:
                if self.refresh():
                    log.info("clients.reloaded", clients=len(self.snapshot.clients))
            except sqlite3.Error as exc:  # a locked or busy file: try next time
                log.warning("clients.reload_failed", error=str(exc))

    def close(self) -> None:
        self._db.close()

    # Changes: each commits, then reloads this process's snapshot at once.

    def get(self, client_id: str) -> Client | None:
        return self.snapshot.clients.get(client_id)

    def put(self, client: Client) -> None:
        with self._transaction():
            self._write_client(client)
        self.reload()

    def add(self, client: Client) -> bool:
        """Insert a new client; False when the id is taken."""
        with self._transaction():
            taken = self._db.execute("SELECT 1 FROM clients WHERE id = ?", (client.id,)).fetchone()
            if not taken:
                self._write_client(client)
        self.reload()
        return not taken

    def update(self, client_id: str, change: Callable[[Client], Client]) -> Client | None:
        """Apply ``change`` to the stored client atomically (read and write in
        one transaction, so two processes' edits do not overwrite each other)."""
        with self._transaction():
            row = self._db.execute(
                f"SELECT {_CLIENT_COLUMNS} FROM clients WHERE id = ?", (client_id,)
            ).fetchone()
            if row is None:
                return None
            updated = change(_client(row))
            self._write_client(updated)
        self.reload()
        return updated

    def delete(self, client_id: str) -> bool:
        with self._transaction():
            deleted = self._db.execute("DELETE FROM clients WHERE id = ?", (client_id,)).rowcount
        self.reload()
        return bool(deleted)

    def rotate_key(self) -> SigningKey:
        """A new signing key from now on; the old ones verify what they signed
        until it expires, then are pruned."""
        now = time.time()
        key = SigningKey(f"k{secrets.token_hex(4)}", secrets.token_bytes(32), now)
        with self._transaction():
            self._db.execute("UPDATE keys SET retired = ? WHERE retired IS NULL", (now,))
            self._db.execute(
                "INSERT INTO keys (kid, secret, created) VALUES (?, ?, ?)",
                (key.kid, key.secret, key.created),
            )
            # A retired key signed nothing after it retired, so once the
            # token lifetime has passed it verifies nothing alive.
            self._db.execute(
                "DELETE FROM keys WHERE retired IS NOT NULL AND retired < ?",
                (now - self.token_ttl_s - 1,),
            )
        self.reload()
        return key

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        # IMMEDIATE: take the write lock first, so check-then-write steps of
        # two processes (seeding, updates) cannot interleave.
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _write_client(self, c: Client) -> None:
        self._db.execute(
            f"INSERT OR REPLACE INTO clients ({_CLIENT_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (
                c.id,
                orjson.dumps(list(c.grants)).decode(),
                c.secret_hash,
                c.rate,
                c.burst,
                int(c.enabled),
                c.certificate_sha256,
                c.description,
                c.not_before,
                int(c.demo),
            ),
        )


def _fingerprint(clients: tuple[ClientConfig, ...], salt: bytes) -> str:
    """Which config was applied last, as ``salt:hash``. The config holds
    secrets, so it is hashed like one (argon2id), never with a fast hash."""
    canonical = orjson.dumps(
        [c.model_dump(mode="json") for c in clients], option=orjson.OPT_SORT_KEYS
    )
    digest = hash_secret_raw(
        canonical,
        salt,
        time_cost=HASHER.time_cost,
        memory_cost=HASHER.memory_cost,
        parallelism=HASHER.parallelism,
        hash_len=32,
        type=Type.ID,
    )
    return f"{salt.hex()}:{digest.hex()}"


def _client(row: tuple[Any, ...]) -> Client:
    return Client(
        id=row[0],
        grants=tuple(orjson.loads(row[1])),
        secret_hash=row[2],
        rate=row[3],
        burst=row[4],
        enabled=bool(row[5]),
        certificate_sha256=row[6],
        description=row[7],
        not_before=row[8],
        demo=bool(row[9]),
    )


@contextlib.asynccontextmanager
async def watching(store: ClientStore) -> AsyncIterator[ClientStore]:
    """Poll ``store`` for other processes' changes while the block runs;
    close it after."""
    task = asyncio.create_task(store.watch(), name="clients.watch")
    try:
        yield store
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        store.close()


def revoked(client: Client) -> Client:
    """Disabled, and every token issued until now dead."""
    return replace(client, enabled=False, not_before=time.time())
