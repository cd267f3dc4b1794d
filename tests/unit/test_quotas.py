from __future__ import annotations

import pytest

from lgsp.errors import RateLimited
from lgsp.trust import quotas as ratelimit
from lgsp.trust.quotas import Quota, RateLimiter, per_worker
from lgsp.trust.workers import WORKER_ENV


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


# -- several gateway workers on one port -----------------------------------


def test_each_of_n_workers_counts_its_share_of_a_quota() -> None:
    assert per_worker((10.0, 5), 1) == (10.0, 5)
    assert per_worker((10.0, 5), 2) == (5.0, 3)  # rounded up: 6 at once in all
    assert per_worker((0.5, 1), 2) == (0.25, 1)  # every worker accepts one at least


def test_a_client_spread_over_two_workers_gets_about_its_quota_not_twice_it(
    clock: Clock,
) -> None:
    workers = [RateLimiter({"a": (10.0, 10)}.get, share=2) for _ in range(2)]
    accepted = 0
    for n in range(1000):  # 100 calls a second for 10 s, every other one on each worker
        clock.now += 0.01
        try:
            workers[n % 2].check("a")
            accepted += 1
        except RateLimited:
            pass
    # Its rate over 10 s plus its burst, as one gateway would allow (110);
    # two gateways each counting the whole quota would let 220 through.
    assert 105 <= accepted <= 115


def test_a_worker_counts_its_share_unless_told_otherwise(
    clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(WORKER_ENV, "2/2")
    rl = limiter({"a": (1.0, 4)})
    rl.check("a")
    rl.check("a")
    with pytest.raises(RateLimited) as refused:
        rl.check("a")
    assert "1/2" in refused.value.detail
    assert refused.value.headers["Retry-After"] == "2"  # its share: one call every 2 s
    monkeypatch.delenv(WORKER_ENV)
    alone = limiter({"a": (1.0, 4)})
    for _ in range(4):
        alone.check("a")
