"""The simulated NDXP as an HTTP server: its routes, the middlewares that
guard them and inject faults, and ways to run it (:func:`running` for tests
and ``lgsp ndxp-sim``; :func:`platform`, the national platform every
province of ``lgsp up`` or a test's network shares).

Routes (native formats, see :mod:`~lgsp_adapters.ndxp.native`):

| route | what |
|---|---|
| ``POST /token`` | OAuth2 client credentials (form body or Basic) |
| ``POST /dancu/1.0/TraCuuThongTinCongDan`` | population database: lookup |
| ``POST /dancu/1.0/XacThucThongTinCongDan`` | population database: verification |
| ``POST /dancu/1.0/ThongKeDanSo`` | population database: residents by commune, age, gender |
| ``POST /dvcqg/1.0/login`` | public service portal: session login |
| ``POST /dvcqg/1.0/integration`` | portal: ``DongBoHoSoMC``, ``CapNhatTienDoHoSoMC`` |
| ``POST /lgsp/{province}/{service}`` | forwarding into a province's LGSP |
| ``GET /dvcqg/hoso``, ``GET /dvcqg/hoso/{MaHoSo}`` | read-back of what was synced |
| ``GET/PUT/DELETE /admin/faults`` | faults in force |
| ``POST /admin/faults/expire-tokens`` | expire every token and session now |
| ``GET /admin/calls`` | calls answered, by operation |
| ``GET /admin/exchanges`` | NDXP's exchange log: the calls it forwarded |
| ``GET /healthz`` | liveness |
| ``/ndop/...`` | NDOP, the national data orchestration platform (:mod:`~lgsp_adapters.ndxp.ndop`) |
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import math
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
from typing import Final

import structlog
from aiohttp import web

from lgsp_adapters.ndxp import admin, auth, forward, native, ndop, population, portal
from lgsp_adapters.ndxp.faults import Faults
from lgsp_adapters.ndxp.forward import LGSP_CLIENTS, LgspClients
from lgsp_adapters.ndxp.native import refusal, respond
from lgsp_adapters.ndxp.simulator import SIMULATOR, Simulator, SimulatorConfig

log = structlog.get_logger("lgsp_adapters.ndxp")

DEFAULT_PORT: Final = 8090
SHUTDOWN_TIMEOUT_S: Final = 2.0

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# The platform's own operations: counted, and subject to faults.
NATIVE: Final = frozenset(
    {
        "token",
        "TraCuuThongTinCongDan",
        "XacThucThongTinCongDan",
        "ThongKeDanSo",
        "dvcqg-login",
        "dvcqg-integration",
        "forward",
        # NDOP, mounted here: an outage of the platform is one of NDOP too.
        "ndop-traces",
        "ndop-tracker",
    }
)
INSPECTION_PREFIXES: Final = ("/admin", "/dvcqg/hoso")
BUSY: Final = web.AppKey("ndxp.busy", set[web.RequestHandler])
"""Connections with a request in progress (a refusal lets them answer it)."""


def create_app(config: SimulatorConfig | None = None) -> web.Application:
    """The simulated NDXP as an aiohttp application; its state is
    ``app[SIMULATOR]``. A refusal outage needs :func:`running` to stop
    listening; served otherwise, it drops each connection instead."""
    config = config or SimulatorConfig()
    sim = Simulator(config)
    networks = [ipaddress.ip_network(n) for n in config.allowed_networks]

    busy: set[web.RequestHandler] = set()

    @web.middleware
    async def track(request: web.Request, handler: Handler) -> web.StreamResponse:
        busy.add(request.protocol)
        try:
            return await handler(request)
        finally:
            busy.discard(request.protocol)

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        peer = _address(request.remote)
        if request.path.startswith(INSPECTION_PREFIXES):
            if not config.admin_from_anywhere and not (peer is not None and peer.is_loopback):
                raise refusal(403, native.IP_DISALLOWED, "admin routes answer this machine only")
        elif peer is not None and not any(peer in network for network in networks):
            log.info("ndxp.ip_disallowed", peer=str(peer))
            raise refusal(403, native.IP_DISALLOWED, f"{peer} is not a registered address")
        return await handler(request)

    app = web.Application(middlewares=[track, guard, _faults])
    app[SIMULATOR] = sim
    app[BUSY] = busy
    app[LGSP_CLIENTS] = LgspClients(config)

    async def close_clients(app: web.Application) -> None:
        await app[LGSP_CLIENTS].close()

    app.on_cleanup.append(close_clients)
    add = app.router
    add.add_post(native.TOKEN_PATH, auth.token, name="token")
    add.add_post(native.LOOKUP_PATH, population.lookup, name="TraCuuThongTinCongDan")
    add.add_post(native.VERIFY_PATH, population.verify, name="XacThucThongTinCongDan")
    add.add_post(native.STATISTICS_PATH, population.statistics, name="ThongKeDanSo")
    add.add_post(native.PORTAL_LOGIN_PATH, portal.login, name="dvcqg-login")
    add.add_post(native.PORTAL_PATH, portal.integration, name="dvcqg-integration")
    add.add_post("/lgsp/{province}/{service}", forward.forward, name="forward")
    add.add_get("/dvcqg/hoso", portal.dossiers)
    add.add_get("/dvcqg/hoso/{MaHoSo}", portal.dossier)
    add.add_get("/admin/faults", admin.get_faults)
    add.add_put("/admin/faults", admin.put_faults)
    add.add_delete("/admin/faults", admin.delete_faults)
    add.add_post("/admin/faults/expire-tokens", admin.expire_tokens)
    add.add_get("/admin/calls", admin.calls)
    add.add_get("/admin/exchanges", forward.exchanges)
    add.add_get("/healthz", _healthz)
    # NDOP beside NDXP, checking the tracker's proof against NDXP's register.
    ndop_dir = None if config.data_dir is None else config.data_dir / "ndop"
    app.add_subapp(
        "/ndop",
        ndop.create_app(population.birth_date_lookup(sim), simulator=sim, data_dir=ndop_dir),
    )
    return app


async def _healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def _address(remote: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(remote) if remote else None
    except ValueError:
        return None


@web.middleware
async def _faults(request: web.Request, handler: Handler) -> web.StreamResponse:
    name = request.match_info.route.name
    if name not in NATIVE:
        return await handler(request)
    sim = request.app[SIMULATOR]
    faults = sim.faults
    if faults.outage == "refuse":
        # Nothing listens; a connection opened before the outage is dropped.
        request.protocol.force_close()
        return web.Response(status=503)
    sim.count(name)
    if faults.outage == "unavailable":
        remaining = sim.outage_remaining()
        retry_after = 5 if remaining is None else max(1, math.ceil(remaining))
        return respond(
            native.answer(native.FAILED, "NDXP is unavailable"),
            status=503,
            headers={"Retry-After": str(retry_after)},
        )
    delay_ms = float(faults.latency_ms)
    if faults.jitter_ms:
        delay_ms += sim.random.uniform(0, faults.jitter_ms)
    if faults.slow_ms and sim.random.random() < faults.slow_rate:
        delay_ms += faults.slow_ms
    if delay_ms:
        await asyncio.sleep(delay_ms / 1000)
    if sim.take_failure():
        return respond(native.answer(native.FAILED, "injected fault"), status=500)
    return await handler(request)


class _Listener:
    """The listening socket, which a refusal outage closes and its end opens
    again on the same port."""

    def __init__(self, runner: web.AppRunner, sim: Simulator) -> None:
        self._runner = runner
        self._sim = sim
        self._site: web.SockSite | None = None
        self._port = sim.config.port
        self._resume: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        return self._port

    async def listen(self) -> None:
        if self._site is not None:
            return
        host = self._sim.config.host
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, self._port))
            self._port = sock.getsockname()[1]
            site = web.SockSite(self._runner, sock)
            await site.start()
        except BaseException:
            sock.close()
            raise
        self._site = site

    async def refuse(self) -> None:
        """Stop listening and close the open connections: idle ones now, busy
        ones once their current request is answered."""
        if self._site is None:
            return
        site, self._site = self._site, None
        await site.stop()
        server = self._runner.server
        busy = self._runner.app[BUSY]
        for connection in server.connections if server is not None else ():
            if connection in busy:
                connection.close()
            else:
                connection.force_close()

    async def follow(self, faults: Faults) -> None:
        """Listen or not, as the faults now in force say."""
        if self._resume is not None:
            self._resume.cancel()
            self._resume = None
        if faults.outage != "refuse":
            await self.listen()
            return
        await self.refuse()
        duration = faults.outage_duration()
        if duration is not None:
            self._resume = asyncio.create_task(self._listen_after(duration))
        log.warning("ndxp.refusing", seconds=duration)

    async def _listen_after(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        self._resume = None
        try:
            await self.listen()
        except OSError as exc:
            log.error("ndxp.relisten_failed", port=self._port, error=str(exc))
            return
        log.info("ndxp.listening_again", port=self._port)

    async def close(self) -> None:
        if self._resume is not None:
            self._resume.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._resume
        if self._site is not None:
            await self._site.stop()
            self._site = None


@contextlib.asynccontextmanager
async def running(config: SimulatorConfig | None = None) -> AsyncIterator[Simulator]:
    """Run a simulated NDXP (default: on 127.0.0.1, any free port) and yield
    its state: ``sim.url``, ``await sim.set_faults(...)``,
    ``sim.expire_tokens()``, ``sim.calls``, ``sim.dossiers``."""
    config = config or SimulatorConfig(port=0)
    app = create_app(config)
    sim = app[SIMULATOR]
    runner = web.AppRunner(
        app, access_log=None, handler_cancellation=True, shutdown_timeout=SHUTDOWN_TIMEOUT_S
    )
    await runner.setup()
    listener = _Listener(runner, sim)
    try:
        await listener.listen()
        host = f"[{config.host}]" if ":" in config.host else config.host
        sim.url = f"http://{host}:{listener.port}"
        sim.on_faults(listener.follow)
        if config.faults.outage == "refuse":
            await listener.follow(config.faults)
        log.info("ndxp.listening", url=sim.url, provinces=sorted(config.gateways))
        yield sim
    finally:
        await listener.close()
        await runner.cleanup()


def platform(
    *, provinces: Mapping[str, str], ephemeral: bool = False, data_dir: Path | None = None
) -> contextlib.AbstractAsyncContextManager[Simulator]:
    """The simulated NDXP as the national platform of ``lgsp up`` and the
    testing kit (entry point group ``lgsp.platforms``): on 127.0.0.1, port
    ``LGSP_NDXP_PORT`` (default 8090; an ``ephemeral`` one, a test's, takes
    any free port), linking ``provinces`` (each province's gateway URL, read
    at each call: the runner fills it as they start). It yields the
    :class:`Simulator`, whose ``env`` and ``network(province)`` tell the
    provinces how to reach it.

    This process's NDXP connector (the module-level one; each province's
    copy reads ``LGSP_NDXP_URL`` from its settings) is pointed at it, afresh
    (no token, the circuit closed), unless ``LGSP_NDXP_URL`` names another
    NDXP: so a bus and the simulator it started always find each other, on
    whatever port; an ephemeral one is always followed. NDOP keeps its
    reports in ``data_dir/ndop`` (in memory without a ``data_dir``)."""
    env = os.environ
    return _beside_the_bus(
        SimulatorConfig(
            port=0 if ephemeral else int(env.get("LGSP_NDXP_PORT", DEFAULT_PORT)),
            provinces=provinces,
            data_dir=data_dir,
        ),
        follow=ephemeral or "LGSP_NDXP_URL" not in env,
    )


@contextlib.asynccontextmanager
async def _beside_the_bus(config: SimulatorConfig, *, follow: bool) -> AsyncIterator[Simulator]:
    async with running(config) as sim:
        if follow:
            # Imported here: the simulator alone (`lgsp ndxp-sim`) needs no connector.
            from lgsp_adapters.ndxp import connector

            connector.configure(connector.Settings.from_env(), url=sim.url)
        yield sim
