"""The lean channel for hot scripts: replies reach the right callers, in any interleaving."""

from __future__ import annotations

import asyncio

import pytest
from redis import exceptions as rx
from redis.asyncio import Redis

from conveyor import BackendUnavailableError, Queue
from conveyor.backends.redis.hot import HotChannel


async def test_concurrent_adds_each_get_their_own_reply(redis_url: str, queue_name: str) -> None:
    queue = Queue(queue_name, url=redis_url)
    try:
        handles = await asyncio.gather(*(queue.add("job", {"n": n}) for n in range(300)))
        assert len({h.id for h in handles}) == 300
        for n, handle in enumerate(handles):
            stored = await queue.get_job(handle.id)
            assert stored is not None
            assert stored.data == {"n": n}
    finally:
        await queue.close()


async def test_a_cancelled_call_does_not_shift_the_replies_of_others(redis_url: str) -> None:
    client = Redis.from_url(redis_url)
    channel = HotChannel(client.connection_pool)
    slow = asyncio.ensure_future(channel.call("BLPOP", "hot-channel-nothing", 0.2))
    echo = asyncio.ensure_future(channel.call("ECHO", "mine"))
    await asyncio.sleep(0)  # both requests are on the wire
    slow.cancel()
    assert await echo == b"mine"
    assert await channel.call("ECHO", "next") == b"next"
    with pytest.raises(rx.ResponseError, match="unknown command"):
        await channel.call("NO-SUCH-COMMAND")
    assert await channel.call("ECHO", "after an error") == b"after an error"
    await channel.close()
    await client.aclose()


async def test_a_dropped_connection_fails_calls_in_flight_and_is_reopened(
    redis_url: str, queue_name: str
) -> None:
    queue = Queue(queue_name, url=redis_url)
    await queue.add("job", 1)
    admin = Redis.from_url(redis_url)
    await admin.client_kill_filter(_type="normal", skipme=True)
    outcomes = []
    for n in range(3):  # the first call may still meet the dead socket
        try:
            outcomes.append((await queue.add("job", n)).id)
        except BackendUnavailableError:
            outcomes.append("unavailable")
    assert outcomes.count("unavailable") <= 1
    assert len([o for o in outcomes if o != "unavailable"]) >= 2
    await admin.aclose()
    await queue.close()


async def test_a_command_that_cannot_be_packed_leaves_the_replies_in_step(redis_url: str) -> None:
    client = Redis.from_url(redis_url)
    channel = HotChannel(client.connection_pool)
    try:
        assert await channel.call("ECHO", "first") == b"first"
        with pytest.raises(UnicodeEncodeError):
            await channel.call("ECHO", "\udcff")
        assert await asyncio.wait_for(channel.call("ECHO", "next"), 5) == b"next"
    finally:
        await channel.close()
        await client.aclose()
