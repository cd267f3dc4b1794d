"""The exchange log behind a running gateway: every exchange made is
written by the time it shuts down, and the admin route lists and filters
them (kept in memory or in a data dir)."""

from __future__ import annotations

import base64
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from lgsp.observe import exchange_log as audit
from lgsp.observe.exchange_log import DB_FILE, Query, read, verify
from lgsp.testing import Bus
from tests.support.echo import echo_bus

ADMIN = "Basic " + base64.b64encode(b"admin:demo-admin-secret").decode()


async def test_shutdown_writes_every_exchange_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The periodic flush never comes: only the app's cleanup can write them.
    monkeypatch.setattr(audit, "FLUSH_INTERVAL_S", 3600)
    calls = 12
    async with echo_bus("memory", data_dir=tmp_path) as bus:
        for i in range(calls):
            r = await bus.send("test.echo.call", {"text": f"t{i}"})
            assert r.status == 200
        assert not (tmp_path / DB_FILE).exists() or not list(read(tmp_path, Query()))
    rows = list(read(tmp_path, Query(service="test.echo.call")))
    assert len(rows) == calls
    assert verify(tmp_path).intact


# -- the admin route -----------------------------------------------------------


@pytest.fixture(params=["memory", "data_dir"])
async def bus(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Bus]:
    overrides = {"data_dir": tmp_path} if request.param == "data_dir" else {}
    async with echo_bus("memory", **overrides) as b:
        yield b


async def _exchanges(bus: Bus, **params: str) -> Any:
    r = await bus.http.get("/v1/admin/exchanges", params=params, headers={"Authorization": ADMIN})
    assert r.status == 200, await r.text()
    return await r.json()


async def test_admin_lists_exchanges_just_made(bus: Bus) -> None:
    r = await bus.send("test.echo.call", {"text": "a"}, headers={"X-Request-Id": "just-now"})
    assert r.status == 200
    page = await _exchanges(bus)
    [found] = [e for e in page["exchanges"] if e["request_id"] == "just-now"]
    assert found["client"] == "test.all"
    assert found["name"] == "test.echo.call"
    assert found["status"] == 200
    assert found["request_body"] is None
    assert page["next"] is None


async def test_admin_filters_and_pages(bus: Bus) -> None:
    for i in range(5):
        assert (await bus.send("test.echo.call", {"text": str(i)})).status == 200
    assert (await bus.send("test.echo.call", {"text": "x"}, client="test.none")).status == 403
    v1 = {"X-LGSP-Service-Version": "1"}
    declared = await bus.send("test.echo.call", {"mode": "declared", "text": "x"}, headers=v1)
    assert declared.status == 409

    failed = await _exchanges(bus, status="4xx", service="test.*")
    assert sorted(e["status"] for e in failed["exchanges"]) == [403, 409]
    assert [e["client"] for e in (await _exchanges(bus, client="test.none"))["exchanges"]] == [
        "test.none"
    ]
    assert len((await _exchanges(bus, status="200", service="test.echo.call"))["exchanges"]) == 5

    seen: list[int] = []
    params = {"service": "test.echo.call", "limit": "2"}
    while True:
        page = await _exchanges(bus, **params)
        seen += [e["seq"] for e in page["exchanges"]]
        if page["next"] is None:
            break
        params["after"] = str(page["next"])
    assert len(seen) == 7
    assert seen == sorted(seen)

    today = time.strftime("%Y-%m-%d", time.gmtime())
    assert len((await _exchanges(bus, service="test.echo.call", to=today))["exchanges"]) == 7
    assert (await _exchanges(bus, service="test.echo.call", **{"from": "2999-01-01"}))[
        "exchanges"
    ] == []


@pytest.mark.parametrize(
    "params",
    [
        {"status": "2x"},
        {"from": "yesterday"},
        {"limit": "0"},
        {"limit": "1001"},
        {"after": "-1"},
        {"from": "2026-11-24", "to": "2026-11-23"},
    ],
)
async def test_admin_refuses_bad_parameters(bus: Bus, params: dict[str, str]) -> None:
    r = await bus.http.get("/v1/admin/exchanges", params=params, headers={"Authorization": ADMIN})
    assert r.status == 400
    assert r.content_type == "application/problem+json"
    assert (await r.json())["code"] == "request.malformed"


async def test_admin_route_needs_an_operator(bus: Bus) -> None:
    r = await bus.http.get("/v1/admin/exchanges")
    assert r.status == 401
    assert r.headers["WWW-Authenticate"].startswith("Basic")
    token = await bus.token()
    r = await bus.http.get("/v1/admin/exchanges", headers={"Authorization": f"Bearer {token}"})
    assert r.status == 401
