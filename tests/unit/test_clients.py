"""The client store (lgsp/trust/clients.py and its engines): seeding,
persistence, atomic changes, signing keys and other processes' changes, on
each engine: SQLite in a data dir and PostgreSQL (a fresh database per
test). Seen through gateways: tests/behaviour/test_clients.py."""

from __future__ import annotations

import asyncio
import stat
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from lgsp.config import ClientConfig, Settings
from lgsp.errors import RequestInvalid
from lgsp.trust.client_store.postgres import PostgresEngine
from lgsp.trust.client_store.sqlite import SqliteEngine
from lgsp.trust.clients import (
    INITIAL_KID,
    Applied,
    Client,
    ClientStore,
    ClientStoreError,
    Engine,
    Snapshot,
)
from tests.support.clients import CLIENTS, ENGINES, settings

Place = Callable[..., Settings]
"""The settings of one test's store (with overrides): a data dir, or a
PostgreSQL database."""


@pytest.fixture(params=ENGINES)
def place(request: pytest.FixtureRequest, tmp_path: Path) -> Place:
    url = request.getfixturevalue("lgsp_postgres_url") if request.param == "postgres" else None

    def make(**overrides: object) -> Settings:
        return settings(tmp_path, store_url=url, **overrides)

    return make


@pytest.fixture
async def opened() -> AsyncIterator[list[ClientStore]]:
    """Stores a test opens, closed after it."""
    stores: list[ClientStore] = []
    yield stores
    for store in stores:
        await store.close()


async def until(store: ClientStore, holds: Callable[[Snapshot], bool]) -> Snapshot:
    """The first snapshot of ``store`` (the current one included) for which
    ``holds``: awaited on the store's reloads, never polled."""
    reached = asyncio.Event()
    stop = store.subscribe(lambda snapshot: reached.set() if holds(snapshot) else None)
    try:
        async with asyncio.timeout(5):
            await reached.wait()
    finally:
        stop()
    return store.snapshot


def _granted(client_id: str, grant: str) -> Callable[[Snapshot], bool]:
    return lambda s: client_id in s.clients and grant in s.clients[client_id].grants


async def test_the_store_file_is_private(tmp_path: Path) -> None:
    store = await ClientStore.open(settings(tmp_path))
    await store.close()
    assert stat.S_IMODE((tmp_path / "clients.db").stat().st_mode) == 0o600


async def test_the_store_outlives_the_process_and_a_changed_config_applies_again(
    place: Place,
) -> None:
    store = await ClientStore.open(place())
    await store.update("shared.one", lambda c: replace(c, description="kept"))
    await store.close()
    # The same config again: what the admin changed stays.
    reopened = await ClientStore.open(place())
    assert reopened.snapshot.clients["shared.one"].description == "kept"
    await reopened.close()
    # A changed config applies its clients again; clients it no longer names
    # (or that the admin API made) stay in the store.
    other = (ClientConfig(id="other.one", secret="other-one-secret", grants=()),)
    reopened = await ClientStore.open(place(clients=other))
    assert set(reopened.snapshot.clients) == {"shared.one", "other.one"}
    await reopened.close()


async def test_a_changed_config_keeps_revoked_tokens_dead(place: Place) -> None:
    store = await ClientStore.open(place())
    revoked_at = await store.update("shared.one", lambda c: replace(c, not_before=1234.5))
    assert revoked_at is not None
    await store.close()
    changed = (CLIENTS[0].model_copy(update={"description": "changed"}),)
    reopened = await ClientStore.open(place(clients=changed))
    client = reopened.snapshot.clients["shared.one"]
    assert (client.description, client.not_before) == ("changed", 1234.5)
    await reopened.close()


async def test_production_refuses_a_store_still_holding_demo_secrets(place: Place) -> None:
    demo = place(clients=Settings().clients)
    await (await ClientStore.open(demo)).close()
    with pytest.raises(ClientStoreError, match="demo secrets"):
        await ClientStore.open(
            Settings.model_validate(
                {
                    "production": True,
                    "clients": CLIENTS,
                    "data_dir": demo.data_dir,
                    "store_url": demo.store_url,
                }
            )
        )


async def test_gateways_starting_at_once_on_a_new_store_seed_it_once_with_one_key(
    place: Place, opened: list[ClientStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    outcomes: list[Applied] = []
    for engine in (SqliteEngine, PostgresEngine):
        real = engine.apply

        async def apply(self: Engine, *args: Any, _real: Any = real, **kwargs: Any) -> Applied:
            outcomes.append(await _real(self, *args, **kwargs))
            return outcomes[-1]

        monkeypatch.setattr(engine, "apply", apply)
    secrets = [f"{n}" * 40 for n in range(4)]
    stores = await asyncio.gather(
        *(ClientStore.open(place(token_secret=secret)) for secret in secrets)
    )
    opened.extend(stores)
    # The first to commit seeds; the others lost the race or found it seeded.
    assert outcomes.count("seeded") == 1
    assert set(outcomes) <= {"seeded", "raced"}
    # One key, the first starter's, signs on every gateway.
    signing = {s.snapshot.signing for s in stores}
    assert len(signing) == 1
    (key,) = signing
    assert key.kid == INITIAL_KID
    assert key.secret.decode() in secrets
    assert all(len(s.snapshot.keys) == 1 for s in stores)
    assert all(set(s.snapshot.clients) == {"shared.one"} for s in stores)


async def test_the_signing_key_is_the_stores_and_outlives_a_restart(place: Place) -> None:
    first = await ClientStore.open(place(token_secret="a" * 40))
    rotated = await first.rotate_key()
    await first.close()
    # Another gateway, with another token_secret (or a random one): the store's key signs.
    second = await ClientStore.open(place(token_secret="b" * 40))
    assert second.snapshot.signing == rotated
    assert {k.kid: k.secret for k in second.snapshot.keys}[INITIAL_KID] == b"a" * 40
    await second.close()


async def test_rotations_at_once_leave_one_key_signing(
    place: Place, opened: list[ClientStore]
) -> None:
    a, b = await ClientStore.open(place()), await ClientStore.open(place())
    opened += [a, b]
    made = await asyncio.gather(*(store.rotate_key() for store in (a, b, a, b)))
    await a.reload()
    signing = [k for k in a.snapshot.keys if k.retired is None]
    assert len(signing) == 1
    assert signing[0] in made
    assert {k.kid for k in a.snapshot.keys} == {INITIAL_KID, *(k.kid for k in made)}


async def test_changes_of_two_gateways_at_once_are_never_lost(
    place: Place, opened: list[ClientStore]
) -> None:
    a, b = await ClientStore.open(place()), await ClientStore.open(place())
    opened += [a, b]
    grants = [f"test.grant{n}" for n in range(12)]

    def adding(grant: str) -> Callable[[Client], Client]:
        return lambda c: replace(c, grants=(*c.grants, grant))

    # Each update reads and writes in one transaction: none overwrites another.
    await asyncio.gather(
        *((a if n % 2 else b).update("shared.one", adding(g)) for n, g in enumerate(grants))
    )
    await a.reload()
    assert sorted(a.snapshot.clients["shared.one"].grants) == sorted(
        ["land.parcel.lookup", *grants]
    )


async def test_a_change_that_fails_writes_nothing(place: Place, opened: list[ClientStore]) -> None:
    store = await ClientStore.open(place())
    opened.append(store)

    def refused(client: Client) -> Client:
        raise RequestInvalid("a burst needs a rate")

    with pytest.raises(RequestInvalid):
        await store.update("shared.one", refused)
    assert await store.update("no.such", lambda c: c) is None
    await store.reload()
    assert store.snapshot.clients["shared.one"].grants == ("land.parcel.lookup",)


async def test_add_and_delete(place: Place, opened: list[ClientStore]) -> None:
    store = await ClientStore.open(place())
    opened.append(store)
    new = Client(id="new.one", grants=("land.*",), rate=5.0)
    assert await store.add(new)
    assert not await store.add(replace(new, grants=()))
    assert store.get("new.one") == new
    assert await store.delete("new.one")
    assert not await store.delete("new.one")
    assert store.get("new.one") is None


async def test_another_gateways_change_is_loaded_when_its_notice_is_heard(
    place: Place, opened: list[ClientStore]
) -> None:
    a, b = await ClientStore.open(place()), await ClientStore.open(place())
    opened += [a, b]
    told: list[bytes] = []

    async def announce() -> None:
        told.append(a.notice)
        b.heard(a.notice)

    a.announce = announce
    await a.update("shared.one", lambda c: replace(c, grants=(*c.grants, "land.*")))
    assert told == [a.notice]  # after the change committed
    await until(b, _granted("shared.one", "land.*"))
    # Notices may have been missed (a reconnection): the store reloads too.
    await a.update("shared.one", lambda c: replace(c, grants=(*c.grants, "onestop.*")))
    b.heard(None)
    await until(b, _granted("shared.one", "onestop.*"))


async def test_sqlite_gateways_of_one_data_dir_see_each_others_changes_unannounced(
    tmp_path: Path, opened: list[ClientStore]
) -> None:
    a, b = await ClientStore.open(settings(tmp_path)), await ClientStore.open(settings(tmp_path))
    opened += [a, b]
    await a.update("shared.one", lambda c: replace(c, grants=(*c.grants, "land.*")))
    await until(b, _granted("shared.one", "land.*"))  # its file's version moved


@pytest.mark.postgres
async def test_postgres_is_never_polled(lgsp_postgres_url: str) -> None:
    engine = await PostgresEngine.open(lgsp_postgres_url)
    try:
        called: list[None] = []
        # Returns at once: changes reach the other gateways as notices only.
        await engine.watch(lambda: called.append(None))
        assert called == []
    finally:
        await engine.close()
