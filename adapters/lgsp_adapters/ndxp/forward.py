"""National-to-local: NDXP forwards a request of a ministry or another province
into this province's LGSP, calling it with NDXP's own client credentials there
(OAuth2 client credentials at ``{LGSP}/oauth2/token``, then
``{LGSP}/v1/services/{service}``), and hands back the LGSP's answer as it is.
"""

from __future__ import annotations

import asyncio
import re

import aiohttp
import structlog
from aiohttp import web

from lgsp_adapters.gateway_client import GatewayClient
from lgsp_adapters.ndxp import native
from lgsp_adapters.ndxp.auth import authenticate
from lgsp_adapters.ndxp.native import refusal, respond
from lgsp_adapters.ndxp.simulator import SIMULATOR, SimulatorConfig

log = structlog.get_logger("lgsp_adapters.ndxp.forward")

API = "lgsp"
SERVICE_NAME = re.compile(r"^[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*){2}$")
# Headers of the LGSP's answer handed back to the caller.
PASSED_BACK = ("Content-Type", "X-Request-Id", "X-LGSP-Service-Version", "Retry-After")


class LgspClient(GatewayClient):
    """NDXP's client of the province's LGSP (the shared gateway client with
    NDXP's credentials there)."""

    def __init__(self, config: SimulatorConfig) -> None:
        super().__init__(
            config.lgsp_url,
            config.lgsp_client_id,
            config.lgsp_client_secret,
            timeout_s=config.forward_timeout_s,
        )


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
            answer = await client.call(service, body, headers)
    except TimeoutError:
        log.warning("forward.timeout", caller=caller, service=service)
        return respond(native.answer(native.FAILED, "the LGSP did not answer"), status=504)
    except (aiohttp.ClientError, OSError, PermissionError, KeyError, ValueError) as exc:
        log.warning("forward.failed", caller=caller, service=service, error=str(exc))
        return respond(native.answer(native.FAILED, "the LGSP cannot be reached"), status=502)
    passed = {h: answer.headers[h] for h in PASSED_BACK if h in answer.headers}
    log.info("forward.answered", caller=caller, service=service, status=answer.status)
    return web.Response(status=answer.status, body=answer.body, headers=passed)


LGSP_CLIENT = web.AppKey("ndxp.lgsp_client", LgspClient)
