"""``lgsp call``: get a token and call a service from a terminal (a minimal
synchronous client, stdlib HTTP only: a terminal command needs no event loop)."""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import click


def _post(url: str, data: bytes, headers: dict[str, str], timeout: float) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            return exc.code, json.loads(raw)
        except ValueError:
            return exc.code, {"status": exc.code, "detail": raw.decode(errors="replace")}


def token(url: str, client_id: str, client_secret: str, *, timeout: float = 10.0) -> str:
    form = urllib.parse.urlencode(
        {"grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret}
    ).encode()
    status, answer = _post(
        f"{url.rstrip('/')}/oauth2/token",
        form,
        {"Content-Type": "application/x-www-form-urlencoded"},
        timeout,
    )
    if status != 200:
        raise PermissionError(f"token refused ({status}): {answer}")
    return str(answer["access_token"])


def call_service(
    url: str,
    service: str,
    body: str,
    client_id: str,
    client_secret: str,
    *,
    version: int | None = None,
    timeout_ms: int | None = None,
    province: str | None = None,
) -> tuple[int, Any]:
    """(status, decoded answer) of one call, token included; ``province``:
    the service of another province, through NDXP (``X-LGSP-Province``)."""
    headers = {
        "Authorization": f"Bearer {token(url, client_id, client_secret)}",
        "Content-Type": "application/json",
    }
    if version is not None:
        headers["X-LGSP-Service-Version"] = str(version)
    if timeout_ms is not None:
        headers["X-LGSP-Timeout-Ms"] = str(timeout_ms)
    if province is not None:
        headers["X-LGSP-Province"] = province
    wait = (timeout_ms or 60_000) / 1000 + 5
    return _post(f"{url.rstrip('/')}/v1/services/{service}", body.encode(), headers, wait)


@click.command("call")
@click.argument("service")
@click.argument("payload", default="-")
@click.option(
    "--url", default="http://127.0.0.1:8080", envvar="LGSP_URL", help="Gateway (env LGSP_URL)."
)
@click.option("--client-id", default="dongthap.onestop", envvar="LGSP_CLIENT_ID")
@click.option("--client-secret", default="demo-onestop-secret", envvar="LGSP_CLIENT_SECRET")
@click.option(
    "--version", "version", type=click.IntRange(1), help="Service version; default newest."
)
@click.option("--timeout-ms", type=click.IntRange(1), help="Deadline of the call.")
@click.option(
    "--province",
    help="Call this other province's service, through your LGSP and NDXP (e.g. gialai).",
)
def call(
    service: str,
    payload: str,
    url: str,
    client_id: str,
    client_secret: str,
    version: int | None,
    timeout_ms: int | None,
    province: str | None,
) -> None:
    """Get a token and call SERVICE with PAYLOAD (JSON; '-' reads stdin),
    printing the answer. Exits 1 on an error answer."""
    body = sys.stdin.read() if payload == "-" else payload
    try:
        status, answer = call_service(
            url,
            service,
            body,
            client_id,
            client_secret,
            version=version,
            timeout_ms=timeout_ms,
            province=province,
        )
    except PermissionError as exc:
        raise click.ClickException(str(exc)) from exc
    except OSError as exc:
        raise click.ClickException(f"cannot reach the gateway at {url}: {exc}") from exc
    click.echo(json.dumps(answer, ensure_ascii=False, indent=2))
    if status >= 400:
        sys.exit(1)
