"""Transports: how envelopes travel between the gateway and providers.

One interface (:class:`Transport`), two engines: ``memory`` (everything in one
process) and ``amqp`` (RabbitMQ). Pick one by name with
:func:`create_transport`; the AMQP engine is imported only when asked for, so
memory users never load aio-pika.
"""

from __future__ import annotations

import os

from lgsp.transport.base import Transport
from lgsp.transport.memory import MemoryTransport

__all__ = ["MemoryTransport", "Transport", "create_transport"]

KINDS = ("memory", "amqp")


def create_transport(
    kind: str, *, amqp_url: str | None = None, amqp_queue_type: str | None = None
) -> Transport:
    """The transport engine called ``kind`` (``"memory"`` or ``"amqp"``).

    ``amqp_url`` (``amqp://user:password@host:port/vhost``, or a cluster's
    nodes ``amqp://user:password@host1:port1,host2:port2/vhost``) is required
    for ``"amqp"`` and ignored otherwise, as is ``amqp_queue_type``
    (``"classic"`` or ``"quorum"``; default: ``LGSP_AMQP_QUEUE_TYPE``, else
    ``"classic"``).
    """
    if kind == "memory":
        return MemoryTransport()
    if kind == "amqp":
        if not amqp_url:
            raise ValueError("the amqp transport needs an AMQP URL (amqp_url)")
        from lgsp.transport.amqp import QUEUE_TYPES, AmqpTransport
        from lgsp.transport.amqp.topology import QUEUE_TYPE_ENV

        queue_type = amqp_queue_type or os.environ.get(QUEUE_TYPE_ENV) or "classic"
        for known in QUEUE_TYPES:
            if queue_type == known:
                return AmqpTransport(amqp_url, queue_type=known)
        raise ValueError(
            f"{QUEUE_TYPE_ENV}={queue_type!r}: expected one of {', '.join(QUEUE_TYPES)}"
        )
    raise ValueError(f"unknown transport {kind!r}; expected one of: {', '.join(KINDS)}")
