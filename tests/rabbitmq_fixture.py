"""pytest plugin: a RabbitMQ broker for the tests marked ``amqp``.

``rabbitmq_url`` is the AMQP URL of the broker in ``LGSP_TEST_AMQP_URL`` when
set, else of a private node started once per session
(:mod:`lgsp.testing.rabbitmq`). ``rabbitmq_node`` is that node itself, for
tests that restart the broker; it skips when the broker is an external one.

When no node can be started, the tests that need one fail if ``CI`` is set
(a CI run must not pass by skipping) and are skipped with the reason otherwise.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from lgsp.testing.rabbitmq import ENV_URL, RabbitNode, RabbitNodeError, start_node


@pytest.fixture(scope="session")
def rabbitmq_node() -> Iterator[RabbitNode]:
    """A private RabbitMQ node for the whole session (stopped at the end)."""
    if os.environ.get(ENV_URL):
        pytest.skip(f"{ENV_URL} points at an external broker; this test needs its own node")
    try:
        node = start_node()
    except RabbitNodeError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"cannot start a RabbitMQ node for the amqp tests: {exc}", pytrace=False)
        pytest.skip(f"no RabbitMQ node for the amqp tests (set {ENV_URL} to use a broker): {exc}")
    with node:
        yield node


@pytest.fixture(scope="session")
def rabbitmq_url(request: pytest.FixtureRequest) -> str:
    """The AMQP URL of the test broker."""
    url = os.environ.get(ENV_URL)
    if url:
        return url
    node: RabbitNode = request.getfixturevalue("rabbitmq_node")
    return node.url
