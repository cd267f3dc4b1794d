"""``lgsp up``, ``lgsp gateway``, ``lgsp adapters`` and ``lgsp adapter run``:
the bus's processes, each until SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pkgutil
import shlex
import ssl
import sys
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping, Sequence
from pathlib import Path
from typing import Any

import click
import structlog

from lgsp.adapter import Adapter
from lgsp.catalogue.registry import Registry
from lgsp.cli.audit import DEFAULT_DATA_DIR, check_store_url
from lgsp.cli.workers import WORKERS_ENV, Plan, Supervisor, inherited_sockets, resolve, supervised
from lgsp.config import DEMO_PROVINCES, DEMO_SECRETS, STORE_URL_ENV, Settings, soc_environment
from lgsp.errors import ContractMismatch
from lgsp.http_provider import UnknownProvider
from lgsp.network import Province, province_settings, run_network, vhost_url
from lgsp.server import (
    Sidecar,
    UnknownAdapter,
    load_adapters,
    load_platforms,
    load_sidecars,
    run,
)
from lgsp.store import StoreError
from lgsp.transport import create_transport
from lgsp.transport.amqp.topology import QUEUE_TYPE_ENV, QUEUE_TYPES
from lgsp.trust.clients import ClientStoreError
from lgsp.trust.tls import tls_context
from lgsp.trust.workers import this_worker

AMQP_URL_HELP = (
    "RabbitMQ URL, e.g. amqp://user:pass@host:5672/, or a cluster's nodes "
    "amqp://user:pass@host1:5672,host2:5672,host3:5672/ (env LGSP_AMQP_URL)."
)


_REFUSALS = (UnknownProvider, ContractMismatch, ClientStoreError, StoreError, OSError)
"""What stops a server from starting, said in one line, not a traceback."""


def _serve(main: Coroutine[Any, Any, None]) -> None:
    """Run a server until it stops; a port already taken, a store that does
    not answer (or another refusal at start-up) is a clear one-line error,
    also when it comes out of the task groups that run the server."""
    try:
        asyncio.run(main)
    except (*_REFUSALS, ExceptionGroup) as exc:
        refusal: BaseException = exc
        while isinstance(refusal, BaseExceptionGroup):
            matched, _ = refusal.split(_REFUSALS)
            if matched is None:
                raise
            refusal = matched.exceptions[0]
        if isinstance(refusal, OSError):
            raise click.ClickException(f"cannot start: {refusal}") from exc
        raise click.ClickException(str(refusal)) from exc


def _settings(config: Path | None) -> Settings:
    """The configuration, for the province ``LGSP_PROVINCE`` names when set
    (its demo clients and partners, when the configuration is the demo's)."""
    try:
        overrides: dict[str, object] = {"token_secret": os.environ.get("LGSP_TOKEN_SECRET")}
        if os.environ.get("LGSP_GATEWAYS"):
            overrides["gateways"] = os.environ["LGSP_GATEWAYS"]
        # The SOC's collector and blocklist (LGSP_SOC_*), over the config's [soc].
        overrides["soc"] = soc_environment(os.environ) or None
        settings = Settings.load(config, **overrides)
        province = os.environ.get("LGSP_PROVINCE")
        if province:
            if settings.demo and province not in DEMO_PROVINCES:
                raise ValueError(
                    f"LGSP_PROVINCE={province} is not a province of the demo network "
                    f"({', '.join(DEMO_PROVINCES)})"
                )
            settings = province_settings(settings, province, settings.data_dir, several=False)
        return settings
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"bad configuration: {exc}") from exc


def _with_data_dir(
    settings: Settings, data_dir: Path | None, default: Path | None = None
) -> Settings:
    """``--data-dir`` wins over the config's ``data_dir``, which wins over the default."""
    return settings.model_copy(update={"data_dir": data_dir or settings.data_dir or default})


def _with_store(settings: Settings, store_url: str | None) -> Settings:
    """``--store`` wins over the config's ``store_url``; the adapters of this
    process (which read their settings from its environment) get it too."""
    url = store_url or settings.store_url
    _adapters_store(url)
    return settings.model_copy(update={"store_url": url})


def _adapters(names: tuple[str, ...]) -> list[Adapter]:
    try:
        return load_adapters(names)
    except UnknownAdapter as exc:
        raise click.UsageError(str(exc)) from exc


store_option = click.option(
    "--store",
    "store_url",
    metavar="URL",
    envvar=STORE_URL_ENV,
    callback=check_store_url,
    help=f"PostgreSQL for the bus's shared state (env {STORE_URL_ENV}): clients, keys, "
    "idempotency keys, the exchange log, subscribers' inboxes, so gateways and adapters on "
    "several machines share it; default: SQLite files in the data folder.",
)
config_option = click.option(
    "--config",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    envvar="LGSP_CONFIG",
    help="TOML settings and clients (env LGSP_CONFIG); default: the demo province.",
)
host_option = click.option("--host", default="127.0.0.1", help="Address the gateway binds.")
port_option = click.option(
    "--port", default=8080, type=click.IntRange(0, 65535), help="Gateway port."
)
amqp_option = click.option("--amqp-url", envvar="LGSP_AMQP_URL", help=AMQP_URL_HELP)


def _queue_type(_ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    # Read where the transport is made (and by workers this process starts).
    if value is not None:
        os.environ[QUEUE_TYPE_ENV] = value


queue_type_option = click.option(
    "--amqp-queue-type",
    type=click.Choice(QUEUE_TYPES),
    envvar=QUEUE_TYPE_ENV,
    expose_value=False,
    callback=_queue_type,
    help=f"Queues classic (one node) or quorum (replicated over a cluster's nodes; env "
    f"{QUEUE_TYPE_ENV}; default classic). Every process of one bus needs the same.",
)
tls_cert_option = click.option(
    "--tls-cert",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="LGSP_TLS_CERT",
    help="Serve HTTPS with this PEM certificate (chain); needs --tls-key.",
)
tls_key_option = click.option(
    "--tls-key",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="LGSP_TLS_KEY",
    help="PEM private key of --tls-cert.",
)
tls_client_ca_option = click.option(
    "--tls-client-ca",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="LGSP_TLS_CLIENT_CA",
    help="PEM CA of client certificates: enables optional mutual TLS.",
)


def _with_tls(
    settings: Settings, cert: Path | None, key: Path | None, client_ca: Path | None
) -> tuple[Settings, ssl.SSLContext | None]:
    """Options win over the config's tls_* fields; unreadable or mismatched
    files are a one-line error, not a traceback."""
    settings = settings.model_copy(
        update={
            "tls_cert": cert or settings.tls_cert,
            "tls_key": key or settings.tls_key,
            "tls_client_ca": client_ca or settings.tls_client_ca,
        }
    )
    if settings.tls_cert is None and settings.tls_key is None:
        if settings.tls_client_ca is not None:
            raise click.UsageError("--tls-client-ca needs --tls-cert and --tls-key")
        return settings, None
    if settings.tls_cert is None or settings.tls_key is None:
        raise click.UsageError("--tls-cert and --tls-key go together")
    try:
        context = tls_context(settings.tls_cert, settings.tls_key, settings.tls_client_ca)
    except (OSError, ssl.SSLError) as exc:
        raise click.ClickException(f"cannot load the TLS certificate or key: {exc}") from exc
    return settings, context


data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="LGSP_DATA_DIR",
    help="Where the exchange log lives (env LGSP_DATA_DIR); default: the config's "
    "data_dir, else lgsp-data here for `up` and memory for `gateway`.",
)


adapters_data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="LGSP_DATA_DIR",
    default=DEFAULT_DATA_DIR,
    show_default=True,
    help="Where the adapters keep their state, one folder each (env LGSP_DATA_DIR).",
)


@click.command()
@host_option
@port_option
@click.option("--transport", "kind", type=click.Choice(["memory", "amqp"]), default="memory")
@amqp_option
@queue_type_option
@config_option
@data_dir_option
@tls_cert_option
@tls_key_option
@tls_client_ca_option
@click.option(
    "--provinces",
    envvar="LGSP_PROVINCES",
    help="Run a network of these provinces, comma-separated (env LGSP_PROVINCES; "
    f"known: {', '.join(DEMO_PROVINCES)}): one gateway each on --port, --port + 1, ...; "
    "on amqp each in its own virtual host. Default: the configuration's one province.",
)
@store_option
def up(
    host: str,
    port: int,
    kind: str,
    amqp_url: str | None,
    config: Path | None,
    data_dir: Path | None,
    tls_cert: Path | None,
    tls_key: Path | None,
    tls_client_ca: Path | None,
    provinces: str | None,
    store_url: str | None,
) -> None:
    """The whole bus in one process: gateway and every mock system, for one
    province or a network of them with the national platforms."""
    if kind == "amqp" and not amqp_url:
        raise click.UsageError("--transport amqp needs --amqp-url or LGSP_AMQP_URL")
    settings = _with_store(_with_data_dir(_settings(config), data_dir, DEFAULT_DATA_DIR), store_url)
    settings, ssl_context = _with_tls(settings, tls_cert, tls_key, tls_client_ca)
    keys = _province_keys(provinces, settings.province)
    several = len(keys) > 1
    if several and settings.store_url is not None:
        # Each province's state is its own (clients, keys, the exchange log).
        raise click.UsageError(
            "--store serves one province: run each province of a network as its own "
            "process with its own database (LGSP_PROVINCE, LGSP_STORE_URL)"
        )
    if several and port + len(keys) - 1 > 65535:
        raise click.UsageError(f"--port {port} leaves no room for {len(keys)} gateways")
    registry = Registry.from_entry_points()
    members = [
        Province(
            key=key,
            settings=province_settings(settings, key, settings.data_dir, several=several),
            transport=create_transport(
                kind, amqp_url=vhost_url(amqp_url, key) if amqp_url and several else amqp_url
            ),
            port=port + i,
        )
        for i, key in enumerate(keys)
    ]
    companions: list[object] = []

    def banner(started: Sequence[Province], platforms: Sequence[object]) -> None:
        if not several:
            lines = _banner(
                started[0].settings, registry, host, port, kind, [*platforms, *companions]
            )
        else:
            lines = _network_banner(started, registry, kind, [*platforms, *companions])
        click.echo(lines, err=True)

    _serve(
        run_network(
            provinces=members,
            registry=registry,
            adapters=_adapters(()),
            sidecars=[_kept(sidecar, companions) for sidecar in load_sidecars().values()],
            platforms=list(load_platforms().values()),
            host=host,
            ssl_context=ssl_context,
            data_dir=settings.data_dir,
            on_ready=banner,
        )
    )


def _province_keys(given: str | None, default: str) -> list[str]:
    if given is None:
        return [default]
    keys = [k.strip() for k in given.split(",") if k.strip()]
    unknown = [k for k in keys if k not in DEMO_PROVINCES]
    if not keys or unknown:
        raise click.UsageError(
            f"unknown province {', '.join(unknown) or '(none given)'}; "
            f"known: {', '.join(DEMO_PROVINCES)}"
        )
    if len(set(keys)) != len(keys):
        raise click.UsageError("a province is named twice in --provinces")
    return keys


workers_option = click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=1,
    envvar=WORKERS_ENV,
    help=f"Gateway processes sharing the port (env {WORKERS_ENV}); more than 1 needs a data "
    "folder, where they share clients, keys, idempotency keys and the exchange log.",
)


@click.command()
@amqp_option
@queue_type_option
@host_option
@port_option
@config_option
@data_dir_option
@tls_cert_option
@tls_key_option
@tls_client_ca_option
@workers_option
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    envvar="LGSP_METRICS_PORT",
    help="Serve /metrics on this port too (env LGSP_METRICS_PORT); with --workers N, "
    "worker i serves its own counters on this port + i - 1.",
)
@click.option("--listen-fd", type=int, multiple=True, hidden=True)
@click.option("--supervisor-fd", type=int, hidden=True)
@store_option
def gateway(
    amqp_url: str | None,
    host: str,
    port: int,
    config: Path | None,
    data_dir: Path | None,
    tls_cert: Path | None,
    tls_key: Path | None,
    tls_client_ca: Path | None,
    workers: int,
    metrics_port: int | None,
    listen_fd: tuple[int, ...],
    supervisor_fd: int | None,
    store_url: str | None,
) -> None:
    """The gateway alone, reaching providers through RabbitMQ; with
    --workers N, N gateway processes on one port."""
    if not amqp_url:
        raise click.UsageError("the gateway needs --amqp-url or LGSP_AMQP_URL")
    settings = _with_store(_with_data_dir(_settings(config), data_dir), store_url)
    settings, ssl_context = _with_tls(settings, tls_cert, tls_key, tls_client_ca)
    registry = Registry.from_entry_points()
    if listen_fd or supervisor_fd is not None:
        worker = this_worker()
        if worker is None or supervisor_fd is None or not listen_fd:
            raise click.UsageError("--listen-fd is for the workers of `lgsp gateway --workers`")
        # Every line a worker logs says which one it is.
        structlog.contextvars.bind_contextvars(worker=worker.index)

        async def serve_as_worker(link: int) -> None:
            async with supervised(link) as (stop, ready):
                await run(
                    transport=create_transport("amqp", amqp_url=amqp_url),
                    registry=registry,
                    settings=settings,
                    http_providers=settings.http_providers,
                    host=host,
                    port=port,
                    sockets=inherited_sockets(listen_fd),
                    metrics_port=metrics_port,
                    on_ready=ready,
                    stop=stop,
                    ssl_context=ssl_context,
                )

        _serve(serve_as_worker(supervisor_fd))
        return
    if workers > 1:
        _supervise(settings, registry, workers, host, port, metrics_port, amqp_url, config)
        return
    _serve(
        run(
            transport=create_transport("amqp", amqp_url=amqp_url),
            registry=registry,
            settings=settings,
            http_providers=settings.http_providers,
            host=host,
            port=port,
            metrics_port=metrics_port,
            on_ready=lambda: click.echo(_banner(settings, registry, host, port, "amqp"), err=True),
            ssl_context=ssl_context,
        )
    )


def _supervise(
    settings: Settings,
    registry: Registry,
    workers: int,
    host: str,
    port: int,
    metrics_port: int | None,
    amqp_url: str,
    config: Path | None,
) -> None:
    """Run ``workers`` gateway processes on one port until told to stop."""
    if settings.data_dir is None:
        raise click.UsageError(
            f"--workers {workers} needs a data folder (--data-dir, LGSP_DATA_DIR or "
            "the config's data_dir): the workers share their clients, keys, idempotency keys "
            "and exchange log there"
        )
    if metrics_port is not None and metrics_port + workers - 1 > 65535:
        raise click.UsageError(
            f"--metrics-port {metrics_port} leaves no room for {workers} workers"
        )
    try:
        addresses, port = resolve(host, port)
    except OSError as exc:
        raise click.ClickException(f"cannot start: {exc}") from exc
    root = click.get_current_context().find_root().params
    log_format = root.get("log_format", "auto")
    if log_format == "auto":
        # A worker writes to this process, never to a terminal: decided here.
        log_format = "console" if sys.stdout.isatty() else "json"
    # What the workers read as this process did: the same settings, with
    # one token key (the configured one, or the one made here) beside the
    # client store they share, never a key of each one's own.
    env = {
        "LGSP_AMQP_URL": amqp_url,
        "LGSP_DATA_DIR": str(settings.data_dir),
        "LGSP_TOKEN_SECRET": settings.token_secret,
    }
    if config is not None:
        env["LGSP_CONFIG"] = str(config)
    for name, path in (
        ("LGSP_TLS_CERT", settings.tls_cert),
        ("LGSP_TLS_KEY", settings.tls_key),
        ("LGSP_TLS_CLIENT_CA", settings.tls_client_ca),
    ):
        if path is not None:
            env[name] = str(path)
    argv = [
        sys.executable,
        "-m",
        "lgsp.cli",
        "--log-level",
        str(root.get("log_level", "info")),
        "--log-format",
        log_format,
        "gateway",
        "--host",
        host,
        "--port",
        str(port),
    ]
    plan = Plan(
        count=workers,
        addresses=addresses,
        port=port,
        argv=argv,
        env=env,
        metrics_port=metrics_port,
        stop_grace_s=settings.max_timeout_ms / 1000 + 10,
    )

    def banner(pids: Sequence[int]) -> None:
        told = f"workers     {workers} processes on port {port} (pids {', '.join(map(str, pids))})"
        if plan.metrics_port is not None:
            told += f"; each one's metrics on ports {', '.join(map(str, plan.metrics_ports()))}"
        click.echo(_banner(settings, registry, host, port, "amqp", notes=[told]), err=True)

    supervisor = Supervisor(plan, on_ready=banner)
    code = asyncio.run(supervisor.run())
    if supervisor.failure is not None:
        raise click.ClickException(supervisor.failure)
    if code != 0:
        raise click.exceptions.Exit(code)


@click.command()
@amqp_option
@queue_type_option
@click.option("--host", default="127.0.0.1", help="Address the metrics endpoint binds.")
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    help="Serve /metrics (the adapters' counters, e.g. the NDXP connector's) on this port.",
)
@adapters_data_dir_option
@store_option
@click.argument("names", nargs=-1)
def adapters(
    amqp_url: str | None,
    host: str,
    metrics_port: int | None,
    data_dir: Path,
    store_url: str | None,
    names: tuple[str, ...],
) -> None:
    """Run adapters (default: every installed mock system) against RabbitMQ."""
    _adapters_store(store_url)
    _serve_adapters(amqp_url, host, metrics_port, data_dir, lambda: _adapters(names))


@click.group()
def adapter() -> None:
    """Run one adapter of your own."""


@adapter.command("run")
@click.argument("target", metavar="MODULE:OBJECT")
@amqp_option
@queue_type_option
@click.option("--host", default="127.0.0.1", help="Address the metrics endpoint binds.")
@click.option("--metrics-port", type=click.IntRange(0, 65535), help="Serve /metrics on this port.")
@adapters_data_dir_option
@store_option
def adapter_run(
    target: str,
    amqp_url: str | None,
    host: str,
    metrics_port: int | None,
    data_dir: Path,
    store_url: str | None,
) -> None:
    """Run the adapter TARGET (an lgsp.Adapter, or a function returning one)
    against RabbitMQ, e.g. `lgsp adapter run my_agency.adapter:adapter`."""
    _adapters_store(store_url)
    _serve_adapters(amqp_url, host, metrics_port, data_dir, lambda: [_resolve_adapter(target)])


def _adapters_store(store_url: str | None) -> None:
    # Adapters read their settings from the process's environment (their
    # subscribers' inbox lives in the store it names).
    if store_url is not None:
        os.environ[STORE_URL_ENV] = store_url


def _serve_adapters(
    amqp_url: str | None,
    host: str,
    metrics_port: int | None,
    data_dir: Path,
    chosen: Callable[[], list[Adapter]],
) -> None:
    """Adapters without a gateway, over RabbitMQ (``chosen`` is resolved
    after the URL is checked, so a missing URL is the first error)."""
    if not amqp_url:
        raise click.UsageError("adapters need --amqp-url or LGSP_AMQP_URL")
    adapters = chosen()
    _serve(
        run(
            transport=create_transport("amqp", amqp_url=amqp_url),
            registry=Registry.from_entry_points(),
            adapters=adapters,
            host=host,
            metrics_port=metrics_port,
            data_dir=data_dir,
            on_ready=lambda: structlog.get_logger("lgsp.cli").info(
                "adapters.ready", adapters=[a.name for a in adapters]
            ),
        )
    )


def _resolve_adapter(target: str) -> Adapter:
    if ":" not in target:
        raise click.UsageError(f"{target!r} is not MODULE:OBJECT")
    try:
        found = pkgutil.resolve_name(target)
    except (ImportError, AttributeError, ValueError) as exc:
        raise click.UsageError(f"cannot load {target}: {exc}") from exc
    if not isinstance(found, Adapter) and callable(found):
        found = found()
    if not isinstance(found, Adapter):
        raise click.UsageError(f"{target} is not an lgsp.Adapter (nor makes one)")
    return found


def _kept(sidecar: Sidecar, handles: list[object]) -> Sidecar:
    """``sidecar``, keeping what it yields in ``handles`` (for the banner)."""

    @contextlib.asynccontextmanager
    async def running(
        *,
        gateway_url: str,
        ephemeral: bool = False,
        data_dir: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> AsyncIterator[object]:
        async with sidecar(
            gateway_url=gateway_url, ephemeral=ephemeral, data_dir=data_dir, env=env
        ) as h:
            handles.append(h)
            yield h

    return running


def _banner(
    settings: Settings,
    registry: Registry,
    host: str,
    port: int,
    transport: str,
    companions: Sequence[object] = (),
    notes: Sequence[str] = (),
) -> str:
    base = f"{'https' if settings.tls_cert else 'http'}://{host}:{port}"
    lines = [
        "",
        f"LGSP gateway on {base} (transport: {transport})",
        f"  catalogue   {base}/v1/services   API docs {base}/openapi.json   metrics {base}/metrics",
    ]
    lines.append(f"  dashboard   {base}/dashboard   (operators: HTTP Basic)")
    lines += [f"  {note}" for note in notes]
    # A companion server says where it is, when it has a line to say it.
    for handle in companions:
        describe = getattr(handle, "describe", None)
        if callable(describe):
            lines.append(f"  {describe()}")
    demo_admins = [a for a in settings.admins if a.secret in DEMO_SECRETS]
    if demo_admins:
        lines += ["", "Demo operators (dashboard, admin API; refused by a production config):"]
        lines += [f"  {a.id:<18} {a.secret}" for a in demo_admins]
    if settings.demo and "population.citizen.lookup" in registry.services:
        lines += ["", "Demo clients (demo secrets: refused by a production config):"]
        lines += [
            f"  {c.id:<18} {c.secret or '(hashed)':<22} {', '.join(c.grants)}"
            for c in settings.clients
        ]
        first = settings.clients[0]
        lookup = registry.service("population.citizen.lookup")
        body = json.dumps(lookup.examples[0].request, ensure_ascii=False)
        lines += [
            "",
            "Try it:",
            f"  TOKEN=$(curl -s {base}/oauth2/token -d grant_type=client_credentials "
            f"-d client_id={first.id} -d client_secret={first.secret} "
            "| python3 -c 'import json,sys; print(json.load(sys.stdin)[\"access_token\"])')",
            f"  curl -s {base}/v1/services/population.citizen.lookup "
            '-H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" '
            f"-d {shlex.quote(body)}",
            "",
        ]
    return "\n".join(lines)


def _network_banner(
    provinces: Sequence[Province], registry: Registry, transport: str, companions: Sequence[object]
) -> str:
    lines = ["", f"A network of {len(provinces)} LGSPs (transport: {transport})"]
    for p in provinces:
        name = DEMO_PROVINCES.get(p.key, p.key)
        lines.append(f"  {name:<10} {p.url}   dashboard {p.url}/dashboard   clients {p.key}.*")
    for handle in companions:
        describe = getattr(handle, "describe", None)
        if callable(describe):
            lines.append(f"  {describe()}")
    first = provinces[0]
    other = provinces[1]
    lines += [
        "",
        "Demo clients in every province: <province>.onestop, .land, .viewer, .opendata, "
        ".analyst, .portal (secrets as for one province: demo-onestop-secret, ...); "
        "operators admin / demo-admin-secret.",
        f"Call another province through NDXP, from {DEMO_PROVINCES.get(first.key, first.key)}:",
        f"  TOKEN=$(curl -s {first.url}/oauth2/token -d grant_type=client_credentials "
        f"-d client_id={first.key}.onestop -d client_secret=demo-onestop-secret "
        "| python3 -c 'import json,sys; print(json.load(sys.stdin)[\"access_token\"])')",
        f'  curl -s {first.url}/v1/services/land.parcel.search -H "X-LGSP-Province: '
        f'{other.key}" -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" '
        '-d \'{"soDinhDanh": "<a citizen of ' + other.key + ">\"}'",
        "  (docs/network.md walks through a case: a Gia Lai citizen's land dossier in Đồng Tháp)",
        "",
    ]
    return "\n".join(lines)
