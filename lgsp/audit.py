"""The exchange log: one record per exchange and per event.

X-Road's message log is the model: who asked what, when, and what came back,
as digests, never the personal data itself (unless an operator turns full
logging on for a service).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol


@dataclass(frozen=True, slots=True)
class ExchangeRecord:
    """What the gateway knows of one finished exchange or accepted event.

    Times are Unix epoch seconds. ``request`` and ``response`` are the bodies
    as they crossed the gateway; recorders digest them off the request path
    and keep them only where full logging is on.
    """

    kind: Literal["service", "event"]
    request_id: str
    client: str
    """``-`` when the caller was not authenticated."""
    name: str
    """Service or topic; ``unknown`` when the route named none known."""
    version: int
    received: float
    sent: float | None
    """When the envelope went to a provider (or the event to the broker);
    None when it never did (refused at the edge)."""
    answered: float
    status: int
    code: str | None
    request: bytes
    response: bytes
    event_id: str | None = None


class Recorder(Protocol):
    """Something that takes finished exchanges: the exchange log, live
    statistics. ``record`` is called on the request path and must not block."""

    def record(self, record: ExchangeRecord) -> None: ...
