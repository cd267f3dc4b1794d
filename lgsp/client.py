"""A minimal synchronous client of the gateway, for `lgsp call` (stdlib
HTTP only: a terminal command needs no event loop)."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any


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
) -> tuple[int, Any]:
    """(status, decoded answer) of one call, token included."""
    headers = {
        "Authorization": f"Bearer {token(url, client_id, client_secret)}",
        "Content-Type": "application/json",
    }
    if version is not None:
        headers["X-LGSP-Service-Version"] = str(version)
    if timeout_ms is not None:
        headers["X-LGSP-Timeout-Ms"] = str(timeout_ms)
    wait = (timeout_ms or 60_000) / 1000 + 5
    return _post(f"{url.rstrip('/')}/v1/services/{service}", body.encode(), headers, wait)
