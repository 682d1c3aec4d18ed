"""An async handler that blocks the event loop past its lease is not run a second time."""

from __future__ import annotations

import signal

import pytest

from conveyor import Queue

from .harness import Records, Workers, until


@pytest.mark.slow
async def test_blocked_event_loop_keeps_its_lease_and_warns(
    producer: Queue, workers: Workers, records: Records, process_url: str, queue_name: str
) -> None:
    # A 1 s lease and a stalled check every 0.2 s: a lapse would be noticed at once.
    quick = {"concurrency": 2, "lease": 1.0, "stalled_interval": 0.2, "loop_stall_warning": 1.5}
    procs = [workers.start(process_url, queue_name, f"w{i}", **quick) for i in range(2)]
    for proc in procs:
        await proc.wait_ready()
    sleeper = await producer.add("blocking", {"seconds": 3.0})
    spinner = await producer.add("blocking", {"seconds": 3.0, "cpu": True})

    async def finished() -> bool:
        return (await producer.counts())["completed"] == 2

    await until(finished, 30, "both blocking jobs to complete")
    assert records.count("start") == {sleeper.id: 1, spinner.id: 1}
    assert records.count("done") == {sleeper.id: 1, spinner.id: 1}
    for job in (sleeper, spinner):
        await job.refresh()
        assert (job.state, job.stalled_count, job.attempts_made) == ("completed", 0, 1)
    ran_on = {r.label for r in records.of("start")}
    for proc in procs:
        if proc.label in ran_on:
            await proc.wait_log("event loop has been blocked", 5)
            await proc.wait_log("running again after", 5)
        assert "stalled (its worker stopped renewing" not in proc.log()
        proc.send(signal.SIGTERM)
    for proc in procs:
        assert await proc.wait_exit(30) == 0
