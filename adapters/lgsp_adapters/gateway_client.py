"""A client of the province's LGSP gateway, as any outside system is one:
OAuth2 client credentials at ``{url}/oauth2/token``, then
``POST {url}/v1/services/{service}`` with the bearer token. The token is
cached until a little before it expires, and renewed once when the gateway
answers 401; every wait is bounded.

NDXP's forwarder (:mod:`lgsp_adapters.ndxp.forward`) and the open data
portal's publisher (:mod:`lgsp_adapters.opendata.publish`) both use it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass

import aiohttp
from multidict import CIMultiDict


class CredentialsRefused(PermissionError):
    """The gateway refused the client's credentials (or answered no token)."""


@dataclass
class _Token:
    value: str
    expires_at: float


@dataclass(frozen=True)
class Answer:
    """What the gateway answered: status, body bytes and headers."""

    status: int
    body: bytes
    headers: CIMultiDict[str]

    def json(self) -> object:
        return json.loads(self.body)


class GatewayClient:
    """One HTTP session to the gateway and one cached token. ``timeout_s``
    bounds each call (token included); a caller may bound it tighter."""

    def __init__(self, url: str, client_id: str, secret: str, *, timeout_s: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.client_id = client_id
        self._secret = secret
        self.timeout_s = timeout_s
        self._http: aiohttp.ClientSession | None = None
        self._token: _Token | None = None
        self._lock = asyncio.Lock()

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()

    async def ready(self, within_s: float = 30.0, every_s: float = 0.25) -> bool:
        """Wait until the gateway says it is ready (``GET /readyz`` 200), for
        at most about ``within_s``; whether it did."""
        for _ in range(max(1, round(within_s / every_s))):
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with (
                    asyncio.timeout(every_s * 4),
                    self._session().get(f"{self.url}/readyz") as r,
                ):
                    if r.status == 200:
                        return True
            await asyncio.sleep(every_s)
        return False

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            # Bounded per call by asyncio.timeout below, not per session.
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None))
        return self._http

    async def _bearer(self, stale: str | None = None) -> str:
        async with self._lock:
            token = self._token
            if token is not None and token.value != stale and time.monotonic() < token.expires_at:
                return token.value
            form = {
                "grant_type": "client_credentials",
                "client_id": self.client_id,
                "client_secret": self._secret,
            }
            async with self._session().post(f"{self.url}/oauth2/token", data=form) as r:
                if r.status != 200:
                    raise CredentialsRefused(
                        f"the LGSP refused the credentials of {self.client_id} ({r.status})"
                    )
                answer = await r.json()
            if not isinstance(answer, dict) or not isinstance(answer.get("access_token"), str):
                raise CredentialsRefused("the LGSP answered no access token")
            # Renewed a little early: a token never expires on its way.
            lifetime = float(answer.get("expires_in", 60))
            self._token = _Token(
                answer["access_token"], time.monotonic() + lifetime - min(30.0, lifetime / 5)
            )
            return self._token.value

    async def call(
        self, service: str, body: bytes, headers: dict[str, str] | None = None
    ) -> Answer:
        """POST the body to the service; renews the token once on a 401.
        Raises TimeoutError after ``timeout_s``, :class:`CredentialsRefused`,
        or aiohttp's errors when the gateway cannot be reached."""
        url = f"{self.url}/v1/services/{service}"
        sent_headers = {"Content-Type": "application/json"} | (headers or {})
        async with asyncio.timeout(self.timeout_s):
            bearer = await self._bearer()
            for attempt in (1, 2):
                sent = sent_headers | {"Authorization": f"Bearer {bearer}"}
                async with self._session().post(url, data=body, headers=sent) as r:
                    answer = await r.read()
                    if r.status == 401 and attempt == 1:
                        bearer = await self._bearer(stale=bearer)
                        continue
                    return Answer(r.status, answer, CIMultiDict(r.headers))
        raise AssertionError("unreachable")

    async def call_json(self, service: str, payload: object) -> Answer:
        """:meth:`call` with a JSON body."""
        return await self.call(service, json.dumps(payload).encode())
