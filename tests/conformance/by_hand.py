"""Playing a worker by hand through the backend protocol: fetch under a chosen lease,
end attempts with chosen tokens, run stalled checks. No storage-specific command."""

from __future__ import annotations

import asyncio
import time

from conveyor import Queue
from conveyor.backends.base import FetchedJob, Lease, Outcome
from conveyor.errors import Refusal
from conveyor.options import retention_ms
from conveyor.worker.outcomes import STALLED_REASON

KEEP = retention_ms(False)
LOST = int(Refusal.LOCK_LOST)


def lease(name: str) -> Lease:
    return Lease(f"{name}-{time.monotonic_ns()}", 60_000)


async def fetch(queue: Queue, holder: Lease, count: int = 1) -> list[FetchedJob]:
    result = await queue.backend.finish_and_fetch(
        queue.name, holder, [], count, queue.clock.now_ms()
    )
    return result.jobs


async def finish(queue: Queue, holder: Lease, *outcomes: Outcome) -> list[int]:
    result = await queue.backend.finish_and_fetch(
        queue.name, holder, list(outcomes), 0, queue.clock.now_ms()
    )
    return result.codes


def complete(job: FetchedJob, token: str | None = None, result: bytes = b'"done"') -> Outcome:
    return Outcome(job.job_id, token or job.token, "complete", 1, result=result, retention=KEEP)


def fail(job: FetchedJob, token: str | None = None) -> Outcome:
    return Outcome(
        job.job_id, token or job.token, "fail", 1, reason="stale says no", retention=KEEP
    )


def retry(job: FetchedJob, token: str | None = None) -> Outcome:
    return Outcome(job.job_id, token or job.token, "retry", 1, reason="again")


async def recover(queue: Queue, max_stalled: int = 1) -> tuple[list[str], list[str]]:
    """Run a stalled check (1 ms interval), again while another check's guard holds."""
    deadline = time.monotonic() + 5
    while True:
        report = await queue.backend.check_stalled(
            queue.name, max_stalled, 1, queue.clock.now_ms(), STALLED_REASON
        )
        if report.recovered or report.failed or time.monotonic() > deadline:
            return report.recovered, report.failed
        await asyncio.sleep(0.002)
