"""The gateway's middlewares: a request id on every exchange, one place
where errors become RFC 9457 problems, and the SOC's blocklist."""

from __future__ import annotations

import re

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from lgsp.envelope import new_id
from lgsp.errors import (
    LgspError,
    MalformedRequest,
    MethodNotAllowed,
    RequestTooLarge,
    UnknownService,
)
from lgsp.gateway.oauth import TOKEN_PATH, blocked_response, peer_certificate
from lgsp.gateway.responses import REQUEST_ID, problem_response
from lgsp.observe.soc import SOURCE_IP, SocFeed
from lgsp.trust.access import Security
from lgsp.trust.blocklist import REFUSED, Blocked, BlocklistSource
from lgsp.trust.operators import AdminAuth

log = structlog.get_logger("lgsp.gateway")

PROVINCE = web.AppKey("lgsp.province", str)
"""The gateway's province: named in every problem it raises (``raised_by``)."""
OPERATOR = web.RequestKey("operator", str)
"""The operator's id on the admin API and the dashboard."""
OPERATOR_PATHS = ("/v1/admin/", "/dashboard")
HEALTH_PATHS = frozenset({"/healthz", "/readyz"})
"""What a blocked caller still reaches: a load balancer's probes."""
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


@web.middleware
async def problems(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Assign the request id, render every error as a problem, echo the id."""
    supplied = request.headers.get("X-Request-Id")
    if supplied is None:
        request_id = new_id()
    elif _REQUEST_ID.match(supplied):
        request_id = supplied
    else:
        request_id = new_id()
        return problem_response(
            MalformedRequest("X-Request-Id must be 1-64 characters of [A-Za-z0-9._:-]"),
            request_id,
        )
    request[REQUEST_ID] = request_id
    province = request.app.get(PROVINCE)
    try:
        response = await handler(request)
    except LgspError as exc:
        return problem_response(exc, request_id, province)
    except web.HTTPRequestEntityTooLarge as exc:
        return problem_response(RequestTooLarge(exc.text or ""), request_id, province)
    except web.HTTPNotFound:
        return problem_response(UnknownService(f"no route {request.path}"), request_id, province)
    except web.HTTPMethodNotAllowed as exc:
        return problem_response(
            MethodNotAllowed(
                f"{request.method} is not allowed on {request.path}",
                allowed=sorted(exc.allowed_methods),
            ),
            request_id,
            province,
        )
    except Exception:
        # Nothing may reach a client as a bare 500 page: log it (with the
        # request id, for the operator) and answer a problem.
        log.exception("gateway.unhandled_error", request_id=request_id, path=request.path)
        return problem_response(LgspError("unexpected error in the gateway"), request_id, province)
    response.headers["X-Request-Id"] = request_id
    return response


def operators_only(auth: AdminAuth) -> Middleware:
    """The admin API and the dashboard are for operators (HTTP Basic):
    checked before any of their handlers runs, so no route can forget it."""

    @web.middleware
    async def operators(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith(OPERATOR_PATHS):
            request[OPERATOR] = await auth.check(request.headers.get("Authorization"))
        return await handler(request)

    return operators


def soc_guard(feed: SocFeed, blocklist: BlocklistSource | None, security: Security) -> Middleware:
    """The caller's address for the security events its request causes, and
    the SOC's blocklist: a listed address is refused on every route but
    health, a listed client id wherever it presents a token, and on the
    token endpoint (in OAuth's error form there). One set lookup a request
    while the list names no networks; a token is looked at only while it
    names clients (its check is cached per token)."""

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        address = request.remote
        held = SOURCE_IP.set(address)
        try:
            if blocklist is not None and request.path not in HEALTH_PATHS:
                listed = blocklist.current
                client: str | None = None
                by: str | None = None
                if listed.blocks_address(address):
                    by = "address"
                elif listed.clients:
                    client = _bearer_client(security, request)
                    if listed.blocks_client(client):
                        by = "client"
                if by is not None:
                    return _refused(feed, request, by, client)
            return await handler(request)
        finally:
            SOURCE_IP.reset(held)

    return guard


def _bearer_client(security: Security, request: web.Request) -> str | None:
    authorization = request.headers.get("Authorization")
    if not authorization or authorization[:7].lower() != "bearer ":
        return None
    try:
        return security.verify(authorization, peer_certificate(request)).client
    except LgspError:
        # Not a good token: the route refuses it (401) as it would anyway.
        return None


def _refused(
    feed: SocFeed, request: web.Request, by: str, client: str | None
) -> web.StreamResponse:
    REFUSED.labels(by).inc()
    feed.emit(
        "auth.blocked",
        client=client,
        request_id=request.get(REQUEST_ID),
        fields={
            "url.path": request.path,
            "http.request.method": request.method,
            "lgsp.blocked_by": by,
        },
    )
    log.warning("request.blocked", by=by, client=client, path=request.path)
    if request.path == TOKEN_PATH:
        return blocked_response()
    raise Blocked(f"this {by} is on the security monitoring centre's blocklist")
