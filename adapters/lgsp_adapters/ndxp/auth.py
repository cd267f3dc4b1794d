"""Access to the simulated NDXP: OAuth2 client credentials at ``POST /token``
(the WSO2 API Manager convention the platform follows) and bearer tokens on
every other call, the routes of applications mounted in it (NDOP) included:
the simulator's state is found through ``request.config_dict``."""

from __future__ import annotations

import base64
import binascii
import math
import secrets

import structlog
from aiohttp import web

from lgsp_adapters.ndxp import native
from lgsp_adapters.ndxp.native import refusal
from lgsp_adapters.ndxp.simulator import SIMULATOR

log = structlog.get_logger("lgsp_adapters.ndxp.auth")


def _credentials(request: web.Request, form: dict[str, str]) -> tuple[str, str] | None:
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        client_id, sep, secret = decoded.partition(":")
        return (client_id, secret) if sep else None
    if "client_id" in form and "client_secret" in form:
        return form["client_id"], form["client_secret"]
    return None


async def token(request: web.Request) -> web.Response:
    """``POST /token``: an access token for a client's credentials."""
    sim = request.config_dict[SIMULATOR]
    form = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
    if form.get("grant_type") != "client_credentials":
        return web.json_response(
            {
                "error": "unsupported_grant_type",
                "error_description": "only client_credentials is supported",
            },
            status=400,
        )
    given = _credentials(request, form)
    client = sim.config.clients.get(given[0]) if given else None
    if given is None or client is None or not secrets.compare_digest(client.secret, given[1]):
        log.info("token.refused", client=given[0] if given else None)
        return web.json_response(
            {"error": "invalid_client", "error_description": "client authentication failed"},
            status=401,
            headers={"WWW-Authenticate": 'Basic realm="ndxp"'},
        )
    access_token = sim.tokens.issue(given[0])
    log.info("token.issued", client=given[0])
    return web.json_response(
        {
            "access_token": access_token,
            "scope": " ".join(sorted(client.apis)),
            "token_type": "Bearer",
            "expires_in": math.ceil(sim.tokens.ttl_s),
        }
    )


def authenticate(request: web.Request, api: str) -> str:
    """The client a bearer token belongs to, if it may use ``api``; else the
    native 401/403 answer is raised. Works in a sub-application mounted
    in the simulator's (its state is the parent's)."""
    sim = request.config_dict[SIMULATOR]
    header = request.headers.get("Authorization", "")
    holder = sim.tokens.holder(header[7:].strip()) if header.lower().startswith("bearer ") else None
    if holder is None:
        sim.unauthorized += 1
        raise refusal(401, native.AUTHEN_ERROR, "access token missing, invalid or expired")
    if api not in sim.config.clients[holder].apis:
        raise refusal(403, native.AUTHEN_ERROR, f"client not subscribed to API {api}")
    return holder
