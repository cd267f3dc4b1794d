"""The queues this process has known to exist (the service and subscriber
queues it declared, probed or heard announced, and the dead letters), their
depth and consumers for operators, and the declaration of a service or
subscriber queue that is checked first, so that a queue of the other type
is named instead of closing a channel that others share.
"""

from __future__ import annotations

import asyncio
import contextlib

import aiormq.abc
from aio_pika.abc import AbstractRobustChannel, AbstractRobustQueue
from aio_pika.exceptions import ChannelNotFoundEntity
from pamqp.common import FieldValue

from lgsp.transport.amqp.connection import Link, log
from lgsp.transport.amqp.topology import BROKER_ERRORS, DEAD_LETTERS, QueueKind, type_mismatch
from lgsp.transport.base import QueueStats


class Queues:
    """Every queue known here, by name. Kept across reconnections and
    absences: a subscriber's queue keeps its events (and its lag) while it is
    away."""

    def __init__(self, link: Link, *, broker_timeout: float) -> None:
        self._link = link
        self._broker_timeout = broker_timeout
        self._known: dict[str, QueueKind] = {DEAD_LETTERS: "dead-letter"}

    def know(self, name: str, kind: QueueKind) -> None:
        self._known[name] = kind

    async def declare(
        self,
        channel: AbstractRobustChannel,
        name: str,
        kind: QueueKind,
        arguments: dict[str, FieldValue],
    ) -> AbstractRobustQueue:
        """Declare a durable queue on ``channel`` (which restores it after a
        reconnection) and know it.

        The declaration is tried first on a channel of its own: a broker
        refuses a queue that exists with other arguments by closing the
        channel, and ``channel`` carries every consumer of its kind. A queue
        of the other type raises
        :class:`~lgsp.transport.amqp.topology.QueueTypeMismatch`.
        """
        connection = self._link.connection
        if connection is not None and connection.transport is not None:
            trial = await connection.transport.connection.channel()
            try:
                await trial.queue_declare(name, durable=True, arguments=arguments)
            except BROKER_ERRORS as exc:
                mismatch = type_mismatch(exc)
                if mismatch is None:
                    raise
                raise mismatch from exc
            finally:
                if not trial.is_closed:
                    with contextlib.suppress(*BROKER_ERRORS):
                        await trial.close()
        queue = await channel.declare_queue(name, durable=True, arguments=arguments)
        self.know(name, kind)
        return queue

    async def stats(self) -> list[QueueStats]:
        """What :meth:`~lgsp.transport.amqp.AmqpTransport.queue_stats` reports."""
        connection = self._link.connection
        if connection is None or connection.transport is None or not self._link.ready():
            return []
        stats: list[QueueStats] = []
        # A plain channel of its own, not a robust one: asking about a queue
        # that was deleted closes it, and the next question needs a new one.
        channel: aiormq.abc.AbstractChannel | None = None
        try:
            async with asyncio.timeout(self._broker_timeout):
                for name, kind in sorted(self._known.items()):
                    if channel is None or channel.is_closed:
                        channel = await connection.transport.connection.channel()
                    try:
                        declared = await channel.queue_declare(name, passive=True)
                    except ChannelNotFoundEntity:
                        if name != DEAD_LETTERS:
                            del self._known[name]  # deleted behind our back
                        continue
                    stats.append(
                        QueueStats(
                            name, kind, declared.message_count or 0, declared.consumer_count or 0
                        )
                    )
        except (TimeoutError, *BROKER_ERRORS):
            log.warning("amqp.queue_stats_failed", exc_info=True)
        finally:
            if channel is not None and not channel.is_closed:
                with contextlib.suppress(*BROKER_ERRORS):
                    await channel.close()
        return stats
