"""The operators' dashboard's routes: the JSON feed (on either transport)
and X-Road style operations, behind operator credentials (the page in a
real browser: tests/browser/test_dashboard.py)."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import pytest

from lgsp.config import DEMO_ADMINS
from lgsp.testing import Bus, TransportKind
from tests.support.echo import echo_bus

ADMIN = DEMO_ADMINS[0]
BASIC = "Basic " + base64.b64encode(f"{ADMIN.id}:{ADMIN.secret}".encode()).decode()
LOOKUP = "land.parcel.lookup"


@pytest.fixture(scope="module")
async def dash_bus() -> AsyncIterator[Bus]:
    async with echo_bus("memory") as bus:
        yield bus


@pytest.mark.parametrize(
    "path", ["/dashboard", "/dashboard/static/dashboard.js", "/v1/admin/dashboard"]
)
async def test_operator_routes_ask_for_basic_credentials(dash_bus: Bus, path: str) -> None:
    r = await dash_bus.http.get(path)
    assert r.status == 401
    assert r.headers["WWW-Authenticate"].startswith("Basic ")
    assert (await r.json())["code"] == "auth.unauthenticated"
    # A client's bearer token is not an operator's credential.
    token = await dash_bus.token()
    r = await dash_bus.http.get(path, headers={"Authorization": f"Bearer {token}"})
    assert r.status == 401


async def test_the_page_forbids_other_origins(dash_bus: Bus) -> None:
    r = await dash_bus.http.get("/dashboard", headers={"Authorization": BASIC})
    assert r.status == 200
    assert r.content_type == "text/html"
    csp = r.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp
    assert "script-src 'self'" in csp
    assert "http" not in csp
    r = await dash_bus.http.get(
        "/dashboard/static/../dashboard.py", headers={"Authorization": BASIC}
    )
    assert r.status == 404


async def test_operations_reports_x_road_fields_per_service(dash_bus: Bus) -> None:
    v1 = {"X-LGSP-Service-Version": "1"}
    r = await dash_bus.send("test.echo.call", {"text": "a" * 40}, headers=v1)
    assert r.status == 200
    r = await dash_bus.send("test.echo.call", {"text": "b", "mode": "declared"}, headers=v1)
    assert r.status == 409

    r = await dash_bus.http.get(
        "/v1/admin/operations", params={"window": "60"}, headers={"Authorization": BASIC}
    )
    assert r.status == 200
    body = await r.json()
    assert body["window_s"] == 60
    echo = next(s for s in body["services"] if s["name"] == "test.echo.call")
    assert echo["successful_requests"] >= 1
    assert echo["failed_requests"] >= 1
    assert echo["errors"]["test.echo.declared"] >= 1
    assert echo["last_success"] <= body["until"]
    assert echo["last_failure"] <= body["until"]
    d = echo["duration_ms"]
    assert 0 <= d["min"] <= d["avg"] <= d["max"]
    assert echo["request_bytes"]["max"] >= len('{"text": "' + "a" * 40 + '"}')
    assert echo["response_bytes"]["min"] > 0


@pytest.mark.parametrize("window", ["abc", "0", "901", "-5", "1.5"])
async def test_operations_refuses_a_bad_window(dash_bus: Bus, window: str) -> None:
    r = await dash_bus.http.get(
        "/v1/admin/operations", params={"window": window}, headers={"Authorization": BASIC}
    )
    assert r.status == 400
    assert r.content_type == "application/problem+json"
    assert (await r.json())["code"] == "request.malformed"


async def test_feed_counts_events_and_reports_the_transport(dash_bus: Bus) -> None:
    async def feed() -> Any:
        r = await dash_bus.http.get("/v1/admin/dashboard", headers={"Authorization": BASIC})
        assert r.status == 200
        return await r.json()

    before = await feed()
    token = await dash_bus.token()
    r = await dash_bus.http.post(
        "/v1/events/test.ping.sent", json={"n": 7}, headers={"Authorization": f"Bearer {token}"}
    )
    assert r.status == 202
    after = await feed()
    assert after["transport"] == "memory"
    assert after["totals"]["events"] == before["totals"]["events"] + 1
    assert after["events"]["published"] == before["events"]["published"] + 1
    assert len(after["series"]["t"]) == 900
    assert sum(after["series"]["events"]) >= 1
    # The NDXP connector runs in this process and says how it is.
    assert [a["status"]["breaker"] for a in after["adapters"] if a["adapter"] == "ndxp"] == [
        "closed"
    ]


async def test_feed_shows_the_queues_of_either_transport(
    bus: Bus, transport_kind: TransportKind
) -> None:
    """On RabbitMQ the queues are the broker's own (passive declarations);
    in memory, the embedded engine's: the page reads both the same way."""
    r = await bus.http.get("/v1/admin/dashboard", headers={"Authorization": BASIC})
    assert r.status == 200
    feed = await r.json()
    assert feed["transport"] == transport_kind
    queues = {q["name"]: q for q in feed["queues"]}
    assert queues[f"lgsp.svc.{LOOKUP}.v1"]["kind"] == "service"
    assert queues[f"lgsp.svc.{LOOKUP}.v1"]["consumers"] >= 1
    assert any(q["kind"] == "subscriber" and q["consumers"] >= 1 for q in queues.values())
    assert [q["kind"] for q in queues.values()].count("dead-letter") >= 1
    dead = [q for q in queues.values() if q["kind"] == "dead-letter"]
    assert feed["dead_letters"] == sum(q["messages"] for q in dead)
    if transport_kind == "memory":
        # A bus of its own; on amqp the session's broker keeps other tests' dead letters.
        assert feed["dead_letters"] == 0
    providers = {(p["service"], p["version"]) for p in feed["providers"]}
    assert (LOOKUP, 1) in providers
