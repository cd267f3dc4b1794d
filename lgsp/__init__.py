"""lgsp: an emulator of a Vietnamese provincial LGSP data-sharing bus.

The public API for integrators is what this module exports; every other
module is an implementation detail and may change.
"""

from lgsp.adapter import Adapter, Context
from lgsp.catalogue.registry import Registry
from lgsp.envelope import Envelope, Event, Reply
from lgsp.errors import (
    DomainError,
    LgspError,
    ServiceTimeout,
    ServiceUnavailable,
    TransientError,
)
from lgsp.observe.report import Section as ReportSection
from lgsp.transport.base import Transport
from lgsp_contracts.spec import (
    Catalogue,
    Contract,
    ErrorSpec,
    Example,
    ServiceContract,
    TopicContract,
)

__all__ = [
    "Adapter",
    "Catalogue",
    "Context",
    "Contract",
    "DomainError",
    "Envelope",
    "ErrorSpec",
    "Event",
    "Example",
    "LgspError",
    "Registry",
    "Reply",
    "ReportSection",
    "ServiceContract",
    "ServiceTimeout",
    "ServiceUnavailable",
    "TopicContract",
    "TransientError",
    "Transport",
]
