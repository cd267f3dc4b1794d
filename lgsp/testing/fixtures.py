"""The ``lgsp_*`` pytest fixtures (registered by :mod:`lgsp.testing.plugin`).

- ``lgsp_bus``: a running :class:`~lgsp.testing.bus.Bus` per test, with the
  installed mock systems, the simulated NDXP, and ``lgsp_adapters``.
- ``lgsp_adapters`` / ``lgsp_catalogues``: override them to add the adapters
  under test and contracts that are not installed (default: none).
- ``lgsp_transport``: ``"memory"`` or ``"amqp"`` (``--lgsp-transport``).
- ``lgsp_amqp_url``: the broker on amqp (``LGSP_TEST_AMQP_URL``, else a
  private node started once per session); None on memory. Asked for amqp,
  a run without a broker fails.
- ``lgsp_rabbitmq_url``: the broker's URL whatever the transport, for tests
  that need RabbitMQ themselves; ``lgsp_rabbitmq_node``: the private node
  itself, for tests that restart the broker (skipped when the broker is an
  external one). When no node can start, the tests that need one fail if the
  ``CI`` environment variable is set (a CI run must not pass by skipping)
  and are skipped with the reason otherwise.
- ``lgsp_rabbitmq_cluster``: a private three-node RabbitMQ cluster, started
  once per session at the first test that asks (its ``url`` names every
  node), for tests of quorum queues and of a node's loss; without one, the
  same rule (fail under ``CI``, skip otherwise).
- ``lgsp_postgres_url``: a fresh, empty PostgreSQL database for one test
  (dropped after it), on ``LGSP_TEST_POSTGRES_URL``'s server, else on a
  private server started once per session; ``lgsp_postgres_node``: that
  private server itself, for tests that restart or kill it. Without a
  server, they fail under ``CI`` and skip otherwise, as RabbitMQ's do.

``unavailable(reason)`` is that rule, for any other real service a test
needs (a collector, a browser, a binary).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Iterator
from typing import NoReturn
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
import pytest_asyncio

from lgsp.adapter import Adapter
from lgsp.testing.bus import Bus, TransportKind, running_bus
from lgsp.testing.postgres import ENV_URL as POSTGRES_ENV_URL
from lgsp.testing.postgres import PostgresNode, PostgresNodeError, start_postgres
from lgsp.testing.rabbitmq import (
    ENV_URL,
    RabbitCluster,
    RabbitNode,
    RabbitNodeError,
    start_cluster,
    start_node,
)
from lgsp_contracts.spec import Catalogue


def unavailable(reason: str, *, required: bool = False) -> NoReturn:
    """What a test does when a real service it needs cannot run here: it
    fails when ``required`` or when the ``CI`` environment variable is set
    (a CI run must not pass by skipping), and is skipped otherwise."""
    if required or os.environ.get("CI"):
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def lgsp_transport(pytestconfig: pytest.Config) -> TransportKind:
    """The transport every ``lgsp_bus`` of the session runs on."""
    kind: TransportKind = pytestconfig.getoption("lgsp_transport")
    return kind


@pytest.fixture(scope="session")
def _lgsp_rabbitmq_start() -> Iterator[RabbitNode | RabbitNodeError]:
    """The session's one private node, started at the first test that needs
    it (or why it could not be), stopped at the end of the session."""
    try:
        node = start_node()
    except RabbitNodeError as exc:
        yield exc
        return
    with node:
        yield node


def _node(request: pytest.FixtureRequest, *, required: bool) -> RabbitNode:
    started: RabbitNode | RabbitNodeError = request.getfixturevalue("_lgsp_rabbitmq_start")
    if isinstance(started, RabbitNode):
        return started
    unavailable(f"cannot start a RabbitMQ node (set {ENV_URL}): {started}", required=required)


@pytest.fixture(scope="session")
def lgsp_rabbitmq_node(request: pytest.FixtureRequest) -> RabbitNode:
    """The session's private RabbitMQ node, for tests that restart it."""
    if os.environ.get(ENV_URL):
        pytest.skip(f"{ENV_URL} points at an external broker; this test needs its own node")
    return _node(request, required=False)


@pytest.fixture(scope="session")
def lgsp_rabbitmq_url(request: pytest.FixtureRequest) -> str:
    """The AMQP URL of the test broker: ``LGSP_TEST_AMQP_URL``, else the
    session's private node."""
    return os.environ.get(ENV_URL) or _node(request, required=False).url


@pytest.fixture(scope="session")
def lgsp_amqp_url(lgsp_transport: TransportKind, request: pytest.FixtureRequest) -> str | None:
    """The AMQP URL of the broker on amqp; None on memory."""
    if lgsp_transport == "memory":
        return None
    # The run asked for amqp: no broker is a failure, never a skip.
    return os.environ.get(ENV_URL) or _node(request, required=True).url


# -- a RabbitMQ cluster ------------------------------------------------------


@pytest.fixture(scope="session")
def _lgsp_rabbitmq_cluster_start() -> Iterator[RabbitCluster | RabbitNodeError]:
    """The session's one private cluster (or why it could not start)."""
    try:
        cluster = start_cluster(3)
    except RabbitNodeError as exc:
        yield exc
        return
    with cluster:
        yield cluster


@pytest.fixture(scope="session")
def lgsp_rabbitmq_cluster(request: pytest.FixtureRequest) -> RabbitCluster:
    """A private three-node RabbitMQ cluster, for tests that kill its nodes."""
    started: RabbitCluster | RabbitNodeError = request.getfixturevalue(
        "_lgsp_rabbitmq_cluster_start"
    )
    if isinstance(started, RabbitCluster):
        return started
    unavailable(f"cannot start a RabbitMQ cluster: {started}")


@pytest.fixture(scope="session")
def _lgsp_postgres_start() -> Iterator[PostgresNode | PostgresNodeError]:
    """The session's one private PostgreSQL server, started at the first test
    that needs it (or why it could not be), stopped at the end of the session."""
    try:
        node = start_postgres()
    except PostgresNodeError as exc:
        yield exc
        return
    with node:
        yield node


def _postgres(request: pytest.FixtureRequest, *, required: bool) -> PostgresNode:
    started: PostgresNode | PostgresNodeError = request.getfixturevalue("_lgsp_postgres_start")
    if isinstance(started, PostgresNode):
        return started
    unavailable(
        f"cannot start a PostgreSQL server (set {POSTGRES_ENV_URL}): {started}", required=required
    )


@pytest.fixture(scope="session")
def lgsp_postgres_node(request: pytest.FixtureRequest) -> PostgresNode:
    """The session's private PostgreSQL server, for tests that restart or kill it."""
    if os.environ.get(POSTGRES_ENV_URL):
        pytest.skip(f"{POSTGRES_ENV_URL} points at an external server; this test needs its own")
    return _postgres(request, required=False)


@pytest_asyncio.fixture
async def lgsp_postgres_url(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """The URL of a new, empty database for one test (``LGSP_TEST_POSTGRES_URL``'s
    server, else the session's private one), dropped after the test: tests
    never see each other's rows."""
    server = os.environ.get(POSTGRES_ENV_URL) or _postgres(request, required=False).url
    name = f"lgsp_test_{secrets.token_hex(6)}"
    conn = await asyncpg.connect(server)
    try:
        # FILE_COPY (PostgreSQL 15) copies the template's files instead of
        # logging every block: several times faster for a small database.
        fast = conn.get_server_version().major >= 15
        await conn.execute(f'CREATE DATABASE "{name}"' + (" STRATEGY = FILE_COPY" if fast else ""))
    finally:
        await conn.close()
    yield urlunsplit(urlsplit(server)._replace(path=f"/{name}"))
    conn = await asyncpg.connect(server)
    try:
        # FORCE ends what the test left connected (PostgreSQL 13 and later).
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


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
