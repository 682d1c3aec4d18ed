"""Graceful shutdown of a worker process: SIGTERM finishes running jobs, a second exits."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from conveyor import BulkJob, Queue

from .harness import Records, Workers, until


async def _gated(producer: Queue, gate: Path, n: int) -> list[str]:
    jobs = await producer.add_bulk(BulkJob("gated", {"gate": str(gate)}) for _ in range(n))
    return [job.id for job in jobs]


@pytest.mark.slow
async def test_sigterm_finishes_running_jobs_and_fetches_no_more(
    producer: Queue, workers: Workers, records: Records, process_url: str, queue_name: str,
    tmp_path: Path,
) -> None:
    gate = tmp_path / "go"
    worker = workers.start(process_url, queue_name, "w", concurrency=5, grace=60)
    await worker.wait_ready()
    ids = await _gated(producer, gate, 10)
    await until(lambda: len(records.of("start")) == 5, 20, "5 jobs to start")

    worker.send(signal.SIGTERM)
    await worker.wait_log("SIGTERM received", 10)
    gate.touch()
    assert await worker.wait_exit(30) == 0, worker.log()

    started = records.count("start")
    done = records.count("done")
    assert len(started) == 5, "the worker fetched jobs after SIGTERM"
    assert done == started
    assert set(done.values()) == {1}
    counts = await producer.counts()
    assert (counts["completed"], counts["waiting"], counts["active"]) == (5, 5, 0)
    for job_id in done:
        job = await producer.get_job(job_id)
        assert job is not None
        assert (job.state, job.result) == ("completed", "w")
    assert set(done) < set(ids)
    assert "worker stopped" in worker.log()


@pytest.mark.slow
async def test_second_sigterm_exits_at_once_and_leaves_jobs_to_recovery(
    producer: Queue, workers: Workers, records: Records, process_url: str, queue_name: str,
    tmp_path: Path,
) -> None:
    gate = tmp_path / "go"
    quick = {"lease": 1.0, "stalled_interval": 0.3}
    first = workers.start(process_url, queue_name, "first", concurrency=5, grace=60, **quick)
    await first.wait_ready()
    ids = await _gated(producer, gate, 5)
    await until(lambda: len(records.of("start", "first")) == 5, 20, "5 jobs to start")

    first.send(signal.SIGTERM)
    await first.wait_log("SIGTERM received", 10)
    first.send(signal.SIGTERM)
    # Far less than the 60 s grace period: the second signal does not wait for jobs.
    assert await first.wait_exit(10) == 128 + signal.SIGTERM
    assert "exiting at once" in first.log()
    assert records.of("done") == []
    assert (await producer.counts())["active"] == 5

    second = workers.start(process_url, queue_name, "second", concurrency=5, **quick)
    gate.touch()
    await until(
        lambda: len(records.of("done", "second")) == 5, 30, "the jobs to run on the second worker"
    )
    await until(
        lambda: _completed(producer, 5), 10, "the jobs to complete"
    )
    assert records.count("done", "second") == dict.fromkeys(ids, 1)
    for job_id in ids:
        job = await producer.get_job(job_id)
        assert job is not None
        assert (job.state, job.result, job.stalled_count) == ("completed", "second", 1)
    second.send(signal.SIGTERM)
    assert await second.wait_exit(30) == 0


@pytest.mark.slow
async def test_jobs_past_the_grace_period_go_back_in_line_untouched(
    producer: Queue, workers: Workers, records: Records, process_url: str, queue_name: str,
    tmp_path: Path,
) -> None:
    """A deploy is not a stall: jobs stopped by a too-short grace period are waiting again
    when the worker exits, their stall count and attempts as they were, so max_stalled=0
    does not fail them and the next worker starts them at once (no stalled check)."""
    gate = tmp_path / "go"
    first = workers.start(
        process_url, queue_name, "first", concurrency=3, grace=0.5, max_stalled=0
    )
    await first.wait_ready()
    ids = await _gated(producer, gate, 3)
    await until(lambda: len(records.of("start", "first")) == 3, 20, "3 jobs to start")

    first.send(signal.SIGTERM)
    assert await first.wait_exit(20) == 0, first.log()
    assert "3 running job(s) stopped and put back in line" in first.log()
    assert records.count("cancelled", "first") == dict.fromkeys(ids, 1)
    counts = await producer.counts()
    assert (counts["waiting"], counts["active"], counts["failed"]) == (3, 0, 0)
    for job_id in ids:
        job = await producer.get_job(job_id)
        assert job is not None
        assert (job.state, job.stalled_count, job.attempts_made) == ("waiting", 0, 0)

    # A stalled check that never runs during the test: the jobs need none.
    second = workers.start(
        process_url, queue_name, "second", concurrency=3, stalled_interval=3600, max_stalled=0
    )
    gate.touch()
    took = await until(
        lambda: len(records.of("done", "second")) == 3, 30, "the jobs to run on the second worker"
    )
    await until(lambda: _completed(producer, 3), 10, "the jobs to complete")
    assert records.count("done", "second") == dict.fromkeys(ids, 1)
    assert records.of("done", "first") == []
    for job_id in ids:
        job = await producer.get_job(job_id)
        assert job is not None
        assert (job.state, job.stalled_count) == ("completed", 0)
    print(f"\njobs stopped at shutdown ran again {took:.1f}s after the next worker started")
    second.send(signal.SIGTERM)
    assert await second.wait_exit(30) == 0


async def _completed(producer: Queue, n: int) -> bool:
    return (await producer.counts())["completed"] == n


@pytest.mark.slow
async def test_a_thread_handler_past_the_grace_period_does_not_keep_the_process_alive(
    producer: Queue, workers: Workers, records: Records, process_url: str, queue_name: str,
    tmp_path: Path,
) -> None:
    """A plain def handler cannot be cancelled; the process still exits after the grace
    period, and the job is recovered and run again elsewhere (at-least-once)."""
    gate = tmp_path / "go"
    first = workers.start(process_url, queue_name, "first", concurrency=2, grace=0.5)
    await first.wait_ready()
    job = await producer.add("gated_sync", {"gate": str(gate)})
    await until(lambda: len(records.of("start", "first")) == 1, 20, "the job to start")

    first.send(signal.SIGTERM)
    assert await first.wait_exit(20) == 0, first.log()
    assert "1 running job(s) stopped and put back in line" in first.log()
    assert await job.get_state() == "waiting"

    second = workers.start(process_url, queue_name, "second", concurrency=2, stalled_interval=0.5)
    await until(lambda: len(records.of("start", "second")) == 1, 30, "the job to run again")
    gate.touch()
    await until(lambda: _completed(producer, 1), 20, "the job to complete")
    await job.refresh()
    assert (job.result, job.stalled_count) == ("second", 0)
    assert records.of("done", "first") == []
    second.send(signal.SIGTERM)
    assert await second.wait_exit(30) == 0
