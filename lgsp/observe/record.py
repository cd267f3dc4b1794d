"""The record of one finished exchange, and what takes it: every recorder
(metrics, live statistics, the exchange log) gets the same record once the
gateway has answered."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol


@dataclass(slots=True)
class ExchangeRecord:
    """One exchange or event as the gateway saw it.

    The gateway fills it in as the exchange goes (what is not known yet
    keeps its default: an unauthenticated caller is ``-``, a route naming no
    known service ``unknown``) and hands it to the recorders once answered;
    from then on nobody changes it. Times are Unix epoch seconds.
    ``request`` and ``response`` are the bodies as they crossed the gateway;
    recorders digest them off the request path and keep them only where
    full logging is on.
    """

    kind: Literal["service", "event"]
    request_id: str
    received: float
    client: str = "-"
    name: str = "unknown"
    """Service or topic."""
    version: int = 0
    sent: float | None = None
    """When the envelope went to a provider (or the event to the broker);
    None when it never did (refused at the edge)."""
    answered: float = 0.0
    status: int = 500
    code: str | None = None
    request: bytes = b""
    response: bytes = b""
    event_id: str | None = None
    """Set once the broker accepted the event."""
    target: str | None = None
    """The other province a client of this LGSP called through NDXP (None:
    served here)."""
    origin: str | None = None
    """The province whose call NDXP forwarded here (None: a client of this
    LGSP, or a ministry through NDXP)."""
    origin_client: str | None = None
    """The client that made a forwarded call, in its own province."""

    @property
    def partner(self) -> str | None:
        """The other province of the exchange, whichever way it went."""
        return self.target or self.origin


class Recorder(Protocol):
    """Something that takes finished exchanges: the exchange log, live
    statistics. ``record`` is called on the request path and must not block."""

    def record(self, record: ExchangeRecord) -> None: ...
