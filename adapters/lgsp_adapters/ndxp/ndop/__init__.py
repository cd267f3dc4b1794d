"""The simulated NDOP (Nền tảng chia sẻ, điều phối dữ liệu, the national
data orchestration platform the Ministry of Public Security runs at the
national data centre), as a sub-application of the simulated NDXP, and the
citizens' data tracker it answers.

Decree 194/2025/NĐ-CP (art. 20) names three parts of the national system of
data intermediaries: NDXP, the data sharing and orchestration platform of the
national data centre, and the ministries' and provinces' sharing
infrastructures (the LGSPs); Decree 278/2025/NĐ-CP (replacing Decree
47/2020) routes every mandatory sharing through NDOP "to monitor, trace and
evaluate" it. Here each LGSP reports every exchange of personal data it
carries, and NDOP answers who used whose data (see ``docs/ndop.md``).

Routes, under the mount point (``/ndop``), native NDXP answers
(:mod:`~lgsp_adapters.ndxp.native`):

| route | what |
|---|---|
| ``POST /v1/traces`` | a batch of an LGSP's reports (NDXP bearer token, API ``ndop``) |
| ``GET /v1/traffic?from=&to=[&province=]`` | requests between agencies, provinces (this machine) |
| ``GET /v1/traces/{request_id}`` | every report of one request (this machine) |
| ``POST /v1/tracker`` | the citizens' data tracker (rate-limited; a bearer token optional) |
| ``GET /tracker`` | the citizens' page |

Mounted with ``app.add_subapp("/ndop", create_app(population, simulator=sim))``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from lgsp_adapters.ndxp.ndop import routes, tracker
from lgsp_adapters.ndxp.ndop.attempts import Attempts
from lgsp_adapters.ndxp.ndop.reports import MAX_BATCH, Trace, TraceBatch, mask
from lgsp_adapters.ndxp.ndop.state import API, NDOP, Ndop, PopulationLookup
from lgsp_adapters.ndxp.ndop.store import Access, TraceStore, TrafficRow
from lgsp_adapters.ndxp.simulator import SIMULATOR, Simulator

__all__ = [
    "API",
    "MAX_BATCH",
    "NDOP",
    "Access",
    "Ndop",
    "PopulationLookup",
    "Trace",
    "TraceBatch",
    "TraceStore",
    "TrafficRow",
    "create_app",
    "mask",
]


def create_app(
    population: PopulationLookup,
    *,
    simulator: Simulator,
    data_dir: Path | None = None,
    tracker_rate: str = "10/minute",
    client_tracker_rate: str = "600/minute",
) -> web.Application:
    """NDOP as an aiohttp sub-application of the NDXP ``simulator`` (whose
    tokens and clients authenticate its callers; NDXP's handlers read them
    from the application that routes the request, so the sub-application
    holds the simulator too). Its state is ``app[NDOP]``.

    ``population``: the birth date the national population database holds
    for an id (the tracker's proof). ``data_dir``: NDOP's own folder, where
    its reports are kept in SQLite across restarts (None: in memory).
    ``tracker_rate``: tracker tries per remote address; ``client_tracker_rate``:
    per authenticated NDXP client (`limits` notation, e.g. ``"10/minute"``).
    """
    ndop = Ndop(population, TraceStore(data_dir), Attempts(tracker_rate, client_tracker_rate))
    app = web.Application()
    app[SIMULATOR] = simulator
    app[NDOP] = ndop

    async def store(app: web.Application) -> AsyncIterator[None]:
        await ndop.store.open()
        yield
        await ndop.store.close()

    app.cleanup_ctx.append(store)
    add = app.router
    add.add_post("/v1/traces", routes.traces, name="ndop-traces")
    add.add_get("/v1/traces/{request_id}", routes.trace, name="ndop-trace")
    add.add_get("/v1/traffic", routes.traffic, name="ndop-traffic")
    add.add_post("/v1/tracker", tracker.history, name="ndop-tracker")
    add.add_get("/tracker", tracker.page, name="ndop-tracker-page")
    add.add_static("/static", tracker.STATIC)
    return app
