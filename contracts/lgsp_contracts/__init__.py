"""The bus's service and event contracts: versioned pydantic models with
their errors and real examples. Depends on pydantic only."""

from lgsp_contracts.land import PARCEL_LOOKUP_V1
from lgsp_contracts.onestop import DOSSIER_STATUS_CHANGED_V1, DOSSIER_SUBMIT_V1
from lgsp_contracts.population import CITIZEN_LOOKUP_V1
from lgsp_contracts.spec import Catalogue

CATALOGUE = Catalogue(
    services=(CITIZEN_LOOKUP_V1, PARCEL_LOOKUP_V1, DOSSIER_SUBMIT_V1),
    topics=(DOSSIER_STATUS_CHANGED_V1,),
)
"""Every service and topic of the demo province (entry point ``lgsp.contracts``)."""

__all__ = ["CATALOGUE"]
