"""The one transport parametrisation of the suite: a test (or fixture) that
asks for ``transport_kind`` runs once on each engine, the amqp run marked
``amqp``; ``amqp_url`` is the broker of that run (None on memory). The
broker itself comes from the testing kit's fixtures (``lgsp_rabbitmq_url``,
``lgsp_rabbitmq_node``). ``collector`` is the security feed's rsyslog."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lgsp.testing import TransportKind
from lgsp.testing.fixtures import unavailable
from lgsp.testing.rsyslog import RsyslogCollector, RsyslogError, start_collector

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


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[RsyslogCollector]:
    """A private rsyslog collector receiving over TLS; fails (not skips) in
    CI when rsyslogd cannot start."""
    try:
        started = start_collector(parent=tmp_path)
    except RsyslogError as exc:
        unavailable(f"rsyslogd could not start: {exc}")
    with started:
        yield started
