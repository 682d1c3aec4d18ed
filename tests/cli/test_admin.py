"""``conveyor queues``, ``conveyor queue ...`` and ``conveyor jobs ...`` change what the API
sees afterwards, print JSON for scripts, and fail in one readable line."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from typing import Any

import pytest

from conveyor import JobContext, Queue, UnrecoverableError, Worker
from conveyor.cli import render
from tests.conformance.helpers import FAST, until_state
from tests.support.redis_server import free_port

from .conftest import Invoke, assert_error


def _handlers(queue: Queue) -> None:
    @queue.job()
    async def add(job: JobContext[list[int]]) -> int:
        await job.log(f"adding {job.data}")
        await job.update_progress({"done": 1})
        return sum(job.data)

    @queue.job()
    async def boom(job: JobContext[str]) -> None:
        raise UnrecoverableError(f"boom: {job.data}")


async def _finished(queue: Queue, completed: int = 0, failed: int = 0) -> list[str]:
    """Run ``add``/``boom`` jobs to the end; return the ids, completed first."""
    _handlers(queue)
    jobs = [await queue.add("add", [i, 1]) for i in range(completed)]
    jobs += [await queue.add("boom", f"n{i}") for i in range(failed)]
    async with Worker(queue, settings=FAST):
        for job in jobs:
            await until_state(job, "completed", "failed")
    return [job.id for job in jobs]


def _json(output: str) -> Any:
    return json.loads(output)


# -- queues ----------------------------------------------------------------------------
async def test_queues_shows_counts_and_the_paused_flag(
    cli: Invoke, rq: Queue, redis_url: str
) -> None:
    await rq.add("add", [1])
    await rq.add("add", [2], delay=3600)
    await rq.pause()
    result = await cli("queues", "--url", redis_url, "--json")
    assert result.exit_code == 0, result.output
    entry = next(e for e in _json(result.stdout) if e["name"] == rq.name)
    assert entry["paused"] is True
    assert entry["counts"]["paused"] == 1
    assert entry["counts"]["delayed"] == 1

    table = await cli("queues", "--url", redis_url)
    assert table.exit_code == 0
    row = next(line for line in table.stdout.splitlines() if rq.name in line)
    assert "paused" in row
    assert "waiting-children" in table.stdout


async def test_an_unknown_queue_is_named_with_the_known_ones(
    cli: Invoke, rq: Queue, redis_url: str
) -> None:
    await rq.add("add", [1])
    result = await cli("jobs", "list", f"{rq.name}-typo", "--url", redis_url)
    assert_error(result, 1, f"no queue named '{rq.name}-typo'", rq.name)


async def test_an_unreachable_backend_exits_1(cli: Invoke) -> None:
    result = await cli("queues", "--url", f"redis://127.0.0.1:{free_port()}")
    assert_error(result, 1, "is unavailable")


async def test_a_bad_url_exits_2(cli: Invoke) -> None:
    assert_error(await cli("queues", "--url", "nonsense"), 2, "malformed backend URL")


async def test_a_bad_state_is_a_usage_error(cli: Invoke, rq: Queue, redis_url: str) -> None:
    result = await cli("jobs", "list", rq.name, "--state", "lost", "--url", redis_url)
    assert result.exit_code == 2
    assert "lost" in result.output


# -- jobs list / show ------------------------------------------------------------------
async def test_jobs_list_pages_and_orders(cli: Invoke, rq: Queue, redis_url: str) -> None:
    ids = [(await rq.add("add", [i])).id for i in range(5)]
    base = ("jobs", "list", rq.name, "--url", redis_url, "--json")
    newest = _json((await cli(*base, "--limit", "2")).stdout)
    assert newest["total"] == 5
    assert [j["id"] for j in newest["jobs"]] == ids[::-1][:2]
    oldest = _json((await cli(*base, "--oldest-first", "--offset", "1", "--limit", "3")).stdout)
    assert [j["id"] for j in oldest["jobs"]] == ids[1:4]

    table = await cli("jobs", "list", rq.name, "--url", redis_url, "--limit", "2")
    assert table.exit_code == 0
    assert table.stdout.splitlines()[0] == f"waiting jobs in {rq.name} (1-2 of 5) at {redis_url}"


async def test_jobs_list_delayed_shows_when_each_job_is_due(
    cli: Invoke, rq: Queue, redis_url: str
) -> None:
    soon = await rq.add("add", [1], delay=330)  # due in 5m 30s: "in 5m" for 30 s
    later = await rq.add("add", [2], delay=3 * 86400 + 4 * 3600 + 1800)
    assert soon.due_on is not None
    assert later.due_on is not None
    table = await cli(
        "jobs", "list", rq.name, "-s", "delayed", "--oldest-first", "--url", redis_url
    )
    assert table.exit_code == 0, table.output
    assert "│ due " in table.stdout.replace("┃", "│")
    assert "finished" not in table.stdout
    rows = [line for line in table.stdout.splitlines() if line.startswith("│")]
    assert f"{render.when(soon.due_on)} (in 5m)" in rows[0]
    assert f"{render.when(later.due_on)} (in 3d 4h)" in rows[1]

    as_json = _json(
        (await cli("jobs", "list", rq.name, "-s", "delayed", "--url", redis_url, "--json")).stdout
    )
    assert {j["id"]: j["due_on"] for j in as_json["jobs"]} == {
        soon.id: soon.due_on,
        later.id: later.due_on,
    }
    shown = await cli("jobs", "show", rq.name, soon.id, "--url", redis_url)
    assert f"due        {render.when(soon.due_on)} (in 5m)" in shown.stdout
    waiting = await cli("jobs", "list", rq.name, "--url", redis_url)
    assert "finished" in waiting.stdout
    assert "due" not in waiting.stdout


@pytest.mark.parametrize(
    ("delta_ms", "text"),
    [
        (0, "in 0s"),
        (45_999, "in 45s"),
        (-45_000, "45s ago"),
        (299_999, "in 4m"),
        (2 * 3600_000 + 5 * 60_000, "in 2h 5m"),
        (2 * 3600_000 + 59_000, "in 2h"),
        (-(3 * 86400_000 + 4 * 3600_000), "3d 4h ago"),
    ],
)
def test_relative_times_read_like_a_person_would_say_them(delta_ms: int, text: str) -> None:
    now = 1_800_000_000_000
    assert render.relative(now + delta_ms, now) == text


async def test_jobs_list_failed_and_show_with_stack_trace_and_logs(
    cli: Invoke, rq: Queue, redis_url: str
) -> None:
    done, failed = await _finished(rq, completed=1, failed=1)
    listed = _json(
        (
            await cli("jobs", "list", rq.name, "--state", "failed", "--url", redis_url, "--json")
        ).stdout
    )
    assert [(j["id"], j["failed_reason"]) for j in listed["jobs"]] == [
        (failed, "UnrecoverableError: boom: n0")
    ]

    shown = _json((await cli("jobs", "show", rq.name, failed, "--url", redis_url, "--json")).stdout)
    assert shown["state"] == "failed"
    assert shown["data"] == "n0"
    assert shown["attempts_made"] == 1
    (error,) = shown["errors"]
    assert error["type"] == "UnrecoverableError"
    assert "in boom" in error["stack"]

    page = await cli("jobs", "show", rq.name, failed, "--url", redis_url)
    assert page.exit_code == 0
    assert "attempt 1 failed at" in page.stdout
    assert 'raise UnrecoverableError(f"boom: {job.data}")' in page.stdout

    completed = _json(
        (await cli("jobs", "show", rq.name, done, "--url", redis_url, "--json")).stdout
    )
    assert (completed["result"], completed["progress"]) == (1, {"done": 1})
    assert completed["logs"] == ["adding [0, 1]"]
    assert completed["options"]["attempts"] == 1


async def test_jobs_show_an_unknown_id(cli: Invoke, rq: Queue, redis_url: str) -> None:
    await rq.add("add", [1])
    result = await cli("jobs", "show", rq.name, "404", "--url", redis_url)
    assert_error(result, 1, f"no job 404 in queue '{rq.name}'")


# -- jobs retry / remove / promote -----------------------------------------------------
async def test_jobs_retry_one_then_all(cli: Invoke, rq: Queue, redis_url: str) -> None:
    first, *_ = await _finished(rq, failed=3)
    one = await cli("jobs", "retry", rq.name, first, "--url", redis_url)
    assert one.exit_code == 0, one.output
    assert one.stdout.strip() == f"job {first} in {rq.name} at {redis_url} moved back to waiting"
    assert (await rq.counts())["failed"] == 2
    job = await rq.get_job(first)
    assert job is not None
    assert job.state == "waiting"

    again = await cli("jobs", "retry", rq.name, first, "--url", redis_url)
    assert_error(again, 1, f"cannot retry job {first}", "wrong state")

    every = await cli("jobs", "retry", rq.name, "--all", "--url", redis_url)
    assert every.stdout.strip() == f"retried 2 failed jobs in {rq.name} at {redis_url}"
    counts = await rq.counts()
    assert (counts["failed"], counts["waiting"]) == (0, 3)


async def test_jobs_retry_needs_an_id_or_all(cli: Invoke, rq: Queue, redis_url: str) -> None:
    for args in ((), ("7", "--all")):
        result = await cli("jobs", "retry", rq.name, *args, "--url", redis_url)
        assert result.exit_code == 2
        assert "give either a JOB_ID or --all" in result.output


async def test_jobs_remove(cli: Invoke, rq: Queue, redis_url: str) -> None:
    job = await rq.add("add", [1])
    result = await cli("jobs", "remove", rq.name, job.id, "--url", redis_url)
    assert result.stdout.strip() == f"job {job.id} in {rq.name} at {redis_url} removed"
    assert await rq.get_job(job.id) is None
    missing = await cli("jobs", "remove", rq.name, job.id, "--url", redis_url)
    assert_error(missing, 1, f"cannot remove job {job.id}", "no such job")


async def test_jobs_promote(cli: Invoke, rq: Queue, redis_url: str) -> None:
    later = await rq.add("add", [1], delay=3600)
    now = await rq.add("add", [2])
    result = await cli("jobs", "promote", rq.name, later.id, "--url", redis_url)
    assert result.stdout.strip() == f"job {later.id} in {rq.name} at {redis_url} promoted"
    assert await later.get_state() == "waiting"
    refused = await cli("jobs", "promote", rq.name, now.id, "--url", redis_url)
    assert_error(refused, 1, f"cannot promote job {now.id}", "wrong state")


# -- queue pause / resume / drain / clean / obliterate ---------------------------------
async def test_queue_pause_and_resume(cli: Invoke, rq: Queue, redis_url: str) -> None:
    await rq.add("add", [1])
    paused = await cli("queue", "pause", rq.name, "--url", redis_url)
    assert paused.stdout.strip() == f"queue {rq.name} paused at {redis_url}"
    assert await rq.is_paused()
    resumed = await cli("queue", "resume", rq.name, "--url", redis_url)
    assert resumed.stdout.strip() == f"queue {rq.name} resumed at {redis_url}"
    assert not await rq.is_paused()


async def test_queue_drain_with_and_without_delayed(cli: Invoke, rq: Queue, redis_url: str) -> None:
    for i in range(3):
        await rq.add("add", [i])
    await rq.add("add", [9], priority=2)
    await rq.add("add", [9], delay=3600)
    result = await cli("queue", "drain", rq.name, "--url", redis_url)
    assert result.stdout.strip() == f"drained 4 jobs from {rq.name} at {redis_url}"
    counts = await rq.counts()
    assert (counts["waiting"], counts["prioritized"], counts["delayed"]) == (0, 0, 1)
    result = await cli("queue", "drain", rq.name, "--delayed", "--url", redis_url)
    assert result.stdout.strip() == f"drained 1 jobs from {rq.name} at {redis_url}"
    assert (await rq.counts())["delayed"] == 0


async def test_queue_clean_refuses_a_negative_age_in_the_words_typed(
    cli: Invoke, rq: Queue, redis_url: str
) -> None:
    await rq.add("add", [1])
    for typed in ("-5", "soon", "4000000000", "inf"):
        result = await cli(
            "queue", "clean", rq.name, "-s", "waiting", "--older-than", typed, "--url", redis_url
        )
        assert result.exit_code == 2
        assert f"got '{typed}'" in result.output
    assert (await rq.counts())["waiting"] == 1


async def test_job_text_with_control_characters_reaches_the_terminal_escaped(
    cli: Invoke, rq: Queue, redis_url: str
) -> None:
    job = await rq.add("evil\x1b[2Jname", {"note": "bell\x07 csi\x9b"}, job_id="id\x1b[31m")
    listing = await cli("jobs", "list", rq.name, "--url", redis_url)
    shown = await cli("jobs", "show", rq.name, job.id, "--url", redis_url)
    as_json = await cli("jobs", "show", rq.name, job.id, "--url", redis_url, "--json")
    for result in (listing, shown, as_json):
        assert result.exit_code == 0, result.output
        for raw in ("\x1b", "\x07", "\x9b"):
            assert raw not in result.stdout
    assert "evil\\x1b[2Jname" in listing.stdout
    assert "id\\x1b[31m" in shown.stdout
    assert _json(as_json.stdout)["id"] == job.id


async def test_jobs_show_and_list_a_damaged_record_with_a_note(
    cli: Invoke, rq: Queue, redis_url: str
) -> None:
    from tests.conformance.damage import damage

    healthy = await rq.add("add", [1])
    victim = await rq.add("add", [2])
    await damage(rq, victim.id, "wrong-type")
    shown = await cli("jobs", "show", rq.name, victim.id, "--url", redis_url)
    assert shown.exit_code == 0, shown.output
    assert "damaged" in shown.stdout
    assert "not a hash" in shown.stdout
    as_json = await cli("jobs", "show", rq.name, victim.id, "--url", redis_url, "--json")
    detail = _json(as_json.stdout)
    assert "not a hash" in detail["damage"]
    listing = await cli("jobs", "list", rq.name, "--url", redis_url, "--json")
    by_id = {job["id"]: job for job in _json(listing.stdout)["jobs"]}
    assert by_id[healthy.id]["damage"] is None
    assert "not a hash" in by_id[victim.id]["damage"]
    garbled = await rq.add("add", [3])
    await damage(rq, garbled.id, "invalid-options")
    page = await cli("jobs", "show", rq.name, garbled.id, "--url", redis_url, "--json")
    assert page.exit_code == 0, page.output
    assert "damaged" in _json(page.stdout)["options"]


async def test_queue_clean_by_state_age_and_limit(cli: Invoke, rq: Queue, redis_url: str) -> None:
    await _finished(rq, completed=5, failed=1)
    young = await cli(
        "queue",
        "clean",
        rq.name,
        "--state",
        "completed",
        "--older-than",
        "3600",
        "--url",
        redis_url,
    )
    assert young.stdout.strip() == f"removed 0 completed jobs from {rq.name} at {redis_url}"
    some = await cli(
        "queue", "clean", rq.name, "--state", "completed", "--limit", "2", "--url", redis_url
    )
    assert some.stdout.strip() == f"removed 2 completed jobs from {rq.name} at {redis_url}"
    rest = await cli("queue", "clean", rq.name, "-s", "completed", "--url", redis_url)
    assert rest.stdout.strip() == f"removed 3 completed jobs from {rq.name} at {redis_url}"
    counts = await rq.counts()
    assert (counts["completed"], counts["failed"]) == (0, 1)
    active = await cli("queue", "clean", rq.name, "--state", "active", "--url", redis_url)
    assert_error(active, 2, "cannot clean jobs in state 'active'")


async def test_queue_clean_many_in_batches(cli: Invoke, rq: Queue, redis_url: str) -> None:
    from conveyor import BulkJob

    await rq.add_bulk([BulkJob("add", [i]) for i in range(2500)])
    result = await cli("queue", "clean", rq.name, "--state", "waiting", "--url", redis_url)
    assert result.stdout.strip() == f"removed 2500 waiting jobs from {rq.name} at {redis_url}"
    assert (await rq.counts())["waiting"] == 0


async def test_queue_obliterate_asks_first(cli: Invoke, rq: Queue, redis_url: str) -> None:
    await rq.add("add", [1])
    await rq.add("add", [2])
    declined = await cli("queue", "obliterate", rq.name, "--url", redis_url, input="n\n")
    assert_error(declined, 1, "not confirmed; nothing was deleted")
    assert (await rq.counts())["waiting"] == 2

    agreed = await cli("queue", "obliterate", rq.name, "--url", redis_url, input="y\n")
    assert agreed.exit_code == 0, agreed.output
    assert f"Obliterate queue {rq.name} at {redis_url} and its 2 jobs?" in agreed.stdout
    assert f"obliterated queue {rq.name} at {redis_url} (2 jobs deleted)" in agreed.stdout
    assert rq.name not in await rq.backend.queues()
    assert sum((await rq.counts()).values()) == 0


async def test_queue_obliterate_refuses_active_jobs_unless_forced(
    cli: Invoke, rq: Queue, redis_url: str
) -> None:
    release = asyncio.Event()

    @rq.job()
    async def hold(job: JobContext[None]) -> None:
        await release.wait()

    job = await rq.add("hold")
    async with Worker(rq, settings=FAST):
        await until_state(job, "active")
        refused = await cli("queue", "obliterate", rq.name, "--yes", "--url", redis_url)
        assert_error(refused, 1, "while jobs are active")
        assert await job.get_state() == "active"
        forced = await cli("queue", "obliterate", rq.name, "--yes", "--force", "--url", redis_url)
        assert forced.exit_code == 0, forced.output
        release.set()
    assert rq.name not in await rq.backend.queues()


async def test_a_real_process_prints_json_and_fails_in_one_line(rq: Queue, redis_url: str) -> None:
    await rq.add("add", [1])

    async def conveyor(*args: str) -> tuple[int, str, str]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "conveyor.cli",
            *args,
            "--url",
            redis_url,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 30)
        return proc.returncode or 0, out.decode(), err.decode()

    code, out, _ = await conveyor("queues", "--json")
    assert code == 0
    assert {"name": rq.name, "paused": False} == {
        k: v
        for k, v in next(e for e in json.loads(out) if e["name"] == rq.name).items()
        if k != "counts"
    }
    code, out, err = await conveyor("jobs", "promote", rq.name, "1")
    assert code == 1
    assert out == ""
    assert err.splitlines()[-1] == f"error: cannot promote job 1 in queue '{rq.name}': wrong state"
    assert all(line.startswith(("warning: ", "error: ")) for line in err.splitlines())
