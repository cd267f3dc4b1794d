"""The security monitoring feed: the bus's security events, as they happen,
to the national cyber security monitoring centre (Trung tâm Giám sát an
toàn không gian mạng quốc gia, the SOC), as Elastic Common Schema JSON
(``ecs-logging``) over syslog on TLS (docs/soc.md).

:class:`SocFeed` is what every source calls (``emit``): the gateway's
recorder of refusals and patterns (:mod:`.recorder`), the token endpoint,
the admin API, TLS handshakes, ``lgsp audit verify``. It is off unless
``[soc] url`` is set; ``emit`` then returns at once.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import AsyncIterator, Mapping
from contextvars import ContextVar
from datetime import UTC, datetime
from functools import partial
from typing import Any

import ecs_logging

from lgsp.config import SocConfig
from lgsp.observe.soc.events import KINDS, SEVERITY_LEVELS, Kind, Origin, document
from lgsp.observe.soc.syslog import EMITTED, Pending, SyslogSender, client_context

__all__ = ["KINDS", "SOURCE_IP", "Kind", "SocFeed"]

SOURCE_IP: ContextVar[str | None] = ContextVar("lgsp_soc_source_ip", default=None)
"""The address of the request being handled, set by the gateway's
middleware: events emitted while handling it carry it as ``source.ip``."""

_FORMAT = ecs_logging.StructlogFormatter()


class SocFeed:
    """The events of one process (one province's gateway, or a command)."""

    def __init__(self, config: SocConfig, province: str, *, role: str = "gateway") -> None:
        self.config = config
        self.origin = Origin(province, socket.gethostname(), os.getpid(), role)
        self.sender: SyslogSender | None = None
        if config.url is not None:
            host, _, port = config.url.removeprefix("tls://").rpartition(":")
            self.sender = SyslogSender(
                host,
                int(port),
                client_context(config.ca_file, config.cert_file, config.key_file),
                server_name=config.server_name,
                capacity=config.buffer,
                hostname=self.origin.hostname,
                app_name=config.app_name,
                procid=self.origin.pid,
                province=province,
            )

    @property
    def enabled(self) -> bool:
        return self.sender is not None

    def emit(
        self,
        kind: str,
        *,
        client: str | None = None,
        request_id: str | None = None,
        source_ip: str | None = None,
        fields: Mapping[str, object] | None = None,
    ) -> None:
        """Queue one event of ``kind`` (a name of :data:`KINDS`); never
        waits. ``fields`` are more ECS fields by their dotted names
        (``url.path``), ``lgsp.*`` for the bus's own; the document is built
        and masked by the sender, off the request path."""
        sender = self.sender
        if sender is None:
            return
        found = KINDS[kind]
        EMITTED.labels(self.origin.province, kind).inc()
        values: dict[str, object] = {
            "client.user.id": client if client and client != "-" else None,
            "trace.id": request_id,
            "source.ip": source_ip or SOURCE_IP.get(),
            **(fields or {}),
        }
        now = datetime.now(UTC)
        render = partial(_render, found, self.origin, now, values)
        sender.put(Pending(kind, found.severity, now, render))

    def start(self) -> None:
        if self.sender is not None:
            self.sender.start()

    async def close(self, deadline_s: float = 2.0) -> None:
        """Send what can be sent within the deadline, then stop."""
        if self.sender is not None:
            await self.sender.close(deadline_s)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[SocFeed]:
        self.start()
        try:
            yield self
        finally:
            await self.close()


def _render(kind: Kind, origin: Origin, created: datetime, values: Mapping[str, object]) -> str:
    stamp = created.strftime("%Y-%m-%dT%H:%M:%S.") + f"{created.microsecond // 1000:03d}Z"
    event: dict[str, Any] = document(kind, origin, stamp, values)
    return _FORMAT(None, SEVERITY_LEVELS.get(kind.severity, "warning"), event)
