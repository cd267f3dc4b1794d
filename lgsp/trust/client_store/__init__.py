"""The client store's engines (the store itself and their interface:
:mod:`lgsp.trust.clients`): SQLite in the data folder, the embedded default
(:mod:`.sqlite`), and PostgreSQL, the bus's shared store (:mod:`.postgres`).
Both keep the same rows, so a client or key means the same on either."""
