"""Fixtures for the SQLite backend's own tests: a database file, worker processes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from conveyor import Queue

# The worker-process fixtures of the process tests, shared rather than copied.
from tests.processes.conftest import records, records_dir, workers  # noqa: F401


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "db" / "conveyor.db"


@pytest.fixture
def sqlite_url(db_path: Path) -> str:
    return f"sqlite:///{db_path}"


@pytest.fixture
async def producer(sqlite_url: str, queue_name: str) -> AsyncIterator[Queue]:
    queue = Queue(queue_name, url=sqlite_url)
    yield queue
    await queue.close()
