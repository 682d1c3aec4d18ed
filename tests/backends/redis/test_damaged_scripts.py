"""Every Lua script reads a job through pcall before its first write to it: a record of
the wrong type is confined to failed (or refused) and never stops a script halfway."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis

from conveyor import BulkJob, InvalidStateError, Job, ManualClock, Queue
from conveyor.backends.redis.keys import QueueKeys
from tests.conformance.by_hand import complete, fail, fetch, finish, lease, recover


@pytest.fixture
async def queue(redis_url: str, queue_name: str) -> AsyncIterator[Queue]:
    queue = Queue(queue_name, url=redis_url, clock=ManualClock())
    yield queue
    await queue.close()


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


def keys(queue: Queue) -> QueueKeys:
    return QueueKeys("conveyor", queue.name)


async def break_record(client: Redis, queue: Queue, job_id: str) -> None:
    key = keys(queue).job(job_id)
    await client.delete(key)
    await client.set(key, "garbage")


async def assert_confined(client: Redis, queue: Queue, job_id: str) -> None:
    job = await queue.get_job(job_id)
    assert job is not None
    assert job.state == "failed"
    assert job.failed_reason is not None
    assert "damaged" in job.failed_reason
    assert "WRONGTYPE" in job.failed_reason
    kept = keys(queue).key(f"damaged:{job_id}")
    assert await client.get(kept) == b"garbage", "the damaged value is kept for inspection"
    assert await client.zscore(keys(queue).failed, job_id) is not None


async def held_by_a_dead_worker(queue: Queue, count: int) -> list[Job[Any]]:
    """``count`` jobs active under a lease that is gone: the next stalled check's."""
    added = [await queue.add("work", i) for i in range(count)]
    dead = lease("dead")
    await fetch(queue, dead, count)
    await queue.backend.release_lease(queue.name, dead)
    return added


async def test_finishing_a_batch_with_a_damaged_job_finishes_the_others(
    queue: Queue, client: Redis
) -> None:
    added = [await queue.add("work", i) for i in range(3)]
    holder = lease("w")
    jobs = await fetch(queue, holder, 3)
    await break_record(client, queue, added[1].id)
    assert await finish(queue, holder, *(complete(j) for j in jobs)) == [0, 0, 0]
    for job in (added[0], added[2]):
        assert await job.get_state() == "completed"
    await assert_confined(client, queue, added[1].id)
    counts = await queue.counts()
    assert (counts["completed"], counts["failed"], counts["active"]) == (2, 1, 0)
    await queue.remove(added[1].id)
    assert await client.exists(keys(queue).key(f"damaged:{added[1].id}")) == 0


async def test_a_damaged_delayed_job_is_confined_when_due(queue: Queue, client: Redis) -> None:
    due = [await queue.add("work", i, delay=1) for i in range(3)]
    await break_record(client, queue, due[1].id)
    assert isinstance(queue.clock, ManualClock)
    queue.clock.advance(1)
    fetched = await fetch(queue, lease("w"), 3)
    assert sorted(j.job_id for j in fetched) == sorted([due[0].id, due[2].id])
    await assert_confined(client, queue, due[1].id)
    assert (await queue.counts())["delayed"] == 0


async def test_a_damaged_job_of_a_dead_worker_is_confined_by_the_stalled_check(
    queue: Queue, client: Redis
) -> None:
    added = await held_by_a_dead_worker(queue, 3)
    await break_record(client, queue, added[1].id)
    recovered, failed = await recover(queue)
    assert sorted(recovered) == sorted([added[0].id, added[2].id])
    assert failed == [added[1].id]
    await assert_confined(client, queue, added[1].id)


async def test_admin_calls_on_a_damaged_job_refuse_or_remove_it_cleanly(
    queue: Queue, client: Redis
) -> None:
    healthy = await queue.add("work", 1)
    victim = await queue.add("work", 2)
    later = await queue.add("work", 3, delay=60)
    await break_record(client, queue, victim.id)
    await break_record(client, queue, later.id)
    with pytest.raises(InvalidStateError, match="stored record is damaged"):
        await queue.change_priority(victim.id, 5)
    with pytest.raises(InvalidStateError, match="stored record is damaged"):
        await queue.promote(later.id)
    assert await client.zscore(keys(queue).delayed, later.id) is not None, "left in place"
    assert await queue.backend.update_progress(queue.name, victim.id, b"1", 0) == -4
    assert await queue.backend.update_data(queue.name, victim.id, b"1") == -4
    job = await queue.get_job(victim.id)
    assert job is not None
    assert job.damage is not None
    assert "holds a string" in job.damage
    assert job.state == "waiting", "the state is found from where the id sits"
    await queue.remove(victim.id)
    assert await queue.get_job(victim.id) is None
    assert await client.lrange(keys(queue).wait, 0, -1) == [healthy.id.encode()]
    assert await queue.clean("delayed") == [later.id], "a damaged record counts as oldest"
    assert (await queue.counts())["waiting"] == 1


async def test_retrying_all_failed_jobs_skips_a_damaged_one(queue: Queue, client: Redis) -> None:
    added = [await queue.add("work", i) for i in range(3)]
    holder = lease("w")
    jobs = await fetch(queue, holder, 3)
    assert await finish(queue, holder, *(fail(j) for j in jobs)) == [0, 0, 0]
    await break_record(client, queue, added[1].id)
    assert await queue.retry() == 2
    assert await client.zrange(keys(queue).failed, 0, -1) == [added[1].id.encode()]
    assert await added[0].get_state() == "waiting"


async def test_adding_with_the_id_of_a_damaged_record_returns_it_with_a_note(
    queue: Queue, client: Redis
) -> None:
    first = await queue.add("work", 1, job_id="order-7")
    await break_record(client, queue, first.id)
    again = await queue.add("work", 1, job_id="order-7")
    assert again.damage is not None
    assert "not a hash" in again.damage


async def test_a_generated_id_whose_key_is_taken_is_skipped_not_written_over(
    queue: Queue, client: Redis
) -> None:
    first = await queue.add("work", 0)
    squatter = keys(queue).job(str(int(first.id) + 2))
    await client.set(squatter, "garbage")
    added = await queue.add_bulk([BulkJob("work", i) for i in range(3)])
    ids = [job.id for job in added]
    assert str(int(first.id) + 2) not in ids, "the taken id was not given out"
    assert len(set(ids)) == 3
    assert await client.get(squatter) == b"garbage", "the key at that id was not touched"
    assert (await queue.counts())["waiting"] == 4
    assert sorted(await client.lrange(keys(queue).wait, 0, -1)) == sorted(
        i.encode() for i in [first.id, *ids]
    )
    for job in added:
        assert (await queue.get_job(job.id)).data == int(job.data)  # type: ignore[union-attr]


async def test_an_active_id_without_a_record_is_failed_by_the_stalled_check(
    queue: Queue, client: Redis
) -> None:
    added = await held_by_a_dead_worker(queue, 3)
    await client.delete(keys(queue).job(added[1].id))
    recovered, failed = await recover(queue)
    assert sorted(recovered) == sorted([added[0].id, added[2].id])
    assert failed == [added[1].id], "reported, not dropped"
    job = await queue.get_job(added[1].id)
    assert job is not None
    assert job.state == "failed"
    assert "record is missing" in (job.failed_reason or "")
    assert (await queue.counts())["failed"] == 1


@pytest.mark.parametrize("garbled", ["wait", "active", "meta", "bogus", None])
async def test_removing_a_job_whose_state_field_is_garbled_takes_it_out_everywhere(
    queue: Queue, client: Redis, garbled: str | None
) -> None:
    healthy = await queue.add("work", 1)
    victim = await queue.add("work", 2)
    key = keys(queue).job(victim.id)
    if garbled is None:
        await client.hdel(key, "state")
    else:
        await client.hset(key, "state", garbled)
    await queue.remove(victim.id)
    assert await queue.get_job(victim.id) is None
    assert await client.lrange(keys(queue).wait, 0, -1) == [healthy.id.encode()]
    assert (await queue.counts())["waiting"] == 1
