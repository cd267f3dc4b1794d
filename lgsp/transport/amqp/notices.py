"""Notices (:class:`~lgsp.transport.base.Broadcasting`): short broadcasts on
``lgsp.control`` under ``notice.<subject>``, which every process hears on
its control queue (bound to ``notice.#``) and hands to its listeners.

A notice is at most once: one sent while this process is disconnected is
kept (the last of each subject) and sent when the connection is back, and
one sent to a process while it is disconnected is lost with its exclusive
queue, so every listener hears None when the connection comes up or back,
after the queue and its bindings are restored: a listener that re-reads
then misses nothing committed before it.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable

import aio_pika
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustExchange

from lgsp.transport.amqp.connection import Link, log
from lgsp.transport.amqp.topology import BROKER_ERRORS, NOTICE, Declared
from lgsp.transport.base import Listeners, NoticeListener


class Notices:
    """This process's notices: those it sends, and its listeners."""

    def __init__(self, link: Link, *, broker_timeout: float) -> None:
        self._link = link
        self._broker_timeout = broker_timeout
        self._listeners = Listeners()
        self._control: AbstractRobustExchange | None = None
        # The last notice of each subject not yet sent, with a number of its
        # own, so a send that ends after a newer notice came keeps the newer.
        self._unsent: dict[str, tuple[int, bytes]] = {}
        self._numbers = itertools.count()

    def use(self, declared: Declared) -> None:
        self._control = declared.control

    def listen(self, subject: str, listener: NoticeListener) -> Callable[[], None]:
        return self._listeners.listen(subject, listener)

    async def broadcast(self, subject: str, body: bytes) -> None:
        self._unsent[subject] = (next(self._numbers), body)
        await self._send()

    async def _send(self) -> None:
        exchange = self._control
        if exchange is None or not self._link.ready():
            return  # sent once connected
        for subject, (number, body) in list(self._unsent.items()):
            try:
                async with asyncio.timeout(self._broker_timeout):
                    await exchange.publish(
                        aio_pika.Message(body, app_id=self._link.transport_id),
                        routing_key=f"{NOTICE}{subject}",
                        mandatory=False,
                    )
            except (TimeoutError, *BROKER_ERRORS) as exc:
                log.warning("amqp.notice_failed", subject=subject, error=repr(exc))
                return  # kept for the next connection
            if self._unsent.get(subject, (None,))[0] == number:
                del self._unsent[subject]

    def hear(self, message: AbstractIncomingMessage) -> None:
        """A notice from the control queue (this process's own included)."""
        subject = (message.routing_key or "").removeprefix(NOTICE)
        self._listeners.deliver(subject, message.body)

    def connected(self) -> None:
        """The connection is up (first, or back): listeners re-read what they
        follow, and what could not be sent goes now."""
        self._listeners.missed()
        if self._unsent:
            self._link.spawn(self._send(), "lgsp-amqp-notices")
