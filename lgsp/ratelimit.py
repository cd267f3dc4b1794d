"""Per-client quotas, answered with 429 and ``Retry-After``.

Counting is the `limits` library's sliding-window counter (O(1) per call,
in process memory): a well-kept implementation instead of a hand-written
bucket. Quotas are per gateway process.
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import SlidingWindowCounterRateLimiter

from lgsp.config import ClientConfig
from lgsp.errors import RateLimited


class RateLimiter:
    def __init__(self, clients: tuple[ClientConfig, ...]) -> None:
        self._limiter = SlidingWindowCounterRateLimiter(MemoryStorage())
        self._items: dict[str, RateLimitItem] = {
            c.id: parse(c.rate_limit) for c in clients if c.rate_limit
        }

    def check(self, client: str) -> None:
        """Count one call of the client; 429 when it is over its quota."""
        item = self._items.get(client)
        if item is None or self._limiter.hit(item, client):
            return
        stats = self._limiter.get_window_stats(item, client)
        raise RateLimited(
            f"{client} is over its quota of {item}",
            retry_after=math.ceil(max(0.0, stats.reset_time - time.time())),
        )
