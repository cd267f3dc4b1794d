"""The simulated VNForm as an HTTP server, and the ways to run it
(:func:`running` for tests and ``lgsp vnform-sim``; :func:`platform`, the
national platform every province of ``lgsp up`` or a test's network
shares).

| route | what | who |
|---|---|---|
| ``GET /forms``, ``GET /forms/{id}`` | the survey forms, one per procedure | anyone |
| ``GET /.well-known/vnform-public-key`` | the key webhooks are signed with | anyone |
| ``PUT /webhooks``, ``GET /webhooks`` | where the province's answers go | a province (API key) |
| ``POST /invitations`` | invite a citizen to rate a returned dossier | a province (API key) |
| ``POST /forms/{id}/submissions`` | a citizen's answer, with the invitation | the citizen |
| ``POST /admin/simulate`` | answer the open invitations, seeded | this machine |
| ``GET /admin/invitations``, ``GET /admin/deliveries`` | what it holds | this machine |
| ``GET /healthz`` | liveness | anyone |

A province's systems authenticate with ``Authorization: Bearer <API key>``
(the demo keys are ``demo-vnform-key-<province>``).
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, Final

import structlog
from aiohttp import web

from lgsp_adapters.vnform.forms import Form
from lgsp_adapters.vnform.refusal import refusal
from lgsp_adapters.vnform.signature import HEADER
from lgsp_adapters.vnform.simulator import (
    DEFAULT_PORT,
    SIMULATE_MAX,
    SIMULATOR,
    Simulator,
    VnformConfig,
)

log = structlog.get_logger("lgsp_adapters.vnform")

MAX_BODY: Final = 64 * 1024
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PORT_ENV: Final = "LGSP_VNFORM_PORT"


def _sim(request: web.Request) -> Simulator:
    return request.app[SIMULATOR]


async def _json_object(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise refusal(400, "vnform.request.malformed", "the body is not JSON") from None
    if not isinstance(body, dict):
        raise refusal(400, "vnform.request.malformed", "the body is not a JSON object")
    return body


def _province(request: web.Request) -> str:
    """The province whose API key the request carries, or 401."""
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    province = _sim(request).province_of(key.strip() if scheme.lower() == "bearer" else None)
    if province is None:
        raise refusal(
            401,
            "vnform.auth.unauthenticated",
            "a province's API key is needed (Authorization: Bearer <key>)",
            headers={"WWW-Authenticate": 'Bearer realm="vnform"'},
        )
    return province


def _text(body: Mapping[str, Any], name: str, limit: int = 200) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not 0 < len(value) <= limit:
        raise refusal(422, "vnform.request.invalid", f"{name} is a text of 1 to {limit} characters")
    return value


def _form(request: web.Request) -> Form:
    form = _sim(request).forms.get(request.match_info["form"])
    if form is None:
        raise refusal(404, "vnform.form.unknown", "VNForm has no such form")
    return form


# -- the routes ----------------------------------------------------------------


async def forms(request: web.Request) -> web.Response:
    return web.json_response({"forms": [f.summary() for f in _sim(request).forms.values()]})


async def form(request: web.Request) -> web.Response:
    return web.json_response(_form(request).as_json())


async def public_key(request: web.Request) -> web.Response:
    return web.json_response(
        {"publicKey": _sim(request).signer.public_key, "algorithm": "Ed25519", "header": HEADER}
    )


async def put_webhook(request: web.Request) -> web.Response:
    province = _province(request)
    url = _text(await _json_object(request), "url", 2000)
    if not url.startswith(("http://", "https://")):
        raise refusal(422, "vnform.request.invalid", "url is an http(s) URL")
    _sim(request).webhooks[province] = url
    log.info("vnform.webhook_registered", province=province, url=url)
    return web.json_response({"tinh": province, "url": url})


async def get_webhook(request: web.Request) -> web.Response:
    province = _province(request)
    return web.json_response({"tinh": province, "url": _sim(request).webhooks.get(province)})


async def invite(request: web.Request) -> web.Response:
    province = _province(request)
    body = await _json_object(request)
    sim = _sim(request)
    invitation, new = sim.invite(
        province,
        ma_ho_so=_text(body, "maHoSo", 64),
        ma_tthc=_text(body, "maTTHC", 64),
        ma_don_vi=_text(body, "maDonVi", 64),
        citizen=_text(body, "thamChieuCongDan", 64),
        returned_at=_text(body, "thoiDiem", 64),
    )
    if new:
        log.info(
            "vnform.invited",
            province=province,
            form=invitation.form.id,
            ma_ho_so=invitation.ma_ho_so,
        )
    return web.json_response(invitation.as_json(sim.url), status=201 if new else 200)


async def submit(request: web.Request) -> web.Response:
    form = _form(request)
    body = await _json_object(request)
    answers = body.get("traLoi")
    if not isinstance(answers, dict):
        raise refusal(422, "vnform.answer.invalid", "traLoi is an object of the form's answers")
    submission = _sim(request).submit(form, _text(body, "loiMoi", 64), answers)
    return web.json_response({"maPhanHoi": submission.id, "maBieuMau": form.id}, status=201)


async def simulate(request: web.Request) -> web.Response:
    body = await _json_object(request)
    seed, limit = body.get("seed", 0), body.get("limit", SIMULATE_MAX)
    if not isinstance(seed, int) or not isinstance(limit, int) or not 1 <= limit <= SIMULATE_MAX:
        raise refusal(
            422, "vnform.request.invalid", f"seed is an integer, limit 1 to {SIMULATE_MAX}"
        )
    return web.json_response({"maPhanHoi": _sim(request).simulate(seed, limit)})


async def invitations(request: web.Request) -> web.Response:
    sim = _sim(request)
    return web.json_response({"loiMoi": [i.as_json(sim.url) for i in sim.invitations.values()]})


async def deliveries(request: web.Request) -> web.Response:
    sim = _sim(request)
    return web.json_response({"guiDi": [d.as_json() for d in sim.deliveries.values()]})


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def create_app(config: VnformConfig | None = None) -> web.Application:
    """The simulated VNForm as an aiohttp application; its state is
    ``app[SIMULATOR]`` (started and closed with the application)."""
    config = config or VnformConfig()
    sim = Simulator(config)

    @web.middleware
    async def admin_here_only(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith("/admin") and not config.admin_from_anywhere:
            try:
                loopback = ipaddress.ip_address(request.remote or "").is_loopback
            except ValueError:
                loopback = False
            if not loopback:
                raise refusal(403, "vnform.admin.forbidden", "admin routes answer this machine")
        return await handler(request)

    app = web.Application(middlewares=[admin_here_only], client_max_size=MAX_BODY)
    app[SIMULATOR] = sim

    async def start(app: web.Application) -> None:
        await sim.start()

    async def close(app: web.Application) -> None:
        await sim.close()

    app.on_startup.append(start)
    app.on_cleanup.append(close)
    add = app.router
    add.add_get("/forms", forms)
    add.add_get("/forms/{form}", form)
    add.add_post("/forms/{form}/submissions", submit)
    add.add_get("/.well-known/vnform-public-key", public_key)
    add.add_put("/webhooks", put_webhook)
    add.add_get("/webhooks", get_webhook)
    add.add_post("/invitations", invite)
    add.add_post("/admin/simulate", simulate)
    add.add_get("/admin/invitations", invitations)
    add.add_get("/admin/deliveries", deliveries)
    add.add_get("/healthz", healthz)
    return app


@contextlib.asynccontextmanager
async def running(
    config: VnformConfig | None = None, *, fallback: bool = False
) -> AsyncIterator[Simulator]:
    """Run a simulated VNForm (default: on 127.0.0.1, any free port) and
    yield its state (``sim.url``, ``sim.invitations``, ``await
    sim.settled()``). With ``fallback``, a port already taken (another bus
    on this machine has it) gives way to any free one, said in the log."""
    config = config or VnformConfig(port=0)
    app = create_app(config)
    sim = app[SIMULATOR]
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    try:
        try:
            await web.TCPSite(runner, config.host, config.port).start()
        except OSError as exc:
            if not fallback or config.port == 0:
                raise
            log.warning("vnform.port_taken", port=config.port, error=str(exc))
            await web.TCPSite(runner, config.host, 0).start()
        port = runner.addresses[0][1]
        host = f"[{config.host}]" if ":" in config.host else config.host
        sim.url = f"http://{host}:{port}"
        log.info("vnform.listening", url=sim.url)
        yield sim
    finally:
        await runner.cleanup()


def platform(
    *, provinces: Mapping[str, str], ephemeral: bool = False, data_dir: Path | None = None
) -> contextlib.AbstractAsyncContextManager[Simulator]:
    """The simulated VNForm as a national platform of ``lgsp up`` and the
    testing kit (entry point group ``lgsp.platforms``): on 127.0.0.1, port
    ``LGSP_VNFORM_PORT`` (default 8091, any free one if taken; an
    ``ephemeral`` one, a test's, takes any free port), its signing key kept
    in ``data_dir/vnform`` (a new one each start without a ``data_dir``).
    It yields the :class:`Simulator`, whose ``env`` tells each province's
    VNForm connector where it is.

    This process's module-level connector (one province: ``lgsp up``, a
    test's bus) is linked to it for as long as it runs, unless
    ``LGSP_VNFORM_URL`` names another VNForm; a test's bus's connector
    receives its webhooks on any free port."""
    env = os.environ
    given = env.get(PORT_ENV)
    config = VnformConfig(
        port=0 if ephemeral else int(given or DEFAULT_PORT),
        data_dir=None if data_dir is None else data_dir / "vnform",
    )
    follow = ephemeral or "LGSP_VNFORM_URL" not in env
    return _beside_the_bus(config, follow=follow, ephemeral=ephemeral, fallback=given is None)


@contextlib.asynccontextmanager
async def _beside_the_bus(
    config: VnformConfig, *, follow: bool, ephemeral: bool, fallback: bool
) -> AsyncIterator[Simulator]:
    async with running(config, fallback=fallback) as sim:
        if ephemeral:
            sim.province_env["LGSP_VNFORM_RECEIVER_PORT"] = "0"
        if not follow:
            yield sim
            return
        # Imported here: the simulator alone (`lgsp vnform-sim`) needs no connector.
        from lgsp_adapters.vnform import connector

        connector.link(sim.url, receiver_port=0 if ephemeral else None)
        try:
            yield sim
        finally:
            connector.unlink()
