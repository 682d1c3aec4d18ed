"""Fixtures for the process tests: the backend URL (each backend in turn), worker
processes, their records, a producer, and a private Redis server for restarts."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from conveyor import Queue
from tests.conftest import missing
from tests.support.redis_server import RedisServer, find_binary

from .flow_app import FlowQueues
from .flow_harness import FlowWorkers
from .harness import Records, Workers

PROCESS_BACKENDS = ["redis", "sqlite"]


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """The SQLite file of this test (``process_url`` points at it under ``sqlite``)."""
    return tmp_path / "db" / "conveyor.db"


@pytest.fixture(params=PROCESS_BACKENDS)
def process_url(request: pytest.FixtureRequest, db_path: Path) -> str:
    """The URL the test's workers and producer share: the session Redis (each test has
    its own queue name) or a fresh SQLite file. A test or module that only one backend
    has narrows it with ``parametrize("process_url", [...], indirect=True)``."""
    if request.param == "redis":
        server: RedisServer = request.getfixturevalue("redis_server")
        return server.url
    return f"sqlite:///{db_path}"


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
async def producer(process_url: str, queue_name: str) -> AsyncIterator[Queue]:
    """A queue handle on the test's backend under a fresh name."""
    queue = Queue(queue_name, url=process_url)
    yield queue
    await queue.close()


@pytest.fixture
def flow_workers(records_dir: Path) -> Iterator[FlowWorkers]:
    """Worker processes of ``tests.processes.flow_app`` (the flow tests' three queues)."""
    started = FlowWorkers(records_dir)
    yield started
    started.close()


@pytest.fixture
async def queues(process_url: str, queue_name: str) -> AsyncIterator[FlowQueues]:
    """The flow tests' supplier, family and image queues under a fresh prefix."""
    opened = FlowQueues.open(process_url, queue_name)
    yield opened
    await opened.close()
