"""The client store: the runtime source of truth for clients, their grants
and quotas, and the keys that sign access tokens.

One store, two engines (:mod:`lgsp.trust.client_store`), as the exchange
log has: SQLite, the embedded default (``<data_dir>/clients.db``, mode
0600, or in memory without a data folder), and PostgreSQL when
``Settings.store_url`` names a database, so gateways on several machines
share their clients and keys. The request path reads a snapshot in memory,
never the database; a change (the admin API) is awaited on either engine,
one transaction each, after which this process's snapshot is reloaded.

A new, empty store is seeded from the configuration's clients and
``token_secret`` (the first signing key); after that the store is
authoritative, and the config's clients are applied again only when they
change. Gateways starting at once on one new store seed it once.

Other processes' changes: whoever runs the store wires :attr:`ClientStore.announce`
to tell the other processes after each change, and :meth:`ClientStore.heard`
to what they tell (the gateway does it on the transport), and the store
reloads in the background. On SQLite, processes sharing one data folder
also see each other's commits through SQLite's ``data_version``, polled off
the request path; PostgreSQL is never polled.
"""

from __future__ import annotations

import abc
import asyncio
import hashlib
import math
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import orjson
import structlog
from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError
from argon2.low_level import hash_secret_raw

from lgsp.config import DEMO_SECRETS, ClientConfig, Settings
from lgsp.store import StoreError

log = structlog.get_logger("lgsp.clients")

# argon2id with OWASP's recommended minimum (19 MiB, 2 passes, 1 lane):
# about 30 ms a hash here, so the token endpoint stays responsive while an
# offline guess still costs real memory. Each hash records its parameters,
# so stronger ones can be chosen later without invalidating stored hashes.
HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)

INITIAL_KID = "k1"
"""The kid of the key seeded from ``Settings.token_secret``: processes that
share that secret (and no store) verify each other's tokens."""

NOTICE_SUBJECT = "clients.changed"
"""What the gateways broadcast on the transport after a change of the store."""

RETRY_S = 1.0
"""After a reload that failed (the database away), the wait before the next."""
SEED_ATTEMPTS = 5
"""How many times a start applies the config when other gateways keep
applying theirs at the same moment."""


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


Applied = Literal["seeded", "applied", "raced"]
"""What applying a config did: filled a new store, wrote the config's clients
again into one seeded before, or nothing (another gateway applied one first)."""


class Engine(abc.ABC):
    """Where the store keeps clients and keys: each method is one transaction
    and may raise :class:`~lgsp.store.StoreError` (nothing was written)."""

    name: str
    """What logs may say of it: the file, or the URL without its password."""
    persistent: bool
    """Whether it outlives the process (and may be opened again)."""

    @abc.abstractmethod
    async def load(self) -> Snapshot:
        """Every client and key, read at one moment."""

    @abc.abstractmethod
    async def applied(self) -> str | None:
        """The fingerprint of the config applied last (None: a new store)."""

    @abc.abstractmethod
    async def apply(
        self, clients: Sequence[Client], key: SigningKey, fingerprint: str, *, over: str | None
    ) -> Applied:
        """In one transaction: the config's clients (each replacing the stored
        one of its id, whose ``not_before`` it keeps), ``key`` if the store
        holds none, and ``fingerprint`` as the config applied; unless the
        config applied is no longer ``over`` (``"raced"``, nothing written)."""

    @abc.abstractmethod
    async def add(self, client: Client) -> bool:
        """Insert a new client; False when the id is taken."""

    @abc.abstractmethod
    async def update(self, client_id: str, change: Callable[[Client], Client]) -> Client | None:
        """Apply ``change`` to the stored client, reading and writing in one
        transaction (two processes' edits never overwrite each other); None
        when there is no such client. What ``change`` raises rolls it back."""

    @abc.abstractmethod
    async def delete(self, client_id: str) -> bool:
        """Remove a client; False when there was none."""

    @abc.abstractmethod
    async def rotate(self, key: SigningKey, prune_before: float) -> None:
        """Retire every key, add ``key``, and remove the keys retired before
        ``prune_before`` (they verify nothing alive any more)."""

    @abc.abstractmethod
    async def watch(self, stale: Callable[[], None]) -> None:
        """Call ``stale`` whenever the engine sees by itself that another
        process committed a change, until cancelled; return at once when it
        cannot (changes then arrive as notices)."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Let go of the database."""


async def open_engine(settings: Settings) -> Engine:
    """PostgreSQL at ``store_url`` when the settings name one, else SQLite in
    ``data_dir`` (in memory without one). Each engine is imported only when
    asked for, so SQLite's users never load the driver."""
    if settings.store_url is not None:
        from lgsp.trust.client_store.postgres import PostgresEngine

        return await PostgresEngine.open(settings.store_url)
    from lgsp.trust.client_store.sqlite import SqliteEngine

    return await SqliteEngine.open(settings.data_dir)


Listener = Callable[[Snapshot], None]


class ClientStore:
    """Clients and signing keys on an engine, with a snapshot in memory that
    the request path reads without touching the database. Made before its
    application starts (its readers subscribe to it), opened by
    :meth:`start`, closed by :meth:`close`; :meth:`open` does both first."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._engine: Engine | None = None
        self._listeners: list[Listener] = []
        self._reloading = asyncio.Lock()
        self._stale = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.snapshot = Snapshot({}, ())
        self.notice = uuid.uuid4().hex.encode()
        """What this store's notices carry, so it knows its own when they come back."""
        self.announce: Callable[[], Awaitable[None]] | None = None
        """Tells the other processes that the store changed (set by whoever
        runs the store; it must not raise): awaited after each change."""

    @classmethod
    async def open(cls, settings: Settings) -> ClientStore:
        """The started store of these settings."""
        store = cls(settings)
        await store.start()
        return store

    async def start(self) -> None:
        """Open the engine, seed it from the settings when new (or when their
        clients changed), and load the snapshot. Refuses a store that still
        serves demo secrets under a production config (:class:`ClientStoreError`);
        raises :class:`~lgsp.store.StoreError` when the engine cannot be used."""
        engine = await open_engine(self._settings)
        try:
            await self._seed(engine)
            self._engine = engine
            await self.reload()
            if self._settings.production:
                demo = sorted(c.id for c in self.snapshot.clients.values() if c.demo and c.enabled)
                if demo:
                    raise ClientStoreError(
                        "production refuses demo secrets in the client store: "
                        f"{', '.join(demo)} (rotate their secrets or revoke them)"
                    )
        except BaseException:
            self._engine = None
            await engine.close()
            raise
        self._tasks = [
            asyncio.create_task(self._follow(), name="clients.follow"),
            asyncio.create_task(engine.watch(self.stale), name="clients.watch"),
        ]

    async def close(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        engine, self._engine = self._engine, None
        if engine is not None:
            await engine.close()

    async def _seed(self, engine: Engine) -> None:
        clients = self._settings.clients
        for _ in range(SEED_ATTEMPTS):
            found = await engine.applied()
            if engine.persistent:
                salt = bytes.fromhex(found.split(":")[0]) if found else secrets.token_bytes(16)
                fingerprint = await asyncio.to_thread(_fingerprint, clients, salt)
            else:
                fingerprint = "memory"  # only a persistent store is ever opened again
            if found == fingerprint:
                return
            # Hashed before the transaction: hashing is the slow part.
            rows = await asyncio.to_thread(lambda: [Client.from_config(c) for c in clients])
            key = SigningKey(INITIAL_KID, self._settings.token_secret.encode(), time.time())
            outcome = await engine.apply(rows, key, fingerprint, over=found)
            if outcome != "raced":
                log.info(
                    "clients.seeded" if outcome == "seeded" else "clients.config_applied",
                    clients=len(rows),
                    store=engine.name,
                )
                return
            # Another gateway applied a config meanwhile: judge again against it.
        raise ClientStoreError(
            f"the client store at {engine.name} kept being seeded by other gateways "
            "with other configurations: start them with one configuration"
        )

    def _open(self) -> Engine:
        if self._engine is None:
            raise ClientStoreError("the client store is not open")
        return self._engine

    # -- the snapshot, and other processes' changes ------------------------

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` with every new snapshot (and with the current one
        now); returns what stops it."""
        self._listeners.append(listener)
        listener(self.snapshot)
        return lambda: self._listeners.remove(listener)

    async def reload(self) -> None:
        """Read the snapshot from the engine and hand it to every listener."""
        async with self._reloading:
            # One load at a time: a load that started later saw later commits,
            # and so is the one that stays.
            self.snapshot = await self._open().load()
        for listener in list(self._listeners):
            listener(self.snapshot)

    def stale(self) -> None:
        """The snapshot may be out of date (another process changed the
        store): it is reloaded soon, in the background."""
        self._stale.set()

    def heard(self, notice: bytes | None) -> None:
        """What another process said: a notice that the store changed (its
        body), or None when notices may have been missed (the link that
        carries them was lost and is back). Reloads unless it is this
        store's own notice."""
        if notice != self.notice:
            self.stale()

    async def _follow(self) -> None:
        while True:
            await self._stale.wait()
            self._stale.clear()
            try:
                await self.reload()
            except StoreError as exc:
                log.warning("clients.reload_failed", error=str(exc), retry_in=RETRY_S)
                await asyncio.sleep(RETRY_S)
                self._stale.set()
            else:
                log.info("clients.reloaded", clients=len(self.snapshot.clients))

    async def _changed(self) -> None:
        """After a change committed: this process's snapshot at once, then the others'."""
        try:
            await self.reload()
        except StoreError as exc:
            # Committed all the same: the snapshot follows when the store answers.
            log.warning("clients.reload_failed", error=str(exc), retry_in=RETRY_S)
            self.stale()
        if self.announce is not None:
            await self.announce()

    # -- changes: each commits, then reloads --------------------------------

    def get(self, client_id: str) -> Client | None:
        return self.snapshot.clients.get(client_id)

    async def add(self, client: Client) -> bool:
        """Insert a new client; False when the id is taken."""
        added = await self._open().add(client)
        if added:
            await self._changed()
        return added

    async def update(self, client_id: str, change: Callable[[Client], Client]) -> Client | None:
        """Apply ``change`` to the stored client atomically (read and write in
        one transaction, so two processes' edits do not overwrite each other)."""
        updated = await self._open().update(client_id, change)
        if updated is not None:
            await self._changed()
        return updated

    async def delete(self, client_id: str) -> bool:
        deleted = await self._open().delete(client_id)
        if deleted:
            await self._changed()
        return deleted

    async def rotate_key(self) -> SigningKey:
        """A new signing key from now on; the old ones verify what they signed
        until it expires, then are pruned."""
        now = time.time()
        key = SigningKey(f"k{secrets.token_hex(4)}", secrets.token_bytes(32), now)
        # A retired key signed nothing after it retired, so once the token
        # lifetime has passed it verifies nothing alive.
        await self._open().rotate(key, prune_before=now - self._settings.token_ttl_s - 1)
        await self._changed()
        return key


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


def revoked(client: Client) -> Client:
    """Disabled, and every token issued until now dead."""
    return replace(client, enabled=False, not_before=time.time())
