"""The client store behind gateways: changes made through one gateway seen
by every other without restart, on either store engine (the store alone:
tests/unit/test_clients.py); and the proof for several machines: two
gateways with data folders of their own, one PostgreSQL and one RabbitMQ,
where a client added, a grant removed, a key rotated and a client revoked
through one take effect on the other within a second, and a token of one is
accepted by the other, before and after a restart."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import secrets
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import jwt
import pytest
import structlog
from aiohttp import web
from aiohttp.test_utils import TestClient

from lgsp.config import DEMO_ADMINS, ClientConfig, Settings
from lgsp.gateway.app import CLIENT_STORE
from lgsp.testing import Bus, running_bus
from lgsp.testing.postgres import PostgresNode
from lgsp.transport import Transport, create_transport
from lgsp.trust.clients import ClientStore, Snapshot
from tests.support.clients import ENGINES, settings
from tests.support.echo import TEST_CATALOGUE, TEST_CLIENTS, Received, echo_adapter, echo_bus
from tests.support.waiting import eventually

ADMIN = {"Authorization": "Basic " + base64.b64encode(b"admin:demo-admin-secret").decode()}
WITHIN_S = 1.0
"""How soon a change through one gateway must apply on the other."""

log = structlog.get_logger("tests.clients")

Gateway = TestClient[web.Request, web.Application]


@pytest.fixture(params=ENGINES)
def store_url(request: pytest.FixtureRequest) -> str | None:
    """None: SQLite in the data dir; else a fresh PostgreSQL database."""
    if request.param == "postgres":
        return str(request.getfixturevalue("lgsp_postgres_url"))
    return None


@pytest.fixture
async def two_gateways(
    tmp_path: Path, store_url: str | None
) -> AsyncIterator[tuple[Gateway, Gateway]]:
    """Two gateways (each its own store connection) over one store (a data
    dir both name, or one PostgreSQL database) and one memory transport."""
    transport = create_transport("memory")
    await transport.start()
    try:
        async with (
            running_bus(
                **gateway_only(transport), settings=settings(tmp_path, store_url=store_url)
            ) as a,
            running_bus(
                **gateway_only(transport), settings=settings(tmp_path, store_url=store_url)
            ) as b,
        ):
            yield a.http, b.http
    finally:
        await transport.close()


def gateway_only(transport: Transport) -> dict[str, Any]:
    return {
        "installed": False,
        "sidecars": False,
        "catalogues": [TEST_CATALOGUE],
        "gateway_transport": transport,
    }


async def token(gateway: Gateway, client: str, secret: str) -> tuple[int, str]:
    r = await gateway.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials", "client_id": client, "client_secret": secret},
    )
    body = await r.json()
    return r.status, body.get("access_token", "")


async def lookup(gateway: Gateway, access_token: str) -> int:
    r = await gateway.post(
        "/v1/services/land.parcel.lookup",
        json={},
        headers={"Authorization": f"Bearer {access_token}"},
    )
    return r.status


async def test_revocation_through_one_gateway_applies_on_the_other(
    two_gateways: tuple[Gateway, Gateway],
) -> None:
    a, b = two_gateways
    status, tok = await token(b, "shared.one", "shared-one-secret")
    assert status == 200
    # Not 401/403: authenticated and granted (the body itself is then judged).
    assert await lookup(b, tok) not in (401, 403)
    r = await a.patch("/v1/admin/clients/shared.one", json={"enabled": False}, headers=ADMIN)
    assert r.status == 200
    assert await lookup(a, tok) == 401  # the process that made the change: at once

    async def refused_on_b() -> bool:
        return await lookup(b, tok) == 401

    await eventually(refused_on_b, "the other gateway saw the change", timeout=5.0)
    assert (await token(b, "shared.one", "shared-one-secret"))[0] == 401


async def test_a_grant_change_through_one_gateway_applies_on_the_other(
    two_gateways: tuple[Gateway, Gateway],
) -> None:
    a, b = two_gateways
    _, tok = await token(b, "shared.one", "shared-one-secret")
    r = await b.post(
        "/v1/services/land.certificate.lookup",
        json={},
        headers={"Authorization": f"Bearer {tok}"},
    )
    assert r.status == 403
    r = await a.patch(
        "/v1/admin/clients/shared.one/grants", json={"add": ["land.*"]}, headers=ADMIN
    )
    assert (await r.json())["grants"] == ["land.parcel.lookup", "land.*"]

    async def granted_on_b() -> bool:
        r = await b.post(
            "/v1/services/land.certificate.lookup",
            json={},
            headers={"Authorization": f"Bearer {tok}"},
        )
        return r.status != 403

    await eventually(granted_on_b, "the other gateway saw the change", timeout=5.0)


@pytest.mark.postgres
async def test_while_postgresql_is_down_calls_are_served_and_changes_are_503(
    lgsp_postgres_node: PostgresNode, lgsp_postgres_url: str
) -> None:
    async with echo_bus(
        "memory", store_url=lgsp_postgres_url, sidecars=False, platforms=False
    ) as bus:
        access_token = await bus.token()
        await asyncio.to_thread(lgsp_postgres_node.kill)
        try:
            # The request path reads the snapshot: no database call.
            assert await call(bus, access_token) == 200
            assert (await token(bus.http, "test.none", "test-none-secret"))[0] == 200
            r = await bus.http.patch(
                "/v1/admin/clients/test.none/grants", json={"add": ["test.*"]}, headers=ADMIN
            )
            assert (r.status, (await r.json())["code"]) == (503, "service.unavailable")
        finally:
            await asyncio.to_thread(lgsp_postgres_node.start)
        r = await bus.http.patch(
            "/v1/admin/clients/test.none/grants", json={"add": ["test.*"]}, headers=ADMIN
        )
        assert r.status == 200
        assert await call(bus, await bus.token("test.none")) == 200


# -- several machines: PostgreSQL and RabbitMQ ---------------------------------------


def machine(url: str, data_dir: Path) -> Settings:
    """A gateway of its own machine: its own data folder and, as a gateway
    started without ``token_secret`` has, a random key of its own; the store
    is the one they share."""
    clients = (
        *TEST_CLIENTS,
        ClientConfig(id="lgsp.test", secret="lgsp-test-secret-0123", grants=("test.*",)),
    )
    return Settings(
        clients=clients,
        admins=DEMO_ADMINS,
        data_dir=data_dir,
        store_url=url,
        token_secret=secrets.token_urlsafe(32),
    )


def on_machine(settings: Settings, amqp_url: str, *, provider: bool) -> Any:
    """A bus of one machine: the gateway, and the echo provider on the first."""
    return echo_bus(
        "amqp",
        amqp_url,
        adapters=[echo_adapter(Received())] if provider else [],
        settings=settings,
        sidecars=False,
        platforms=False,
    )


@contextlib.asynccontextmanager
async def applied(
    store: ClientStore, holds: Callable[[Snapshot], bool], what: str
) -> AsyncIterator[None]:
    """Wait, after the block (which makes a change through another gateway),
    until the store's snapshot shows it: awaited on the store's reloads, not
    polled; from the block's start, it must take under :data:`WITHIN_S`."""
    reached = asyncio.Event()
    stop = store.subscribe(lambda snapshot: reached.set() if holds(snapshot) else None)
    reached.clear()  # the current snapshot does not count: the change is to come
    started = time.monotonic()
    try:
        yield
        try:
            async with asyncio.timeout(WITHIN_S):
                await reached.wait()
        except TimeoutError:
            pytest.fail(f"{what}: not applied on the other gateway within {WITHIN_S} s")
        log.info(
            "clients.applied_elsewhere",
            change=what,
            ms=round((time.monotonic() - started) * 1000, 1),
        )
    finally:
        stop()


async def call(bus: Bus, access_token: str) -> int:
    r = await bus.http.post(
        "/v1/services/test.echo.call",
        json={"text": "xin chào"},
        headers={"Authorization": f"Bearer {access_token}"},
    )
    return r.status


@pytest.mark.amqp
@pytest.mark.postgres
async def test_changes_through_one_machine_apply_on_the_other_within_a_second(
    tmp_path: Path, lgsp_postgres_url: str, lgsp_rabbitmq_url: str
) -> None:
    first = machine(lgsp_postgres_url, tmp_path / "a")
    second = machine(lgsp_postgres_url, tmp_path / "b")
    async with on_machine(first, lgsp_rabbitmq_url, provider=True) as a:
        async with on_machine(second, lgsp_rabbitmq_url, provider=False) as b:
            other = b.http.app[CLIENT_STORE]
            # One key for both, the store's: a token of one is good on the other.
            from_a = await a.token("test.all")
            assert await call(b, from_a) == 200

            async with applied(other, lambda s: "agency.new" in s.clients, "a client added"):
                r = await a.http.post(
                    "/v1/admin/clients",
                    json={"id": "agency.new", "grants": ["test.*"]},
                    headers=ADMIN,
                )
                assert r.status == 201
                new_secret = (await r.json())["client_secret"]
            status, new_token = await token(b.http, "agency.new", new_secret)
            assert status == 200
            assert await call(b, new_token) == 200

            async with applied(
                other, lambda s: s.clients["agency.new"].grants == (), "a grant removed"
            ):
                r = await a.http.patch(
                    "/v1/admin/clients/agency.new/grants",
                    json={"remove": ["test.*"]},
                    headers=ADMIN,
                )
                assert r.status == 200
            assert await call(b, new_token) == 403

            before = other.snapshot.signing.kid
            async with applied(other, lambda s: s.signing.kid != before, "a key rotated"):
                r = await a.http.post("/v1/admin/keys/rotate", headers=ADMIN)
                assert r.status == 201
                kid = (await r.json())["kid"]
            assert other.snapshot.signing.kid == kid
            status, rotated = await token(b.http, "test.none", "test-none-secret")
            assert status == 200
            assert jwt.get_unverified_header(rotated)["kid"] == kid
            # Signed on the second with the new key, checked by the first.
            r = await a.http.post(
                "/v1/services/land.parcel.lookup",
                json={},
                headers={"Authorization": f"Bearer {rotated}"},
            )
            assert r.status not in (401, 403)
            assert await call(b, from_a) == 200  # the retired key still verifies its tokens

            async with applied(
                other, lambda s: not s.clients["test.all"].enabled, "a client revoked"
            ):
                r = await a.http.patch(
                    "/v1/admin/clients/test.all", json={"enabled": False}, headers=ADMIN
                )
                assert r.status == 200
            assert await call(b, from_a) == 401

        # The second machine's gateway restarts, with another random key of
        # its own: the tokens issued before still hold there.
        again = machine(lgsp_postgres_url, tmp_path / "b")
        async with on_machine(again, lgsp_rabbitmq_url, provider=False) as b:
            assert await call(b, await a.token("lgsp.test")) == 200
            assert await call(b, rotated) == 403  # test.none: authenticated, not granted
            assert await call(b, from_a) == 401  # revoked stays revoked
