"""When a delayed job is due: every backend reports the same ``due_on`` for a job added
with a delay and for a retry waiting out its backoff, in single reads and in pages."""

from __future__ import annotations

from collections.abc import Callable

from conveyor import Backoff, JobContext, ManualClock, Queue, Worker

from .helpers import FAST, until_state

T0 = 1_800_000_000_000


async def test_a_job_added_with_a_delay_is_due_after_it(make_queue: Callable[..., Queue]) -> None:
    clock = ManualClock(T0)
    queue = make_queue(clock=clock)
    later = await queue.add("x", None, delay=300)
    sooner = await queue.add("x", None, delay=60)
    now = await queue.add("x", None)
    assert (later.due_on, sooner.due_on, now.due_on) == (T0 + 300_000, T0 + 60_000, None)

    read = await queue.get_job(later.id)
    assert read is not None
    assert read.due_on == T0 + 300_000
    page = await queue.get_jobs("delayed", newest_first=False)
    assert [(j.id, j.due_on) for j in page] == [
        (sooner.id, T0 + 60_000),
        (later.id, T0 + 300_000),
    ]
    waiting = await queue.get_job(now.id)
    assert waiting is not None
    assert waiting.due_on is None

    await queue.promote(later.id)
    promoted = await queue.get_job(later.id)
    assert promoted is not None
    assert (promoted.state, promoted.due_on) == ("waiting", None)


async def test_a_retry_waiting_out_its_backoff_is_due_when_the_backoff_ends(
    make_queue: Callable[..., Queue],
) -> None:
    """Not ``timestamp + delay``: the job was added without a delay, long before it
    failed; it is due one backoff after the failure."""
    clock = ManualClock(T0)
    queue = make_queue(clock=clock)

    @queue.job()
    async def flaky(job: JobContext[None]) -> None:
        raise RuntimeError("supplier API down")

    job = await queue.add("flaky", None, attempts=2, backoff=Backoff.fixed(3600))
    clock.advance(100)  # it fails at T0 + 100 s
    async with Worker(queue, settings=FAST, clock=clock):
        await until_state(job, "delayed")
    failed_at = T0 + 100_000
    read = await queue.get_job(job.id)
    assert read is not None
    assert (read.timestamp, read.attempts_made) == (T0, 1)
    assert read.due_on == failed_at + 3_600_000
    (listed,) = await queue.get_jobs("delayed")
    assert listed.due_on == failed_at + 3_600_000
