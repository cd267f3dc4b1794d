"""The ``lgsp_*`` pytest fixtures (registered by :mod:`lgsp.testing.plugin`).

- ``lgsp_bus``: a running :class:`~lgsp.testing.bus.Bus` per test, with the
  installed mock systems, the simulated NDXP, and ``lgsp_adapters``.
- ``lgsp_adapters`` / ``lgsp_catalogues``: override them to add the adapters
  under test and contracts that are not installed (default: none).
- ``lgsp_transport``: ``"memory"`` or ``"amqp"`` (``--lgsp-transport``).
- ``lgsp_amqp_url``: the broker on amqp (``LGSP_TEST_AMQP_URL``, else a
  private node started once per session); None on memory.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio

from lgsp.adapter import Adapter
from lgsp.testing.bus import Bus, TransportKind, running_bus
from lgsp.testing.rabbitmq import ENV_URL, RabbitNodeError, start_node
from lgsp_contracts.spec import Catalogue


@pytest.fixture(scope="session")
def lgsp_transport(pytestconfig: pytest.Config) -> TransportKind:
    """The transport every ``lgsp_bus`` of the session runs on."""
    kind: TransportKind = pytestconfig.getoption("lgsp_transport")
    return kind


@pytest.fixture(scope="session")
def lgsp_amqp_url(lgsp_transport: TransportKind) -> Iterator[str | None]:
    """The AMQP URL of the broker on amqp; None on memory."""
    if lgsp_transport == "memory":
        yield None
        return
    if url := os.environ.get(ENV_URL):
        yield url
        return
    try:
        node = start_node()
    except RabbitNodeError as exc:
        pytest.fail(f"no RabbitMQ for --lgsp-transport=amqp (set {ENV_URL}): {exc}", pytrace=False)
    with node:
        yield node.url


@pytest.fixture
def lgsp_adapters() -> list[Adapter]:
    """The adapters under test, started on ``lgsp_bus``; override it."""
    return []


@pytest.fixture
def lgsp_catalogues() -> list[Catalogue]:
    """Contracts the bus knows beyond the installed ones; override it."""
    return []


@pytest_asyncio.fixture
async def lgsp_bus(
    lgsp_transport: TransportKind,
    lgsp_amqp_url: str | None,
    lgsp_adapters: list[Adapter],
    lgsp_catalogues: list[Catalogue],
) -> AsyncIterator[Bus]:
    """A running bus for one test."""
    async with running_bus(
        lgsp_transport, amqp_url=lgsp_amqp_url, adapters=lgsp_adapters, catalogues=lgsp_catalogues
    ) as bus:
        yield bus
