"""The simulated NDXP's admin routes: the faults in force and the calls it
answered, as JSON. They answer this machine only (unless configured
otherwise), are never faulted and never counted."""

from __future__ import annotations

from aiohttp import web
from pydantic import ValidationError

from lgsp_adapters.ndxp.faults import Faults
from lgsp_adapters.ndxp.simulator import SIMULATOR, Simulator


def _state(sim: Simulator) -> web.Response:
    remaining = sim.outage_remaining()
    return web.json_response(
        {
            "faults": sim.faults.model_dump(),
            "outage_remaining_s": None if remaining is None else round(remaining, 3),
        }
    )


async def get_faults(request: web.Request) -> web.Response:
    """``GET /admin/faults``."""
    return _state(request.app[SIMULATOR])


async def put_faults(request: web.Request) -> web.Response:
    """``PUT /admin/faults``: replace the faults in force (missing fields: none)."""
    sim = request.app[SIMULATOR]
    try:
        faults = Faults.model_validate_json(await request.read())
    except ValidationError as exc:
        return web.json_response(
            {
                "error": "invalid faults",
                "errors": [
                    {"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors(include_url=False)
                ],
            },
            status=422,
        )
    await sim.set_faults(faults)
    return _state(sim)


async def delete_faults(request: web.Request) -> web.Response:
    """``DELETE /admin/faults``: a healthy platform again."""
    sim = request.app[SIMULATOR]
    await sim.set_faults(Faults())
    return _state(sim)


async def expire_tokens(request: web.Request) -> web.Response:
    """``POST /admin/faults/expire-tokens``: every token and session issued so
    far stops working now."""
    request.app[SIMULATOR].expire_tokens()
    return web.json_response({"expired": True})


async def calls(request: web.Request) -> web.Response:
    """``GET /admin/calls``: calls answered, by operation."""
    sim = request.app[SIMULATOR]
    return web.json_response(
        {"total": sim.total_calls, "unauthorized": sim.unauthorized, "calls": dict(sim.calls)}
    )
