"""Fixtures for the Redis backend's own tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import missing
from tests.support.redis_server import RedisServer, find_binary


@pytest.fixture
def own_server() -> Iterator[RedisServer]:
    """A server of this test's own, which the test may stop, freeze or flush."""
    binary = find_binary()
    if binary is None:
        missing("redis-server")
    assert binary is not None
    server = RedisServer(binary).start()
    yield server
    server.close()
