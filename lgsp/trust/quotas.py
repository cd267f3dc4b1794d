"""Per-client quotas, answered with 429 and ``Retry-After``.

A token bucket of ``rate`` requests per second holding up to ``burst``,
computed as GCRA (the generic cell rate algorithm): one timestamp per client,
O(1) per call, and the exact time until the next request would be accepted,
which ``Retry-After`` reports. Neither `limits` (window counters, no burst
distinct from the rate) nor `aiolimiter` (a limiter that waits rather than
refuses) gives a token bucket that refuses with that time, and GCRA is a few
lines. Quotas are read from the client store on every call, so a changed
quota applies at once; counting is per gateway process.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from lgsp.errors import RateLimited

Quota = tuple[float, int]
"""(requests per second, burst)."""


class RateLimiter:
    def __init__(self, quota: Callable[[str], Quota | None]) -> None:
        self._quota = quota
        # The theoretical arrival time of each client's next request:
        # the bucket is full when it is in the past.
        self._tat: dict[str, float] = {}

    def check(self, client: str) -> None:
        """Count one call of the client; 429 when its bucket is empty."""
        quota = self._quota(client)
        if quota is None:
            return
        rate, burst = quota
        interval = 1.0 / rate
        now = time.monotonic()
        tat = max(self._tat.get(client, now), now) + interval
        allowed_at = tat - burst * interval
        # A nanosecond of slack: sums of float intervals must not cost the
        # last request of a burst.
        if allowed_at > now + 1e-9:
            raise RateLimited(
                f"{client} is over its quota of {rate:g}/s (burst {burst})",
                retry_after=math.ceil(allowed_at - now),
            )
        self._tat[client] = tat
