"""The provider side: consuming a service version's durable queue, handing
each request to the provider's handler, and answering over the request's
direct reply-to; withdrawing an instance stops its consumers.
"""

from __future__ import annotations

from aio_pika.abc import AbstractIncomingMessage, AbstractRobustChannel
from pamqp.commands import Basic

from lgsp.envelope import H_STATUS, Envelope, Reply, new_id
from lgsp.transport.amqp.connection import Link, log, settle, text_headers
from lgsp.transport.amqp.presence import ContractCheck, Presence, Serving
from lgsp.transport.amqp.queues import Queues
from lgsp.transport.amqp.topology import (
    BROKER_ERRORS,
    HEARTBEAT,
    QueueType,
    service_queue,
    service_queue_arguments,
)
from lgsp.transport.base import ProviderHandler


class Provider:
    """Serves service versions in this process."""

    def __init__(
        self,
        link: Link,
        presence: Presence,
        queues: Queues,
        *,
        check_contract: ContractCheck,
        queue_type: QueueType,
    ) -> None:
        self._link = link
        self._presence = presence
        self._queues = queues
        self._check_contract = check_contract
        self._arguments = service_queue_arguments(queue_type)

    async def serve(
        self,
        service: str,
        version: int,
        handler: ProviderHandler,
        *,
        instance: str,
        fingerprint: str | None = None,
    ) -> None:
        channels = self._link.require_channels()
        if (refusal := self._check_contract(service, version, instance, fingerprint)) is not None:
            raise refusal  # before consuming: not one request reaches it
        queue = await self._queues.declare(
            channels.serve, service_queue(service, version), "service", self._arguments
        )

        async def on_request(message: AbstractIncomingMessage) -> None:
            await self._handle_request(channels.serve, handler, message)

        tag = await queue.consume(on_request)
        self._presence.serving.append(Serving(service, version, instance, queue, tag, fingerprint))
        log.info("amqp.serving", service=service, version=version, instance=instance)
        await self._presence.announce(HEARTBEAT)

    async def _handle_request(
        self,
        channel: AbstractRobustChannel,
        handler: ProviderHandler,
        message: AbstractIncomingMessage,
    ) -> None:
        with self._link.working():
            try:
                envelope = Envelope.from_headers(
                    message.message_id or new_id(), text_headers(message), message.body
                )
            except (KeyError, ValueError, TypeError):
                log.error(
                    "amqp.request_malformed",
                    message_id=message.message_id,
                    routing_key=message.routing_key,
                )
                await settle(message.reject(requeue=False))  # to lgsp.dead-letters
                return
            if envelope.remaining() <= 0:
                # Nobody waits for it any more; answering would be wasted work.
                log.info(
                    "amqp.request_expired", request_id=envelope.request_id, service=envelope.service
                )
                await settle(message.ack())
                return
            try:
                reply = await handler(envelope)
            except Exception:
                # Handlers must not raise; if one does, it is the provider's 500.
                log.exception(
                    "provider.failed", service=envelope.service, request_id=envelope.request_id
                )
                reply = Reply.failed("provider raised an error")
            if message.reply_to:
                try:
                    underlay = await channel.get_underlay_channel()
                    await underlay.basic_publish(
                        reply.body,
                        routing_key=message.reply_to,
                        properties=Basic.Properties(
                            content_type="application/json",
                            headers={H_STATUS: reply.status},
                            correlation_id=message.correlation_id,
                        ),
                    )
                except BROKER_ERRORS:
                    # Not acked: the broker gives the request to another
                    # provider if the gateway still waits for it.
                    log.warning("amqp.reply_failed", request_id=envelope.request_id, exc_info=True)
                    return
            await settle(message.ack())

    async def withdraw(self, instance: str) -> None:
        """Take a provider instance offline (it stops receiving requests)."""
        await self._presence.withdraw([s for s in self._presence.serving if s.instance == instance])
