"""Transports: how envelopes travel between the gateway and providers.

One interface (:class:`Transport`), two engines: ``memory`` (everything in one
process) and ``amqp`` (RabbitMQ). Pick one by name with
:func:`create_transport`; the AMQP engine is imported only when asked for, so
memory users never load aio-pika.
"""

from __future__ import annotations

from lgsp.transport.base import Transport
from lgsp.transport.memory import MemoryTransport

__all__ = ["MemoryTransport", "Transport", "create_transport"]

KINDS = ("memory", "amqp")


def create_transport(kind: str, *, amqp_url: str | None = None) -> Transport:
    """The transport engine called ``kind`` (``"memory"`` or ``"amqp"``).

    ``amqp_url`` (``amqp://user:password@host:port/vhost``) is required for
    ``"amqp"`` and ignored otherwise.
    """
    if kind == "memory":
        return MemoryTransport()
    if kind == "amqp":
        if not amqp_url:
            raise ValueError("the amqp transport needs an AMQP URL (amqp_url)")
        from lgsp.transport.amqp import AmqpTransport

        return AmqpTransport(amqp_url)
    raise ValueError(f"unknown transport {kind!r}; expected one of: {', '.join(KINDS)}")
