"""HTTP providers' configuration (their auth headers, TOML, validation)
and how `lgsp` binds them (lgsp/http_provider.py); served through a bus in
tests/behaviour/test_http_provider.py."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

import pytest
from pydantic import ValidationError

from lgsp.config import HttpProviderConfig, Settings
from lgsp.http_provider import UnknownProvider, auth_headers
from lgsp.server import run
from lgsp.transport import create_transport
from tests.support.echo import registry

# -- configuration ------------------------------------------------------------


def test_auth_headers() -> None:
    def config(auth: dict[str, str]) -> HttpProviderConfig:
        return HttpProviderConfig(service="a.b.c", version=1, url="https://x.example/", auth=auth)

    assert auth_headers(config({"type": "bearer", "token": "t"}).auth) == {
        "Authorization": "Bearer t"
    }
    basic = auth_headers(config({"type": "basic", "username": "u", "password": "p:w"}).auth)
    assert basic == {"Authorization": "Basic " + base64.b64encode(b"u:p:w").decode()}
    assert auth_headers(config({"type": "header", "name": "X-Api-Key", "value": "k"}).auth) == {
        "X-Api-Key": "k"
    }
    assert auth_headers(None) == {}


def test_toml_http_providers(tmp_path: Path) -> None:
    path = tmp_path / "lgsp.toml"
    path.write_text(
        """
[[http_providers]]
service = "land.parcel.lookup"
version = 1
url = "https://land.example.gov.vn/lgsp/parcel"
timeout_ms = 3000
auth = {type = "bearer", token = "s3cret-token"}

[[http_providers]]
service = "population.citizen.lookup"
version = 1
url = "http://10.0.0.7:8080/citizen"

[http_providers.auth]
type = "basic"
username = "lgsp"
password = "s3cret-password"
""",
        encoding="utf-8",
    )
    s = Settings.load(path)
    first, second = s.http_providers
    assert (first.service, first.version, first.timeout_ms) == ("land.parcel.lookup", 1, 3000)
    assert str(first.url) == "https://land.example.gov.vn/lgsp/parcel"
    assert second.timeout_ms == 10_000
    assert second.auth is not None
    assert second.auth.type == "basic"
    # Secrets never show in a repr (hence in a log line).
    assert "s3cret" not in repr(s.http_providers)
    assert Settings().http_providers == ()


BASE = {"service": "a.b.c", "version": 1, "url": "https://x.example/"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"url": "ftp://x.example/"}, "URL scheme"),
        ({"url": "not a url"}, "url"),
        ({"url": "https://user:s3cret@x.example/"}, "credentials"),
        ({"service": "Not A Service"}, "service"),
        ({"version": 0}, "version"),
        ({"timeout_ms": 0}, "timeout_ms"),
        ({"surprise": 1}, "Extra inputs"),
        ({"auth": {"type": "oauth"}}, "does not match any of the expected tags"),
        ({"auth": {"type": "bearer"}}, "token"),
        ({"auth": {"type": "bearer", "token": "s3cret\nX-Evil: 1"}}, "line breaks"),
        ({"auth": {"type": "basic", "username": "a:b", "password": "s3cret"}}, "username"),
        ({"auth": {"type": "header", "name": "X-LGSP-Client", "value": "s3cret"}}, "sets itself"),
        ({"auth": {"type": "header", "name": "Bad Name", "value": "s3cret"}}, "name"),
        ({"auth": {"type": "bearer", "token": "s3cret", "extra": 1}}, "Extra inputs"),
    ],
)
def test_config_validation(change: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message) as info:
        Settings(http_providers=[BASE | change])
    assert "s3cret" not in str(info.value)  # a rejected value is never echoed


def test_same_endpoint_twice_is_refused() -> None:
    with pytest.raises(ValidationError, match="listed twice"):
        Settings(http_providers=[BASE, BASE])


# -- wiring -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("service", "version", "message"),
    [("no.such.service", 1, "no service named"), ("test.echo.call", 9, "has no version 9")],
)
async def test_run_refuses_an_unknown_service_version(
    service: str, version: int, message: str
) -> None:
    config = HttpProviderConfig(service=service, version=version, url="http://127.0.0.1:1/")
    with pytest.raises(UnknownProvider, match=message):
        await run(
            transport=create_transport("memory"),
            registry=registry(),
            http_providers=[config],
            metrics_port=0,
        )


async def test_run_binds_and_closes_http_providers() -> None:
    transport = create_transport("memory")
    stop = asyncio.Event()
    online: list[int] = []

    def ready() -> None:
        online.append(transport.providers_online("test.echo.call", 1))
        stop.set()

    config = HttpProviderConfig(service="test.echo.call", version=1, url="http://127.0.0.1:1/")
    async with asyncio.timeout(10):
        await run(
            transport=transport,
            registry=registry(),
            http_providers=[config],
            on_ready=ready,
            stop=stop,
        )
    assert online == [1]
