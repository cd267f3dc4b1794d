"""What can go wrong with a store: one small hierarchy, so a caller tells a
passing outage (retry later) from a database it must not use."""

from __future__ import annotations


class StoreError(Exception):
    """The store cannot be used; the message never holds a password."""


class StoreUnavailable(StoreError):
    """The database did not answer (down, restarting, unreachable, too slow):
    worth trying again later."""


class SchemaTooNew(StoreError):
    """The database's schema is newer than this code knows: a newer lgsp
    migrated it, and this one must not write there."""
