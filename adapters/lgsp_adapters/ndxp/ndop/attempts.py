"""How often a caller may try the citizens' data tracker: a moving window of
tries per caller (the `limits` library, in memory), so that nobody can run
through personal ids and birth dates to learn who exists.

A caller is a remote address for the page's API, or an authenticated NDXP
client (an LGSP asking for its citizens, whose own quotas bound each of
them), with its own, larger allowance. Every try counts, whatever it answers.
"""

from __future__ import annotations

import math
import time

from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter


class Attempts:
    """Tries left per caller, at most ``per_address`` (e.g. ``"10/minute"``)
    from one address and ``per_client`` for one authenticated client."""

    def __init__(self, per_address: str, per_client: str) -> None:
        self._per_address = parse(per_address)
        self._per_client = parse(per_client)
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    def take(self, caller: str, *, client: bool) -> int | None:
        """Count one try of ``caller``: None when it may go ahead, else the
        whole seconds until its next try would be allowed (``Retry-After``)."""
        limit = self._per_client if client else self._per_address
        kind = "client" if client else "address"
        if self._limiter.hit(limit, kind, caller):
            return None
        reset_at = self._limiter.get_window_stats(limit, kind, caller).reset_time
        return max(1, math.ceil(reset_at - time.time()))
