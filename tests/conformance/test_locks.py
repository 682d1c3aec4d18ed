"""Named locks: one holder at a time, a token that guards release and extend, a TTL that
frees a dead holder's lock and that renewals keep alive while the holder is busy."""

from __future__ import annotations

import asyncio
import time

import pytest

from conveyor import ConfigurationError, Lock, LockNotHeldError, LockTimeoutError
from conveyor.backends.base import Backend

from .helpers import until


async def free(backend: Backend, name: str) -> bool:
    """Whether another holder could take the lock now (taking and releasing it)."""
    probe = Lock(name, backend=backend, timeout=0)
    try:
        await probe.acquire()
    except LockTimeoutError:
        return False
    await probe.release()
    return True


async def test_one_holder_at_a_time_and_the_next_takes_it_on_release(backend: Backend) -> None:
    first = Lock("shop-sync-42", backend=backend, ttl=30)
    second = Lock("shop-sync-42", backend=backend, ttl=30, timeout=20)
    order: list[str] = []
    await first.acquire()
    assert first.held
    with pytest.raises(LockTimeoutError, match="shop-sync-42"):
        await Lock("shop-sync-42", backend=backend, timeout=0).acquire()

    async def take_second() -> None:
        async with second:
            order.append("second holds")

    waiter = asyncio.create_task(take_second())
    await asyncio.sleep(0)  # let it try once and wait
    order.append("first releases")
    await first.release()
    await asyncio.wait_for(waiter, 20)
    assert order == ["first releases", "second holds"]
    assert not first.held
    assert await free(backend, "shop-sync-42")


async def test_only_the_holders_token_releases_or_extends(backend: Backend) -> None:
    holder = Lock("fx-rates", backend=backend)
    other = Lock("fx-rates", backend=backend, timeout=0)
    async with holder:
        with pytest.raises(LockNotHeldError):
            await other.release()
        with pytest.raises(LockNotHeldError):
            await other.extend()
        assert not await free(backend, "fx-rates")
        await holder.extend(60)
    assert await free(backend, "fx-rates")


async def test_a_dead_holders_lock_is_free_when_its_ttl_runs_out(backend: Backend) -> None:
    """A holder that stops renewing (it died) keeps the lock for its TTL, not longer."""
    assert await backend.acquire_lock("sitemap", "dead-holder", 300) == 0
    left = await backend.acquire_lock("sitemap", "someone-else", 300)
    assert 0 < left <= 300
    waiter = Lock("sitemap", backend=backend, timeout=10)
    await waiter.acquire()  # waits out the dead holder's 0.3 s
    assert not await backend.release_lock("sitemap", "dead-holder")  # its time is up
    await waiter.release()


async def test_renewals_keep_a_busy_holder_holding_past_its_ttl(backend: Backend) -> None:
    """The renewals run on their own thread: a holder that blocks its event loop for
    several TTLs still holds the lock, and releases it cleanly."""
    lock = Lock("blocking", backend=backend, ttl=0.3)
    await lock.acquire()
    time.sleep(1.2)  # a blocking call in the holder: four TTLs without the event loop
    assert lock.held
    assert not await free(backend, "blocking")
    await lock.release()


async def test_a_hold_that_ran_out_says_so_on_extend_and_release(backend: Backend) -> None:
    lock = Lock("lapsed", backend=backend, ttl=0.2)
    await lock.acquire()
    lock._stop_renewing()  # as if its renewals could not reach the backend

    async def lapsed() -> bool:
        return await free(backend, "lapsed")

    await until(lapsed, 10, "the unrenewed hold to run out")
    with pytest.raises(LockNotHeldError):
        await lock.extend()
    with pytest.raises(LockNotHeldError):
        await lock.release()


async def test_the_holder_taking_it_again_keeps_it(backend: Backend) -> None:
    lock = Lock("again", backend=backend, timeout=0)
    await lock.acquire()
    await lock.acquire()  # refreshes its TTL, does not wait for itself
    await lock.release()
    assert await free(backend, "again")


def test_bad_names_and_ttls_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="lock name"):
        Lock("has space", url="sqlite:////tmp/x/never.db")
    with pytest.raises(ConfigurationError, match="ttl"):
        Lock("ok", url="sqlite:////tmp/x/never.db", ttl=0.01)
