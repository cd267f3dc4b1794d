"""The security monitoring feed against a real collector: Debian's rsyslog
receiving syslog over TLS on a loopback port (the kit's
:mod:`lgsp.testing.rsyslog`). Every kind of event reaches it, counted by
kind, without a full personal id or a secret; with the collector down the
bus answers as usual, holds what it can, counts what it dropped, and
delivers the rest when the collector is back."""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trustme
from aiohttp import encode_basic_auth
from click.testing import CliRunner
from prometheus_client import REGISTRY

from lgsp.cli import main
from lgsp.config import DEMO_CLIENTS, Settings, SocConfig
from lgsp.gateway.app import SOC_FEED
from lgsp.observe.soc import KINDS, SocFeed
from lgsp.testing import Bus, running_bus
from lgsp.testing.rsyslog import RsyslogCollector
from tests.support.waiting import eventually

CITIZEN = {
    "maYeuCau": "dongthap.onestop-20250606-000001",
    "maDVC": "1.004873",
    "maCanBo": "canbo.motcua01",
    "soDinhDanh": "087090001234",
}
FORBIDDEN = {"province": "dongthap", "kind": "auth.forbidden"}
FULL_ID = re.compile(r"(?<!\d)\d{12}(?!\d)")


def soc(collector: RsyslogCollector, **more: object) -> SocConfig:
    return SocConfig.model_validate(
        {"url": collector.url, "ca_file": collector.ca_file, "input_burst": 3, **more}
    )


@pytest.fixture
async def bus(collector: RsyslogCollector, tmp_path: Path) -> AsyncIterator[Bus]:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    blocklist = tmp_path / "blocklist.json"
    blocklist.write_text('{"addresses": [], "clients": []}')
    config = soc(
        collector,
        enumeration_ids=5,
        blocklist=str(blocklist),
        blocklist_refresh_s=0.1,
    )
    settings = Settings(
        clients=DEMO_CLIENTS,
        soc=config,
        tls_cert=cert_file,
        tls_key=key_file,
        data_dir=tmp_path / "data",
    )
    async with running_bus("memory", settings=settings, client="dongthap.onestop") as running:
        yield running


def sample(name: str, labels: dict[str, str] | None = None) -> float:
    return REGISTRY.get_sample_value(name, labels or {}) or 0.0


async def test_every_kind_of_event_reaches_rsyslog_masked(
    bus: Bus, collector: RsyslogCollector, tmp_path: Path
) -> None:
    http = bus.http
    # A token refused (wrong secret), and a call without a good token.
    r = await http.post(
        "/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "dongthap.land",
            "client_secret": "not-the-secret",
        },
        headers={"X-Request-Id": "soc-token-refused"},
    )
    assert r.status == 401
    r = await http.post(
        "/v1/services/land.parcel.lookup", json={}, headers={"Authorization": "Bearer nonsense"}
    )
    assert r.status == 401
    # A service not granted, a quota spent, a burst of refused inputs.
    assert (
        await bus.call("population.citizen.lookup", CITIZEN, client="dongthap.viewer")
    ).status == 403
    statuses = [
        (
            await bus.call(
                "ndop.access.history",
                {"soDinhDanh": "087184000035", "ngaySinh": "1984-09-20"},
                client="dongthap.portal",
            )
        ).status
        for _ in range(12)
    ]
    assert 429 in statuses
    for _ in range(3):
        assert (await bus.call("population.citizen.lookup", {"soDinhDanh": 1})).status == 422
    # One client walking through personal ids.
    for i in range(5):
        await bus.call("population.citizen.lookup", {**CITIZEN, "soDinhDanh": f"0870900{i:05d}"})
    # The operators' changes: a client added, changed, granted, its secret
    # rotated, revoked, deleted; the signing key rotated.
    admin = {"headers": {"Authorization": encode_basic_auth("admin", "demo-admin-secret")}}
    r = await http.post("/v1/admin/clients", json={"id": "soc.new", "grants": []}, **admin)
    assert r.status == 201
    secrets_shown = [(await r.json())["client_secret"]]
    assert (await http.patch("/v1/admin/clients/soc.new", json={"rate": 5}, **admin)).status == 200
    r = await http.patch("/v1/admin/clients/soc.new/grants", json={"add": ["land.*"]}, **admin)
    assert r.status == 200
    r = await http.post("/v1/admin/clients/soc.new/secret", **admin)
    secrets_shown.append((await r.json())["client_secret"])
    r = await http.patch("/v1/admin/clients/soc.new", json={"enabled": False}, **admin)
    assert r.status == 200
    assert (await http.delete("/v1/admin/clients/soc.new", **admin)).status == 204
    assert (await http.post("/v1/admin/keys/rotate", **admin)).status == 201
    # A TLS handshake that fails: plain HTTP to the HTTPS port.
    port = bus.http.server.port
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    await writer.drain()
    await reader.read()
    writer.close()
    # A client the SOC blocks, refused within the refresh.
    token = await bus.token("dongthap.land")
    (tmp_path / "blocklist.json").write_text('{"clients": ["dongthap.land"]}')

    async def refused() -> bool:
        r = await http.post(
            "/v1/services/population.citizen.lookup",
            json=CITIZEN,
            headers={"Authorization": f"Bearer {token}"},
        )
        return r.status == 403 and (await r.json())["code"] == "auth.blocked"

    await eventually(refused, "the blocklist is in force")
    # The exchange log's chain broken, told by `lgsp audit verify`.
    data = tmp_path / "data"
    await eventually(lambda: any(data.glob("exchanges.db")), "the exchange log written")
    await asyncio.to_thread(_broken_log_verified, data, collector)

    kinds = set(KINDS)
    await eventually(
        lambda: kinds <= set(collector.counted()), "every kind reached rsyslog", timeout=15
    )
    counted = collector.counted()
    assert counted["personal_id.enumeration"] == 1
    assert counted["input.burst"] == 1
    assert counted["auth.forbidden"] == 1
    received = collector.received_file.read_text()
    assert not FULL_ID.search(received)
    for secret in [*secrets_shown, "not-the-secret", "demo-admin-secret", token]:
        assert secret not in received
    # What rsyslog wrote is the ECS document the bus sent.
    forbidden = next(r for r in collector.received() if r.msgid == "auth.forbidden")
    event = json.loads(forbidden.body)
    assert event["event"]["action"] == "auth.forbidden"
    assert event["event"]["kind"] == "event"
    assert event["client"]["user"]["id"] == "dongthap.viewer"
    assert event["source"]["ip"] == "127.0.0.1"
    assert event["lgsp"]["province"] == "dongthap"
    assert event["trace"]["id"]
    assert event["ecs.version"]  # ecs-logging writes it dotted
    refused_token = json.loads(
        next(r for r in collector.received() if r.msgid == "auth.token_refused").body
    )
    assert refused_token["trace"]["id"] == "soc-token-refused"
    tls = json.loads(
        next(r for r in collector.received() if r.msgid == "tls.handshake_failed").body
    )
    assert tls["source"]["ip"] == "127.0.0.1"
    assert tls["destination"]["port"] == port
    assert sample("lgsp_soc_events_total", FORBIDDEN) >= 1


def _broken_log_verified(data: Path, collector: RsyslogCollector) -> None:
    """The bus's log with a byte changed, verified by the CLI with the
    collector named in the environment."""
    database = next(data.glob("exchanges.db"))
    with sqlite3.connect(database) as conn:
        conn.execute("UPDATE exchanges SET status = status + 1 WHERE seq = 1")
    result = CliRunner().invoke(
        main,
        ["audit", "verify", "--data-dir", str(data)],
        env={"LGSP_SOC_URL": collector.url, "LGSP_SOC_CA": str(collector.ca_file)},
    )
    assert result.exit_code == 1, result.output


async def test_with_the_collector_down_the_bus_serves_and_counts_what_it_drops(
    collector: RsyslogCollector,
) -> None:
    settings = Settings(clients=DEMO_CLIENTS, soc=soc(collector, buffer=5))
    async with running_bus("memory", settings=settings, client="dongthap.viewer") as bus:
        feed = bus.http.server.app[SOC_FEED]
        sender = feed.sender
        assert sender is not None

        async def forbidden(n: int) -> list[str]:
            ids = []
            for i in range(n):
                answer = await bus.call(
                    "population.citizen.lookup",
                    CITIZEN,
                    headers={"X-Request-Id": f"down-{len(ids)}-{i}"},
                )
                assert answer.status == 403
                ids.append(answer.headers["X-Request-Id"])
            return ids

        await forbidden(1)
        await eventually(lambda: collector.counted()["auth.forbidden"] == 1, "the first event")
        dropped_before = sample("lgsp_soc_events_dropped_total", FORBIDDEN)
        collector.halt()
        await eventually(lambda: not sender.connected, "the sender sees the collector gone")
        # Down: every call is answered as usual; 5 events held, 3 dropped.
        ids = await forbidden(8)
        assert sender.buffered == 5
        assert sample("lgsp_soc_buffer_events", {"province": "dongthap"}) == 5
        dropped = sample("lgsp_soc_events_dropped_total", FORBIDDEN)
        assert dropped - dropped_before == 3
        # Back: the five kept (the newest) arrive, in order.
        collector.start()
        await eventually(
            lambda: collector.counted()["auth.forbidden"] == 6,
            "the buffered events delivered",
            timeout=15,
        )
        traces = [json.loads(r.body)["trace"]["id"] for r in collector.received()][1:]
        assert traces == ids[3:]
        assert sender.buffered == 0


async def test_off_by_default_nothing_is_sent() -> None:
    feed = SocFeed(SocConfig(), "dongthap")
    assert not feed.enabled
    before = sample("lgsp_soc_events_total", FORBIDDEN)
    feed.emit("auth.forbidden")  # a no-op
    assert sample("lgsp_soc_events_total", FORBIDDEN) == before
