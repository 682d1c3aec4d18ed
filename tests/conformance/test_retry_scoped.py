"""``Queue.retry`` with filters: only the failed jobs of one name, with an id prefix, or
that failed within a time window, are moved back to waiting, on every backend."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from conveyor import (
    InvalidOptionsError,
    JobContext,
    JobFailedError,
    ManualClock,
    Queue,
    UnrecoverableError,
    Worker,
)

from .helpers import FAST

T0 = 1_800_000_000_000
"""The manual clock's start (ms): failures happen at T0, T0 + 10 s, T0 + 20 s, ..."""


async def failures(queue: Queue, clock: ManualClock, jobs: list[tuple[str, str]]) -> list[int]:
    """Fail ``(job name, job id)`` one by one, 10 s apart on ``clock``; return when each
    failed (ms), as the backend stored it."""
    for job_name in {name for name, _ in jobs}:
        _failing(queue, job_name)
    finished: list[int] = []
    async with Worker(queue, settings=FAST, clock=clock):
        for job_name, job_id in jobs:
            job = await queue.add(job_name, None, job_id=job_id)
            with pytest.raises(JobFailedError):
                await job.wait(timeout=10)
            stored = await queue.get_job(job.id)
            assert stored is not None
            assert stored.finished_on is not None
            finished.append(stored.finished_on)
            clock.advance(10)
    return finished


def _failing(queue: Queue, job_name: str) -> None:
    @queue.job(job_name)
    async def fail(job: JobContext[Any]) -> None:
        raise UnrecoverableError(f"{job_name} is down")


async def states(queue: Queue, ids: list[str]) -> dict[str, str]:
    found = {}
    for job_id in ids:
        job = await queue.get_job(job_id)
        assert job is not None
        found[job_id] = job.state
    return found


MIXED = [
    ("sync_supplier", "sup-1"),
    ("sync_family", "fam-1"),
    ("sync_supplier", "sup-2"),
    ("sync_family", "fam-2"),
    ("sync_supplier", "other-3"),
]
IDS = [job_id for _, job_id in MIXED]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def timed(make_queue: Callable[..., Queue], clock: ManualClock) -> Queue:
    return make_queue(clock=clock)


async def test_retry_by_job_name_moves_only_that_name(timed: Queue, clock: ManualClock) -> None:
    await failures(timed, clock, MIXED)
    assert await timed.retry(name="sync_supplier") == 3
    assert await states(timed, IDS) == {
        "sup-1": "waiting", "fam-1": "failed", "sup-2": "waiting", "fam-2": "failed",
        "other-3": "waiting",
    }  # fmt: skip
    retried = await timed.get_job("sup-2")
    assert retried is not None
    assert (retried.attempts_made, retried.finished_on, retried.failed_reason) == (0, None, None)
    waiting = await timed.get_jobs("waiting", newest_first=False)
    assert [j.id for j in waiting] == ["sup-1", "sup-2", "other-3"], "oldest failure first"
    assert await timed.retry(name="sync_supplier") == 0, "nothing of that name is failed now"


async def test_retry_by_id_prefix(timed: Queue, clock: ManualClock) -> None:
    await failures(timed, clock, MIXED)
    assert await timed.retry(id_prefix="fam-") == 2
    assert (await timed.counts())["failed"] == 3
    assert (await states(timed, ["fam-1", "fam-2", "sup-1"])) == {
        "fam-1": "waiting", "fam-2": "waiting", "sup-1": "failed",
    }  # fmt: skip


async def test_retry_by_failure_time_includes_the_start_and_excludes_the_end(
    timed: Queue, clock: ManualClock
) -> None:
    at = await failures(timed, clock, MIXED)
    assert at == [T0 + i * 10_000 for i in range(5)]
    # [at[1], at[3]): the second and third failures, not the fourth
    assert await timed.retry(failed_after=at[1], failed_before=at[3]) == 2
    assert await states(timed, IDS) == {
        "sup-1": "failed", "fam-1": "waiting", "sup-2": "waiting", "fam-2": "failed",
        "other-3": "failed",
    }  # fmt: skip
    # datetimes work as well; only an end: everything that failed before it
    before = datetime.fromtimestamp(at[4] / 1000, tz=UTC)
    assert await timed.retry(failed_before=before) == 2  # sup-1 and fam-2
    assert await states(timed, ["sup-1", "fam-2", "other-3"]) == {
        "sup-1": "waiting", "fam-2": "waiting", "other-3": "failed",
    }  # fmt: skip
    # only a start
    assert await timed.retry(failed_after=datetime.fromtimestamp(at[4] / 1000, tz=UTC)) == 1
    assert (await timed.counts())["failed"] == 0


async def test_filters_combine_and_a_scope_that_matches_nothing_moves_nothing(
    timed: Queue, clock: ManualClock
) -> None:
    at = await failures(timed, clock, MIXED)
    assert await timed.retry(name="sync_supplier", id_prefix="other-") == 1
    assert await states(timed, ["other-3", "sup-1", "sup-2"]) == {
        "other-3": "waiting", "sup-1": "failed", "sup-2": "failed",
    }  # fmt: skip
    assert await timed.retry(name="sync_supplier", failed_after=at[2]) == 1  # sup-2
    assert await timed.retry(name="nobody") == 0
    assert await timed.retry(id_prefix="sup-", failed_after=at[4] + 1) == 0
    assert await states(timed, IDS) == {
        "sup-1": "failed", "fam-1": "failed", "sup-2": "waiting", "fam-2": "failed",
        "other-3": "waiting",
    }  # fmt: skip


async def test_many_failed_jobs_are_read_in_pages_and_moved_in_batches(
    timed: Queue, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Small pages and batches, so that paging and batching run on a few jobs: a window
    in the middle of several pages, and a name scattered over all of them."""
    monkeypatch.setattr("conveyor.selection.PAGE", 2)
    monkeypatch.setattr("conveyor.queue.BATCH", 2)
    jobs = [("sync_supplier" if i % 3 else "sync_family", f"j-{i}") for i in range(9)]
    at = await failures(timed, clock, jobs)
    assert await timed.retry(failed_after=at[2], failed_before=at[7]) == 5  # j-2 ... j-6
    picked = await states(timed, [job_id for _, job_id in jobs])
    assert [job_id for job_id, state in picked.items() if state == "waiting"] == [
        f"j-{i}" for i in range(2, 7)
    ]
    assert await timed.retry(name="sync_family") == 1  # j-0: j-3 and j-6 were in the window
    assert (await timed.counts())["failed"] == 3  # j-1, j-7 and j-8 (sync_supplier)


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"job_id": "sup-1", "name": "sync_supplier"}, "a job id or filters, not both"),
        ({"name": ""}, "name must be a non-empty string"),
        ({"id_prefix": 17}, "id_prefix must be a non-empty string"),
        ({"failed_after": "yesterday"}, "failed_after must be a datetime or milliseconds"),
        ({"failed_before": True}, "failed_before must be a datetime or milliseconds"),
        ({"failed_after": T0, "failed_before": T0}, "must be earlier than failed_before"),
    ],
)
async def test_bad_filters_are_refused_and_move_nothing(
    timed: Queue, clock: ManualClock, kwargs: dict[str, Any], words: str
) -> None:
    await failures(timed, clock, MIXED[:1])
    with pytest.raises(InvalidOptionsError, match=words):
        await timed.retry(**kwargs)
    assert (await timed.counts())["failed"] == 1
