from __future__ import annotations

import pytest

from lgsp.errors import RateLimited
from lgsp.trust import quotas as ratelimit
from lgsp.trust.quotas import Quota, RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(ratelimit.time, "monotonic", c)
    return c


def limiter(quotas: dict[str, Quota]) -> RateLimiter:
    return RateLimiter(quotas.get)


def test_burst_then_the_rate_with_an_accurate_retry_after(clock: Clock) -> None:
    rl = limiter({"a": (0.5, 3)})  # one request every 2 s, 3 at once
    for _ in range(3):
        rl.check("a")
    with pytest.raises(RateLimited) as refused:
        rl.check("a")
    assert refused.value.headers["Retry-After"] == "2"
    clock.now += 1.5
    with pytest.raises(RateLimited) as refused:
        rl.check("a")
    assert refused.value.headers["Retry-After"] == "1"
    clock.now += 0.5
    rl.check("a")  # exactly when Retry-After said
    with pytest.raises(RateLimited):
        rl.check("a")


def test_an_idle_client_gets_its_whole_burst_back_and_no_more(clock: Clock) -> None:
    rl = limiter({"a": (10.0, 5)})
    for _ in range(5):
        rl.check("a")
    clock.now += 3600
    for _ in range(5):
        rl.check("a")
    with pytest.raises(RateLimited):
        rl.check("a")


def test_clients_have_their_own_buckets_and_unlimited_ones_are_never_refused(
    clock: Clock,
) -> None:
    rl = limiter({"a": (1.0, 1)})
    rl.check("a")
    with pytest.raises(RateLimited):
        rl.check("a")
    for _ in range(1000):
        rl.check("b")


def test_a_changed_quota_applies_on_the_next_call(clock: Clock) -> None:
    quotas: dict[str, Quota] = {"a": (1.0, 1)}
    rl = limiter(quotas)
    rl.check("a")
    with pytest.raises(RateLimited):
        rl.check("a")
    del quotas["a"]
    rl.check("a")
