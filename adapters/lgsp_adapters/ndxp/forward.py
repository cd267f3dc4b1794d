"""National-to-local: NDXP forwards a request of a ministry or another province
into this province's LGSP, calling it with NDXP's own client credentials there
(OAuth2 client credentials at ``{LGSP}/oauth2/token``, then
``{LGSP}/v1/services/{service}``), and hands back the LGSP's answer as it is.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass

import aiohttp
import structlog
from aiohttp import web

from lgsp_adapters.ndxp import native
from lgsp_adapters.ndxp.auth import authenticate
from lgsp_adapters.ndxp.native import refusal, respond
from lgsp_adapters.ndxp.simulator import SIMULATOR, SimulatorConfig

log = structlog.get_logger("lgsp_adapters.ndxp.forward")

API = "lgsp"
SERVICE_NAME = re.compile(r"^[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*){2}$")
# Headers of the LGSP's answer handed back to the caller.
PASSED_BACK = ("Content-Type", "X-Request-Id", "X-LGSP-Service-Version", "Retry-After")


@dataclass
class _Token:
    value: str
    expires_at: float


class LgspClient:
    """NDXP's client of the province's LGSP: one HTTP session, a cached token."""

    def __init__(self, config: SimulatorConfig) -> None:
        self._config = config
        self._http: aiohttp.ClientSession | None = None
        self._token: _Token | None = None
        self._lock = asyncio.Lock()

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None))
        return self._http

    async def _bearer(self, stale: str | None = None) -> str:
        async with self._lock:
            token = self._token
            if token is not None and token.value != stale and time.monotonic() < token.expires_at:
                return token.value
            form = {
                "grant_type": "client_credentials",
                "client_id": self._config.lgsp_client_id,
                "client_secret": self._config.lgsp_client_secret,
            }
            url = f"{self._config.lgsp_url}/oauth2/token"
            async with self._session().post(url, data=form) as r:
                if r.status != 200:
                    raise PermissionError(f"the LGSP refused NDXP's credentials ({r.status})")
                answer = await r.json()
            # Renewed a little early: a token never expires on its way.
            lifetime = float(answer.get("expires_in", 60))
            self._token = _Token(
                answer["access_token"], time.monotonic() + lifetime - min(30.0, lifetime / 5)
            )
            return self._token.value

    async def call(
        self, service: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int, bytes, dict[str, str]]:
        """POST the body to the service; refreshes the token once on a 401."""
        url = f"{self._config.lgsp_url}/v1/services/{service}"
        bearer = await self._bearer()
        for attempt in (1, 2):
            sent = headers | {"Authorization": f"Bearer {bearer}"}
            async with self._session().post(url, data=body, headers=sent) as r:
                answer = await r.read()
                if r.status == 401 and attempt == 1:
                    bearer = await self._bearer(stale=bearer)
                    continue
                passed = {h: r.headers[h] for h in PASSED_BACK if h in r.headers}
                return r.status, answer, passed
        raise AssertionError("unreachable")


async def forward(request: web.Request) -> web.StreamResponse:
    """``POST /lgsp/{province}/{service}``."""
    sim = request.app[SIMULATOR]
    caller = authenticate(request, API)
    province, service = request.match_info["province"], request.match_info["service"]
    if province != sim.config.province:
        raise refusal(404, native.AGENCY_ID_INCORRECT, f"no province {province} on NDXP")
    if not SERVICE_NAME.match(service):
        raise refusal(404, native.DATA_TYPE_INVALID, "not a service name")
    headers = {"Content-Type": request.headers.get("Content-Type", "application/json")}
    for name in ("X-Request-Id", "X-LGSP-Timeout-Ms", "X-LGSP-Service-Version"):
        if name in request.headers:
            headers[name] = request.headers[name]
    body = await request.read()
    client = request.app[LGSP_CLIENT]
    try:
        async with asyncio.timeout(sim.config.forward_timeout_s):
            status, answer, passed = await client.call(service, body, headers)
    except TimeoutError:
        log.warning("forward.timeout", caller=caller, service=service)
        return respond(native.answer(native.FAILED, "the LGSP did not answer"), status=504)
    except (aiohttp.ClientError, OSError, PermissionError, KeyError, ValueError) as exc:
        log.warning("forward.failed", caller=caller, service=service, error=str(exc))
        return respond(native.answer(native.FAILED, "the LGSP cannot be reached"), status=502)
    log.info("forward.answered", caller=caller, service=service, status=status)
    return web.Response(status=status, body=answer, headers=passed)


LGSP_CLIENT = web.AppKey("ndxp.lgsp_client", LgspClient)
