"""Deduplication by key: throttle (the first add wins until its ttl passes or the job
finishes) and debounce (a later add within the window replaces the pending job's data
and restarts its delay), across producers, with a ``deduplicated`` event."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from conveyor import BulkJob, Dedup, InvalidOptionsError, JobContext, ManualClock, Queue, Worker

from .helpers import FAST, total


def recorder(queue: Queue) -> list[Any]:
    seen: list[Any] = []

    @queue.job()
    async def sync(job: JobContext[Any]) -> Any:
        seen.append(job.data)
        return job.data

    return seen


async def test_throttle_returns_the_first_job_until_its_ttl_passes(
    make_queue: Callable[..., Queue],
) -> None:
    clock = ManualClock()
    queue = make_queue(clock=clock)
    first = await queue.add("sync", {"n": 1}, dedup=Dedup.throttle("store-42", ttl=60))
    assert (first.created, first.deduplicated) == (True, False)
    again = await queue.add("sync", {"n": 2}, dedup=Dedup.throttle("store-42", ttl=60))
    assert (again.id, again.created, again.deduplicated) == (first.id, False, True)
    assert again.data == {"n": 1}, "the first add wins"
    other = await queue.add("sync", {"n": 3}, dedup=Dedup.throttle("store-43", ttl=60))
    assert other.created, "another key is another job"
    clock.advance(60)
    later = await queue.add("sync", {"n": 4}, dedup=Dedup.throttle("store-42", ttl=60))
    assert later.created, "the ttl passed"
    assert later.id != first.id
    assert total(await queue.counts()) == 3


async def test_throttle_without_ttl_holds_until_the_job_finishes(queue: Queue) -> None:
    seen = recorder(queue)
    first = await queue.add("sync", 1, dedup=Dedup.throttle("nightly"))
    assert (await queue.add("sync", 2, dedup=Dedup.throttle("nightly"))).id == first.id
    async with Worker(queue, settings=FAST):
        assert await first.wait(timeout=10) == 1
        after = await queue.add("sync", 3, dedup=Dedup.throttle("nightly"))
        assert after.created, "a finished job no longer holds its key"
        assert await after.wait(timeout=10) == 3
    assert seen == [1, 3]


async def test_a_failed_job_gives_its_key_up_too(queue: Queue) -> None:
    @queue.job()
    async def boom(job: JobContext[None]) -> None:
        raise RuntimeError("down")

    failed = await queue.add("boom", None, dedup=Dedup.throttle("k"))
    async with Worker(queue, settings=FAST):
        with pytest.raises(Exception, match="down"):
            await failed.wait(timeout=10)
    assert (await queue.add("boom", None, dedup=Dedup.throttle("k"))).created


async def test_debounce_keeps_the_last_data_and_restarts_the_delay(
    make_queue: Callable[..., Queue],
) -> None:
    clock = ManualClock()
    queue = make_queue(clock=clock)
    seen = recorder(queue)
    key = Dedup.debounce("reindex-seller-7", window=10)
    first = await queue.add("sync", {"v": 1}, dedup=key)
    assert first.state == "delayed", "a debounced job waits out its window"
    clock.advance(8)
    second = await queue.add("sync", {"v": 2}, dedup=key)
    assert (second.id, second.deduplicated, second.data) == (first.id, True, {"v": 2})
    clock.advance(8)  # 16 s after the first add, 8 after the second: still waiting
    async with Worker(queue, settings=FAST, clock=clock):
        assert (await first.get_state()) == "delayed", "the second add restarted the delay"
        assert second.due_on == clock.now_ms() + 2000
        clock.advance(2)
        assert await first.wait(timeout=10) == {"v": 2}
    assert seen == [{"v": 2}], "a burst of adds ran once, with the last data"
    assert total(await queue.counts()) == 1


async def test_debounce_after_the_job_started_makes_a_new_job(
    make_queue: Callable[..., Queue],
) -> None:
    clock = ManualClock()
    queue = make_queue(clock=clock)
    recorder(queue)
    key = Dedup.debounce("k", window=5)
    first = await queue.add("sync", 1, dedup=key)
    clock.advance(5)
    async with Worker(queue, settings=FAST, clock=clock):
        assert await first.wait(timeout=10) == 1
    fresh = await queue.add("sync", 2, dedup=key)
    assert fresh.created
    assert fresh.id != first.id


async def test_dedup_in_one_bulk_add_and_a_deduplicated_event(queue: Queue) -> None:
    async with queue.events() as stream:
        jobs = await queue.add_bulk(
            [BulkJob("sync", n, options={"dedup": Dedup.throttle("same")}) for n in range(5)]
        )
        names = []
        async for event in stream:
            names.append((event.name, event.job_id, event.fields.get("key")))
            if len(names) == 5:
                break
    assert len({job.id for job in jobs}) == 1
    assert [job.deduplicated for job in jobs] == [False, True, True, True, True]
    assert names.count(("deduplicated", jobs[0].id, "same")) == 4
    assert total(await queue.counts()) == 1


async def test_a_caller_id_wins_over_a_dedup_key(queue: Queue) -> None:
    first = await queue.add("sync", 1, job_id="order-1", dedup=Dedup.throttle("k"))
    again = await queue.add("sync", 2, job_id="order-1", dedup=Dedup.throttle("k"))
    assert (again.id, again.created, again.deduplicated) == (first.id, False, False)
    by_key = await queue.add("sync", 3, dedup=Dedup.throttle("k"))
    assert (by_key.id, by_key.deduplicated) == ("order-1", True)


async def test_a_removed_holder_frees_its_key(queue: Queue) -> None:
    first = await queue.add("sync", 1, dedup=Dedup.throttle("k"))
    await first.remove()
    assert (await queue.add("sync", 2, dedup=Dedup.throttle("k"))).created


@pytest.mark.parametrize(
    "bad",
    [lambda: Dedup(""), lambda: Dedup("k", ttl=-1), lambda: Dedup("k", mode="x"),  # type: ignore[arg-type]
     lambda: Dedup("k", mode="debounce"), lambda: Dedup.throttle("k", ttl=0)],
)
def test_bad_dedup_options_are_refused(bad: Callable[[], Dedup]) -> None:
    with pytest.raises(InvalidOptionsError):
        bad()
