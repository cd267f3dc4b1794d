"""HTTPS on the gateway, and mutual TLS: a client that gets tokens with its
certificate instead of a secret, tokens bound to that certificate."""

from __future__ import annotations

import hashlib
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import jwt
import pytest
import trustme
from click.testing import CliRunner

from lgsp.cli import main
from lgsp.config import ClientConfig
from tests.support.echo import Received, echo_adapter, echo_bus, settings


def _thumbprint(cert: trustme.LeafCert) -> str:
    der = ssl.PEM_cert_to_DER_cert(cert.cert_chain_pems[0].bytes().decode())
    return hashlib.sha256(der).hexdigest()


@dataclass
class Gateway:
    url: str
    ca: trustme.CA
    client_cert: trustme.LeafCert
    stranger_cert: trustme.LeafCert

    def context(self, cert: trustme.LeafCert | None = None) -> ssl.SSLContext:
        context = ssl.create_default_context()
        self.ca.configure_trust(context)
        if cert is not None:
            cert.configure_cert(context)
        return context


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[Gateway]:
    ca = trustme.CA()
    server_cert = ca.issue_cert("127.0.0.1")
    client_cert = ca.issue_cert("cert.client@agency.example")
    stranger_cert = ca.issue_cert("stranger@agency.example")
    cert_file, key_file, ca_file = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "ca.pem"
    server_cert.cert_chain_pems[0].write_to_path(str(cert_file))
    server_cert.private_key_pem.write_to_path(str(key_file))
    ca.cert_pem.write_to_path(str(ca_file))
    cert_client = ClientConfig(
        id="cert.client", certificate_sha256=_thumbprint(client_cert), grants=("test.*",)
    )
    # The settings name the certificate: the bus serves HTTPS, as `lgsp up` would.
    async with echo_bus(
        "memory",
        adapters=[echo_adapter(Received())],
        sidecars=False,
        clients=(*settings().clients, cert_client),
        tls_cert=cert_file,
        tls_key=key_file,
        tls_client_ca=ca_file,
    ) as bus:
        assert bus.url.startswith("https://")
        yield Gateway(bus.url, ca, client_cert, stranger_cert)


async def _token(
    gw: Gateway, form: dict[str, str], cert: trustme.LeafCert | None
) -> tuple[int, dict[str, str]]:
    async with aiohttp.ClientSession() as http:
        r = await http.post(
            f"{gw.url}/oauth2/token",
            data={"grant_type": "client_credentials", **form},
            ssl=gw.context(cert),
        )
        return r.status, await r.json()


async def _echo(gw: Gateway, token: str, cert: trustme.LeafCert | None) -> int:
    async with aiohttp.ClientSession() as http:
        r = await http.post(
            f"{gw.url}/v1/services/test.echo.call",
            json={"text": "a"},
            headers={"Authorization": f"Bearer {token}"},
            ssl=gw.context(cert),
        )
        return r.status


async def test_https_serves_secret_clients(gateway: Gateway) -> None:
    status, body = await _token(
        gateway, {"client_id": "test.all", "client_secret": "test-all-secret"}, None
    )
    assert status == 200
    assert "cnf" not in jwt.decode(body["access_token"], options={"verify_signature": False})
    assert await _echo(gateway, body["access_token"], None) == 200


async def test_a_client_certificate_gets_a_bound_token_without_a_secret(gateway: Gateway) -> None:
    status, body = await _token(gateway, {"client_id": "cert.client"}, gateway.client_cert)
    assert status == 200, body
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["sub"] == "cert.client"
    assert claims["cnf"]["x5t#S256"]
    assert await _echo(gateway, body["access_token"], gateway.client_cert) == 200
    # The same token over a connection without the certificate, or with another.
    assert await _echo(gateway, body["access_token"], None) == 401
    assert await _echo(gateway, body["access_token"], gateway.stranger_cert) == 401


async def test_a_certificate_not_configured_for_the_client_is_refused(gateway: Gateway) -> None:
    status, body = await _token(gateway, {"client_id": "cert.client"}, gateway.stranger_cert)
    assert status == 401
    assert body["error"] == "invalid_client"
    status, body = await _token(gateway, {"client_id": "cert.client"}, None)
    assert status == 401
    # A secret client cannot get a token by certificate.
    status, _ = await _token(gateway, {"client_id": "test.all"}, gateway.client_cert)
    assert status == 401


def test_bad_certificate_paths_are_a_one_line_error(tmp_path: Path) -> None:
    missing = str(tmp_path / "missing.pem")
    result = CliRunner().invoke(
        main,
        [
            "gateway",
            "--amqp-url",
            "amqp://127.0.0.1:1/",
            "--tls-cert",
            missing,
            "--tls-key",
            missing,
        ],
    )
    assert result.exit_code == 1
    assert "cannot load the TLS certificate or key" in result.output
    assert "Traceback" not in result.output
    result = CliRunner().invoke(
        main, ["gateway", "--amqp-url", "amqp://127.0.0.1:1/", "--tls-cert", missing]
    )
    assert result.exit_code == 2
    assert "go together" in result.output
