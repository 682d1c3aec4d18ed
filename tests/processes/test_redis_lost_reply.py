"""Redis only (a TCP proxy that drops one reply): a lost reply to the worker's fetch does
not hold the jobs it moved to active forever; a lost reply to an add says so."""

from __future__ import annotations

import hashlib
import signal
from collections.abc import AsyncIterator

import pytest

from conveyor import AmbiguousResultError, BulkJob, Queue
from conveyor.backends.redis.scripts import source
from tests.support.redis_server import RedisServer

from .harness import Records, Workers, until
from .proxy import ReplyDropper

# The producer (and the session server behind the proxy) on Redis only.
pytestmark = pytest.mark.parametrize("process_url", ["redis"], indirect=True)


@pytest.fixture
async def dropper(redis_server: RedisServer) -> AsyncIterator[ReplyDropper]:
    proxy = await ReplyDropper(redis_server.port).start()
    yield proxy
    await proxy.close()


@pytest.mark.slow
async def test_jobs_fetched_by_a_call_whose_reply_was_lost_are_recovered(
    producer: Queue, workers: Workers, records: Records, dropper: ReplyDropper, queue_name: str
) -> None:
    # A quick lease, so that the orphaned batch lapses soon; the worker reaches Redis only
    # through the proxy, the producer directly.
    worker = workers.start(
        dropper.url, queue_name, "w", concurrency=10, lease=1.0, stalled_interval=0.3
    )
    await worker.wait_ready()
    sha = hashlib.sha1(source("finish_and_fetch").encode()).hexdigest().encode()
    dropper.arm(sha, reply_marker=b"noop")  # the reply of a fetch that took jobs
    jobs = await producer.add_bulk(
        BulkJob("noop", options={"remove_on_complete": False}) for _ in range(30)
    )
    ids = {job.id for job in jobs}

    async def all_completed() -> bool:
        return (await producer.counts())["completed"] == len(ids)

    await until(all_completed, 30, "every job to complete, the lost batch included")
    assert dropper.dropped == 1
    assert records.count("run") == dict.fromkeys(ids, 1)
    # The batch whose reply was lost never ran here: it was recovered as stalled.
    stalled = []
    for job_id in ids:
        job = await producer.get_job(job_id)
        assert job is not None
        if job.stalled_count:
            stalled.append(job_id)
    assert stalled, "no job was in the lost batch"
    print(f"\nlost reply: {len(stalled)} jobs of the lost batch recovered and run once")
    worker.send(signal.SIGTERM)
    assert await worker.wait_exit(30) == 0


async def test_an_add_whose_reply_was_lost_says_it_may_have_been_stored(
    producer: Queue, dropper: ReplyDropper, queue_name: str
) -> None:
    """The add reached Redis and ran, its answer did not come back: the caller is told
    the outcome is unknown, and a retry with the same job_id finds the stored job."""
    through_proxy = Queue(queue_name, url=dropper.url)
    await through_proxy.add("warm-up", None)  # connected and scripts loaded
    dropper.arm(hashlib.sha1(source("add").encode()).hexdigest().encode())
    with pytest.raises(AmbiguousResultError, match="may or may not have been carried out"):
        await through_proxy.add("charge", {"order": 7}, job_id="charge-order-7")
    assert dropper.dropped == 1
    stored = await producer.get_job("charge-order-7")
    assert stored is not None, "the lost add had stored its job"
    again = await through_proxy.add("charge", {"order": 7}, job_id="charge-order-7")
    assert again.id == "charge-order-7"
    assert (await producer.counts())["waiting"] == 2, "the retry stored nothing new"
    await through_proxy.close()
