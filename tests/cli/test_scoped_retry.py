"""``conveyor jobs retry`` scoped by job name, id prefix and failure time: only those jobs
move, the summary says how many and which scope, and bad filters are usage errors."""

from __future__ import annotations

from typing import Any

import pytest

from conveyor import JobContext, Queue, UnrecoverableError, Worker
from tests.conformance.helpers import FAST, until_state

from .conftest import Invoke

JOBS = [("sync_supplier", "sup-1"), ("sync_family", "fam-1"), ("sync_supplier", "sup-2")]


async def _failed(queue: Queue) -> None:
    for job_name in ("sync_supplier", "sync_family"):

        @queue.job(job_name)
        async def fail(job: JobContext[Any]) -> None:
            raise UnrecoverableError("down")

    jobs = [await queue.add(name, None, job_id=job_id) for name, job_id in JOBS]
    async with Worker(queue, settings=FAST):
        for job in jobs:
            await until_state(job, "failed")


async def _states(queue: Queue) -> dict[str, str]:
    states = {}
    for _, job_id in JOBS:
        job = await queue.get_job(job_id)
        assert job is not None
        states[job_id] = job.state
    return states


async def test_retry_by_name_says_how_many_and_which_scope(
    cli: Invoke, rq: Queue, redis_url: str
) -> None:
    await _failed(rq)
    result = await cli("jobs", "retry", rq.name, "--name", "sync_supplier", "--url", redis_url)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == (
        f"retried 2 failed jobs in {rq.name} at {redis_url} (name sync_supplier)"
    )
    assert await _states(rq) == {"sup-1": "waiting", "fam-1": "failed", "sup-2": "waiting"}


async def test_retry_by_id_prefix_and_name_together(
    cli: Invoke, rq: Queue, redis_url: str
) -> None:
    await _failed(rq)
    both = await cli(
        "jobs", "retry", rq.name, "--id-prefix", "sup-2", "--name", "sync_supplier",
        "--url", redis_url,
    )  # fmt: skip
    assert both.stdout.strip() == (
        f"retried 1 failed jobs in {rq.name} at {redis_url} (name sync_supplier; id prefix sup-2)"
    )
    assert await _states(rq) == {"sup-1": "failed", "fam-1": "failed", "sup-2": "waiting"}
    with_all = await cli(
        "jobs", "retry", rq.name, "--all", "--id-prefix", "fam-", "--url", redis_url
    )
    assert with_all.stdout.strip().startswith(f"retried 1 failed jobs in {rq.name}")
    assert await _states(rq) == {"sup-1": "failed", "fam-1": "waiting", "sup-2": "waiting"}


async def test_retry_by_failure_time(cli: Invoke, rq: Queue, redis_url: str) -> None:
    await _failed(rq)
    before = await cli(
        "jobs", "retry", rq.name, "--failed-before", "2000-01-01T00:00", "--url", redis_url
    )
    assert before.stdout.strip() == (
        f"retried 0 failed jobs in {rq.name} at {redis_url}"
        " (failed before 2000-01-01 00:00:00)"
    )
    assert (await rq.counts())["failed"] == 3
    after = await cli(
        "jobs", "retry", rq.name, "--failed-after", "2000-01-01 00:00", "--name", "sync_family",
        "--url", redis_url,
    )  # fmt: skip
    assert after.stdout.strip().endswith(
        "(name sync_family; failed at or after 2000-01-01 00:00:00)"
    )
    assert await _states(rq) == {"sup-1": "failed", "fam-1": "waiting", "sup-2": "failed"}
    recent = await cli("jobs", "retry", rq.name, "--since", "1h30m", "--url", redis_url)
    assert recent.exit_code == 0, recent.output
    assert f"retried 2 failed jobs in {rq.name} at {redis_url}" in recent.stdout
    assert "(failed in the last 1h30m, since " in recent.stdout
    assert (await rq.counts())["failed"] == 0


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--since", "2x"), "expected a duration like 90s, 30m, 2h, 1d or 1h30m, got '2x'"),
        (("--since", "0"), "got '0'"),
        (("--failed-after", "yesterday"), "expected a date and time like 2026-12-01T10:00"),
        (("--since", "1h", "--failed-after", "2020-01-01"), "give --since or --failed-after"),
        (
            ("--failed-after", "2021-01-01", "--failed-before", "2020-01-01"),
            "the window is empty",
        ),
        (("--name", ""), "must not be empty"),
        (("sup-1", "--name", "sync_supplier"), "give either a JOB_ID or --all (not both)"),
        ((), "or filters: --name, --id-prefix"),
    ],
)
async def test_bad_scopes_are_usage_errors_that_move_nothing(
    cli: Invoke, rq: Queue, redis_url: str, args: tuple[str, ...], words: str
) -> None:
    await _failed(rq)
    result = await cli("jobs", "retry", rq.name, *args, "--url", redis_url)
    assert result.exit_code == 2, result.output
    assert words in " ".join(result.output.replace("│", " ").split())
    assert (await rq.counts())["failed"] == 3
