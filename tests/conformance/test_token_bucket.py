"""Token buckets: a burst up to the capacity, then tokens at the refill rate, one bucket
for every caller of its name, and a wait as long as the refill needs (never a poll)."""

from __future__ import annotations

import asyncio

import pytest

from conveyor import ConfigurationError, ManualClock, TokenBucket, TokenBucketTimeoutError
from conveyor.backends.base import Backend


async def test_a_burst_up_to_the_capacity_then_the_refill_rate(backend: Backend) -> None:
    clock = ManualClock(1_000_000)
    shopify = TokenBucket("shopify-42", capacity=40, per_second=2, backend=backend, clock=clock)
    assert [await shopify.try_acquire() for _ in range(41)] == [True] * 40 + [False]
    clock.advance(0.4)  # 0.8 of a token back
    assert not await shopify.try_acquire()
    clock.advance(0.1)  # one token
    assert await shopify.try_acquire()
    assert not await shopify.try_acquire()
    clock.advance(3600)  # refills to the capacity, never past it
    assert await shopify.try_acquire(40)
    assert not await shopify.try_acquire()


async def test_every_caller_of_a_name_shares_one_bucket(backend: Backend) -> None:
    clock = ManualClock(1_000_000)
    one = TokenBucket("marketplace", capacity=5, per_second=1, backend=backend, clock=clock)
    other = TokenBucket("marketplace", capacity=5, per_second=1, backend=backend, clock=clock)
    elsewhere = TokenBucket("elsewhere", capacity=5, per_second=1, backend=backend, clock=clock)
    assert await one.try_acquire(3)
    assert await other.try_acquire(2)
    assert not await one.try_acquire()
    assert not await other.try_acquire()
    assert await elsewhere.try_acquire(5)  # another name, another bucket


async def test_acquire_waits_for_the_refill_and_a_timeout_takes_nothing(backend: Backend) -> None:
    bucket = TokenBucket("paced", capacity=2, per_second=20, backend=backend)
    await bucket.acquire(2)
    await asyncio.wait_for(bucket.acquire(), 5)  # one token back after ~50 ms
    slow = TokenBucket("slow", capacity=1, per_second=0.01, backend=backend)
    await slow.acquire()
    with pytest.raises(TokenBucketTimeoutError, match="slow"):
        await slow.acquire(timeout=1)  # 100 s to refill: refused at once, nothing taken
    assert not await slow.try_acquire()


async def test_a_clock_that_moves_back_refills_nothing(backend: Backend) -> None:
    clock = ManualClock(1_000_000)
    bucket = TokenBucket("skewed", capacity=1, per_second=1, backend=backend, clock=clock)
    assert await bucket.try_acquire()
    clock.advance(-10)
    assert not await bucket.try_acquire()
    clock.advance(11)
    assert await bucket.try_acquire()


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="capacity"):
        TokenBucket("b", capacity=0, per_second=1, url="sqlite:////tmp/x/never.db")
    with pytest.raises(ConfigurationError, match="per_second"):
        TokenBucket("b", capacity=1, per_second=0, url="sqlite:////tmp/x/never.db")
    with pytest.raises(ConfigurationError, match="bucket name"):
        TokenBucket("a b", capacity=1, per_second=1, url="sqlite:////tmp/x/never.db")


async def test_taking_more_than_the_capacity_is_refused(backend: Backend) -> None:
    bucket = TokenBucket("small", capacity=3, per_second=1, backend=backend)
    with pytest.raises(ConfigurationError, match="1 to 3 tokens"):
        await bucket.acquire(4)
