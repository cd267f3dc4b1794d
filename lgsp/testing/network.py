"""A network of provinces in the test process: the national platforms (the
simulated NDXP with NDOP) once, then one whole bus per province
(:func:`~lgsp.testing.bus.running_bus`), each with its own settings, client
store, keys, exchange log, transport and copies of the installed adapters::

    async with running_network(["dongthap", "gialai"]) as network:
        answer = await network["dongthap"].call(
            "land.parcel.search", {...}, headers={"X-LGSP-Province": "gialai"}
        )

On ``"amqp"`` each province has its own virtual host on the broker
(``amqp_urls``: province → URL; :meth:`~lgsp.testing.rabbitmq.RabbitNode.add_vhost`
makes them), as real provinces are isolated: only NDXP crosses between them.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from lgsp.adapter import Adapter
from lgsp.config import Settings
from lgsp.network import province_env, province_settings, with_network
from lgsp.server import PlatformHandle, load_adapters, load_platforms
from lgsp.testing.bus import Bus, TransportKind, running_bus

T = TypeVar("T")


@dataclass
class Network:
    """A running network: its provinces' buses and the platforms' handles."""

    provinces: dict[str, Bus] = field(default_factory=dict)
    platforms: dict[str, object] = field(default_factory=dict)
    """What each national platform yielded, by entry point name."""
    adapters: dict[str, list[Adapter]] = field(default_factory=dict)
    """The copies of the installed adapters each province runs."""
    gateways: dict[str, str] = field(default_factory=dict)
    """Each province's gateway URL, as the platforms know it."""

    def __getitem__(self, province: str) -> Bus:
        return self.provinces[province]

    def platform(self, name: str, kind: type[T]) -> T:
        """The handle the platform ``name`` yielded, checked to be a ``kind``."""
        handle = self.platforms[name]
        if not isinstance(handle, kind):
            raise TypeError(f"platform {name} is a {type(handle).__name__}, not a {kind.__name__}")
        return handle

    def adapter(self, province: str, name: str) -> Adapter:
        """The copy of the adapter ``name`` that runs for ``province``."""
        return next(a for a in self.adapters[province] if a.name == name)


@contextlib.asynccontextmanager
async def running_network(
    provinces: Sequence[str] = ("dongthap", "gialai"),
    transport: TransportKind = "memory",
    *,
    amqp_urls: Mapping[str, str] | None = None,
    data_dir: Path | None = None,
    settings: Mapping[str, Settings] | None = None,
) -> AsyncIterator[Network]:
    """Run a network of ``provinces`` until the block exits.

    Each province gets the demo configuration of its own province (or
    ``settings[province]``), its data under ``data_dir/<province>`` when a
    ``data_dir`` is given, and copies of the installed adapters reading
    ``LGSP_PROVINCE`` and what the platforms say of themselves."""
    if transport == "amqp" and (amqp_urls is None or set(provinces) - set(amqp_urls)):
        raise ValueError("on amqp every province needs its own broker URL (amqp_urls)")
    network = Network()
    installed = load_adapters()
    async with contextlib.AsyncExitStack() as stack:
        handles: list[PlatformHandle] = []
        for name, platform in load_platforms().items():
            handle = await stack.enter_async_context(
                platform(provinces=network.gateways, ephemeral=True, data_dir=data_dir)
            )
            network.platforms[name] = handle
            handles.append(handle)
        for key in provinces:
            base = (settings or {}).get(key) or Settings()
            own = with_network(province_settings(base, key, data_dir, several=True), handles)
            env = province_env(key, handles)
            copies = [a.copy(env=env) for a in installed]
            network.adapters[key] = copies
            network.provinces[key] = await stack.enter_async_context(
                running_bus(
                    transport,
                    amqp_url=(amqp_urls or {}).get(key),
                    settings=own,
                    installed=False,
                    adapters=copies,
                    platforms=False,
                    env=env,
                    gateways=network.gateways,
                )
            )
        # Once NDXP knows every province: what it serves them is built now.
        for handle in handles:
            await handle.warm()
        yield network
