"""CLI fixtures: the Typer app driven in a thread (so async tests can also run workers),
and a producer queue on the private Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping

import pytest
from typer.testing import CliRunner, Result

from conveyor import Queue
from conveyor.cli import app

Invoke = Callable[..., Awaitable[Result]]


def assert_error(result: Result, code: int, *fragments: str) -> None:
    """The command failed with ``code`` and one readable ``error:`` line, no traceback."""
    assert result.exit_code == code, (result.exit_code, result.output)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    for fragment in fragments:
        assert fragment in errors[0], errors[0]
    assert "Traceback" not in result.output


@pytest.fixture
def cli() -> Invoke:
    """``await cli("jobs", "list", ...)``: run one command in a thread, return its result."""
    runner = CliRunner()

    async def invoke(
        *args: str, input: str | None = None, env: Mapping[str, str | None] | None = None
    ) -> Result:
        return await asyncio.to_thread(runner.invoke, app, list(args), input=input, env=env)

    return invoke


@pytest.fixture
async def rq(redis_url: str, queue_name: str) -> AsyncIterator[Queue]:
    """The test's queue on the private Redis, for producing jobs and checking state."""
    queue = Queue(queue_name, url=redis_url)
    yield queue
    await queue.close()
