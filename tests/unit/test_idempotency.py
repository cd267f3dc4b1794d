from __future__ import annotations

import asyncio

import pytest

from lgsp.errors import MalformedRequest
from lgsp.gateway.idempotency import IdempotencyStore, Outcome

FP = IdempotencyStore.fingerprint("a.b.c", 1, b"{}")


async def test_first_call_claims_then_retries_get_its_outcome() -> None:
    store = IdempotencyStore(ttl=60)
    assert await store.claim("c", "k", FP) is None
    store.settle("c", "k", Outcome(200, b"{}"))
    assert await store.claim("c", "k", FP) == Outcome(200, b"{}")
    assert await store.claim("other-client", "k", FP) is None


async def test_concurrent_retry_waits_for_the_first() -> None:
    store = IdempotencyStore(ttl=60)
    assert await store.claim("c", "k", FP) is None
    waiter = asyncio.create_task(store.claim("c", "k", FP))
    await asyncio.sleep(0)
    assert not waiter.done()
    store.settle("c", "k", Outcome(404, b"{}"))
    assert await waiter == Outcome(404, b"{}")


async def test_unsettled_outcome_lets_the_retry_try_again() -> None:
    store = IdempotencyStore(ttl=60)
    assert await store.claim("c", "k", FP) is None
    waiter = asyncio.create_task(store.claim("c", "k", FP))
    await asyncio.sleep(0)
    store.settle("c", "k", None)
    assert await waiter is None  # the waiter now owns the key


async def test_other_request_with_the_same_key_is_refused() -> None:
    store = IdempotencyStore(ttl=60)
    await store.claim("c", "k", FP)
    with pytest.raises(MalformedRequest):
        await store.claim("c", "k", IdempotencyStore.fingerprint("a.b.c", 1, b'{"x":1}'))


async def test_expired_and_evicted_keys_are_forgotten() -> None:
    store = IdempotencyStore(ttl=0.0001, max_entries=2)
    await store.claim("c", "k", FP)
    store.settle("c", "k", Outcome(200, b"{}"))
    await asyncio.sleep(0.001)
    assert await store.claim("c", "k", FP) is None
    store = IdempotencyStore(ttl=60, max_entries=2)
    for key in ("k1", "k2", "k3"):
        await store.claim("c", key, FP)
        store.settle("c", key, Outcome(200, b"{}"))
    assert await store.claim("c", "k1", FP) is None
    assert await store.claim("c", "k3", FP) == Outcome(200, b"{}")
