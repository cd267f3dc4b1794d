"""Idempotency keys: a retried call with the same key and client gets the
first outcome without the provider being called again.

An outcome is kept only once the provider has answered (a success, a domain
error, or an answer outside the contract). Calls that never reached a
provider (503) or whose fate is unknown (504) are not kept, so retrying them
does reach a provider; the key travels in the envelope so a provider can
deduplicate what a timed-out call may already have done. A key reused with a
different request is refused with 400.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import OrderedDict
from dataclasses import dataclass, field

from lgsp.errors import MalformedRequest


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the gateway answered, replayed verbatim for a retry."""

    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()
    code: str = ""
    """The problem code of an error outcome (for logs and metrics)."""


@dataclass(slots=True)
class _Entry:
    fingerprint: bytes
    expires: float
    done: asyncio.Future[Outcome | None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class IdempotencyStore:
    """In-process store of outcomes by (client, key), bounded in size and time."""

    def __init__(self, ttl: float, max_entries: int = 100_000) -> None:
        self._ttl = ttl
        self._max = max_entries
        self._entries: OrderedDict[tuple[str, str], _Entry] = OrderedDict()

    @staticmethod
    def fingerprint(target: str, version: int, body: bytes) -> bytes:
        return hashlib.sha256(b"%s\0%d\0%s" % (target.encode(), version, body)).digest()

    async def claim(self, client: str, key: str, fingerprint: bytes) -> Outcome | None:
        """The stored outcome of an earlier call with this key, or None when
        this call is the first (it must then :meth:`settle` the key)."""
        now = time.time()
        while True:
            entry = self._entries.get((client, key))
            if entry is None or entry.expires <= now:
                self._entries[(client, key)] = _Entry(fingerprint, now + self._ttl)
                self._entries.move_to_end((client, key))
                self._evict()
                return None
            if entry.fingerprint != fingerprint:
                raise MalformedRequest("Idempotency-Key was already used with a different request")
            # An identical call is in flight: wait for its outcome. None means
            # it was not kept (503/504), so try to claim the key again.
            outcome = await asyncio.shield(entry.done)
            if outcome is not None:
                return outcome

    def settle(self, client: str, key: str, outcome: Outcome | None) -> None:
        """Record the first call's outcome (None: forget the key)."""
        entry = self._entries.get((client, key))
        if entry is None:
            return
        if outcome is None:
            del self._entries[(client, key)]
        if not entry.done.done():
            entry.done.set_result(outcome)

    def _evict(self) -> None:
        while len(self._entries) > self._max:
            _, entry = self._entries.popitem(last=False)
            if not entry.done.done():
                entry.done.set_result(None)
