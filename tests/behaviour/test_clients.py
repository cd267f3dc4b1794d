"""The client store behind gateways: changes seen by every gateway process
sharing a data dir, without restart (the store alone:
tests/unit/test_clients.py)."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from lgsp.testing import running_bus
from lgsp.transport import Transport, create_transport
from tests.support.clients import settings
from tests.support.echo import TEST_CATALOGUE
from tests.support.waiting import eventually

ADMIN = {"Authorization": "Basic " + base64.b64encode(b"admin:demo-admin-secret").decode()}


Gateway = TestClient[web.Request, web.Application]


@pytest.fixture
async def two_gateways(tmp_path: Path) -> AsyncIterator[tuple[Gateway, Gateway]]:
    """Two gateways (each its own store connection) over one data dir and
    one memory transport."""
    transport = create_transport("memory")
    await transport.start()
    try:
        async with (
            running_bus(**gateway_only(transport), settings=settings(tmp_path)) as a,
            running_bus(**gateway_only(transport), settings=settings(tmp_path)) as b,
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
