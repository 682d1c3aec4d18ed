"""Every command names the backend it used: a relative SQLite URL shows as the absolute
file it resolved to in this working directory, so two folders' databases cannot be
mistaken for one."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from conveyor import JobContext, Queue, UnrecoverableError, Worker
from tests.conformance.helpers import FAST, until_state

from .conftest import Invoke, assert_error

RELATIVE = "sqlite:///data/conveyor.db"


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
async def sq(here: Path, queue_name: str) -> AsyncIterator[Queue]:
    """The test's queue on a SQLite file named relative to the working directory."""
    queue = Queue(queue_name, url=RELATIVE)

    @queue.job()
    async def add(job: JobContext[list[int]]) -> int:
        return sum(job.data)

    @queue.job()
    async def boom(job: JobContext[Any]) -> None:
        raise UnrecoverableError("boom")

    yield queue
    await queue.close()


async def test_each_command_shows_the_absolute_file(cli: Invoke, here: Path, sq: Queue) -> None:
    absolute = f"sqlite:///{here}/data/conveyor.db"
    assert sq.backend.url == absolute
    failed = await sq.add("boom", None)
    async with Worker(sq, settings=FAST):
        await until_state(failed, "failed")
    later = await sq.add("add", [1], delay=3600)
    waiting = await sq.add("add", [2])

    async def run(*args: str, input: str | None = None) -> str:
        result = await cli(*args, "--url", RELATIVE, input=input)
        assert result.exit_code == 0, result.output
        return result.stdout

    assert (await run("queues")).splitlines()[0] == f"queues at {absolute}"
    listing = await run("jobs", "list", sq.name, "-s", "failed")
    assert listing.splitlines()[0] == f"failed jobs in {sq.name} (1-1 of 1) at {absolute}"
    shown = await run("jobs", "show", sq.name, failed.id)
    assert shown.splitlines()[0].split() == ["backend", absolute]
    assert (await run("jobs", "retry", sq.name, "--all")).strip() == (
        f"retried 1 failed jobs in {sq.name} at {absolute}"
    )
    assert (await run("jobs", "promote", sq.name, later.id)).strip() == (
        f"job {later.id} in {sq.name} at {absolute} promoted"
    )
    assert (await run("jobs", "remove", sq.name, waiting.id)).strip() == (
        f"job {waiting.id} in {sq.name} at {absolute} removed"
    )
    assert (await run("queue", "pause", sq.name)).strip() == (
        f"queue {sq.name} paused at {absolute}"
    )
    assert (await run("queue", "resume", sq.name)).strip() == (
        f"queue {sq.name} resumed at {absolute}"
    )
    assert (await run("queue", "drain", sq.name)).strip() == (
        f"drained 2 jobs from {sq.name} at {absolute}"
    )
    assert (await run("queue", "clean", sq.name, "-s", "completed")).strip() == (
        f"removed 0 completed jobs from {sq.name} at {absolute}"
    )
    unknown = await cli("jobs", "list", f"{sq.name}-typo", "--url", RELATIVE)
    assert_error(unknown, 1, f"no queue named '{sq.name}-typo' at {absolute}")
    gone = await run("queue", "obliterate", sq.name, input="y\n")
    assert f"Obliterate queue {sq.name} at {absolute} and its 0 jobs?" in gone
    assert f"obliterated queue {sq.name} at {absolute} (0 jobs deleted)" in gone


async def test_the_default_url_is_a_file_in_the_working_directory_and_says_so(
    cli: Invoke, here: Path, queue_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A producer in one folder and ``conveyor queues`` in another use two files; the
    absolute path in the header is how a user sees it."""
    producer_dir, other_dir = here / "producer", here / "elsewhere"
    producer_dir.mkdir()
    other_dir.mkdir()
    monkeypatch.delenv("CONVEYOR_URL", raising=False)
    monkeypatch.chdir(producer_dir)
    producer = Queue(queue_name)
    try:
        await producer.add("sync", None)
    finally:
        await producer.close()
    seen = await cli("queues", env={"CONVEYOR_URL": None})
    assert seen.stdout.splitlines()[0] == (
        f"queues at sqlite:///{producer_dir}/.conveyor/conveyor.db"
    )
    assert queue_name in seen.stdout

    monkeypatch.chdir(other_dir)
    empty = await cli("queues", env={"CONVEYOR_URL": None})
    assert empty.exit_code == 0, empty.output
    assert empty.stdout.strip() == f"no queues at sqlite:///{other_dir}/.conveyor/conveyor.db"
    shared = await cli(
        "queues", "--url", f"sqlite:///{producer_dir}/.conveyor/conveyor.db", "--json"
    )
    assert [entry["name"] for entry in json.loads(shared.stdout)] == [queue_name]
