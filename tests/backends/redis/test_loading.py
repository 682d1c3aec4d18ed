"""A Redis that is loading its dataset (just restarted, or a replica syncing) answers
``-LOADING``: every path of the backend reports it as BackendUnavailableError, and a worker
rides it out like any outage.

The hot channel used to hand the parsed error over as a reply (``TypeError: object of
type 'BusyLoadingError' has no len()`` from ``Queue.add``): redis-py maps ``LOADING`` to
BusyLoadingError, a ConnectionError, not a ResponseError.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Iterator

import pytest
from redis import exceptions as rx
from redis.asyncio import Redis

from conveyor import BackendUnavailableError, JobContext, Queue, Worker
from conveyor.backends.redis.hot import HotChannel
from tests.conformance.helpers import FAST, until
from tests.conftest import missing
from tests.support.loading import loadable_server, loading
from tests.support.redis_server import RedisServer, find_binary, find_valkey

LOADING = "is loading its dataset; try again"
# A lease that outlasts the load (its TTL runs on while Redis loads), so the job keeps it.
SETTINGS = dataclasses.replace(FAST, lease=10.0)


@pytest.fixture(params=["redis", "valkey"])
def server(request: pytest.FixtureRequest) -> Iterator[RedisServer]:
    binary = find_binary() if request.param == "redis" else find_valkey()
    if binary is None:
        missing(f"{request.param}-server")
    assert binary is not None
    started = loadable_server(binary).start()
    yield started
    started.close()


async def test_hot_channel_raises_error_replies_that_are_not_response_errors(
    server: RedisServer,
) -> None:
    client = Redis.from_url(server.url)
    channel = HotChannel(client.connection_pool)
    assert await channel.call("ECHO", "before") == b"before"
    async with loading(server):
        with pytest.raises(rx.BusyLoadingError):
            await channel.call("SET", "hot-loading", "x")
    assert await channel.call("ECHO", "after") == b"after"
    await channel.close()
    await client.aclose()


async def test_add_and_reads_while_loading_are_backend_unavailable(
    server: RedisServer, queue_name: str
) -> None:
    queue = Queue(queue_name, url=server.url)
    await queue.add("job", {"n": 0})  # the hot channel is open before the load starts
    async with loading(server):
        with pytest.raises(BackendUnavailableError, match=LOADING):
            await queue.add("job", {"n": 1})  # hot path
        with pytest.raises(BackendUnavailableError, match=LOADING):
            await queue.counts()  # redis-py's path
        fresh = Queue(queue_name, url=server.url)  # connects while Redis loads
        with pytest.raises(BackendUnavailableError, match=LOADING):
            await fresh.add("job", {"n": 2})
    # Nothing was stored while loading; everything works once the load is over.
    await queue.add("job", {"n": 3})
    await fresh.add("job", {"n": 4})
    counts = await queue.counts()
    assert counts["waiting"] == 3
    await fresh.close()
    await queue.close()


async def test_a_worker_finishing_a_job_while_redis_loads_retries_until_it_is_stored(
    server: RedisServer, queue_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    queue = Queue(queue_name, url=server.url)
    started, release = asyncio.Event(), asyncio.Event()

    @queue.job()
    async def double(job: JobContext[int]) -> int:
        started.set()
        await release.wait()
        return job.data * 2

    job = await queue.add("double", 21)
    caplog.set_level(logging.WARNING, logger="conveyor")
    async with Worker(queue, settings=SETTINGS):
        await asyncio.wait_for(started.wait(), 10)
        async with loading(server):
            release.set()  # the worker's finish_and_fetch meets -LOADING

            async def told() -> bool:
                return any(LOADING in r.getMessage() for r in caplog.records)

            await until(told, 30, "the worker to report the loading Redis")
        assert await job.wait(timeout=30) == 42
    await job.refresh()
    assert (job.state, job.attempts_made) == ("completed", 1)
    await queue.close()
