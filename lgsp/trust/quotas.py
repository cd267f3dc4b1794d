"""Per-client quotas, answered with 429 and ``Retry-After``.

A token bucket of ``rate`` requests per second holding up to ``burst``,
computed as GCRA (the generic cell rate algorithm): one timestamp per client,
O(1) per call, and the exact time until the next request would be accepted,
which ``Retry-After`` reports. Neither `limits` (window counters, no burst
distinct from the rate) nor `aiolimiter` (a limiter that waits rather than
refuses) gives a token bucket that refuses with that time, and GCRA is a few
lines. Quotas are read from the client store on every call, so a changed
quota applies at once.

Counting is per gateway process. When N worker processes share one port
(``lgsp gateway --workers N``), each counts its share: rate/N and burst/N
(rounded up, so each accepts at least one), so a client whose calls spread
over the workers gets about its configured quota, not N times it. Calls are
not shared between the workers' buckets: a client holding one keep-alive
connection reaches one worker, and gets that worker's share.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from lgsp.errors import RateLimited
from lgsp.trust.workers import worker_count

Quota = tuple[float, int]
"""(requests per second, burst)."""


def per_worker(quota: Quota, workers: int) -> Quota:
    """What one of ``workers`` gateway processes counts of ``quota``."""
    rate, burst = quota
    if workers == 1:
        return quota
    return rate / workers, math.ceil(burst / workers)


class RateLimiter:
    """``share`` is how many gateway processes split each quota (default:
    this process's worker count, 1 for a gateway of its own)."""

    def __init__(self, quota: Callable[[str], Quota | None], *, share: int | None = None) -> None:
        self._quota = quota
        self._share = worker_count() if share is None else share
        if self._share < 1:
            raise ValueError("a quota is shared by at least one gateway process")
        # The theoretical arrival time of each client's next request:
        # the bucket is full when it is in the past.
        self._tat: dict[str, float] = {}

    def check(self, client: str) -> None:
        """Count one call of the client; 429 when its bucket is empty."""
        configured = self._quota(client)
        if configured is None:
            return
        rate, burst = per_worker(configured, self._share)
        interval = 1.0 / rate
        now = time.monotonic()
        tat = max(self._tat.get(client, now), now) + interval
        allowed_at = tat - burst * interval
        # A nanosecond of slack: sums of float intervals must not cost the
        # last request of a burst.
        if allowed_at > now + 1e-9:
            told = f"{client} is over its quota of {configured[0]:g}/s (burst {configured[1]})"
            if self._share > 1:
                told += f", counted 1/{self._share} by each of {self._share} gateway processes"
            raise RateLimited(told, retry_after=math.ceil(allowed_at - now))
        self._tat[client] = tat
