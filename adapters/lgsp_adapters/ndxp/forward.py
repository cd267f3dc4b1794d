"""Forwarding between provinces: NDXP takes a call of a province's LGSP (or
of a ministry) for another province's service, ``POST
/lgsp/{province}/{service}``, and passes it to that province's LGSP with
NDXP's own client credentials there (OAuth2 client credentials at
``{LGSP}/oauth2/token``, then ``{LGSP}/v1/services/{service}``), handing
back the LGSP's answer as it is.

The origin province is the calling client's (its credentials at NDXP, never
a header of the call): NDXP names it to the target in ``X-LGSP-Origin``,
with the calling LGSP's own client in ``X-LGSP-Origin-Client``, and the
target's partner grants decide. Every forwarded call is kept in NDXP's own
exchange log (``GET /admin/exchanges``), so that one request id can be
followed through the calling LGSP, NDXP and the serving LGSP.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from typing import Final

import aiohttp
import structlog
from aiohttp import web

from lgsp_adapters.gateway_client import GatewayClient
from lgsp_adapters.ndxp import native
from lgsp_adapters.ndxp.auth import authenticate
from lgsp_adapters.ndxp.native import refusal, respond
from lgsp_adapters.ndxp.simulator import SIMULATOR, Exchange, SimulatorConfig, now_iso

log = structlog.get_logger("lgsp_adapters.ndxp.forward")

API: Final = "lgsp"
SERVICE_NAME: Final = re.compile(r"^[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*){2}$")
# The protocol's request id and a client id (as the gateways check them).
REQUEST_ID: Final = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
CLIENT_ID: Final = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
# Headers of the call passed on to the target, as the caller sent them.
PASSED_ON: Final = ("X-LGSP-Service-Version", "X-LGSP-Timeout-Ms", "Idempotency-Key")
# Headers of the LGSP's answer handed back to the caller.
PASSED_BACK: Final = ("Content-Type", "X-Request-Id", "X-LGSP-Service-Version", "Retry-After")
MAX_LIMIT: Final = 1000


class LgspClient(GatewayClient):
    """NDXP's client of one province's LGSP (the shared gateway client with
    NDXP's credentials there)."""

    def __init__(self, url: str, config: SimulatorConfig) -> None:
        super().__init__(
            url,
            config.lgsp_client_id,
            config.lgsp_client_secret,
            timeout_s=config.forward_timeout_s,
        )


class LgspClients:
    """One :class:`LgspClient` per gateway URL, made at its first call (a
    province's URL is known once it has started), closed with the app."""

    def __init__(self, config: SimulatorConfig) -> None:
        self._config = config
        self._clients: dict[str, LgspClient] = {}

    def get(self, url: str) -> LgspClient:
        client = self._clients.get(url)
        if client is None:
            client = self._clients[url] = LgspClient(url, self._config)
        return client

    async def close(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.close()


def _wait_s(header: str | None, cap_s: float) -> float:
    """How long to wait for the target: the caller's ``X-LGSP-Timeout-Ms``
    (when it is a positive number), never more than NDXP's own cap."""
    if header is not None and header.isdigit() and int(header) > 0:
        return min(cap_s, int(header) / 1000)
    return cap_s


async def forward(request: web.Request) -> web.StreamResponse:
    """``POST /lgsp/{province}/{service}``."""
    sim = request.app[SIMULATOR]
    caller = authenticate(request, API)
    origin = sim.config.clients[caller].province
    target, service = request.match_info["province"], request.match_info["service"]
    url = sim.config.gateways.get(target)
    if url is None:
        raise refusal(404, native.AGENCY_ID_INCORRECT, f"no province {target} on NDXP")
    if target == origin:
        raise refusal(
            400, native.DATA_INCORRECT, f"loop: {origin} calls its own services, not through NDXP"
        )
    if not SERVICE_NAME.match(service):
        raise refusal(404, native.DATA_TYPE_INVALID, "not a service name")
    given = request.headers.get("X-Request-Id", "")
    # One id from the caller to the target, so that every log names it (the
    # gateway would make a new one for an id it cannot take).
    request_id = given if REQUEST_ID.match(given) else f"ndxp-{secrets.token_hex(8)}"
    headers = {
        "Content-Type": request.headers.get("Content-Type", "application/json"),
        "X-Request-Id": request_id,
    }
    headers |= {name: request.headers[name] for name in PASSED_ON if name in request.headers}
    origin_client: str | None = None
    if origin is not None:
        # What the caller says of the origin is never passed on: NDXP names it.
        headers["X-LGSP-Origin"] = origin
        sent_by = request.headers.get("X-LGSP-Origin-Client", "")
        if CLIENT_ID.match(sent_by):
            origin_client = headers["X-LGSP-Origin-Client"] = sent_by
    body = await request.read()
    client = request.app[LGSP_CLIENTS].get(url)
    at, started = now_iso(), time.perf_counter()
    response: web.Response
    try:
        async with asyncio.timeout(
            _wait_s(request.headers.get("X-LGSP-Timeout-Ms"), client.timeout_s)
        ):
            answer = await client.call(service, body, headers)
    except TimeoutError:
        log.warning("forward.timeout", request_id=request_id, target=target, service=service)
        response = respond(
            native.answer(native.FAILED, f"{target} did not answer in time"), status=504
        )
    except (aiohttp.ClientError, OSError, PermissionError, KeyError, ValueError) as exc:
        log.warning(
            "forward.failed", request_id=request_id, target=target, service=service, error=str(exc)
        )
        response = respond(
            native.answer(native.FAILED, f"the LGSP of {target} cannot be reached"), status=502
        )
    else:
        passed = {h: answer.headers[h] for h in PASSED_BACK if h in answer.headers}
        response = web.Response(status=answer.status, body=answer.body, headers=passed)
    record = Exchange(
        request_id=request_id,
        origin=origin,
        origin_client=origin_client,
        caller=caller,
        target=target,
        service=service,
        status=response.status,
        duration_ms=round((time.perf_counter() - started) * 1000, 3),
        at=at,
    )
    sim.exchanges.add(record)
    # The log line is the record NDXP keeps.
    log.info("forward.answered", **record.as_dict())
    return response


async def exchanges(request: web.Request) -> web.Response:
    """``GET /admin/exchanges?request_id=&limit=``: the calls NDXP forwarded,
    newest ``limit`` (default 100), oldest first."""
    limit_text = request.query.get("limit", "100")
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= MAX_LIMIT:
        raise refusal(400, native.DATA_TYPE_INVALID, f"limit must be 1..{MAX_LIMIT}")
    found = request.app[SIMULATOR].exchanges.find(
        request_id=request.query.get("request_id") or None, limit=int(limit_text)
    )
    return web.json_response({"exchanges": [e.as_dict() for e in found]})


LGSP_CLIENTS: Final = web.AppKey("ndxp.lgsp_clients", LgspClients)
