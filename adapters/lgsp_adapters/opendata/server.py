"""The open data portal's HTTP server: CKAN's Action API
(``/api/3/action/<name>`` and ``/api/action/<name>``), the download files,
the DCAT endpoints, and the page; and the sidecar that runs it beside the bus.

The request handling copies ckan/views/api.py: GET only for side-effect-free
actions (URL parameters), POST with a JSON body or a form, the
``{help, success, result}`` envelope, and CKAN's error statuses and bodies.

Each province of a network runs its own portal (its own port, gateway
client, data folder, and its name on the page and in the catalogue),
configured from the province's settings (``LGSP_PROVINCE``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
from aiohttp import web
from rdflib import Graph, Literal, URIRef
from rdflib.namespace import DCTERMS, FOAF, RDF

from lgsp_adapters.gateway_client import GatewayClient
from lgsp_adapters.opendata import dcat
from lgsp_adapters.opendata.actions import ACTIONS, Call, Portal
from lgsp_adapters.opendata.catalog import Catalog
from lgsp_adapters.opendata.errors import ActionError, BadRequest
from lgsp_adapters.opendata.publish import Outcome, Publisher
from lgsp_adapters.provinces import DEFAULT, PROVINCES, Province, province_of

log = structlog.get_logger("lgsp_adapters.opendata.server")

DEFAULT_PORT = 8095
DEMO_TOKEN = "demo-opendata-api-token"
STATIC = Path(__file__).parent / "static"
PORTAL = web.AppKey("opendata.portal", Portal)
PROVINCE = web.AppKey("opendata.province", Province)
PAGES = web.AppKey("opendata.pages", dict[str, str])
"""The page's HTML files as this province's portal serves them."""


@dataclass(frozen=True)
class PortalConfig:
    """The portal's settings (``LGSP_OPENDATA_*`` in :meth:`from_env`)."""

    gateway_url: str
    port: int = DEFAULT_PORT
    host: str = "127.0.0.1"
    province: str = DEFAULT
    """The province whose portal this is (a key of ``provinces.PROVINCES``)."""
    client_id: str = "dongthap.opendata"
    client_secret: str = "demo-opendata-secret"
    api_token: str = DEMO_TOKEN
    publish_every_s: float = 600.0
    retry_s: float = 20.0
    """The longest wait before trying again while a dataset has never been
    published (the first retry is after a quarter of it)."""
    min_count: int = 5
    timeout_s: float = 10.0
    data_dir: Path | None = None

    @classmethod
    def from_env(
        cls,
        gateway_url: str,
        *,
        ephemeral: bool,
        data_dir: Path | None,
        env: Mapping[str, str] | None = None,
    ) -> PortalConfig:
        """From a province's settings (default: the process's environment):
        its province (``LGSP_PROVINCE``), port ``LGSP_OPENDATA_PORT`` (8095)
        plus the province's index (any free port when ``ephemeral``), client
        ``LGSP_OPENDATA_CLIENT_ID`` (``<province>.opendata``), ...; its state
        in ``data_dir/opendata``."""
        env = os.environ if env is None else env
        province = province_of(env)
        base = int(env.get("LGSP_OPENDATA_PORT", DEFAULT_PORT))
        return cls(
            gateway_url=gateway_url,
            port=0 if ephemeral else base + province.index,
            province=province.key,
            client_id=env.get("LGSP_OPENDATA_CLIENT_ID", f"{province.key}.opendata"),
            client_secret=env.get("LGSP_OPENDATA_CLIENT_SECRET", cls.client_secret),
            api_token=env.get("LGSP_OPENDATA_API_TOKEN", DEMO_TOKEN),
            publish_every_s=float(env.get("LGSP_OPENDATA_PUBLISH_S", 600)),
            min_count=int(env.get("LGSP_OPENDATA_MIN_COUNT", 5)),
            retry_s=float(env.get("LGSP_OPENDATA_RETRY_S", cls.retry_s)),
            data_dir=data_dir / "opendata" if data_dir is not None else None,
        )


@dataclass
class OpenDataPortal:
    """The running portal: what the sidecar yields (``Bus.sidecars["opendata"]``)."""

    url: str
    config: PortalConfig
    catalog: Catalog
    publisher: Publisher

    async def publish(self) -> list[Outcome]:
        """Publish every dataset now."""
        return await self.publisher.run()

    def describe(self) -> str:
        """Its line in ``lgsp up``'s banner."""
        line = f"open data   {self.url}/dataset   CKAN API {self.url}/api/3/action/package_search"
        if self.config.province != DEFAULT:
            line += f"   ({PROVINCES[self.config.province].name})"
        return line


# -- the Action API -----------------------------------------------------------------


def _reply(status: int, body: object) -> web.Response:
    return web.Response(
        status=status,
        body=json.dumps(body, ensure_ascii=False).encode(),
        content_type="application/json",
        charset="utf-8",
        headers={"Access-Control-Allow-Origin": "*"},
    )


def _mixed(pairs: Any) -> dict[str, Any]:
    """URL or form parameters: a list where a key repeats (as CKAN's ``mixed``)."""
    out: dict[str, Any] = {}
    for key in pairs:
        values = pairs.getall(key)
        out[key] = values[0] if len(values) == 1 else values
    return out


async def _request_data(request: web.Request, side_effect_free: bool) -> dict[str, Any]:
    if request.method == "GET":
        if not side_effect_free:
            raise BadRequest("JSON Error: Invalid request. Please use POST method for your request")
        return _mixed(request.query)
    if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.post()
        values = list(form.values())
        if len(values) == 1 and values[0] in ("1", ""):
            try:
                data: Any = json.loads(next(iter(form.keys())))
            except ValueError as exc:
                raise BadRequest(f"JSON Error: Error decoding JSON data. Error: {exc!r}") from None
        else:
            data = _mixed(form)
    else:
        raw = await request.read()
        if not raw.strip():
            data = {}
        else:
            try:
                data = json.loads(raw)
            except ValueError as exc:
                raise BadRequest(f"JSON Error: Error decoding JSON data. Error: {exc!r}") from None
    if not isinstance(data, dict):
        raise BadRequest(
            f"JSON Error: Request data JSON decoded to {data!r} but it needs to be a dictionary."
        )
    data.pop("callback", None)
    return data


def _authorized(request: web.Request, token: str) -> bool:
    given = request.headers.get("Authorization") or request.headers.get("X-CKAN-API-Key") or ""
    given = given.removeprefix("Bearer ").strip()
    return bool(given) and secrets.compare_digest(given.encode(), token.encode())


async def action(request: web.Request) -> web.Response:
    """``GET|POST /api/[3/]action/{name}``."""
    portal = request.app[PORTAL]
    name = request.match_info["name"]
    registered = ACTIONS.get(name)
    if registered is None:
        return _reply(400, f"Bad request: Action name not known: {name}")
    envelope: dict[str, Any] = {
        "help": f"{portal.catalog.site_url}/api/3/action/help_show?name={name}"
    }
    try:
        data = await _request_data(request, registered.side_effect_free)
    except BadRequest as exc:
        return _reply(400, exc.message)
    try:
        result = await registered.fn(portal, Call(data, _authorized(request, portal.api_token)))
    except ActionError as exc:
        return _reply(exc.status, envelope | {"success": False, "error": exc.error()})
    return _reply(200, envelope | {"success": True, "result": result})


# -- files, metadata and the page ------------------------------------------------------


async def download(request: web.Request) -> web.Response:
    portal = request.app[PORTAL]
    found = portal.catalog.downloads.get(request.match_info["id"])
    package = portal.catalog.packages.get(request.match_info["name"])
    if found is None or package is None or found.filename != request.match_info["file"]:
        raise web.HTTPNotFound(text="Resource not found")
    return web.Response(
        body=found.body,
        headers={
            "Content-Type": f"{found.content_type}; charset=utf-8",
            "Content-Disposition": f'attachment; filename="{found.filename}"',
        },
    )


def _province_catalogue(g: Graph, site: str, province: Province) -> None:
    """Name the catalogue and its publisher for a province other than the
    one :mod:`.dcat` describes (Đồng Tháp)."""
    root = URIRef(f"{site}/catalog")
    g.remove((root, DCTERMS.title, None))
    g.remove((root, DCTERMS.publisher, None))
    g.add((root, DCTERMS.title, Literal(f"Cổng dữ liệu mở {province.full_name}", lang="vi")))
    g.add((root, DCTERMS.title, Literal(f"{province.name} province open data portal", lang="en")))
    publisher = URIRef(f"{site}/organization/so-khoa-hoc-va-cong-nghe-{province.key}")
    g.add((root, DCTERMS.publisher, publisher))
    g.add((publisher, RDF.type, FOAF.Agent))
    name = f"Sở Khoa học và Công nghệ {province.full_name}"
    g.add((publisher, FOAF.name, Literal(name, lang="vi")))


def _dcat(request: web.Request, names: list[str] | None, suffix: str) -> web.Response:
    portal, province = request.app[PORTAL], request.app[PROVINCE]
    g = dcat.graph(portal.catalog, names)
    if province.key != DEFAULT:
        _province_catalogue(g, portal.catalog.site_url, province)
    body, media_type = dcat.serialise(g, suffix)
    return web.Response(body=body, headers={"Content-Type": f"{media_type}; charset=utf-8"})


async def catalog_metadata(request: web.Request) -> web.Response:
    suffix = request.match_info["suffix"]
    if suffix not in dcat.SERIALISATIONS:
        raise web.HTTPNotFound()
    return _dcat(request, None, suffix)


async def dataset_page(request: web.Request) -> web.StreamResponse:
    """``/dataset/{name}`` (the page) and ``/dataset/{name}.ttl|.jsonld|.rdf``."""
    portal = request.app[PORTAL]
    name = request.match_info["name"]
    stem, dot, suffix = name.rpartition(".")
    if dot and suffix in dcat.SERIALISATIONS:
        package = portal.catalog.package(stem)
        if package is None:
            raise web.HTTPNotFound(text="Dataset not found")
        return _dcat(request, [package["name"]], suffix)
    if portal.catalog.package(name) is None:
        raise web.HTTPNotFound(text="Dataset not found")
    return _page(request, "dataset.html")


async def search_page(request: web.Request) -> web.StreamResponse:
    return _page(request, "index.html")


def _page(request: web.Request, name: str) -> web.Response:
    return web.Response(text=request.app[PAGES][name], content_type="text/html")


def _pages(province: Province) -> dict[str, str]:
    # The page names Đồng Tháp, whose portal it was written for.
    own = PROVINCES[DEFAULT].name
    return {
        name: (STATIC / name).read_text(encoding="utf-8").replace(own, province.name)
        for name in ("index.html", "dataset.html")
    }


async def home(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/dataset")


def create_app(portal: Portal, province: Province | None = None) -> web.Application:
    """The portal's application, for ``province`` (default Đồng Tháp)."""
    province = province or PROVINCES[DEFAULT]
    app = web.Application(client_max_size=1 << 20)
    app[PORTAL] = portal
    app[PROVINCE] = province
    app[PAGES] = _pages(province)
    for prefix in ("/api/action", "/api/3/action"):
        app.router.add_route("GET", prefix + "/{name}", action)
        app.router.add_route("POST", prefix + "/{name}", action)
    app.router.add_get("/", home)
    app.router.add_get("/dataset", search_page)
    app.router.add_get("/dataset/", search_page)
    app.router.add_get("/dataset/{name}", dataset_page)
    app.router.add_get("/dataset/{name}/resource/{id}/download/{file}", download)
    app.router.add_get("/catalog.{suffix}", catalog_metadata)
    app.router.add_static("/static", STATIC)
    return app


# -- running it -------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def running(config: PortalConfig, *, scheduled: bool = True) -> AsyncIterator[OpenDataPortal]:
    """The portal on ``config.host:config.port`` until the block exits, with
    its publisher running at start and every ``publish_every_s`` (when
    ``scheduled``; else only when told)."""
    path = config.data_dir / "catalog.json" if config.data_dir is not None else None
    catalog = await asyncio.to_thread(Catalog, "", path)
    client = GatewayClient(
        config.gateway_url, config.client_id, config.client_secret, timeout_s=config.timeout_s
    )
    publisher = Publisher(client, catalog, min_count=config.min_count)
    province = PROVINCES[config.province]
    site_title = f"Cổng dữ liệu mở {province.full_name}"
    app = create_app(Portal(catalog, publisher, config.api_token, site_title), province)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        try:
            await web.TCPSite(runner, config.host, config.port).start()
        except OSError as exc:
            if config.port == 0:
                raise
            # Another portal (another bus on this host) has the port: the bus
            # stays up, and the log says where this portal is.
            log.warning("opendata.port_taken", port=config.port, error=str(exc))
            await web.TCPSite(runner, config.host, 0).start()
        port = runner.addresses[0][1]
        url = f"http://{config.host}:{port}"
        catalog.rebase(url)
        handle = OpenDataPortal(url, config, catalog, publisher)
        log.info(
            "opendata.started",
            province=province.key,
            url=url,
            gateway=config.gateway_url,
            api_token=config.api_token if config.api_token == DEMO_TOKEN else "(configured)",
        )
        schedule = asyncio.create_task(_publish_periodically(handle)) if scheduled else None
        try:
            yield handle
        finally:
            if schedule is not None:
                schedule.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await schedule
    finally:
        await runner.cleanup()
        await client.close()


async def _publish_periodically(portal: OpenDataPortal) -> None:
    # The bus starts its adapters after its sidecars: until every dataset has
    # a publication, try again soon (5, 10, 20 s by default), then on schedule.
    backoff = portal.config.retry_s / 4
    # `lgsp up` starts its sidecars before the gateway listens: the first
    # publication waits for it rather than failing (and logging) at once.
    await portal.publisher.client.ready()
    while True:
        await portal.publisher.run()
        wait = portal.config.publish_every_s
        if not portal.publisher.complete:
            wait = min(wait, backoff)
            backoff = min(backoff * 2, portal.config.retry_s)
        await asyncio.sleep(wait)


def sidecar(
    *,
    gateway_url: str,
    ephemeral: bool = False,
    data_dir: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> contextlib.AbstractAsyncContextManager[OpenDataPortal]:
    """The open data portal beside a province's bus in ``lgsp up`` and the
    testing kit (entry point group ``lgsp.sidecars``), configured from the
    province's settings ``env`` (None: the process's environment): on
    127.0.0.1, port ``LGSP_OPENDATA_PORT`` (default 8095) plus the province's
    index (an ``ephemeral`` one takes any free port), publishing from the
    gateway (``LGSP_URL`` when set and not ephemeral) as
    ``LGSP_OPENDATA_CLIENT_ID`` (``<province>.opendata``). Its last
    publication is kept in ``data_dir/opendata`` (in memory without one). It
    yields the :class:`OpenDataPortal`."""
    env = os.environ if env is None else env
    url = gateway_url if ephemeral else env.get("LGSP_URL", gateway_url)
    config = PortalConfig.from_env(url, ephemeral=ephemeral, data_dir=data_dir, env=env)
    # A test's bus makes no exchange the test did not ask for: there, the
    # portal publishes only when told (OpenDataPortal.publish, lgsp_publish).
    return running(config, scheduled=not ephemeral)
