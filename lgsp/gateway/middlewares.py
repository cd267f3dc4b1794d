"""The gateway's middlewares: a request id on every exchange, and one place
where errors become RFC 9457 problems."""

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
from lgsp.gateway.responses import problem_response
from lgsp.trust.operators import AdminAuth

log = structlog.get_logger("lgsp.gateway")

REQUEST_ID = web.RequestKey("request_id", str)
PROVINCE = web.AppKey("lgsp.province", str)
"""The gateway's province: named in every problem it raises (``raised_by``)."""
OPERATOR = web.RequestKey("operator", str)
"""The operator's id on the admin API and the dashboard."""
OPERATOR_PATHS = ("/v1/admin/", "/dashboard")
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
