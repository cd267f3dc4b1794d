"""Where the bus's shared state lives when one machine is not enough.

Every store of shared state (the exchange log; the client store,
idempotency keys and inboxes to follow) has two engines: SQLite files in the
data folder, the embedded default, and PostgreSQL, selected by
``Settings.store_url`` (env ``LGSP_STORE_URL``), so gateways on several
machines share it with nothing on disk. Each state's owner keeps its own
interface and engines; what the engines share is here: how a SQLite file
of the data folder is opened (:mod:`.sqlite`), and for PostgreSQL the
connections (:mod:`.postgres`) and the one versioned schema
(:mod:`.migrations`).
"""

from lgsp.store.errors import SchemaTooNew, StoreError, StoreUnavailable
from lgsp.store.migrations import STEPS, Step, migrate, schema_version
from lgsp.store.postgres import Connection, Database, connect, masked

__all__ = [
    "STEPS",
    "Connection",
    "Database",
    "SchemaTooNew",
    "Step",
    "StoreError",
    "StoreUnavailable",
    "connect",
    "masked",
    "migrate",
    "schema_version",
]
