"""Crashed and frozen workers: their jobs run again elsewhere, exactly once to completion."""

from __future__ import annotations

import signal
import time
from collections import Counter
from pathlib import Path

import pytest

from conveyor import BulkJob, Queue

from .harness import Records, Workers, until

HELD = 50


@pytest.mark.slow
async def test_sigkilled_worker_jobs_complete_on_another_with_default_settings(
    producer: Queue, workers: Workers, records: Records, process_url: str, queue_name: str,
    tmp_path: Path,
) -> None:
    """Default lease (10 s) and stalled interval (5 s); prints how long recovery took."""
    gate = tmp_path / "go"
    doomed = workers.start(process_url, queue_name, "doomed", concurrency=HELD)
    await doomed.wait_ready()
    jobs = await producer.add_bulk(
        BulkJob("gated", {"gate": str(gate)}) for _ in range(HELD)
    )
    ids = {job.id for job in jobs}
    await until(lambda: len(records.of("start", "doomed")) == HELD, 20, f"{HELD} jobs to start")
    assert (await producer.counts())["active"] == HELD

    doomed.kill()
    killed_at = time.monotonic()
    survivor = workers.start(process_url, queue_name, "survivor", concurrency=HELD)
    await until(
        lambda: len(records.of("start", "survivor")) == HELD, 60, "the jobs to restart elsewhere"
    )
    recovery = time.monotonic() - killed_at
    gate.touch()

    async def all_completed() -> bool:
        return (await producer.counts())["completed"] == HELD

    await until(all_completed, 20, f"{HELD} jobs to complete")
    assert records.count("start", "doomed") == dict.fromkeys(ids, 1)
    assert records.count("start", "survivor") == dict.fromkeys(ids, 1)
    assert records.count("done", "survivor") == dict.fromkeys(ids, 1)
    assert records.of("done", "doomed") == []
    counts = await producer.counts()
    assert (counts["completed"], counts["failed"], counts["active"]) == (HELD, 0, 0)
    for job_id in ids:
        job = await producer.get_job(job_id)
        assert job is not None
        assert (job.result, job.stalled_count, job.attempts_made) == ("survivor", 1, 1)
    print(
        f"\nrecovery with default settings: all {HELD} jobs restarted"
        f" {recovery:.1f}s after SIGKILL"
    )
    survivor.send(signal.SIGTERM)
    assert await survivor.wait_exit(30) == 0


@pytest.mark.slow
async def test_worker_killed_mid_job_is_recovered_and_completed_exactly_once(
    producer: Queue, process_url: str, workers: Workers, records: Records, tmp_path: Path
) -> None:
    """A quick lease, and jobs still waiting behind the five the doomed worker held: the
    rescuer runs the waiting ones and the recovered ones, each to completion once."""
    settings = {"lease": 1.0, "stalled_interval": 0.3, "concurrency": 5}
    doomed = workers.start(process_url, producer.name, "doomed", **settings)
    await doomed.wait_ready()
    gate = tmp_path / "gate"
    added = await producer.add_bulk(BulkJob("gated", {"gate": str(gate)}) for _ in range(12))
    ids = {job.id for job in added}

    def five_started() -> bool:
        return len(records.count("start", "doomed")) == 5

    await until(five_started, 20, "the doomed worker to start five jobs")
    held = set(records.count("start", "doomed"))
    doomed.kill()
    gate.touch()
    rescuer = workers.start(process_url, producer.name, "rescuer", **settings)

    async def all_completed() -> bool:
        return (await producer.counts())["completed"] == len(ids)

    await until(all_completed, 30, "every job to complete on the rescuer")
    done = records.count("done")
    assert set(done) == ids
    assert set(done.values()) == {1}, f"a job completed twice: {done}"
    assert records.count("done", "doomed") == Counter()
    for job_id in held:
        job = await producer.get_job(job_id)
        assert job is not None
        assert (job.state, job.stalled_count, job.attempts_made) == ("completed", 1, 1)
    rescuer.kill()


@pytest.mark.slow
async def test_lost_lease_cancels_the_handler_and_fences_the_stale_worker(
    producer: Queue, workers: Workers, records: Records, process_url: str, queue_name: str,
    tmp_path: Path,
) -> None:
    """A worker frozen past its lease (SIGSTOP: a GC pause, a suspended VM) loses its jobs
    to another; when it wakes, its handlers are cancelled, and one that ignores the
    cancellation and returns cannot complete the job."""
    gate = tmp_path / "go"
    quick = {"concurrency": 5, "lease": 1.0, "stalled_interval": 0.3}
    stale = workers.start(process_url, queue_name, "stale", **quick)
    await stale.wait_ready()
    polite = await producer.add("gated", {"gate": str(gate)})
    stubborn = await producer.add("stubborn", {"gate": str(gate)})
    await until(lambda: len(records.of("start", "stale")) == 2, 20, "both jobs to start")
    fresh = workers.start(process_url, queue_name, "fresh", **quick)
    await fresh.wait_ready()

    stale.send(signal.SIGSTOP)
    await until(
        lambda: len(records.of("start", "fresh")) == 2, 30, "the jobs to be taken over"
    )
    stale.send(signal.SIGCONT)
    await until(
        lambda: len(records.of("cancelled", "stale")) == 2, 20, "the stale handlers to be cancelled"
    )
    await stale.wait_log("outcome was dropped", 20)
    for job in (polite, stubborn):
        assert (await job.get_state()) == "active"  # still running on the fresh worker
    gate.touch()

    async def both_completed() -> bool:
        return (await producer.counts())["completed"] == 2

    await until(both_completed, 20, "both jobs to complete")
    for job in (polite, stubborn):
        await job.refresh()
        assert (job.state, job.result, job.attempts_made) == ("completed", "fresh", 1)
    assert records.count("done", "fresh") == {polite.id: 1, stubborn.id: 1}
    assert records.of("done", "stale") == []
    assert f"lost the lease of job {polite.id}" in stale.log()
    for proc in (stale, fresh):
        proc.send(signal.SIGTERM)
    for proc in (stale, fresh):
        assert await proc.wait_exit(30) == 0
