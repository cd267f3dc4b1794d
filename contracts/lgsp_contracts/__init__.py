"""The bus's service and event contracts: versioned pydantic models with
their errors and real examples. Depends on pydantic only."""

from lgsp_contracts.spec import Catalogue

# Filled by the domain modules (population, land, onestop, dvcqg).
CATALOGUE = Catalogue()

__all__ = ["CATALOGUE"]
