"""Opaque tokens with an expiry: the simulated NDXP's access tokens and the
portal's sessions.

Random strings kept in a bounded dict rather than signed JWTs, so that the
platform can expire every token at once (a fault), as a key rotation or a
restart of the real one does.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

MAX_TOKENS = 10_000


@dataclass(frozen=True)
class _Grant:
    holder: str
    expires_at: float


class TokenStore:
    """Opaque tokens (or sessions) of a holder, each valid for ``ttl_s``."""

    def __init__(self, ttl_s: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self._clock = clock
        self._grants: dict[str, _Grant] = {}

    def issue(self, holder: str) -> str:
        now = self._clock()
        if len(self._grants) >= MAX_TOKENS:
            # Forget the expired ones, then the oldest: a bounded store.
            self._grants = {t: g for t, g in self._grants.items() if g.expires_at > now}
            while len(self._grants) >= MAX_TOKENS:
                del self._grants[next(iter(self._grants))]
        token = secrets.token_urlsafe(32)
        self._grants[token] = _Grant(holder, now + self.ttl_s)
        return token

    def holder(self, token: str) -> str | None:
        """Who holds this token, if it is valid now."""
        grant = self._grants.get(token)
        if grant is None:
            return None
        if grant.expires_at <= self._clock():
            del self._grants[token]
            return None
        return grant.holder

    def expire_all(self) -> None:
        self._grants.clear()
