"""The client store: seeding, persistence, and changes seen by every
gateway process sharing a data dir, without restart."""

from __future__ import annotations

import asyncio
import base64
import stat
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from lgsp.config import DEMO_ADMINS, ClientConfig, Settings
from lgsp.gateway import create_app
from lgsp.transport import create_transport
from lgsp.trust.clients import ClientStore, ClientStoreError
from tests.support import TOKEN_SECRET, registry

ADMIN = {"Authorization": "Basic " + base64.b64encode(b"admin:demo-admin-secret").decode()}
CLIENTS = (
    ClientConfig(id="shared.one", secret="shared-one-secret", grants=("land.parcel.lookup",)),
)


def settings(data_dir: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "clients": CLIENTS,
        "token_secret": TOKEN_SECRET,
        "data_dir": data_dir,
        "admins": DEMO_ADMINS,
        **overrides,
    }
    return Settings.model_validate(values)


Gateway = TestClient[web.Request, web.Application]


@pytest.fixture
async def two_gateways(tmp_path: Path) -> AsyncIterator[tuple[Gateway, Gateway]]:
    """Two gateway apps (each its own store connection) over one data dir."""
    transport = create_transport("memory")
    await transport.start()
    reg = registry()
    gateways = [
        TestClient(TestServer(create_app(settings(tmp_path), reg, transport), host="127.0.0.1"))
        for _ in range(2)
    ]
    for g in gateways:
        await g.start_server()
    try:
        yield gateways[0], gateways[1]
    finally:
        for g in gateways:
            await g.close()
        await transport.close()


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


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "the other gateway never saw the change"
        await asyncio.sleep(0.05)


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

    await eventually(refused_on_b)
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

    await eventually(granted_on_b)


def test_the_store_file_is_private_and_outlives_the_process(tmp_path: Path) -> None:
    store = ClientStore.open(settings(tmp_path))
    store.update("shared.one", lambda c: replace(c, description="kept"))
    store.close()
    assert stat.S_IMODE((tmp_path / "clients.db").stat().st_mode) == 0o600
    # The same config again: what the admin changed stays.
    reopened = ClientStore.open(settings(tmp_path))
    assert reopened.snapshot.clients["shared.one"].description == "kept"
    reopened.close()
    # A changed config applies its clients again; clients it no longer names
    # (or that the admin API made) stay in the store.
    other = (ClientConfig(id="other.one", secret="other-one-secret", grants=()),)
    reopened = ClientStore.open(settings(tmp_path, clients=other))
    assert set(reopened.snapshot.clients) == {"shared.one", "other.one"}
    reopened.close()


def test_production_refuses_a_store_still_holding_demo_secrets(tmp_path: Path) -> None:
    ClientStore.open(Settings(data_dir=tmp_path, token_secret=TOKEN_SECRET)).close()
    with pytest.raises(ClientStoreError, match="demo secrets"):
        ClientStore.open(
            Settings.model_validate({"production": True, "clients": CLIENTS, "data_dir": tmp_path})
        )
