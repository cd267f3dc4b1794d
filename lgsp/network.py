"""A network of provinces in one process: each province a whole LGSP (its
settings, client store, keys, exchange log, transport, adapters, sidecars and
data), and the national platforms they share (the simulated NDXP, with NDOP)
started once, before them. Provinces meet only through those platforms: no
province reaches another's state, as in the real network.

``lgsp up`` runs a network of one province by default, and several with
``--provinces``: one gateway port each, in the order given (8080, 8081, ...).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import os
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from lgsp.adapter import Adapter
from lgsp.catalogue.registry import Registry
from lgsp.config import DEMO_CLIENTS, NetworkConfig, Settings, demo_clients, demo_partners
from lgsp.server import Platform, PlatformHandle, Sidecar, local_url, run
from lgsp.transport.base import Transport

log = structlog.get_logger("lgsp.network")

DEFAULT_PROVINCE: str = Settings.model_fields["province"].default
"""The province of a process that names none (``LGSP_PROVINCE``)."""


@dataclass
class Province:
    """One province as the network runs it."""

    key: str
    settings: Settings
    transport: Transport
    port: int
    url: str = ""
    """Where its gateway listens (set when the network starts it)."""
    adapters: list[Adapter] = field(default_factory=list)
    """What runs for it: the installed adapters, copied for it when the
    network has more than one province."""


def province_env(key: str, platforms: Sequence[PlatformHandle]) -> dict[str, str]:
    """What a province's adapters and sidecars read: the process's
    environment, what the national platforms say of themselves, and the
    province (``LGSP_PROVINCE``)."""
    env = dict(os.environ)
    for handle in platforms:
        env.update(handle.env)
    env["LGSP_PROVINCE"] = key
    return env


def with_network(settings: Settings, platforms: Sequence[PlatformHandle]) -> Settings:
    """``settings`` linked to the first platform that forwards between
    provinces, unless they name a network of their own."""
    if settings.network is not None:
        return settings
    for handle in platforms:
        given = handle.network(settings.province)
        if given is not None:
            network = NetworkConfig.model_validate(dict(given))
            return settings.model_copy(update={"network": network})
    return settings


def vhost_url(amqp_url: str, province: str) -> str:
    """The RabbitMQ URL of a province's own virtual host: each province is
    isolated on the broker, as real provinces are."""
    return f"{amqp_url.rstrip('/')}/{province}"


async def run_network(
    *,
    provinces: Sequence[Province],
    registry: Registry,
    adapters: Sequence[Adapter] = (),
    sidecars: Sequence[Sidecar] = (),
    platforms: Sequence[Platform] = (),
    host: str = "127.0.0.1",
    ssl_context: ssl.SSLContext | None = None,
    data_dir: Path | None = None,
    on_ready: Callable[[Sequence[Province], Sequence[PlatformHandle]], None] | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Serve every province until ``stop`` is set or the process is told to
    stop. The platforms start first (told where each gateway is), then the
    provinces side by side; ``on_ready`` runs once every province is ready.
    A province that cannot start stops the others."""
    stop = stop or asyncio.Event()
    gateways: dict[str, str] = {}
    several = len(provinces) > 1
    async with contextlib.AsyncExitStack() as stack:
        handles: list[PlatformHandle] = []
        for platform in platforms:
            handles.append(
                await stack.enter_async_context(platform(provinces=gateways, data_dir=data_dir))
            )
        waiting = len(provinces)

        def one_ready() -> None:
            nonlocal waiting
            waiting -= 1
            if waiting == 0 and on_ready is not None:
                on_ready(provinces, handles)

        async with asyncio.TaskGroup() as tasks:
            for province in provinces:
                province.url = local_url(host, province.port, ssl_context)
                gateways[province.key] = province.url
                province.settings = with_network(province.settings, handles)
                # Copies read their province's settings; one province that
                # the process's own environment names runs the adapters as they are.
                own = os.environ.get("LGSP_PROVINCE", DEFAULT_PROVINCE)
                alone = not several and province.key == own
                env = None if alone else province_env(province.key, handles)
                province.adapters = (
                    [a.copy(env=env) for a in adapters] if env is not None else list(adapters)
                )
                tasks.create_task(
                    run(
                        transport=province.transport,
                        registry=registry,
                        settings=province.settings,
                        adapters=province.adapters,
                        http_providers=province.settings.http_providers,
                        sidecars=sidecars,
                        sidecar_env=env,
                        warm_up=[h.warm for h in handles],
                        host=host,
                        port=province.port,
                        on_ready=one_ready,
                        stop=stop,
                        ssl_context=ssl_context,
                    ),
                    name=f"lgsp-{province.key}",
                )
    log.info("network.stopped", provinces=[p.key for p in provinces])


def province_settings(
    base: Settings, key: str, data_dir: Path | None, *, several: bool
) -> Settings:
    """A province's settings from the configuration's: its own province and,
    for the demo configuration, its demo clients and partners; when there are
    several, also its own data folder (``<data dir>/<province>``) and token
    key (derived from the configuration's, so no province accepts another's
    tokens)."""
    update: dict[str, object] = {"province": key}
    if base.clients == DEMO_CLIENTS:
        update["clients"] = demo_clients(key)
    if "partners" not in base.model_fields_set:
        update["partners"] = demo_partners(key)
    if several:
        update["data_dir"] = None if data_dir is None else data_dir / key
        own = hmac.new(base.token_secret.encode(), key.encode(), hashlib.sha256)
        update["token_secret"] = own.hexdigest()
    # Validated as a configuration file is (the province's key, its grants).
    given = {name: getattr(base, name) for name in base.model_fields_set}
    return Settings.model_validate(given | update)
