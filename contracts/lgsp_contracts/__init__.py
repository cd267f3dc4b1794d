"""The bus's service and event contracts: versioned pydantic models with
their errors and real examples. Depends on pydantic only.

Each domain module declares its ``SERVICES`` and ``TOPICS``; the catalogue
collects them.
"""

from lgsp_contracts import (
    dvcqg,
    exchange,
    feedback,
    land,
    ndop,
    onestop,
    population,
    warehouse,
)
from lgsp_contracts.spec import Catalogue

_DOMAINS = (population, land, onestop, dvcqg, warehouse, exchange, ndop, feedback)

CATALOGUE = Catalogue(
    services=tuple(s for d in _DOMAINS for s in d.SERVICES),
    topics=tuple(t for d in _DOMAINS for t in d.TOPICS),
)
"""Every service and topic of the demo province (entry point ``lgsp.contracts``)."""

__all__ = ["CATALOGUE"]
