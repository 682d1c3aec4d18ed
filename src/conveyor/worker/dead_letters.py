"""Dead-letter forwarding: copy an exhausted job to the queue its options name.

The copy is made after the failure is stored (so a job is never both retried and
dead-lettered); its id derives from the original's, so forwarding twice stores one copy.
A worker that dies between the two steps makes no copy (docs/lifecycle.md).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ..backends.base import Backend, FetchedJob, NewJob
from ..errors import ConveyorError
from ..options import JobOptions
from ..serialization import dump_options, load_options

log = logging.getLogger("conveyor.worker")

_COPY_OPTIONS = dump_options(JobOptions())
"""Options of dead-letter copies: the defaults (the copy waits to be inspected)."""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """An exhausted job to copy to ``target`` once its failure is stored."""

    job: FetchedJob
    target: str


async def forward(backend: Backend, queue: str, letter: DeadLetter, now_ms: int) -> None:
    """Copy the job's name and payload to its dead-letter queue; the failure itself stays
    on the original job. Errors are logged, never raised (the failure is already stored)."""
    job = letter.job
    copy = NewJob(
        name=job.name,
        data=job.data,
        options=_COPY_OPTIONS,
        job_id=f"{queue}.{job.job_id}.{job.timestamp}",
    )
    try:
        await backend.add(letter.target, [copy], now_ms)
    except ConveyorError as exc:
        log.error(
            "could not move job %s of %s to dead-letter queue %s: %s",
            job.job_id,
            queue,
            letter.target,
            exc,
            extra={"queue": queue, "job_id": job.job_id},
        )


async def forward_stalled(backend: Backend, queue: str, job_id: str, now_ms: int) -> None:
    """A job failed for stalling too often is exhausted too: dead-letter it if asked."""
    try:
        record = await backend.get_job(queue, job_id)
        options = None if record is None else load_options(record.options)
    except ConveyorError as exc:
        log.error("could not read stalled job %s of %s: %s", job_id, queue, exc)
        return
    if record is None or options is None or not options.dead_letter:
        return
    job = FetchedJob(
        job_id, "", record.name, record.data, record.options, record.attempts_made,
        record.timestamp,
    )
    await forward(backend, queue, DeadLetter(job, options.dead_letter), now_ms)
