"""The one transport parametrisation of the suite: a test (or fixture) that
asks for ``transport_kind`` runs once on each engine, the amqp run marked
``amqp``; ``amqp_url`` is the broker of that run (None on memory). The
broker itself comes from the testing kit's fixtures (``lgsp_rabbitmq_url``,
``lgsp_rabbitmq_node``)."""

from __future__ import annotations

import pytest

from lgsp.testing import TransportKind

TRANSPORTS = [pytest.param("memory"), pytest.param("amqp", marks=pytest.mark.amqp)]


@pytest.fixture(scope="module", params=TRANSPORTS)
def transport_kind(request: pytest.FixtureRequest) -> TransportKind:
    kind: TransportKind = request.param
    return kind


@pytest.fixture(scope="module")
def amqp_url(transport_kind: TransportKind, request: pytest.FixtureRequest) -> str | None:
    if transport_kind != "amqp":
        return None
    return str(request.getfixturevalue("lgsp_rabbitmq_url"))
