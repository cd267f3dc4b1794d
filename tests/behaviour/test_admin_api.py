"""The admin API and the `lgsp clients / grants / keys` commands over it,
against a real gateway on a port, with its client store on each engine
(SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import base64
import re
from collections.abc import AsyncIterator

import jwt
import pytest
from click.testing import CliRunner, Result

from lgsp.cli import main
from lgsp.testing import Bus
from tests.support.clients import ENGINES
from tests.support.echo import echo_bus

ADMIN = {"Authorization": "Basic " + base64.b64encode(b"admin:demo-admin-secret").decode()}


@pytest.fixture(params=ENGINES)
def store_url(request: pytest.FixtureRequest) -> str | None:
    """The client store's engine: None for SQLite, else a PostgreSQL database."""
    if request.param == "postgres":
        return str(request.getfixturevalue("lgsp_postgres_url"))
    return None


@pytest.fixture
async def bus(store_url: str | None) -> AsyncIterator[Bus]:
    async with echo_bus("memory", store_url=store_url) as b:
        yield b


async def lgsp(bus: Bus, *args: str, input: str | None = None) -> Result:
    """Run the CLI in a thread: it talks HTTP to the gateway on this loop."""
    url = bus.url
    runner = CliRunner()
    return await asyncio.to_thread(
        runner.invoke, main, [args[0], "--url", url, *args[1:]], input=input
    )


async def token(bus: Bus, client: str, secret: str) -> tuple[int, str]:
    r = await bus.http.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials", "client_id": client, "client_secret": secret},
    )
    return r.status, (await r.json()).get("access_token", "")


async def echo(bus: Bus, access_token: str) -> int:
    r = await bus.http.post(
        "/v1/services/test.echo.call",
        json={"text": "a"},
        headers={"Authorization": f"Bearer {access_token}"},
    )
    return r.status


async def test_admin_routes_need_admin_credentials(bus: Bus) -> None:
    for headers in ({}, {"Authorization": f"Bearer {await bus.token()}"}):
        r = await bus.http.get("/v1/admin/clients", headers=headers)
        assert r.status == 401
        assert r.headers["WWW-Authenticate"].startswith("Basic")
        assert (await r.json())["code"] == "auth.unauthenticated"


async def test_bad_bodies_are_problems(bus: Bus) -> None:
    r = await bus.http.post("/v1/admin/clients", json={"id": "X!", "rate": -1}, headers=ADMIN)
    assert r.status == 422
    problem = await r.json()
    assert {tuple(e["loc"]) for e in problem["errors"]} == {("id",), ("rate",)}
    r = await bus.http.post("/v1/admin/clients", data="id=x", headers=ADMIN)
    assert r.status == 415
    r = await bus.http.get("/v1/admin/clients/no.such", headers=ADMIN)
    assert (r.status, (await r.json())["code"]) == (404, "client.unknown")
    r = await bus.http.post("/v1/admin/clients", json={"id": "test.all"}, headers=ADMIN)
    assert (r.status, (await r.json())["code"]) == (409, "client.exists")


async def test_client_lifecycle_through_the_cli(bus: Bus) -> None:
    added = await lgsp(bus, "clients", "add", "agency.new", "--grant", "test.*", "--rate", "50")
    assert added.exit_code == 0, added.output
    secret = re.search(r"client_secret: (\S+)", added.stderr)
    assert secret is not None
    status, tok = await token(bus, "agency.new", secret.group(1))
    assert status == 200
    assert await echo(bus, tok) == 200
    shown = await lgsp(bus, "clients", "show", "agency.new")
    assert '"burst": 50' in shown.output
    assert secret.group(1) not in shown.output
    listed = await lgsp(bus, "clients", "list")
    assert re.search(r"agency\.new\s+enabled\s+50/s burst 50\s+test\.\*", listed.output)

    rotated = await lgsp(bus, "clients", "rotate-secret", "agency.new")
    new_secret = re.search(r"client_secret: (\S+)", rotated.stderr)
    assert new_secret is not None
    assert new_secret.group(1) != secret.group(1)
    assert (await token(bus, "agency.new", secret.group(1)))[0] == 401
    assert (await token(bus, "agency.new", new_secret.group(1)))[0] == 200

    assert (await lgsp(bus, "clients", "revoke", "agency.new")).exit_code == 0
    assert await echo(bus, tok) == 401
    assert (await token(bus, "agency.new", new_secret.group(1)))[0] == 401
    assert (await lgsp(bus, "clients", "enable", "agency.new")).exit_code == 0
    assert await echo(bus, tok) == 401  # tokens from before the revocation stay dead
    status, fresh = await token(bus, "agency.new", new_secret.group(1))
    assert status == 200
    assert await echo(bus, fresh) == 200

    deleted = await lgsp(bus, "clients", "delete", "agency.new", "--yes")
    assert deleted.exit_code == 0
    assert await echo(bus, fresh) == 401
    missing = await lgsp(bus, "clients", "show", "agency.new")
    assert missing.exit_code == 1
    assert "404 client.unknown" in missing.output


async def test_grants_through_the_cli_apply_at_once(bus: Bus) -> None:
    tok = await bus.token("test.none")
    assert await echo(bus, tok) == 403
    added = await lgsp(bus, "grants", "add", "test.none", "test.echo.call")
    assert added.exit_code == 0
    assert "test.echo.call" in added.output
    assert await echo(bus, tok) == 200
    listed = await lgsp(bus, "grants", "list", "test.none")
    assert listed.output.split() == ["land.parcel.lookup", "test.echo.call"]
    removed = await lgsp(bus, "grants", "remove", "test.none", "test.echo.call")
    assert removed.exit_code == 0
    assert await echo(bus, tok) == 403


async def test_key_rotation_through_the_cli(bus: Bus) -> None:
    before = await bus.token()
    rotated = await lgsp(bus, "keys", "rotate")
    assert rotated.exit_code == 0, rotated.output
    kid = rotated.output.split()[0]
    assert await echo(bus, before) == 200
    status, after = await token(bus, "test.all", "test-all-secret")
    assert status == 200
    assert jwt.get_unverified_header(after)["kid"] == kid
    listed = (await lgsp(bus, "keys", "list")).output.splitlines()
    assert listed[0].split() == [kid, "signing"]
    assert len(listed) == 2


async def test_a_changed_quota_answers_429_with_retry_after(bus: Bus) -> None:
    tok = await bus.token()
    assert (
        await lgsp(bus, "clients", "set", "test.all", "--rate", "0.1", "--burst", "2")
    ).exit_code == 0
    assert [await echo(bus, tok) for _ in range(2)] == [200, 200]
    r = await bus.http.post(
        "/v1/services/test.echo.call",
        json={"text": "a"},
        headers={"Authorization": f"Bearer {tok}"},
    )
    assert r.status == 429
    assert (await r.json())["code"] == "rate.limited"
    assert 1 <= int(r.headers["Retry-After"]) <= 10


async def test_wrong_admin_credentials_are_a_one_line_error(bus: Bus) -> None:
    result = await lgsp(bus, "clients", "--admin-secret", "wrong-secret", "list")
    assert result.exit_code == 1
    assert "401 auth.unauthenticated" in result.output
    assert "Traceback" not in result.output


async def test_guessing_admin_secrets_does_not_stall_the_exchanges(
    bus: Bus, monkeypatch: pytest.MonkeyPatch
) -> None:
    """argon2 is slow on purpose: a wrong admin secret is checked off the
    event loop, so exchanges go on while it is being verified."""
    import threading

    from lgsp.trust import operators as security

    access_token = await bus.token()
    release = threading.Event()
    started = threading.Event()
    real = security.verify_secret

    def held(secret_hash: str | None, secret: str) -> bool:
        started.set()
        release.wait(10)
        return real(secret_hash, secret)

    monkeypatch.setattr(security, "verify_secret", held)
    wrong = {"Authorization": "Basic " + base64.b64encode(b"admin:guess").decode()}
    guessing = asyncio.create_task(bus.http.get("/v1/admin/clients", headers=wrong))
    try:
        assert await asyncio.to_thread(started.wait, 10)
        # The verification is still running: an exchange is answered meanwhile.
        assert await echo(bus, access_token) == 200
        assert not guessing.done()
    finally:
        release.set()
    assert (await guessing).status == 401


async def test_connection_options_also_follow_the_subcommand(bus: Bus) -> None:
    url = bus.url
    listed = await asyncio.to_thread(CliRunner().invoke, main, ["clients", "list", "--url", url])
    assert listed.exit_code == 0, listed.output
    assert "dongthap.onestop" in listed.output
    refused = await asyncio.to_thread(
        CliRunner().invoke,
        main,
        ["grants", "list", "dongthap.land", "--url", url, "--admin-secret", "wrong-secret"],
    )
    assert refused.exit_code == 1
    assert "401" in refused.output
