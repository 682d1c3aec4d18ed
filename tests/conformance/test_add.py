"""add and add_bulk: generated ids, idempotent caller ids, atomic ordered bulk adds."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from conveyor import (
    BulkJob,
    InvalidOptionsError,
    JobContext,
    Queue,
    UnknownJobNameError,
    Worker,
)

from .helpers import FAST, total


async def test_generated_ids_are_distinct_and_increasing(queue: Queue) -> None:
    jobs = [await queue.add("noop", {"n": i}) for i in range(5)]
    ids = [job.id for job in jobs]
    assert len(set(ids)) == 5
    assert all(i.isdigit() for i in ids)
    assert [int(i) for i in ids] == sorted(int(i) for i in ids)
    stored = await queue.get_job(ids[2])
    assert stored is not None
    assert stored.data == {"n": 2}
    assert stored.name == "noop"
    assert stored.state == "waiting"
    assert stored.attempts_made == 0


async def test_add_returns_a_handle_matching_the_stored_job(queue: Queue) -> None:
    job = await queue.add("noop", [1, "two", None], priority=3)
    stored = await queue.get_job(job.id)
    assert stored is not None
    assert (stored.name, stored.data, stored.state, stored.priority) == (
        job.name,
        job.data,
        job.state,
        job.priority,
    )
    assert stored.timestamp == job.timestamp


async def test_caller_job_id_makes_add_idempotent(queue: Queue) -> None:
    first = await queue.add("noop", {"v": 1}, job_id="order-42")
    assert first.id == "order-42"
    assert first.created is True
    second = await queue.add("noop", {"v": 2}, job_id="order-42", priority=7)
    assert second.id == "order-42"
    assert second.created is False, "the handle says this add stored nothing"
    assert second.data == {"v": 1}, "the existing job is returned unchanged"
    assert second.priority == 0
    counts = await queue.counts()
    assert total(counts) == 1
    assert counts["waiting"] == 1


async def test_caller_job_id_returns_existing_job_in_its_current_state(queue: Queue) -> None:
    @queue.job()
    async def echo(job: JobContext[int]) -> int:
        return job.data

    job = await queue.add("echo", 5, job_id="once")
    async with Worker(queue, settings=FAST):
        assert await job.wait(timeout=10) == 5
    again = await queue.add("echo", 6, job_id="once")
    assert again.created is False
    assert again.state == "completed"
    assert again.result == 5
    assert total(await queue.counts()) == 1


@pytest.mark.parametrize("bad", ["", "123", 17])
async def test_invalid_caller_job_id_is_refused(queue: Queue, bad: object) -> None:
    with pytest.raises(InvalidOptionsError):
        await queue.add("noop", None, job_id=bad)  # type: ignore[arg-type]
    assert total(await queue.counts()) == 0


async def test_bulk_add_keeps_order_and_stores_all(queue: Queue) -> None:
    jobs = await queue.add_bulk(
        [BulkJob("noop", {"i": i}) for i in range(10)]
        + [BulkJob("noop", {"i": 10}, job_id="custom")]
    )
    assert [j.data for j in jobs] == [{"i": i} for i in range(11)]
    assert jobs[-1].id == "custom"
    assert len({j.id for j in jobs}) == 11
    assert (await queue.counts())["waiting"] == 11
    taken = await queue.get_jobs("waiting", limit=100, newest_first=False)
    assert [j.data["i"] for j in taken] == list(range(11)), "bulk jobs run in the order given"


async def test_bulk_add_with_existing_id_returns_existing(queue: Queue) -> None:
    await queue.add("noop", "old", job_id="dup")
    jobs = await queue.add_bulk([BulkJob("noop", "a"), BulkJob("noop", "new", job_id="dup")])
    assert jobs[1].id == "dup"
    assert jobs[1].data == "old"
    assert [j.created for j in jobs] == [True, False]
    assert (await queue.get_job("dup")).created is None  # type: ignore[union-attr]
    assert total(await queue.counts()) == 2


async def test_bulk_add_is_all_or_nothing_on_invalid_entry(queue: Queue) -> None:
    with pytest.raises(InvalidOptionsError):
        await queue.add_bulk(
            [
                BulkJob("noop", 1),
                BulkJob("noop", 2, options={"attempts": 0}),
                BulkJob("noop", 3),
            ]
        )
    assert total(await queue.counts()) == 0


async def test_bulk_add_of_nothing_stores_nothing(queue: Queue) -> None:
    assert await queue.add_bulk([]) == []
    assert total(await queue.counts()) == 0


async def test_bulk_add_options_per_entry(queue: Queue) -> None:
    jobs = await queue.add_bulk(
        [
            BulkJob("noop", 1, options={"priority": 2}),
            BulkJob("noop", 2, options={"delay": 60}),
            BulkJob("noop", 3),
        ]
    )
    assert [j.state for j in jobs] == ["prioritized", "delayed", "waiting"]
    counts = await queue.counts()
    assert (counts["prioritized"], counts["delayed"], counts["waiting"]) == (1, 1, 1)


async def test_jobs_of_two_queues_do_not_mix(make_queue: Callable[..., Queue]) -> None:
    a, b = make_queue(), make_queue()
    await a.add("noop", 1, job_id="same")
    await b.add("noop", 2, job_id="same")
    job_a, job_b = await a.get_job("same"), await b.get_job("same")
    assert job_a is not None
    assert job_b is not None
    assert (job_a.data, job_b.data) == (1, 2)


async def test_bulk_add_with_the_same_new_id_twice_stores_one(queue: Queue) -> None:
    jobs = await queue.add_bulk(
        [BulkJob("noop", "first", job_id="x"), BulkJob("noop", "second", job_id="x")]
    )
    assert [j.id for j in jobs] == ["x", "x"]
    assert [j.data for j in jobs] == ["first", "first"]
    assert [j.created for j in jobs] == [True, False]
    assert total(await queue.counts()) == 1


async def test_a_name_the_queue_does_not_know_is_refused_at_the_producer(queue: Queue) -> None:
    @queue.job()
    async def sync_supplier(job: JobContext[None]) -> None:
        return None

    with pytest.raises(UnknownJobNameError, match="sync_suplier") as caught:
        await queue.add("sync_suplier", None)
    assert caught.value.known == ["sync_supplier"]
    with pytest.raises(UnknownJobNameError):
        await queue.add_bulk([BulkJob("sync_supplier"), BulkJob("sync_suplier")])
    assert total(await queue.counts()) == 0, "nothing was stored"
    queue.declare("rebuild_sitemap")  # handled by workers elsewhere
    assert (await queue.add("rebuild_sitemap", None)).created
    assert (await queue.add("sync_supplier", None)).created


async def test_a_queue_without_handlers_accepts_any_name(queue: Queue) -> None:
    assert not queue.tasks
    assert (await queue.add("anything_at_all", None)).created


@pytest.mark.parametrize("field", ["name", "job_id"])
async def test_text_without_a_utf8_form_is_refused_and_later_adds_work(
    queue: Queue, field: str
) -> None:
    bad = "order-\udcff"  # a lone surrogate, as os.fsdecode makes from a non-UTF-8 name
    name, job_id = (bad, None) if field == "name" else ("noop", bad)
    with pytest.raises(InvalidOptionsError, match="not valid UTF-8"):
        await queue.add(name, None, job_id=job_id)
    assert total(await queue.counts()) == 0
    later = await queue.add("noop", "after")
    assert (await queue.get_job(later.id)).data == "after"  # type: ignore[union-attr]
