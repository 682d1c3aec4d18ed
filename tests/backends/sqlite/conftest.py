"""Fixtures for the SQLite backend's own tests: a database file, worker processes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from conveyor import Queue
from tests.runtime.harness import Records, Workers


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
