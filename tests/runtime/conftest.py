"""Fixtures for the runtime tests: worker processes, records, private Redis servers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from conveyor import Queue
from tests.conftest import missing
from tests.support.redis_server import RedisServer, find_binary

from .harness import Records, Workers


@pytest.fixture
def records_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "records"
    directory.mkdir()
    return directory


@pytest.fixture
def records(records_dir: Path) -> Records:
    return Records(records_dir)


@pytest.fixture
def workers(records_dir: Path) -> Iterator[Workers]:
    started = Workers(records_dir)
    yield started
    started.close()


@pytest.fixture
def private_redis() -> Iterator[RedisServer]:
    """A redis-server of this test's own, with AOF on (fsync always), for restarts."""
    binary = find_binary()
    if binary is None:
        missing("redis-server")
    assert binary is not None
    server = RedisServer(binary, appendonly=True).start()
    yield server
    server.close()


@pytest.fixture
async def producer(redis_url: str, queue_name: str) -> AsyncIterator[Queue]:
    """A queue handle on the session server under a fresh name."""
    queue = Queue(queue_name, url=redis_url)
    yield queue
    await queue.close()
