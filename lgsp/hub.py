"""The link to the national exchange platform (NDXP): this LGSP's access
token there (OAuth2 client credentials, cached until a little before it
expires, renewed once on a 401), and the HTTP calls it makes through it:
calls to other provinces' services, reports of exchanges to NDOP.

Every wait is bounded by the caller's deadline; nothing here retries (a
forwarded call is the caller's to retry, a report is its queue's).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp
from multidict import CIMultiDict

from lgsp.config import NetworkConfig


class HubRefused(PermissionError):
    """NDXP refused this LGSP's credentials (or answered no token)."""


@dataclass(frozen=True, slots=True)
class HubAnswer:
    """What NDXP answered: status, body and headers."""

    status: int
    body: bytes
    headers: CIMultiDict[str]


class Hub:
    """One HTTP session to NDXP and one cached token."""

    def __init__(self, config: NetworkConfig) -> None:
        self.config = config
        self._http: aiohttp.ClientSession | None = None
        self._token: tuple[str, float] | None = None
        self._lock = asyncio.Lock()

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            # Bounded per call by the caller's deadline, not per session.
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None))
        return self._http

    async def _bearer(self, stale: str | None = None) -> str:
        async with self._lock:
            held = self._token
            if held is not None and held[0] != stale and time.monotonic() < held[1]:
                return held[0]
            form = {
                "grant_type": "client_credentials",
                "client_id": self.config.client_id,
                "client_secret": self.config.client_secret.get_secret_value(),
            }
            async with self._session().post(str(self.config.token_url), data=form) as r:
                answer = await r.json(content_type=None) if r.status == 200 else None
            if not isinstance(answer, dict) or not isinstance(answer.get("access_token"), str):
                raise HubRefused(f"NDXP refused the credentials of {self.config.client_id}")
            lifetime = float(answer.get("expires_in", 60))
            # Renewed a little early: a token never expires on its way.
            self._token = (answer["access_token"], time.monotonic() + lifetime * 0.8)
            return self._token[0]

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> HubAnswer:
        """POST to NDXP with this LGSP's token (renewed once on a 401).
        Raises aiohttp's errors or OSError when NDXP cannot be reached, and
        :class:`HubRefused`; the caller bounds it with ``asyncio.timeout``."""
        bearer = await self._bearer()
        for attempt in (1, 2):
            sent = {"Content-Type": "application/json", **headers}
            sent["Authorization"] = f"Bearer {bearer}"
            async with self._session().post(url, data=body, headers=sent) as r:
                answer = await r.read()
                if r.status == 401 and attempt == 1:
                    bearer = await self._bearer(stale=bearer)
                    continue
                return HubAnswer(r.status, answer, CIMultiDict(r.headers))
        raise AssertionError("unreachable")

    def service_url(self, province: str, service: str) -> str:
        """Where NDXP takes a call to ``service`` of ``province``."""
        return f"{str(self.config.hub_url).rstrip('/')}/{province}/{service}"
