"""The RabbitMQ broker the AMQP cases share: the one at ``LGSP_TEST_AMQP_URL``,
or a private node on free loopback ports, removed when the run ends."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from lgsp.testing.rabbitmq import ENV_URL, start_node


@contextlib.contextmanager
def amqp_broker() -> Iterator[str]:
    """The broker at ``LGSP_TEST_AMQP_URL``, or a private node stopped on exit."""
    url = os.environ.get(ENV_URL)
    if url:
        yield url
        return
    print("starting a private RabbitMQ node", flush=True)
    with start_node() as node:
        yield node.url
